"""The plots tutorial in Notebook 7: its plots (bqplot) drawn beside the table (ipydatagrid)
in the page, as a user running it sees them."""

import shutil
import time

import pytest

from damnit_nb.tutorials import TUTORIALS_DIR

pytestmark = pytest.mark.browser

TUTORIAL = TUTORIALS_DIR / "04-plots.ipynb"


@pytest.fixture
def notebook7_page(tmp_path, chromium):
    from lab import LabPage, LabServer

    with LabServer(tmp_path / "notebook7", frontend="notebook") as server:
        shutil.copyfile(TUTORIAL, server.root_dir / TUTORIAL.name)
        page = chromium.pages[0] if chromium.pages else chromium.new_page()
        page.set_default_timeout(60_000)
        yield LabPage(page, server, prefix="notebook7--")


def test_the_plots_tutorial_draws_its_plots_in_notebook_7(notebook7_page):
    from lab import wait_until

    lab = notebook7_page
    lab.open_notebook(TUTORIAL.name)
    assert "/notebooks/" in lab.page.url
    lab.run_all_cells(timeout=240)
    lab.reveal_widget(0)
    wait_until(lambda: lab.grids() and lab.grid()["columns"][:2] == ["Run", "State"], 30,
               "the table")
    # Cells out of view may be detached from the page: each plot is scrolled into view.
    # Widget outputs in order: the table, then plot, against, histogram, the overlay...
    lab.reveal_widget(1)
    first = lab.page.locator(".bqplot").first  # one point per run, the seventh arrived
    wait_until(lambda: first.locator("path.dot").count() == 7, 30, "7 points in the plot")
    lab.screenshot("1-plot")
    lab.reveal_widget(4)
    overlay = lab.page.locator(".bqplot", has=lab.page.locator("text", has_text="trainId"))
    legend = overlay.first.locator("text", has_text="run ")
    wait_until(lambda: set(legend.all_text_contents()) == {"run 1", "run 2", "run 3"}, 30,
               "the overlay's legend: a line per run")
    time.sleep(1)
    lab.screenshot("2-overlay")
