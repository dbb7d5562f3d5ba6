"""What a RunTable's view holds as runs come: a bounded amount per run, details read on click."""

import base64

import pytest

from damnit_nb import RunTable
from damnit_nb.simulate import simulate_run
from tests.helpers import eventually

CAMERA = ("SPB_EXP_ZYLA/CAM/1:daqOutput", "data.image.pixels")


@pytest.fixture
def proposal(tmp_path):
    path = tmp_path / "p002012"
    for run in range(1, 7):
        simulate_run(path, run, trains=5, modules=0)
    return path


def test_the_view_keeps_no_detail_per_run_and_shows_it_on_click(proposal):
    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        view = table._view or (table.widget and table._view)

        @table.variable(title="Camera")
        def camera(run):
            print("frames read:", len(run.train_ids))
            return run[CAMERA].ndarray().mean(axis=0)

        @table.variable(title="Broken")
        def broken(run):
            raise ValueError("detector off")

        assert table.wait(120)
        assert eventually(lambda: all(view.cell(r, "camera") for r in range(1, 7)))
        assert eventually(lambda: all(view.cell(r, "state") == "failed" for r in range(1, 7)))
        # the grid has every column (the view syncs a few times a second at most)
        assert eventually(lambda: {"Camera", "Broken"} <= set(view.grid.data.columns))
        # Logs, full-size images and error messages stay in their files and the database:
        # the view holds what the cells show, nothing more for each run.
        assert len(view._details) == 0

        def click(run, header):
            view._cell_clicked({"region": "body", "column": header, "primary_key_row": run})
            return view.detail.value

        assert "frames read: 5" in click(4, "State")
        assert "detector off" in click(4, "Broken")
        image = click(4, "Camera")
        assert '<img src="data:image/png;base64,' in image
        stored = table._db.values(runs=[4])[4]["camera"].value
        assert base64.b64decode(image.split("base64,")[1].split('"')[0]) == stored
        assert click(4, "Run").endswith(": 4")



def test_a_view_opened_while_values_are_stored_never_shows_an_older_one(tmp_path):
    from damnit_nb.store import prepare_result

    path = tmp_path / "p002013"
    simulate_run(path, 1, trains=5, modules=0)
    with RunTable(path, settle=0.1, poll=0.1, watch=False) as table:
        @table.variable(title="X")
        def x(run):  # not computed here (the table does not watch): values come below
            return 0.0

        table._db.write_results(1, [prepare_result("x", 1.0)])
        read = table._db.values

        def values_then_a_newer_store(*args, **kwargs):
            snapshot = read(*args, **kwargs)  # what the new view is filled from...
            if not args and not kwargs:  # ...and a newer value stored meanwhile
                table._db.values = read
                table._db.write_results(1, [prepare_result("x", 2.0)])
                table.engine_results(1, ["x"])
            return snapshot

        table._db.values = values_then_a_newer_store
        grid = table.widget.children[1]
        assert eventually(lambda: len(grid.data) == 1 and "X" in grid.data.columns)
        assert eventually(lambda: grid.data.loc[1, "X"] == 2.0), grid.data
        assert table._view.cell(1, "x") == 2.0
