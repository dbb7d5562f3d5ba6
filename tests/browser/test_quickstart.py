"""The quickstart notebook in JupyterLab: the table fills, grows with new runs and new variables.

What the page shows is checked against values computed here from the run files with EXtra-data.
"""

import math
import re
import shutil
import time

import pytest

from damnit_nb.tutorials import QUICKSTART

pytestmark = pytest.mark.browser

XGM = "SA1_XTD2_XGM/DOOCS/MAIN:output"
SAMPLE_X = "SPB_IRU_MOTORS/MDL/SAMPLE_X"


@pytest.fixture
def proposal(tmp_path):
    """A proposal holding runs 1 and 2, written by the simulator."""
    from damnit_nb.simulate import simulate_run

    path = tmp_path / "p002012"
    for run in (1, 2):
        simulate_run(path, run)
    return path


@pytest.fixture
def lab_env(proposal):
    return {"DAMNIT_NB_DEMO_PROPOSAL": str(proposal)}


def expected(proposal, run):
    """What the quickstart's variables give for *run*, computed independently with EXtra-data."""
    from extra_data import RunDirectory

    r = RunDirectory(str(proposal / "raw" / f"r{run:04d}"))
    return {
        "XGM/Intensity": float(r[XGM, "data.intensityTD"].ndarray()[:, :50].mean()),
        "Sample X": float(r[SAMPLE_X, "actualPosition"].ndarray().mean()),
        "Train count": len(r.train_ids),
    }


def _number(value):
    """The displayed value as a float, or None if it is not a finite number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def rows_by_run(grid):
    """The grid's rows as ``{run number: {header: value}}``."""
    if "Run" not in [h.split(" [")[0] for h in grid["columns"] if h]:
        return {}
    out = {}
    headers = [re.sub(r" \[[^\]]*\]$", "", h or "") for h in grid["columns"]]  # no units
    for row in grid["rows"]:
        record = dict(zip(headers, row))
        run = _number(record["Run"])
        if run is not None:
            out[int(run)] = record
    return out


def filled(grid, runs, titles):
    """True when the grid shows exactly *runs*, with numbers in every column of *titles*."""
    rows = rows_by_run(grid)
    if sorted(rows) != sorted(runs):
        return False
    return all(_number(rows[run].get(t)) is not None for run in runs for t in titles)


def assert_values(grid, proposal, runs, titles):
    rows = rows_by_run(grid)
    for run in runs:
        want = expected(proposal, run)
        for title in titles:
            assert _number(rows[run][title]) == pytest.approx(want[title], rel=1e-4), (run, title)


def test_quickstart_live_table(proposal, lab_server, lab_page):
    shutil.copyfile(QUICKSTART, lab_server.root_dir / QUICKSTART.name)
    lab_page.open_notebook(QUICKSTART.name)
    lab_page.run_all_cells(timeout=120)

    # 1. The runs already there, with both variables of the notebook.
    titles = ["XGM/Intensity", "Sample X"]
    grid = lab_page.wait_for_grid(
        lambda g: filled(g, [1, 2], titles), timeout=60, what="runs 1 and 2 with both variables"
    )
    assert grid["columns"][:4] == ["Run", "State", "Start time", "Comment"]
    assert_values(grid, proposal, [1, 2], titles)
    grid = lab_page.wait_for_grid(
        lambda g: {str(r["State"]).split()[-1] for r in rows_by_run(g).values()} == {"done"}, timeout=30,
        what="both runs in state 'done'")
    status = [t["text"] for t in lab_page.widget_texts() if t["text"].startswith("Watching")]
    assert status, lab_page.widget_texts()
    lab_page.reveal_widget()
    lab_page.screenshot("1-two-runs")

    # 2. A new run arrives while no cell runs: its row appears, filled.
    assert lab_page.notebook_state()["kernel_status"] == "idle"
    from damnit_nb.simulate import simulate_run

    simulate_run(proposal, 3)
    grid = lab_page.wait_for_grid(
        lambda g: filled(g, [1, 2, 3], titles), timeout=60, what="the row of run 3, filled"
    )
    assert_values(grid, proposal, [1, 2, 3], titles)
    lab_page.reveal_widget()
    lab_page.screenshot("2-run-3-arrived")

    # 3. A variable defined through the kernel (no cell): its column appears and fills.
    lab_page.execute(
        '@table.variable(title="Train count")\n'
        "def n_trains(run):\n"
        "    return len(run.train_ids)\n"
    )
    titles.append("Train count")
    grid = lab_page.wait_for_grid(
        lambda g: filled(g, [1, 2, 3], titles), timeout=60, what="the 'Train count' column, filled"
    )
    assert_values(grid, proposal, [1, 2, 3], titles)
    errors = [v for row in grid["rows"] for v in row if isinstance(v, str) and v.startswith("error:")]
    assert errors == []
    lab_page.reveal_widget()
    lab_page.screenshot("3-new-variable")

    # 4. A variable returning an image: its column draws the thumbnails.
    lab_page.execute(
        '@table.variable(title="Camera")\n'
        "def camera(run):\n"
        '    return run["SPB_EXP_ZYLA/CAM/1:daqOutput", "data.image.pixels"].ndarray().mean(axis=0)\n'
    )
    grid = lab_page.wait_for_grid(
        lambda g: all(str(r.get("Camera", "")).startswith("data:image/png;base64,")
                      for r in rows_by_run(g).values()) and len(rows_by_run(g)) == 3,
        timeout=60, what="the 'Camera' column, with thumbnails")
    time.sleep(3)  # the grid repaints once the browser has decoded the images
    lab_page.reveal_widget()
    lab_page.screenshot("4-image-column")


@pytest.fixture
def notebook7_page(tmp_path, lab_env, chromium, request):
    """A page on Notebook 7 (``jupyter notebook``) serving a copy of the quickstart."""
    from lab import LabPage, LabServer

    with LabServer(tmp_path / "notebook7", env=lab_env, frontend="notebook") as server:
        shutil.copyfile(QUICKSTART, server.root_dir / QUICKSTART.name)
        page = chromium.pages[0] if chromium.pages else chromium.new_page()
        page.set_default_timeout(60_000)
        yield LabPage(page, server, prefix="notebook7--")


def test_quickstart_table_in_notebook_7(proposal, notebook7_page):
    page = notebook7_page.page
    server = notebook7_page.server
    page.goto(f"{server.url}/tree?token={server.token}", wait_until="domcontentloaded")
    page.get_by_text(QUICKSTART.name).first.wait_for()  # the file browser lists it
    notebook7_page.screenshot("1-tree")

    notebook7_page.open_notebook(QUICKSTART.name)
    assert "/notebooks/" in page.url
    notebook7_page.run_all_cells(timeout=120)
    titles = ["XGM/Intensity", "Sample X"]
    grid = notebook7_page.wait_for_grid(lambda g: filled(g, [1, 2], titles), timeout=60,
                                        what="runs 1 and 2 with both variables")
    assert grid["columns"][:4] == ["Run", "State", "Start time", "Comment"]
    assert_values(grid, proposal, [1, 2], titles)
    notebook7_page.reveal_widget()
    time.sleep(1)  # the grid's canvas paints after its data arrives
    notebook7_page.screenshot("2-table")
