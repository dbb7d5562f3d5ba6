"""The run table's features in JupyterLab, driven as a user drives them and checked in the page.

One Lab server, one browser and one notebook serve the whole module; each test runs the
notebook's cells again (a new table on the same database, the saved view settings cleared), so
each starts from the table as a user first sees it. What the page's grid shows is read from its
data model (`lab.LabPage.grids`, `grid_header`); clicks are real mouse clicks at the cells the
grid draws (`lab.LabPage.cell_box`); the database is read and written from this process, which
is not the kernel's.
"""

import json
import math
import shutil
import time

import pytest

from damnit_nb.store import Database

from lab import LabPage, LabServer, chromium_context, notebook_json, wait_until

pytestmark = pytest.mark.browser

NOTEBOOK = "table-features.ipynb"
CELLS = [
    """\
import os
from pathlib import Path

from damnit_nb import RunTable
from damnit_nb.simulate import XGM, XGM_OUTPUT

proposal = Path(os.environ["DAMNIT_NB_TEST_PROPOSAL"])""",
    """\
if "table" in globals():
    table.close()
table = RunTable(proposal, settle=0.5, poll=0.5)
table""",
    """\
@table.variable(title="XGM/Intensity", summary="mean", units="uJ")
def xgm_intensity(run):
    return run[XGM_OUTPUT, "data.intensityTD"].xarray()[:, :50]

@table.variable(title="XGM/Position", units="mm", description="Horizontal beam position")
def xgm_position(run):
    return run[XGM, "beamPosition.ixPos"].ndarray().mean()

@table.variable(title="Score")
def score(run, number: "meta#run_number"):
    if number == 4:
        raise ValueError("no score for run 4")
    return {1: 100, 2: 9, 3: 10}.get(number, 50 + number)""",
    "assert table.wait(120), table.status()",
    """\
plot = table.plot("score")
plot""",
]
TABLE_CELL = 1  # the cell that makes the table
INTENSITY, POSITION, SCORE = "XGM/Intensity [uJ]", "XGM/Position [mm]", "Score"
VARIABLES = (INTENSITY, POSITION, SCORE)


def simulate(proposal, run):
    """Write a small run (20 trains, one detector module) into the proposal's raw/."""
    from damnit_nb.simulate import simulate_run

    simulate_run(proposal, run, trains=20, trains_per_sequence=20, modules=1)


# --- one server, browser and notebook for the module ---------------------------------------------

@pytest.fixture(scope="module")
def proposal(tmp_path_factory):
    """A proposal holding runs 1-4 (tests may add more)."""
    path = tmp_path_factory.mktemp("proposal") / "p002012"
    for run in (1, 2, 3, 4):
        simulate(path, run)
    return path


@pytest.fixture(scope="module")
def database_dir(proposal):
    return proposal / "usr" / "Shared" / "damnit_nb"


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory):
    """The kernel's damnit_nb config dir, where view settings are kept."""
    return tmp_path_factory.mktemp("config")


