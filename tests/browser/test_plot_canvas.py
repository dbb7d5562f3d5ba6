"""A plot of thousands of runs, drawn on a canvas (`PointCloud`) in JupyterLab: all points
drawn, a tooltip on hover, a brush and a click selecting runs in the kernel."""

import json

import pytest

from lab import notebook_json, wait_until

pytestmark = pytest.mark.browser

RUNS = 2500
CELL = f"""\
from damnit_nb.widgets.cells import Cell
from damnit_nb.widgets.model import ColumnSpec, TableModel
from damnit_nb.widgets.plot import RunPlot

model = TableModel([ColumnSpec("energy", "Energy", units="keV")])
model.update({{run: {{"energy": Cell.number(run % 100)}} for run in range(1, {RUNS + 1})}})
plot = RunPlot(model, "energy")
plot"""


def test_thousands_of_points_on_a_canvas_select_runs(lab_server, lab_page):
    (lab_server.root_dir / "canvas.ipynb").write_text(json.dumps(notebook_json([CELL])))
    lab_page.open_notebook("canvas.ipynb")
    lab_page.run_all_cells()
    page = lab_page.page
    cloud = page.locator(".damnit-nb-cloud")
    wait_until(lambda: cloud.count() == 1 and cloud.get_attribute("data-points") == str(RUNS),
               30, f"{RUNS} points drawn on the canvas")
    assert page.locator(".bqplot path.dot").count() == 0  # not one SVG element per point
    lab_page.reveal_widget()
    box = page.locator(".damnit-nb-cloud canvas").bounding_box()

    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.move(box["x"] + 72, box["y"] + box["height"] - 52, steps=3)  # the corner

    page.get_by_role("button", name="brush", exact=True).click()
    wait_until(lambda: lab_page.execute("print(plot.cloud.mode)").strip() == "brush", 10,
               "the canvas in brush mode")
    left, top = box["x"] + 71, box["y"] + 21  # inside the plot area's margins
    right, bottom = box["x"] + box["width"] - 21, box["y"] + box["height"] - 51
    page.mouse.move(left, top)
    page.mouse.down()
    page.mouse.move((left + right) / 2, (top + bottom) / 2, steps=4)
    page.mouse.move(right, bottom, steps=4)
    page.mouse.up()
    wait_until(lambda: lab_page.execute("print(len(plot.selected_runs))").strip() == str(RUNS),
               10, "every run brushed")
    lab_page.screenshot("1-brushed")

    page.get_by_role("button", name="click", exact=True).click()
    wait_until(lambda: lab_page.execute("print(plot.cloud.mode)").strip() == "click", 10,
               "the canvas in click mode")
    page.mouse.click(box["x"] + 5, box["y"] + 5)  # no point there: the selection is cleared
    wait_until(lambda: lab_page.execute("print(plot.selected_runs)").strip() == "[]", 10,
               "the selection cleared")

    # a point under the mouse: its tooltip names its run, and a click selects that run
    where = lab_page.execute(
        "import numpy as np\n"
        "print(int(np.frombuffer(plot.cloud.x, '<f8')[0]), "
        "float(np.frombuffer(plot.cloud.y, '<f8')[0]))").split()
    assert where == ["1", "1.0"]  # run 1, energy 1: near the plot's left, bottom
    x_range = (1 - 0.05 * (RUNS - 1), RUNS + 0.05 * (RUNS - 1))
    y_range = (0 - 0.05 * 99, 99 + 0.05 * 99)
    inner_w, inner_h = box["width"] - 90, box["height"] - 70
    px = box["x"] + 70 + (1 - x_range[0]) / (x_range[1] - x_range[0]) * inner_w
    py = box["y"] + 20 + inner_h - (1 - y_range[0]) / (y_range[1] - y_range[0]) * inner_h
    page.mouse.move(px, py)
    tip = page.locator(".damnit-nb-cloud div", has_text="Run:").first
    wait_until(lambda: tip.is_visible(), 10, "the tooltip")
    text = tip.inner_text()
    assert text.count("Run: ") == 1 and "Energy [keV]: " in text  # x is the run: once
    page.mouse.click(px, py)
    wait_until(lambda: lab_page.execute("print(plot.selected_runs)").strip() not in ("[]", ""),
               10, "a run selected by a click")
    chosen = json.loads(lab_page.execute("print(plot.selected_runs)"))
    assert len(chosen) == 1 and chosen[0] % 100 in (0, 1, 2)  # a point near energy 1
    lab_page.screenshot("2-clicked")

    drawn = cloud.get_attribute("data-drawn")
    lab_page.execute('plot.color = "energy"')  # coloured by a variable, with a colour bar
    wait_until(lambda: cloud.get_attribute("data-drawn") != drawn
               and lab_page.execute("print(plot.cloud.colour_label)").strip() == "Energy [keV]",
               10, "the points coloured")
    lab_page.screenshot("3-coloured")
