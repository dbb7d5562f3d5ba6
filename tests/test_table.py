"""RunTable end to end: simulated run files -> variables -> database -> table."""

import sqlite3
import textwrap
import threading

import pytest

from damnit_nb import RunTable
from damnit_nb.simulate import simulate_run
from tests.widgets.frontend import browser_update
from tests.widgets.gridclient import GridClient
from tests.helpers import eventually

XGM = ("SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD")


@pytest.fixture
def proposal(tmp_path):
    path = tmp_path / "p002012"
    for run in (1, 2):
        simulate_run(path, run, trains=20, modules=1)
    return path


@pytest.fixture
def table(proposal):
    t = RunTable(proposal, settle=0.1, poll=0.1)
    yield t
    t.close()


def test_cell_variable_fills_every_run_and_later_runs(table, proposal):
    assert table.wait(30)

    @table.variable(title="XGM/Intensity", summary="mean", units="uJ")
    def xgm_intensity(run):
        return run[XGM].xarray()[:, :50]

    assert table.wait(30)
    df = table.to_dataframe()
    assert list(df.index) == [1, 2]
    assert df["XGM/Intensity"].notna().all()
    assert df.loc[1, "XGM/Intensity"] != df.loc[2, "XGM/Intensity"]

    simulate_run(proposal, 3, trains=20, modules=1)
    assert table.wait(30)
    df = table.to_dataframe()
    assert list(df.index) == [1, 2, 3] and df["XGM/Intensity"].notna().all()
    # the stored value is what the data says
    from damnit_nb.data import RunDirectory
    expected = RunDirectory(proposal / "raw" / "r0003")[XGM].ndarray()[:, :50].mean()
    assert df.loc[3, "XGM/Intensity"] == pytest.approx(expected, rel=1e-6)


def test_redefining_recomputes_only_when_code_changes(table, tmp_path):
    # calls are counted in a file: a list the function appended to would be part of what its
    # code uses, so of its code version
    calls = tmp_path / "calls.txt"
    lock = threading.Lock()

    def count():
        return len(calls.read_text()) if calls.exists() else 0

    def define(offset):
        # same source text each time: only `offset` differs, via the default argument's value
        @table.variable(title="Counted")
        def counted(run, k=offset):
            with lock, open(calls, "a") as f:
                f.write("x")
            return len(run.train_ids) + k

    define(0)
    assert table.wait(30)
    assert count() == 2
    define(0)  # same code: nothing to do
    assert table.wait(30)
    assert count() == 2
    define(1)  # another default value
    assert table.wait(30)
    assert count() == 4
    assert table.to_dataframe()["Counted"].tolist() == [21, 21]

    @table.variable(title="Counted")
    def counted(run):
        with lock, open(calls, "a") as f:
            f.write("x")
        return len(run.train_ids) * 10

    assert table.wait(30)
    assert count() == 6
    assert table.to_dataframe()["Counted"].tolist() == [200, 200]


def test_errors_are_recorded_per_cell_and_others_still_run(table):
    @table.variable(title="Broken")
    def broken(run):
        return run["NO/SUCH/SOURCE", "value"].ndarray()

    @table.variable(title="Trains")
    def trains(run):
        return len(run.train_ids)

    assert table.wait(30)
    errors = table.errors()
    assert set(errors) == {(1, "broken"), (2, "broken")}
    assert "NO/SUCH/SOURCE" in errors[(1, "broken")]
    assert table.to_dataframe()["Trains"].tolist() == [20, 20]
    assert table.status().errors == 2


def test_everything_survives_a_restart_without_recomputing(proposal):
    calls = []
    with RunTable(proposal, settle=0.1, poll=0.1) as t:
        @t.variable(title="Trains")
        def trains(run):
            calls.append(1)
            return len(run.train_ids)

        assert t.wait(30)
        t.set_comment(2, "good run")
        before = t.to_dataframe()
    assert len(calls) == 2

    with RunTable(proposal, settle=0.1, poll=0.1) as t:
        t.add_variable(trains)  # the same variable, defined again after a restart
        assert t.wait(30)
        after = t.to_dataframe()
    assert len(calls) == 2
    assert after.loc[2, "Comment"] == "good run"
    assert after["Trains"].tolist() == before["Trains"].tolist()


def test_context_file_variables_and_damnit_schema(proposal, tmp_path):
    ctx = tmp_path / "context.py"
    ctx.write_text(textwrap.dedent('''
        from damnit_ctx import Variable

        @Variable(title="Photon flux", summary="mean")
        def flux(run):
            return run["SA1_XTD2_XGM/DOOCS/MAIN", "pulseEnergy.photonFlux"].ndarray()

        @Variable(title="Flux x2")
        def flux2(run, f: "var#flux"):
            return float(f.mean()) * 2
    '''))
    with RunTable(proposal, context=ctx, settle=0.1, poll=0.1) as t:
        assert t.wait(30)
        df = t.to_dataframe()
    assert df["Flux x2"].astype(float).tolist() == pytest.approx((2 * df["Photon flux"].astype(float)).tolist())
    db = sqlite3.connect(proposal / "usr" / "Shared" / "damnit_nb" / "runs.sqlite")
    assert db.execute("SELECT value FROM metameta WHERE key='data_format_version'").fetchone()[0] == 4
    names = {r[0] for r in db.execute("SELECT name FROM run_variables WHERE run=1")}
    assert {"flux", "flux2"} <= names


