"""Previews in JupyterLab: a clicked cell's image drawn under the grid, a plotly figure."""

import json

import numpy as np
import pytest

from lab import notebook_json, wait_until

pytestmark = pytest.mark.browser

NOTEBOOK = "preview.ipynb"
CELLS = [
    """\
import os
from pathlib import Path

from damnit_nb import RunTable

table = RunTable(Path(os.environ["DAMNIT_NB_TEST_PROPOSAL"]), watch=False)
table""",
    """\
import plotly.graph_objects as go
from damnit_nb.widgets.preview import Preview

Preview(lambda: go.Figure(go.Bar(y=[1, 3, 2])), title="A plotly figure")""",
]

# The page's <image> elements that bqplot draws (its Image mark), with the picture's size once
# the browser has decoded it.
JS_IMAGES = """
async () => {
  const out = [];
  for (const el of document.querySelectorAll('.bqplot image')) {
    const href = el.getAttribute('href') || el.getAttributeNS('http://www.w3.org/1999/xlink', 'href');
    if (!href) { out.push({href: false}); continue; }
    const img = new Image();
    img.src = href;
    try { await img.decode(); } catch (e) { out.push({href: true, decoded: false}); continue; }
    const box = el.getBoundingClientRect();
    out.push({href: true, decoded: true, width: img.naturalWidth, height: img.naturalHeight,
              shown_width: box.width, shown_height: box.height});
  }
  return out;
}
"""


def frame(run):
    """A 1,500 x 1,000 frame: a gradient along the rows, brighter with the run."""
    return np.tile(np.linspace(0, run, 1000, dtype=np.float32), (1500, 1))


@pytest.fixture
def proposal(tmp_path):
    from damnit_nb.store import Database, prepare_result

    path = tmp_path / "p002012"
    (path / "raw").mkdir(parents=True)
    with Database(path / "usr" / "Shared" / "damnit_nb", proposal=2012) as db:
        db.add_variables({"frame": {"title": "Frame"}, "score": {"title": "Score"}})
        for run in (1, 2):
            db.add_run(run)
            db.write_results(run, [prepare_result("frame", frame(run), summary="mean"),
                                   prepare_result("score", float(run))])
    return path


@pytest.fixture
def lab_env(proposal, tmp_path):
    return {"DAMNIT_NB_TEST_PROPOSAL": str(proposal),
            "DAMNIT_NB_CONFIG_DIR": str(tmp_path / "config")}


def test_clicking_a_2d_cell_draws_its_preview_image(lab_server, lab_page):
    (lab_server.root_dir / NOTEBOOK).write_text(json.dumps(notebook_json(CELLS)))
    lab_page.open_notebook(NOTEBOOK)
    lab_page.run_all_cells()
    def runs(grid):
        return [row[grid["columns"].index("Run")] for row in grid["rows"]]

    grid = lab_page.wait_for_grid(lambda g: "Frame" in g["columns"]
                                  and sorted(map(str, runs(g))) == ["1", "2"],
                                  what="runs 1 and 2 with a Frame column")
    lab_page.reveal_widget()
    assert lab_page.page.locator(".bqplot image").count() == 0
    column = grid["columns"].index("Frame") - grid["index_columns"]
    row = list(map(str, runs(grid))).index("2")
    box = lab_page.cell_box(row, column)
    lab_page.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

    images = wait_until(lambda: [i for i in lab_page.page.evaluate(JS_IMAGES)
                                 if i.get("decoded")], 30, "the preview's image decoded")
    (image,) = images
    assert (image["width"], image["height"]) == (500, 750)  # 1,500 x 1,000 in 2 x 2 blocks
    assert image["shown_width"] > 100 and image["shown_height"] > 100
    ratio = image["shown_width"] / image["shown_height"]
    assert ratio == pytest.approx(1000 / 1500, rel=0.05)  # the data's aspect
    texts = [t["text"] for t in lab_page.widget_texts()]
    assert any("Run 2 · Frame" in t for t in texts)
    assert any("1,500 x 1,000 pixels shown as 750 x 500" in t for t in texts)
    colour_bar = lab_page.page.locator(".bqplot .axis").count()
    assert colour_bar >= 3  # x, y and the colour bar
    lab_page.page.locator(".bqplot image").first.scroll_into_view_if_needed()
    lab_page.screenshot("1-preview")

    # a plotly figure is drawn by plotly's own widget (its front end bundled with plotly)
    bars = lab_page.page.locator(".js-plotly-plot .bars path")
    wait_until(lambda: bars.count() == 3, 30, "plotly's three bars")
    bars.first.scroll_into_view_if_needed()
    lab_page.screenshot("2-plotly")
