"""Table benchmark: showing and updating the run table of a big database.

Usage::

    .venv/bin/python benchmarks/bench_table.py            # 9,000 runs x 20 variables
    .venv/bin/python benchmarks/bench_table.py --quick    # 1,000 runs, prints only

A database of ``--runs`` runs x 20 variables (a thumbnail, a trendline, a string and numbers
per run, as DAMNIT's backend writes them: ``tests/store/big_database.py``) is opened with
``RunTable(..., watch=False)`` in this process, and its widget made as a notebook displays
it. Everything the widgets send towards the browser is counted (messages and bytes,
binary buffers included) by wrapping ``ipywidgets.Widget._send``. Measured:

- *shown*: from ``RunTable(...)`` to the grid knowing every run and having answered the
  browser's first request for the rows in view, and the bytes sent until then;
- *one changed value*: a comment set from Python, the bytes sent for it;
- *one new run*: a run added with its values, the bytes sent for it.

The browser's own work (drawing, sorting) is not measured here.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import os.path as osp
import platform
import sys
import tempfile
import threading
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

TARGETS = {"shown": 1.0, "value": 1_000, "run": 20_000}  # s, bytes, bytes: the issue's


class Traffic:
    """Messages and bytes the widgets send, counted by wrapping ``Widget._send``."""

    def __init__(self):
        import ipywidgets

        self.lock = threading.Lock()
        self.messages = 0
        self.bytes = 0
        original = ipywidgets.Widget._send
        traffic = self

        def counting(widget, msg, buffers=None):
            size = len(json.dumps(msg, default=str)) + sum(
                memoryview(b).nbytes for b in (buffers or ()))
            with traffic.lock:
                traffic.messages += 1
                traffic.bytes += size
            return original(widget, msg, buffers)

        ipywidgets.Widget._send = counting

    def take(self):
        with self.lock:
            counts = (self.messages, self.bytes)
            self.messages = self.bytes = 0
        return counts


def _png(width=150, height=100):
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    out = io.BytesIO()
    Image.fromarray((rng.random((height, width, 3)) * 255).astype("uint8")).save(out, "PNG")
    return out.getvalue()


def make_database(root, runs):
    import sqlite3

    from tests.store.big_database import make_big_database

    path = make_big_database(osp.join(root, "db"), runs=runs, variables=20)
    conn = sqlite3.connect(osp.join(path, "runs.sqlite"))
    with conn:  # real thumbnails, so the table draws images as users see them
        conn.execute("UPDATE run_variables SET value=? WHERE name='v00'", (_png(),))
    conn.close()
    return path


def _wait_for(check, timeout=600):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("the table did not update in time")
        time.sleep(0.005)


class Browser:
    """The browser's side of the grid, as ipydatagrid's streaming grid behaves: it asks for
    the rows and columns in view when told the data changed (``tick``) and when shown."""

    def __init__(self, grid, rows):
        self.grid = grid
        self.rows = rows  # rows in view (the grid's height over its row height)
        self.replies = 0
        original = grid.comm.send

        def send(data=None, metadata=None, buffers=None, **kw):
            out = original(data=data, metadata=metadata, buffers=buffers, **kw)
            content = (data or {}).get("content") or {}
            if content.get("event_type") == "tick":
                threading.Thread(target=self.request).start()  # as the browser answers
            elif content.get("event_type") == "data-reply":
                self.replies += 1
            return out

        grid.comm.send = send

    def request(self):
        self.grid.comm.handle_msg({"content": {"data": {"method": "custom", "content": {
            "type": "data-request", "r1": 0, "r2": self.rows - 1, "c1": 0,
            "c2": len(self.grid.view_keys()) - 1}}}, "buffers": []})


def measure(root, runs):
    from damnit_nb import RunTable
    from damnit_nb.store import prepare_result

    db_path = make_database(root, runs)
    proposal = osp.join(root, "p001234")
    os.makedirs(osp.join(proposal, "raw"))
    traffic = Traffic()
    traffic.take()
    start = time.perf_counter()
    table = RunTable(proposal, database=db_path, watch=False)
    grid = table.widget.grid
    height = int(grid.layout.height.rstrip("px"))
    browser = Browser(grid, rows=height // grid.base_row_size)
    browser.request()  # the browser shows the grid: it asks for the rows in view
    _wait_for(lambda: grid._row_count >= runs and browser.replies)
    shown = time.perf_counter() - start
    time.sleep(1.0)  # anything the update thread still sends for the first table
    first = traffic.take()

    top = grid.view_runs()[0]  # a run in view (oldest first: the first row)
    table.set_comment(top, "checked")
    _wait_for(lambda: grid.data.loc[top, "Comment"] == "checked")
    time.sleep(1.0)
    value = traffic.take()

    new = runs + 1
    replies = browser.replies
    table._db.add_run(new, start_time=1.7e9 + new * 60.0)
    table._db.write_results(new, [prepare_result(f"v{i:02d}", float(i)) for i in range(3, 20)])
    table.engine_run_added(new, 1.7e9 + new * 60.0)
    table.engine_results(new, [f"v{i:02d}" for i in range(3, 20)])
    _wait_for(lambda: grid._row_count >= runs + 1 and browser.replies > replies)  # its row
    time.sleep(2.0)
    run = traffic.take()
    table.close()
    return shown, first, value, run, browser.rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="1,000 runs; print, do not write")
    p.add_argument("--runs", type=int, help="runs in the database (default 9000, quick 1000)")
    p.add_argument("--output", help="Markdown file to write (default BENCHMARKS.md in the "
                   "repository; with --quick, nothing is written unless given)")
    args = p.parse_args(argv)
    runs = args.runs or (1000 if args.quick else 9000)
    output = args.output or (None if args.quick else osp.join(REPO, "BENCHMARKS.md"))
    os.environ.setdefault("DAMNIT_NB_CACHE_DIR", tempfile.mkdtemp(prefix="bench-cache-"))
    with tempfile.TemporaryDirectory(prefix="bench-table-") as root:
        shown, first, value, run, in_view = measure(root, runs)

    def row(what, figure, target, ok):
        return f"| {what} | {figure} | {target} | {'yes' if ok else 'no'} |"

    lines = [
        "## The table: a big database shown and updated",
        "",
        "Generated by:",
        "",
        "    .venv/bin/python benchmarks/bench_table.py",
        "",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"{os.cpu_count()} cores, {platform.system()} {platform.release()}, Python "
        f"{platform.python_version()}.",
        f"- A database of {runs:,} runs x 20 variables (a 150 x 100 px thumbnail, a trendline, "
        "a string and 17 numbers per run), shown by `RunTable(..., watch=False).widget` in "
        "this process; bytes are what the widgets send towards the browser (JSON and binary "
        f"buffers). The grid sends only the rows in view ({in_view} here): the browser's "
        "requests for them are answered as ipydatagrid's streaming grid asks (when shown, "
        "and when told the rows changed). The browser's drawing is not included.",
        "",
        "| measurement | figure | target | met |",
        "|---|---:|---:|:---:|",
        row("shown: `RunTable(...)` to the grid knowing every run and answering the browser's first request", f"{shown:.2f} s",
            f"<= {TARGETS['shown']:g} s", shown <= TARGETS["shown"]),
        row("sent to show it", f"{first[1] / 1e6:.1f} MB in {first[0]} messages", "", True),
        row("one changed value (a comment) sent", f"{value[1]:,} B in {value[0]} messages",
            f"<= {TARGETS['value']:,} B", value[1] <= TARGETS["value"]),
        row("one new run sent", f"{run[1]:,} B in {run[0]} messages",
            f"<= {TARGETS['run']:,} B", run[1] <= TARGETS["run"]),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if output:
        sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
        from _report import write_section

        write_section(output, "table", text)


if __name__ == "__main__":
    main()
