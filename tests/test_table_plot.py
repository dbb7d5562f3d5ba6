"""``table.plot``: a plot across runs that updates as runs arrive and is linked to the table,
driven through the messages a browser sends."""

import numpy as np
import pytest

from damnit_nb import RunTable
from damnit_nb.simulate import simulate_run
from damnit_nb.store import Database, prepare_result
from tests.helpers import eventually
from tests.widgets.frontend import browser_click, browser_update
from tests.widgets.gridclient import GridClient
from tests.widgets.test_plot import browser_select


@pytest.fixture
def proposal(tmp_path, monkeypatch):
    monkeypatch.setenv("DAMNIT_NB_CONFIG_DIR", str(tmp_path / "config"))
    path = tmp_path / "p002012"
    for run in (1, 2, 3):
        simulate_run(path, run, trains=5, modules=0)
    return path


def define(table):
    @table.variable(title="Trains")
    def trains(run):
        return len(run.train_ids)

    @table.variable(title="Beam/Energy", units="keV")
    def energy(run, number: "meta#run_number"):
        return 9.0 + number / 10

    @table.variable(title="Sample")
    def sample(run, number: "meta#run_number"):
        return f"sample {number}"


def test_a_plot_follows_new_runs_and_the_tables_selection(proposal):
    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        define(table)
        assert table.wait(60)
        plot = table.plot("Beam/Energy")  # by title
        assert plot.y == "energy" and plot.x == "#run"
        assert eventually(lambda: plot.scatter.y.tolist() == [9.1, 9.2, 9.3])
        assert plot.y_axis.label == "Beam/Energy [keV]"

        simulate_run(proposal, 4, trains=5, modules=0)
        assert eventually(lambda: len(plot.scatter.x) == 4, 30)  # no cell runs meanwhile
        assert plot.scatter.y[-1] == pytest.approx(9.4)

        # points selected in the plot are the table's selection, and the other way round
        browser_select(plot.scatter, [1, 3])
        assert table.selected_runs == [2, 4]
        client = GridClient(table.widget.grid)
        client.select_rows(table.widget.grid.view_runs().index(1))
        assert eventually(lambda: plot.selected_runs == [1])
        assert eventually(lambda: plot.scatter.selected is not None
                          and plot.scatter.selected.tolist() == [0])
        table.selected_runs = [3]
        assert eventually(lambda: plot.scatter.selected.tolist() == [2])

        other = table.plot("energy", x="trains", kind="histogram", bins=4)
        assert eventually(lambda: other.bars.y.sum() == 4)
        assert other.x_axis.label == "Beam/Energy [keV]"


def test_plots_follow_values_written_by_another_process(proposal):
    db_dir = proposal / "usr" / "Shared" / "damnit_nb"
    with RunTable(proposal, settle=0.1, poll=0.1, watch=False) as table:
        with Database(db_dir, proposal=2012) as db:
            db.add_variables({"energy": {"title": "Energy"}})
            for run in (1, 2):
                db.add_run(run)
                db.write_results(run, [prepare_result("energy", run * 1.5)])
        plot = None
        assert eventually(lambda: "energy" in {s.key for s in table._model.columns()}, 5)
        plot = table.plot("energy")
        assert eventually(lambda: plot.scatter.y.tolist() == [1.5, 3.0], 5)
        with Database(db_dir) as db:
            db.add_run(5)
            db.write_results(5, [prepare_result("energy", 7.5)])
        assert eventually(lambda: plot.scatter.y.tolist() == [1.5, 3.0, 7.5], 5)


def test_runs_left_out_are_kept_per_database(proposal):
    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        define(table)
        assert table.wait(60)
        plot = table.plot("energy")
        assert eventually(lambda: len(plot.scatter.x) == 3)
        table.selected_runs = [2]
        browser_click(plot.leave_out_button)
        assert eventually(lambda: plot.scatter.x.tolist() == [1, 3])
        second = table.plot("trains")  # every plot of the table leaves them out
        assert eventually(lambda: second.scatter.x.tolist() == [1, 3])
    with RunTable(proposal, settle=0.1, poll=0.1, watch=False) as table:
        plot = table.plot("energy")
        assert eventually(lambda: plot.scatter.x.tolist() == [1, 3])
        assert plot.excluded_runs == [2]
        browser_click(plot.put_back_button)
        assert eventually(lambda: plot.scatter.x.tolist() == [1, 2, 3])


def test_the_apps_plot_panel(proposal):
    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        define(table)
        assert table.wait(60)
        app = table.widget
        assert app.plot is None  # made when first opened
        browser_update(app.options, selected_index=2)
        assert eventually(lambda: app.plot_panel.children == (app.plot,))
        browser_update(app.plot.y_picker, value="Trains")
        assert eventually(lambda: app.plot.scatter.y.tolist() == [5, 5, 5])
        browser_select(app.plot.scatter, [0])
        assert table.selected_runs == [1]


def test_bad_plot_arguments_say_what_to_do(proposal):
    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        define(table)
        assert table.wait(60)
        with pytest.raises(KeyError, match="No column 'nope'.*energy"):
            table.plot("nope")
        with pytest.raises(ValueError, match="'sample' does not hold numbers"):
            table.plot("sample")
        with pytest.raises(ValueError, match="Unknown plot kind 'pie'"):
            table.plot("energy", kind="pie")
        with pytest.raises(ValueError, match="bins is a positive whole number"):
            table.plot("energy", kind="histogram", bins=0)
        assert np.all(table.plot("energy", runs=[2]).scatter.x == [2])
        with pytest.raises(ValueError, match="'state' is not a variable"):
            table.plot("state", per_run=True)
        with pytest.raises(ValueError, match="Unknown plot kind 'bars'.*line"):
            table.plot("energy", per_run=True, kind="bars")


def test_per_run_plots_overlay_the_selected_runs_data_from_their_files(proposal):
    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        @table.variable(title="XGM/Intensity", units="uJ", summary="mean")
        def xgm(run, number: "meta#run_number"):
            import xarray as xr

            ids = np.asarray(run.train_ids)
            return xr.DataArray(np.arange(len(ids)) * float(number), dims="trainId",
                                coords={"trainId": ids})

        @table.variable(title="Delay", units="ps", summary="mean")
        def delay(run, number: "meta#run_number"):
            import xarray as xr

            ids = np.asarray(run.train_ids)[1:]  # one train fewer: aligned on train IDs
            return xr.DataArray(np.full(len(ids), number + 0.5), dims="trainId",
                                coords={"trainId": ids})

        assert table.wait(60)
        plot = table.plot("XGM/Intensity", per_run=True)  # follows the selection
        table.selected_runs = [1, 3]
        assert table.sync(20)

        def drawn():
            return {m.labels[0]: m.y.tolist() for m in plot.figure.marks}
        assert eventually(lambda: drawn() == {"run 1": [0, 1, 2, 3, 4],
                                              "run 3": [0, 3, 6, 9, 12]})
        assert plot.x_axis.label == "trainId" and plot.y_axis.label == "XGM/Intensity [uJ]"

        client = GridClient(table.widget.grid)  # rows selected in the browser
        client.select_rows(table.widget.grid.view_runs().index(2))
        assert eventually(lambda: list(drawn()) == ["run 2"])

        against = table.plot("xgm", x="Delay", per_run=True, runs=[2], kind="scatter")
        assert table.sync(20)
        assert eventually(lambda: len(against.figure.marks) == 1)
        mark = against.figure.marks[0]
        assert mark.x.tolist() == [2.5] * 4 and mark.y.tolist() == [2, 4, 6, 8]
        assert against.x_axis.label == "Delay [ps]"
