"""``damnit_nb.dashboard``: a read-only view that follows the database and processes nothing,
driven through the messages a browser sends; and how its notebook learns the proposal."""

import pytest

import damnit_nb
from damnit_nb.screen import Dashboard
from damnit_nb.serve_dashboard import ENV_PROPOSAL, ENV_Y, proposal_from_environment
from damnit_nb.store import Database, prepare_result
from tests.helpers import eventually
from tests.widgets.gridclient import GridClient, click_cell


@pytest.fixture
def proposal(tmp_path, monkeypatch):
    """A proposal whose database (RunTable's default place) holds runs 1 and 2 with a comment
    and two numeric variables, as a processing table leaves it; no raw data."""
    monkeypatch.setenv("DAMNIT_NB_CONFIG_DIR", str(tmp_path / "config"))
    path = tmp_path / "p002012"
    write(path / "usr" / "Shared" / "damnit_nb", {1: 9.1, 2: 9.2})
    return path


def write(db_dir, energies, proposal=2012):
    with Database(db_dir, proposal=proposal) as db:
        db.add_variables({"sample": {"title": "Sample"},
                          "energy": {"title": "Beam/Energy", "attributes": {"units": "keV"}},
                          "trains": {"title": "Trains"}})
        for run, energy in energies.items():
            db.add_run(run, start_time=1.7e9 + run)
            db.write_results(run, [prepare_result("sample", f"sample {run}"),
                                   prepare_result("energy", energy),
                                   prepare_result("trains", 10 * run)])
        db.set_comment(min(energies), "written by the shift")


def shown(widget):
    """Every widget a browser shows for ``widget``: it and its children, recursively."""
    out = [widget]
    for child in getattr(widget, "children", ()):
        out += shown(child)
    return out


def test_it_shows_the_table_a_plot_and_the_status_and_follows_the_database(proposal):
    board = damnit_nb.dashboard(proposal)
    try:
        assert isinstance(board, Dashboard)
        app, grid = board.app, board.app.grid
        client = GridClient(grid)
        assert eventually(lambda: sorted(grid.view_runs()) == [1, 2])
        assert eventually(lambda: grid.view_runs() == [2, 1])  # newest first: latest in view
        assert eventually(lambda: client.texts("Comment").get(1) == "written by the shift")
        assert board.plot.y == "energy"  # the first numeric variable, against the run number
        assert board.plot.x == "#run"
        assert eventually(lambda: len(board.plot.scatter.x) == 2)
        parts = shown(board)
        assert {app.status, grid, board.plot, app.jump, app.count} <= set(parts)
        assert eventually(lambda: "following the database, processing nothing" in app.status.value)

        write(proposal / "usr" / "Shared" / "damnit_nb", {3: 9.3})  # another writer
        assert eventually(lambda: grid.view_runs() == [3, 2, 1], 5), grid.view_runs()
        assert eventually(lambda: list(board.plot.scatter.y) == [9.1, 9.2, 9.3], 5)
        assert eventually(lambda: "3 runs" in app.count.value)
        assert board.table.run_states() == {}  # nothing processed
    finally:
        board.close()
    logs = proposal / "usr" / "Shared" / "damnit_nb" / "process_logs"
    assert not logs.exists() or not any(logs.iterdir())


def test_nothing_on_it_processes_or_writes(proposal):
    with damnit_nb.dashboard(proposal, y="Trains") as board:
        app = board.app
        parts = set(shown(board))
        for part in (app.reprocess_button, app.cancel_button, app.match, app.export_button,
                     app.export_kind, app.editor_box, app.editor, app.save_button,
                     app.options):  # the app's own accordion would make a second plot
            assert part not in parts, part
        assert board.plot.y == "trains"
        client = GridClient(app.grid)
        assert eventually(lambda: client.texts("Comment").get(1) == "written by the shift")
        detail = click_cell(app, 1, "#comment")  # a comment cell: its detail, no editor shown
        assert "written by the shift" in detail
        assert app.detail in parts and app.editor_box not in set(shown(board))
    with Database(proposal / "usr" / "Shared" / "damnit_nb") as db:
        assert db.values(runs=[1])[1]["comment"].value == "written by the shift"


def test_damnits_database_is_preferred_and_a_missing_one_is_not_made(tmp_path, monkeypatch):
    monkeypatch.setenv("DAMNIT_NB_CONFIG_DIR", str(tmp_path / "config"))
    proposal = tmp_path / "p001234"
    proposal.mkdir()
    with pytest.raises(FileNotFoundError, match="start that first, or pass database="):
        damnit_nb.dashboard(proposal)
    assert not (proposal / "usr").exists()  # nothing written
    write(proposal / "usr" / "Shared" / "damnit_nb", {1: 1.0}, proposal=1234)
    write(proposal / "usr" / "Shared" / "amore", {5: 5.0, 6: 6.0}, proposal=1234)
    with damnit_nb.dashboard(str(proposal)) as board:
        assert board.table.database_dir == proposal / "usr" / "Shared" / "amore"
        assert eventually(lambda: sorted(board.app.grid.view_runs()) == [5, 6])


def test_the_first_numeric_variable_to_come_is_plotted(tmp_path, monkeypatch):
    monkeypatch.setenv("DAMNIT_NB_CONFIG_DIR", str(tmp_path / "config"))
    proposal = tmp_path / "p002012"
    db_dir = proposal / "usr" / "Shared" / "damnit_nb"
    with Database(db_dir, proposal=2012) as db:
        db.add_run(1, start_time=1.7e9)  # processing has not started yet: no variables
    with damnit_nb.dashboard(proposal) as board:
        assert board.plot.y == ""
        assert eventually(lambda: "Choose a variable" in board.plot.note.value)
        write(db_dir, {1: 9.1, 2: 9.2})
        assert eventually(lambda: board.plot.y == "energy", 5), board.plot.y
        assert eventually(lambda: list(board.plot.scatter.y) == [9.1, 9.2], 5)


def test_a_proposal_number_is_found_under_the_data_root(tmp_path, monkeypatch, proposal):
    root = tmp_path / "exp"
    (root / "SPB" / "202601").mkdir(parents=True)
    (root / "SPB" / "202601" / "p002012").symlink_to(proposal)
    monkeypatch.setenv("DAMNIT_NB_DATA_ROOT", str(root))
    with damnit_nb.dashboard(2012) as board:
        assert eventually(lambda: sorted(board.app.grid.view_runs()) == [1, 2])


def test_the_notebook_reads_the_proposal_from_the_environment_or_the_url(monkeypatch):
    monkeypatch.delenv(ENV_PROPOSAL, raising=False)
    monkeypatch.delenv(ENV_Y, raising=False)
    monkeypatch.delenv("QUERY_STRING", raising=False)
    with pytest.raises(ValueError, match=r"\?proposal="):
        proposal_from_environment()
    assert proposal_from_environment("proposal=2012&y=Beam%2FEnergy") == ("2012", "Beam/Energy")
    monkeypatch.setenv("QUERY_STRING", "proposal=/gpfs/p1")
    assert proposal_from_environment() == ("/gpfs/p1", None)
    monkeypatch.setenv(ENV_PROPOSAL, "/data/p002012")  # what damnit-nb dashboard serves
    assert proposal_from_environment("proposal=999&y=other") == ("/data/p002012", None)
    monkeypatch.setenv(ENV_Y, "energy")
    assert proposal_from_environment() == ("/data/p002012", "energy")