@pytest.fixture(scope="module")
def lab_env(proposal, config_dir):
    return {"DAMNIT_NB_TEST_PROPOSAL": str(proposal), "DAMNIT_NB_CONFIG_DIR": str(config_dir)}


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory, lab_env):
    with LabServer(tmp_path_factory.mktemp("lab"), env=lab_env) as server:
        yield server


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    with chromium_context(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture(scope="module")
def notebook(lab_server, chromium):
    """The notebook, open in the page with its kernel started."""
    (lab_server.root_dir / NOTEBOOK).write_text(json.dumps(notebook_json(CELLS)))
    page = chromium.pages[0] if chromium.pages else chromium.new_page()
    page.set_default_timeout(60_000)
    LabPage(page, lab_server).open_notebook(NOTEBOOK)
    return NOTEBOOK


@pytest.fixture
def table_page(notebook, lab_page, config_dir, proposal):
    """The page showing a new table of every run on disk, with its variables filled in, as a
    user first sees it (no view settings saved)."""
    shutil.rmtree(config_dir / "views", ignore_errors=True)
    lab_page.run_all_cells()
    runs = sorted(int(p.name[1:]) for p in (proposal / "raw").glob("r*"))
    with Database(proposal / "usr" / "Shared" / "damnit_nb") as db:
        others = {r.run for r in db.runs()} - set(runs)  # written by a test, no raw data
    lab_page.wait_for_grid(lambda g: filled(g, runs, others=others), timeout=90,
                           what=f"runs {runs} with values")
    lab_page.reveal_widget()
    return lab_page


# --- reading the page's grid ---------------------------------------------------------------------

def records(grid):
    """The grid's rows in the order shown, as dicts keyed by header text; rows the browser
    has not received yet (shown as "...") are left out."""
    out = [dict(zip(grid["columns"], row)) for row in grid["rows"]]
    return [r for r in out if number(r.get("Run")) is not None]


def shown_runs(grid):
    """The run numbers of the grid's rows, in the order shown."""
    return [int(r["Run"]) for r in records(grid)]


def by_run(grid):
    return {int(r["Run"]): r for r in records(grid)}


def number(text):
    """A shown value as a float, or None if it is not a number."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def filled(grid, runs, headers=VARIABLES, others=()):
    """True when the grid shows exactly ``runs`` (and ``others``) with a value in every
    column of ``headers`` for ``runs`` (an error counts as a value)."""
    rows = by_run(grid)
    return sorted(rows) == sorted({*runs, *others}) and all(
        h in grid["columns"] and rows[r][h] not in (None, "") for r in runs for h in headers)


def wait_for_runs(lab_page, runs, headers=VARIABLES, timeout=90):
    return lab_page.wait_for_grid(lambda g: filled(g, runs, headers), timeout=timeout,
                                  what=f"runs {runs} with values in {headers}")


def open_panel(lab_page, title):
    """Open the "Columns" or "Filters" panel of the table, by clicking its title."""
    page = lab_page.page
    page.get_by_text(title, exact=True).click()
    probe = {"Columns": page.get_by_label("Hierarchical headers"),
             "Filters": page.get_by_role("button", name="Add filter")}[title]
    probe.wait_for(state="visible", timeout=10_000)


def texts(lab_page):
    return [t["text"] for t in lab_page.widget_texts()]


# --- the tests -----------------------------------------------------------------------------------

def test_hierarchical_headers(table_page):
    lab_page, page = table_page, table_page.page
    header = lab_page.grid_header()
    assert len(header["levels"]) == 2, header
    top, bottom = header["levels"]
    first, last = bottom.index("Intensity [uJ]"), bottom.index("Position [mm]")
    assert last == first + 1
    merged = [(m["row"], m["first"], m["last"], m["text"]) for m in header["merged"]]
    assert (0, first, last, "XGM") in merged, header  # one "XGM" cell over both
    assert top[bottom.index("Score")] == "" and top[bottom.index("Run")] == ""
    assert not any(m[3] == "XGM" and m[2] > last for m in merged)
    lab_page.screenshot("1-hierarchical")

    open_panel(lab_page, "Columns")
    checkbox = page.get_by_label("Hierarchical headers")
    assert checkbox.is_checked()
    checkbox.click()
    flat = wait_until(lambda: (h := lab_page.grid_header()) and len(h["levels"]) == 1 and h,
                      30, "flat headers")
    assert INTENSITY in flat["levels"][0] and POSITION in flat["levels"][0]
    assert "XGM" not in flat["levels"][0]
    assert not [m for m in flat["merged"] if m["first"] != m["last"]]
    lab_page.screenshot("2-flat")

    checkbox.click()
    again = wait_until(lambda: (h := lab_page.grid_header()) and len(h["levels"]) == 2 and h,
                       30, "hierarchical headers again")
    assert again["levels"] == header["levels"]


def test_hidden_column_stays_hidden(table_page, config_dir):
    lab_page, page = table_page, table_page.page
    assert POSITION in lab_page.grid()["columns"]
    open_panel(lab_page, "Columns")
    column_list = page.locator("select[multiple]").filter(
        has=page.locator("option", has_text="Comment"))
    column_list.locator("option", has_text="XGM/Position").click()
    page.get_by_role("button", name="Hide", exact=True).click()

    grid = lab_page.wait_for_grid(lambda g: POSITION not in g["columns"], timeout=30,
                                  what="the XGM/Position column hidden")
    assert INTENSITY in grid["columns"] and SCORE in grid["columns"]
    option = column_list.locator("option", has_text="XGM/Position")
    wait_until(lambda: not option.inner_text().startswith("\u2713"), 10,
               "the list to show XGM/Position unticked")
    top, bottom = lab_page.grid_header()["levels"]
    assert top[bottom.index("Intensity [uJ]")] == "XGM" and top.count("XGM") == 1
    lab_page.screenshot("1-hidden")

    saved = [json.loads(p.read_text()) for p in (config_dir / "views").glob("*.json")]
    assert [s["settings"]["columns"]["hidden"] for s in saved] == [["xgm_position"]]

    # The cell making the table, run again: a new table, the same choice.
    lab_page.run_cell(TABLE_CELL)
    grid = lab_page.wait_for_grid(lambda g: INTENSITY in g["columns"] and len(g["rows"]) >= 4,
                                  timeout=60, what="the table made again")
    assert POSITION not in grid["columns"], grid["columns"]
    assert SCORE in grid["columns"]
    time.sleep(2)  # the pump's later flushes must not bring it back
    assert POSITION not in lab_page.grid()["columns"]
    lab_page.reveal_widget()
    lab_page.screenshot("2-after-rerun")


def test_range_filter_and_its_chip(table_page):
    lab_page, page = table_page, table_page.page
    grid = lab_page.wait_for_grid(  # the rows in view fetched
        lambda g: len(by_run(g)) >= 4 and all(number(r.get(INTENSITY)) is not None
                                              for r in by_run(g).values()),
        timeout=30, what="every run's intensity shown")
    all_runs = sorted(shown_runs(grid))
    values = sorted((number(r[INTENSITY]), run) for run, r in by_run(grid).items())
    assert len(values) >= 4 and all(v is not None for v, _ in values), values
    # Bounds between shown values: the lowest and the highest run are left out.
    low = math.floor((values[0][0] + values[1][0]) / 2 * 10) / 10
    high = math.floor((values[-2][0] + values[-1][0]) / 2 * 10) / 10
    expected = sorted(run for v, run in values if low <= v <= high)
    assert 0 < len(expected) < len(all_runs)

    open_panel(lab_page, "Filters")
    page.get_by_label("Filter", exact=True).select_option(label="XGM/Intensity")
    page.get_by_placeholder("min").fill(str(low))
    page.get_by_placeholder("max").fill(str(high))
    page.get_by_role("button", name="Add filter").click()

    grid = lab_page.wait_for_grid(lambda g: sorted(shown_runs(g)) == expected, timeout=30,
                                  what=f"only runs {expected}")
    chip = page.get_by_role("button", name=f"XGM/Intensity: {low:g} to {high:g} ×")
    chip.wait_for(state="visible", timeout=10_000)
    count = f"{len(expected)} of {len(all_runs)} runs shown"
    wait_until(lambda: count in texts(lab_page), 10, f"the count {count!r}")
    for run in expected:
        assert low <= number(by_run(grid)[run][INTENSITY]) <= high
    lab_page.screenshot("1-filtered")

    chip.click()
    lab_page.wait_for_grid(lambda g: sorted(shown_runs(g)) == all_runs, timeout=30,
                           what="every run again")
    chip.wait_for(state="detached", timeout=10_000)
    wait_until(lambda: f"{len(all_runs)} runs" in texts(lab_page), 10, "the count of all runs")
    lab_page.screenshot("2-cleared")


def test_numeric_sort_from_the_header_menu(table_page):
    lab_page = table_page
    grid = lab_page.grid()
    before = by_run(grid)
    shown = [r[SCORE] for r in records(grid)]
    numbers = sorted((number(v), run) for run, r in before.items()
                     if number(v := r[SCORE]) is not None)
    errors = sorted(run for run, r in before.items() if str(r[SCORE]).startswith("error"))
    assert errors and len(numbers) >= 3, shown
    expected_runs = [run for _, run in numbers] + errors

    menu = lab_page.open_header_menu(grid["columns"].index(SCORE))
    lab_page.screenshot("1-header-menu")
    menu.get_by_text("Sort Ascending", exact=True).click()

    grid = lab_page.wait_for_grid(lambda g: shown_runs(g) == expected_runs, timeout=30,
                                  what=f"runs in the order {expected_runs}")
    scores = [r[SCORE] for r in records(grid)]
    assert scores.index("9") < scores.index("10") < scores.index("100"), scores
    assert all(str(s).startswith("error") for s in scores[len(numbers):]), scores
    assert by_run(grid) == before  # whole rows moved, nothing else changed
    lab_page.screenshot("2-sorted")


def test_edit_lands_on_the_clicked_run_while_runs_arrive(table_page, proposal, database_dir):
    from damnit_nb.store import Database

    lab_page, page = table_page, table_page.page
    page.get_by_label("Newest first").click()
    grid = lab_page.wait_for_grid(
        lambda g: len(shown_runs(g)) >= 4 and shown_runs(g) == sorted(shown_runs(g),
                                                                      reverse=True),
        timeout=30, what="newest first")
    runs = shown_runs(grid)
    target = 2
    lab_page.click_cell(runs.index(target), grid["columns"].index("Comment"))
    editor = page.get_by_placeholder(f"Comment of run {target}")
    editor.wait_for(state="visible", timeout=10_000)
    wait_until(lambda: f"Run {target} · Comment:" in texts(lab_page), 10,
               f"the editor's label for run {target}")
    lab_page.screenshot("1-clicked")

    # Runs arrive while the user is about to type: the rows move down.
    new = [max(runs) + 1, max(runs) + 2]
    for run in new:
        simulate(proposal, run)
    grid = lab_page.wait_for_grid(lambda g: shown_runs(g)[:2] == new[::-1], timeout=60,
                                  what=f"runs {new} on top")
    assert shown_runs(grid).index(target) == runs.index(target) + 2
    lab_page.screenshot("2-runs-arrived")

    text = "aligned at 9.3 keV"
    editor.click()
    editor.press_sequentially(text)
    editor.press("Enter")

    def stored():
        with Database(database_dir) as db:
            return {run: v["comment"].value
                    for run, v in db.values(names=["comment"]).items() if "comment" in v}

    comments = wait_until(lambda: stored().get(target) == text and stored(), 15,
                          f"run {target}'s comment in the database")
    assert [run for run, c in comments.items() if c == text] == [target]
    grid = lab_page.wait_for_grid(lambda g: by_run(g)[target]["Comment"] == text, timeout=15,
                                  what=f"the comment on run {target}'s row")
    assert [run for run, r in by_run(grid).items() if r["Comment"] == text] == [target]
    # the selection (the row clicked) moved down with its run
    grid = lab_page.wait_for_grid(
        lambda g: [s["r1"] for s in g["selections"]] == [shown_runs(g).index(target)],
        timeout=15, what=f"run {target}'s row still selected")
    wait_until(lambda: f"Saved for run {target}." in texts(lab_page), 10, "'Saved for run'")
    lab_page.screenshot("3-saved")


def test_value_from_another_process_appears(table_page, database_dir):
    from damnit_nb.store import Database, prepare_result

    lab_page = table_page
    state = lab_page.notebook_state()
    assert state["kernel_status"] == "idle"
    counts = [c["execution_count"] for c in state["cells"]]

    started = time.monotonic()
    with Database(database_dir) as db:
        db.write_results(1, [prepare_result("xgm_position", 0.5)])
        db.set_comment(3, "checked by the shift leader")
    grid = lab_page.wait_for_grid(
        lambda g: number(by_run(g)[1][POSITION]) == 0.5
        and by_run(g)[3]["Comment"] == "checked by the shift leader",
        timeout=5, what="the other process's value and comment")
    assert time.monotonic() - started < 5
    assert [c["execution_count"] for c in lab_page.notebook_state()["cells"]] == counts
    assert by_run(grid)[2][POSITION] != by_run(grid)[1][POSITION]
    lab_page.screenshot("1-from-another-process")


def test_a_header_click_shows_the_variables_description(table_page):
    lab_page = table_page
    grid = lab_page.wait_for_grid(lambda g: POSITION in g["columns"], timeout=30,
                                  what="the XGM/Position column")
    levels = lab_page.grid_header()["levels"]
    lab_page.click_cell(len(levels) - 1, grid["columns"].index(POSITION), "column-header")
    wait_until(lambda: any("Horizontal beam position" in t for t in texts(lab_page)), 10,
               "the description under the grid")
    assert any("variable xgm_position" in t for t in texts(lab_page))
    lab_page.screenshot("1-description")


def dots(lab_page):
    """The points bqplot draws on the page (SVG scatter)."""
    return lab_page.page.locator(".bqplot path.dot").count()


def test_a_plot_gains_a_point_when_a_run_arrives(table_page, database_dir):
    """(It leaves run 140 in the database, with no raw data: the tests after it allow it.)"""
    from damnit_nb.store import Database, prepare_result

    lab_page = table_page
    lab_page.page.locator(".bqplot").first.scroll_into_view_if_needed()
    scored = [r for r, row in by_run(lab_page.grid()).items() if number(row[SCORE]) is not None]
    assert 4 not in scored  # run 4's score failed: no point
    wait_until(lambda: dots(lab_page) == len(scored), 20, f"{len(scored)} points")
    counts = [c["execution_count"] for c in lab_page.notebook_state()["cells"]]
    with Database(database_dir) as db:
        db.add_run(140)
        db.write_results(140, [prepare_result("score", 42.0)])
    wait_until(lambda: dots(lab_page) == len(scored) + 1, 10, "one more point")
    assert [c["execution_count"] for c in lab_page.notebook_state()["cells"]] == counts
    lab_page.page.locator(".bqplot path.dot").first.click()  # a click selects its run
    wait_until(lambda: (lab_page.grid()["selections"] or [{}])[0].get("r1") == 0, 10,
               "run 1 selected in the grid")
    lab_page.screenshot("1-plot")


def test_a_brush_on_the_plot_selects_the_runs_inside_in_the_grid(table_page):
    lab_page = table_page
    page = lab_page.page
    page.locator(".bqplot").first.scroll_into_view_if_needed()
    rows = by_run(lab_page.grid())
    scored = sorted(r for r, row in rows.items() if number(row[SCORE]) is not None)
    wait_until(lambda: dots(lab_page) == len(scored), 20, f"{len(scored)} points")
    page.get_by_role("button", name="brush", exact=True).click()
    selector = page.locator(".bqplot .selector").first
    selector.wait_for(state="attached", timeout=10_000)
    low = [r for r in scored if number(rows[r][SCORE]) < 20]  # runs 2 and 3: 9 and 10
    assert low == [2, 3]
    boxes = [page.locator(".bqplot path.dot").nth(scored.index(r)).bounding_box()
             for r in low]  # points in x order: the run's
    x0 = min(b["x"] for b in boxes) - 12
    y0 = min(b["y"] for b in boxes) - 12
    x1 = max(b["x"] + b["width"] for b in boxes) + 12
    y1 = max(b["y"] + b["height"] for b in boxes) + 12
    area = selector.bounding_box()  # the plot area: a drag starting outside it brushes nothing
    x0, y0 = max(x0, area["x"] + 1), max(y0, area["y"] + 1)
    x1 = min(x1, area["x"] + area["width"] - 1)
    y1 = min(y1, area["y"] + area["height"] - 1)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
    page.mouse.move(x1, y1, steps=5)
    page.mouse.up()

    def selected_rows():
        grid = lab_page.grid()
        order = shown_runs(grid)
        chosen = {order[i] for s in grid["selections"] or []
                  for i in range(s["r1"], s["r2"] + 1)}
        return chosen == set(low) and chosen
    wait_until(selected_rows, 10, f"runs {low} selected in the grid")
    assert lab_page.execute("print(table.selected_runs)").strip() == str(low)
    lab_page.screenshot("1-brushed")
    page.get_by_role("button", name="click", exact=True).click()


def test_jump_scrolls_an_off_screen_run_into_view(table_page, database_dir):
    """(Last in the module: it leaves runs 100-139 in the database, with no raw data.)"""
    from damnit_nb.store import Database, prepare_result

    lab_page = table_page
    with Database(database_dir) as db:
        for run in range(100, 140):
            db.add_run(run)
            db.write_results(run, [prepare_result("score", float(run))])
    existing = shown_runs(lab_page.grid())  # runs 1-6 and 140, after the tests before
    below = len([r for r in existing if r < 100])
    total = len(existing) + 40
    lab_page.wait_for_grid(lambda g: len(g["rows"]) == total, timeout=10, what=f"{total} rows")
    view = lab_page.rows_in_view()
    assert view["first"] == 0 and view["last"] < 30, view  # run 130 is far below
    jump = lab_page.page.get_by_placeholder("jump to run")
    jump.fill("130")
    jump.press("Enter")

    def shown():
        view = lab_page.rows_in_view()
        return "130" in view["index"] and view
    view = wait_until(shown, 10, "run 130 scrolled into view")
    assert view["first"] > 0 and view["scroll_y"] > 0
    assert view["index"].index("130") > 3 and view["index"][::-1].index("130") > 3  # mid-view
    assert lab_page.grid()["selections"][0]["r1"] == below + 30  # runs 1-6, 100-129
    wait_until(lambda: any(f"Run 130: row {below + 31} of {total}" in t for t in texts(lab_page)), 10,
               "the jump's message")
    lab_page.screenshot("1-jumped")
