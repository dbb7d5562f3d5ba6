"""``table.preview`` and the app's preview of a clicked cell, on a table whose variables are
computed from simulated runs."""

import numpy as np
import pytest

from damnit_nb import RunTable
from damnit_nb.simulate import simulate_run
from tests.helpers import eventually
from tests.widgets.gridclient import click_cell


@pytest.fixture
def proposal(tmp_path, monkeypatch):
    monkeypatch.setenv("DAMNIT_NB_CONFIG_DIR", str(tmp_path / "config"))
    path = tmp_path / "p002012"
    for run in (1, 2):
        simulate_run(path, run, trains=5, modules=0)
    return path


def define(table):
    @table.variable(title="Frame", summary="mean", units="ADU")
    def frame(run, number: "meta#run_number"):
        return np.arange(1200 * 300, dtype=np.float32).reshape(1200, 300) * number

    @table.variable(title="Trace", summary="max")
    def trace(run):
        return np.linspace(0, 1, 50)

    @table.variable(title="Trains")
    def trains(run):
        return len(run.train_ids)


def image_of(preview):
    (figure,) = preview.content.children
    (mark,) = figure.marks
    return mark


def test_a_preview_of_each_kind_of_variable(proposal):
    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        define(table)
        assert table.wait(60)
        preview = table.preview(2, "Frame")  # by title
        assert eventually(lambda: preview.state == "shown")
        mark = image_of(preview)
        assert type(mark).__name__ == "Image" and mark.y.tolist() == [1199.5, -0.5]
        assert preview.content.children[0].axes[2].label == "Frame [ADU]"
        assert "1,200 x 300 pixels shown as 600 x 150" in preview.message.value
        assert "Run 2 · Frame" in preview.heading.value

        trace = table.preview(1, "trace")
        assert eventually(lambda: trace.state == "shown")
        assert image_of(trace).y.tolist() == pytest.approx(np.linspace(0, 1, 50).tolist())

        lines = table.preview(1, "frame", as_lines=True)
        assert eventually(lambda: lines.state == "shown")
        assert image_of(lines).y.shape == (50, 300)

        number = table.preview(1, "trains")
        assert eventually(lambda: number.state == "shown")
        assert number.content.children[0].value.count("5") == 1


def test_bad_preview_arguments_and_missing_data(proposal):
    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        define(table)
        assert table.wait(60)
        with pytest.raises(KeyError, match="frame"):  # the names it has are listed
            table.preview(1, "nothing")
        with pytest.raises(KeyError, match="runs 1-2"):
            table.preview(7, "frame")
        with pytest.raises(ValueError, match="not a variable"):
            table.preview(1, "comment")
        run_file = table.database_dir / "extracted_data" / "p2012_r1.h5"
        run_file.unlink()
        gone = table.preview(1, "frame")
        assert eventually(lambda: gone.state == "error")
        assert "No variable &#x27;frame&#x27; with data for p2012, r1" in gone.message.value


def test_clicking_a_cell_shows_its_preview_under_the_grid(proposal):
    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        define(table)
        assert table.wait(60)
        app = table.widget
        click_cell(app, 1, "frame")
        assert eventually(lambda: app.preview is not None and app.preview.state == "shown")
        assert eventually(lambda: app.preview_box.children == (app.preview,))
        first = image_of(app.preview)
        click_cell(app, 2, "trace")
        assert eventually(lambda: "Run 2 · Trace" in app.preview.heading.value
                          and app.preview.state == "shown")
        assert type(image_of(app.preview)).__name__ == "Lines"
        assert first.comm is None  # the previous preview's figure is closed
        click_cell(app, 1, "#comment")
        assert "Run 2 · Trace" in app.preview.heading.value  # fixed columns: no preview
