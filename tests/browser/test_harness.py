"""The browser harness itself: a DataGrid changed by a background thread shows in the page."""

import json
import urllib.request

from lab import KernelError, LabServer, descendants, start_time, wait_until

import pytest

pytestmark = pytest.mark.browser


def _notebook(cells):
    return {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": src,
            }
            for src in cells
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


SMOKE_CELLS = [
    """\
import threading
import ipywidgets as ipw
import pandas as pd
from ipydatagrid import DataGrid

df = pd.DataFrame({"Run": [1, 2], "Value": [10.0, 20.0]})
grid = DataGrid(df, layout={"height": "150px"})
status = ipw.HTML("<b>Watching</b> 2 runs")
go = threading.Event()
ipw.VBox([status, grid])
""",
    """\
def later():
    go.wait()
    grid.set_cell_value("Value", 1, 42.5)
    status.value = "<b>Watching</b> updated by a thread"

thread = threading.Thread(target=later, daemon=True)
thread.start()
""",
]


def test_thread_update_reaches_page(lab_server, lab_page):
    (lab_server.root_dir / "smoke.ipynb").write_text(json.dumps(_notebook(SMOKE_CELLS)))
    lab_page.open_notebook("smoke.ipynb")
    lab_page.run_all_cells()

    grid = lab_page.wait_for_grid(lambda g: len(g["rows"]) == 2, what="a 2-row grid")
    assert grid["columns"][-2:] == ["Run", "Value"]
    assert grid["index_columns"] == 1
    records = lab_page.grid_records()
    assert [r["Value"] for r in records] == [10.0, 20.0]
    texts = [t["text"] for t in lab_page.widget_texts()]
    assert "Watching 2 runs" in texts
    lab_page.screenshot("1-before")

    # No cell is running: the thread's change must reach the page on its own.
    assert lab_page.execute("go.set(); print(thread.is_alive() or 'done')") in ("True\n", "done\n")
    lab_page.wait_for_grid(
        lambda g: [r[g["columns"].index("Value")] for r in g["rows"]] == [10.0, 42.5],
        what="the thread's new value",
    )
    assert lab_page.execute("thread.join(10); print(thread.is_alive())") == "False\n"
    texts = [t["text"] for t in lab_page.widget_texts()]
    assert "Watching updated by a thread" in texts
    lab_page.screenshot("2-after-thread")


def test_kernel_errors_and_timeouts_are_reported(lab_server, lab_page):
    cells = ["x = 1", "raise ValueError('boom')", "y = 2"]
    (lab_server.root_dir / "errors.ipynb").write_text(json.dumps(_notebook(cells)))
    lab_page.open_notebook("errors.ipynb")
    # Running all cells stops at the error: no waiting for the third cell.
    with pytest.raises(KernelError, match="ValueError"):
        lab_page.run_all_cells()
    lab_page.screenshot("cell-error")
    assert lab_page.execute("print(x + 1)") == "2\n"
    assert lab_page.execute("x + 2") == "3"
    with pytest.raises(KernelError, match="ZeroDivisionError"):
        lab_page.execute("1 / 0")
    with pytest.raises(TimeoutError, match="did not finish"):
        lab_page.execute("import time; time.sleep(3)", timeout=0.5)


def test_stopping_the_server_ends_its_kernels(tmp_path):
    server = LabServer(tmp_path / "lab").start()
    try:
        request = urllib.request.Request(
            f"{server.url}/api/kernels",
            data=b"{}",
            method="POST",
            headers={"Authorization": f"token {server.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 201
        pids = wait_until(lambda: descendants(server.proc.pid), 30, "a kernel process")
        server_pid = server.proc.pid
    finally:
        server.stop()
    left = [p for p in [server_pid, *pids] if start_time(p) is not None]
    assert left == []
