"""What a RunTable's view holds as runs come: a bounded amount per run, details read on click."""

import base64

import pytest

from damnit_nb import RunTable
from damnit_nb.simulate import simulate_run
from tests.helpers import eventually
from tests.widgets.gridclient import GridClient, click_cell

CAMERA = ("SPB_EXP_ZYLA/CAM/1:daqOutput", "data.image.pixels")


@pytest.fixture
def proposal(tmp_path):
    path = tmp_path / "p002012"
    for run in range(1, 7):
        simulate_run(path, run, trains=5, modules=0)
    return path


def test_the_view_keeps_no_detail_per_run_and_shows_it_on_click(proposal):
    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        app = table.widget

        @table.variable(title="Camera")
        def camera(run):
            print("frames read:", len(run.train_ids))
            return run[CAMERA].ndarray().mean(axis=0)

        @table.variable(title="Broken")
        def broken(run):
            raise ValueError("detector off")

        assert table.wait(120)
        model = table._model
        assert eventually(lambda: all(model.cell(r, "camera").kind == "image"
                                      for r in range(1, 7)))
        assert eventually(lambda: all(model.cell(r, "#state").value == "failed"
                                      for r in range(1, 7)))
        assert eventually(lambda: {"camera", "broken"} <= set(app.grid.view_keys()))

        assert "frames read: 5" in click_cell(app, 4, "#state")
        assert "detector off" in click_cell(app, 4, "broken")
        image = click_cell(app, 4, "camera")
        assert '<img src="data:image/png;base64,' in image
        stored = table._db.values(runs=[4])[4]["camera"].value
        assert base64.b64decode(image.split("base64,")[1].split('"')[0]) == stored
        assert "4" in click_cell(app, 4, "#run").split("</b>")[1]


def test_a_view_opened_while_values_are_stored_never_shows_an_older_one(tmp_path):
    from damnit_nb.store import prepare_result

    path = tmp_path / "p002013"
    simulate_run(path, 1, trains=5, modules=0)
    with RunTable(path, settle=0.1, poll=0.1, watch=False) as table:
        @table.variable(title="X")
        def x(run):  # not computed here (the table does not watch): values come below
            return 0.0

        table._db.write_results(1, [prepare_result("x", 1.0)])
        table.engine_results(1, ["x"])
        client = GridClient(table.widget.grid)
        assert eventually(lambda: client.texts("X") == {1: "1"}), client.texts("X")
        table._db.write_results(1, [prepare_result("x", 2.0)])  # as another writer would
        assert eventually(lambda: client.texts("X") == {1: "2"}, 10), client.texts("X")