def test_close_stops_the_engine_thread(proposal):
    t = RunTable(proposal, settle=0.1, poll=0.1)
    assert t.wait(30)
    t.close()
    t.close()  # twice is fine
    assert not any(th.name == "damnit_nb-engine" and th.is_alive() for th in threading.enumerate())
    assert t.status().state == "stopped"


def test_a_table_that_only_follows_says_so_when_asked_to_reprocess(proposal):
    with RunTable(proposal, watch=False) as viewer:
        with pytest.raises(ValueError, match=r"only follows the database.*start\(\)"):
            viewer.reprocess([1])
        app = viewer.widget
        app.grid.selected_runs = [1]
        app.reprocess_button.click()  # the toolbar's button says the same, under the grid
        assert eventually(lambda: "only follows the database" in app.detail.value), \
            app.detail.value


def test_bad_proposal_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds raw/"):
        RunTable(tmp_path / "nowhere")
    (tmp_path / "beamtime").mkdir()
    with pytest.raises(ValueError, match="proposal_number="):
        RunTable(tmp_path / "beamtime")


def test_widget_follows_the_engine(table, proposal):
    app = table.widget
    client = GridClient(app.grid)

    def column(title):
        return client.texts(title)

    @table.variable(title="Trains")
    def trains(run):
        return len(run.train_ids)

    @table.variable(title="Broken")
    def broken(run):
        raise RuntimeError("detector off")

    assert eventually(lambda: column("Trains") == {1: "20", 2: "20"}, 30), column("Trains")
    # defined after Trains: may come later
    assert eventually(lambda: column("Broken").get(1), 30), column("Broken")
    assert column("Broken")[1] == "error: RuntimeError"
    row = app.grid.view_runs().index(1)
    client.request()  # what the browser holds: the rows it asked for
    client.click(row, app.grid.view_keys().index("broken"))
    assert eventually(lambda: "detector off" in app.detail.value), app.detail.value

    simulate_run(proposal, 3, trains=30, modules=1)
    assert eventually(lambda: column("Trains").get(3) == "30", 30), column("Trains")
    assert eventually(lambda: "2 errors" in app.status.value
                      or "3 errors" in app.status.value, 30), app.status.value

    # a comment typed in the editor (after a click on the run's Comment) is saved
    client.request()
    client.click(app.grid.view_runs().index(3), app.grid.view_keys().index("#comment"))
    assert eventually(lambda: app.editor_box.layout.display == "flex")
    browser_update(app.editor, value="hi")
    assert table.to_dataframe().loc[3, "Comment"] == "hi"
    assert eventually(lambda: column("Comment").get(3) == "hi")


def test_a_corrupt_run_is_reported_and_the_watcher_goes_on(table, proposal):
    bad = proposal / "raw" / "r0003"
    bad.mkdir()
    (bad / "RAW-R0003-DA01-S00000.h5").write_bytes(b"not an HDF5 file" * 100)

    @table.variable(title="Trains")
    def trains(run):
        return len(run.train_ids)

    assert table.wait(30)
    df = table.to_dataframe()
    assert df.loc[[1, 2], "Trains"].tolist() == [20, 20]
    message = table.errors()[(3, "trains")]
    assert "RAW-R0003-DA01-S00000.h5" in message
    assert table.status().state == "watching"

    simulate_run(proposal, 4, trains=20, modules=1)  # runs after it are processed as usual
    assert table.wait(30)
    assert table.to_dataframe().loc[4, "Trains"] == 20


def test_cell_display_options_and_varied_data_reach_the_grid(table):
    import numpy as np

    from damnit_nb.context import Cell

    @table.variable(title="Flagged")
    def flagged(run):
        return Cell(3.0, bold=True, background="#00ff00")

    @table.variable(title="Varies", summary="mean")
    def varies(run):
        return np.arange(10.0)  # its data varied within the run: bold, as DAMNIT's GUI

    @table.variable(title="Steady", summary="mean")
    def steady(run):
        return np.ones(10)

    assert table.wait(60)
    client = GridClient(table.widget.grid)
    assert eventually(lambda: len(client.rows()) == 2 and all(
        "Steady" in c and c["Steady"] is not None for _, c in client.rows()))
    cells = dict(client.rows())
    assert cells[1]["Flagged"] == {"t": "3", "b": 1, "bg": "#00ff00"}
    assert cells[1]["Varies"] == {"t": "4.5", "b": 1}
    assert cells[1]["Steady"] == "1"
