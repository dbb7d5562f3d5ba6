"""Table benchmark in a browser: a big run table sorted and filtered, as a user waits for it.

Usage::

    .venv/bin/python benchmarks/bench_table_browser.py            # 9,000 runs x 20 variables
    .venv/bin/python benchmarks/bench_table_browser.py --quick    # 1,000 runs
    .venv/bin/python benchmarks/bench_table_browser.py --output FILE  # also write the section

JupyterLab (served from this Python's environment) and Debian's Chromium (headless, through
``tests/browser/lab.py``) show a notebook whose cell is ``RunTable(proposal, database=...,
watch=False)`` on a database made as ``bench_table.py`` makes it. Each figure runs from a
user's action in the page to the page's grid having painted the new rows in view:

- *sort*: a numeric column sorted descending from the grid's header menu (its filter icon,
  then "Sort Descending"), from the table in run order;
- *filter*: a range filter on that column added with the table's Filters bar (the column,
  a minimum and a maximum, then "Add filter");
- *clear*: that filter removed with the bar's "Clear all".

The clock is the page's: the action's time is its ``pointerdown`` event's; a
``requestAnimationFrame`` loop then reads the grid's data model each frame (the first row's
run and the row count) until it holds the rows expected, which the grid paints in that frame
(JupyterLab's message loop paints in animation frames); the figure ends at the start of the
next frame. The grid's comm messages are timed in the page too, splitting each figure into
the kernel's part (the action to the kernel's "tick"), the browser's wait before it asks for
the rows (ipydatagrid's debounce), the data reply, and the paint.

Nothing is written unless ``--output`` is given (the section, as ``bench_table.py`` writes
its own).
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.join(REPO, "tests", "browser"))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

TARGET = 1.0  # seconds, from the action to the grid painted
COLUMN = "v03"  # a numeric column in view (values r * 0.5 + 3: unique, growing with the run)
SETTLE = 2.5  # seconds between two actions: the grid's image repaints are done

_NOTEBOOK_CELL = """\
from damnit_nb import RunTable

table = RunTable({proposal!r}, database={database!r}, watch=False)
grid = table.widget.grid


def bench_expect(sort=None, key=None, lo=None, hi=None):
    '''The run the grid should show first, and how many rows, for a sort or a range.'''
    model = table.widget.model
    runs = model.runs()
    if key is not None:
        runs = [r for r in runs if model.cell(r, key).mark is None
                and (lo is None or model.cell(r, key).value >= lo)
                and (hi is None or model.cell(r, key).value <= hi)]
    if sort is not None:
        runs = sorted(runs, key=lambda r: (model.cell(r, sort).value, r), reverse=True)
    return [runs[0], len(runs)]


table
"""

# With --trace: the kernel notes when the grid's order options change, when it orders its
# runs, sends a tick and answers a data request (epoch seconds), for `_timeline`.
_TRACE_CELL = """\
import json as _json
import time as _time

_trace = []


def _traced(name):
    method = getattr(grid, name)

    def traced(*args, **kwargs):
        start = _time.time()
        try:
            return method(*args, **kwargs)
        finally:
            _trace.append((name, start, _time.time()))
    setattr(grid, name, traced)


for _name in ("_compute_order", "_reply_data"):
    _traced(_name)
_send = grid.send


def _send_traced(content, buffers=None):
    if content.get("event_type") == "tick":
        _trace.append(("tick sent", _time.time(), None))
    return _send(content, buffers)


grid.send = _send_traced
grid.observe(lambda change: _trace.append((change["name"] + " set", _time.time(), None)),
             names=["filters", "_transforms", "sort_by"])


def bench_trace():
    out = list(_trace)
    _trace.clear()
    print(_json.dumps(out))
"""

# The grid's widget model, its view's Lumino DataGrid, and where a column's header menu
# button is (ipydatagrid's HeaderRenderer: a 10.5 px button 3 px in from the header's
# bottom-right corner). Uses the same widget-manager internals as lab.py.
_JS_FIND = """
async () => {
  const models = await (%(models)s)();
  const grids = Object.entries(models).filter(
    ([id, m]) => m.get('_model_name') === 'StreamingDataGridModel');
  if (grids.length !== 1) return null;
  const [id, m] = grids[0];
  const view = await Object.values(m.views)[0];
  window.__bench = {model: m, grid: view.grid.grid};
  return {id: id, rows: m.data_model.rowCount('body')};
}
"""

_JS_MENU_BUTTON = """
(column) => {
  const g = window.__bench.grid;
  const rect = g.viewport.node.getBoundingClientRect();
  let x = rect.left + g.headerWidth - g.scrollX;
  for (let c = 0; c < column; c++) x += g.columnSize('body', c);
  const levels = g.dataModel.rowCount('column-header');
  let y = rect.top;
  for (let r = 0; r < levels - 1; r++) y += g.rowSize('column-header', r);
  const w = g.columnSize('body', column), h = g.rowSize('column-header', levels - 1);
  return {x: x + w - 8, y: y + h - 8, right: x + w, viewport: rect.right};
}
"""

# Arms the measurement: from now on, the first pointerdown starts the clock; the grid's data
# model holding `expect` ([first run, rows]) stops it, one animation frame later.
_JS_ARM = """
([expect, timeoutMs]) => {
  const b = window.__bench;
  const m = b.model;
  const now = () => performance.now();
  const marks = {origin: performance.timeOrigin};
  const firstRun = () => m.data_model.data('row-header', 0, 0);
  const shows = () => m.data_model.rowCount('body') === expect[1] && firstRun() === expect[0];
  if (shows()) throw new Error('the grid already shows ' + JSON.stringify(expect));
  const onDown = (event) => { if (marks.action === undefined) marks.action = event.timeStamp; };
  window.addEventListener('pointerdown', onDown, true);
  const onMsg = (content) => {
    if (marks.action === undefined) return;
    const t = now();
    if (content.event_type === 'tick' && marks.tick === undefined) marks.tick = t;
    if (content.event_type === 'data-reply' && shows() && marks.reply === undefined) {
      marks.reply = t;
      marks.reply_bytes = JSON.stringify(content).length;
    }
  };
  m.on('msg:custom', onMsg);
  const send = m.send;
  m.send = function (content) {
    if (marks.action !== undefined && content && content.type === 'data-request') {
      marks.request = now();  // the last one before the reply
      marks.view = [content.r1, content.r2, content.c1, content.c2];
    }
    return send.apply(this, arguments);
  };
  const armed = now();
  b.done = new Promise((resolve) => {
    const finish = (error) => {
      window.removeEventListener('pointerdown', onDown, true);
      m.off('msg:custom', onMsg);
      m.send = send;
      marks.first_run = firstRun();
      marks.rows = m.data_model.rowCount('body');
      marks.error = error || null;
      resolve(marks);
    };
    const frame = () => {
      const t = now();
      if (marks.action !== undefined && shows()) {
        marks.seen = t;
        requestAnimationFrame(() => { marks.painted = now(); finish(); });
        return;
      }
      if (t - armed > timeoutMs) { finish('timed out'); return; }
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
  return true;
}
"""


class Bench:
    """The notebook open in the page, and the actions measured on its grid."""

    def __init__(self, lab_page, runs, trace=False):
        self.lab = lab_page
        self.page = lab_page.page
        self.runs = runs
        self.trace = trace
        if trace:
            self.kernel(_TRACE_CELL)

    def kernel(self, code):
        return self.lab.execute(code, timeout=600)

    def expect(self, **kwargs):
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        return json.loads(self.kernel(f"import json; print(json.dumps(bench_expect({args})))"))

    def find_grid(self):
        from lab import _JS_MODELS, wait_until

        return wait_until(
            lambda: (found := self.page.evaluate(_JS_FIND % {"models": _JS_MODELS}))
            and found["rows"] == self.runs and found,
            120, f"the grid in the page with {self.runs:,} rows")

    def measure(self, expect, action, timeout=60):
        """Arm the page's clock for the grid to show ``expect``, do ``action()``, and return
        the page's marks (ms)."""
        self.page.evaluate(_JS_ARM, [expect, int(timeout * 1000)])
        action()
        marks = self.page.evaluate("() => window.__bench.done")
        if marks["error"]:
            raise TimeoutError(f"the grid did not show {expect} ({marks})")
        if self.trace:
            time.sleep(0.2)  # the kernel's last notes
            print(_timeline(marks, json.loads(self.kernel("bench_trace()"))), file=sys.stderr)
        return marks

    # -- the grid's header menu ----------------------------------------------------------------
    def open_header_menu(self, column):
        where = self.page.evaluate(_JS_MENU_BUTTON, column)
        if where["right"] > where["viewport"]:
            raise RuntimeError(f"column {column} is out of view: widen the page")
        self.page.mouse.click(where["x"], where["y"])
        self.page.locator(".ipydatagrid-context-menu").wait_for(state="visible")

    def menu_item(self, label):
        return self.page.locator(".ipydatagrid-context-menu .lm-Menu-item",
                                 has_text=label).first

    # -- the Filters bar -----------------------------------------------------------------------
    def open_filter_bar(self, label):
        self.page.locator(".jp-OutputArea").get_by_text("Filters", exact=True).first.click()
        choice = self.page.get_by_label("Filter", exact=True)
        choice.wait_for(state="visible")
        choice.select_option(label=label)
        self.page.get_by_placeholder("min").wait_for(state="visible")

    def fill_range(self, lo, hi):
        self.page.get_by_placeholder("min").fill(str(lo))
        self.page.get_by_placeholder("max").fill(str(hi))

    def button(self, text):
        return self.page.locator(".jp-OutputArea button", has_text=text).first


def _timeline(marks, trace):
    """The page's marks and the kernel's notes in one list, in ms from the action."""
    t0 = marks["origin"] + marks["action"]
    events = [(marks["origin"] + marks[k], f"page: {k}") for k in
              ("action", "tick", "request", "reply", "seen", "painted") if k in marks]
    for name, start, end in trace:
        events.append((start * 1e3, f"kernel: {name}" if end is None else
                       f"kernel: {name} ({(end - start) * 1e3:.0f} ms)"))
    return "\n".join(f"  {t - t0:8.1f} ms  {what}" for t, what in sorted(events))


def _split(marks):
    """A measurement's figures in seconds: total, and its parts."""
    ms = 1e-3
    out = {"total": (marks["painted"] - marks["action"]) * ms,
           "bytes": marks.get("reply_bytes")}
    if "tick" in marks and "request" in marks and "reply" in marks:
        out["kernel"] = (marks["tick"] - marks["action"]) * ms
        out["debounce"] = (marks["request"] - marks["tick"]) * ms
        out["reply"] = (marks["reply"] - marks["request"]) * ms
        out["paint"] = (marks["painted"] - marks["reply"]) * ms
    return out


def _progress(name, i, repeats, split):
    parts = ", ".join(f"{k} {split[k]:.2f}" for k in ("kernel", "debounce", "reply", "paint")
                      if k in split)
    print(f"{name} {i + 1}/{repeats}: {split['total']:.2f} s ({parts})", file=sys.stderr)


def _notebook(proposal, database):
    cell = _NOTEBOOK_CELL.format(proposal=proposal, database=database)
    return {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [],
                       "execution_count": None, "source": cell}],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def run_benchmark(root, runs, repeats, screenshots=None, trace=False):
    """Make the database, show it in the Lab, and measure each action ``repeats`` times:
    ``({"sort": [...], "filter": [...], "clear": [...]}, the rows and columns in view)``."""
    from playwright.sync_api import sync_playwright

    from bench_table import make_database
    from lab import LabPage, LabServer, launch_chromium

    database = make_database(root, runs)
    proposal = osp.join(root, "p001234")
    os.makedirs(osp.join(proposal, "raw"))
    server = LabServer(osp.join(root, "lab"), env={
        "PYTHONPATH": REPO, "DAMNIT_NB_CACHE_DIR": osp.join(root, "cache"),
        "DAMNIT_NB_CONFIG_DIR": osp.join(root, "config")})
    server.start()
    try:
        (server.root_dir / "table.ipynb").write_text(json.dumps(_notebook(proposal, database)))
        with sync_playwright() as p:
            context = launch_chromium(p, osp.join(root, "chromium-profile"))
            try:
                page = context.pages[0] if context.pages else context.new_page()
                page.set_default_timeout(60_000)
                lab_page = LabPage(page, server, artifacts=screenshots or root,
                                   prefix="bench-")
                lab_page.open_notebook("table.ipynb")
                lab_page.run_all_cells(timeout=600)
                bench = Bench(lab_page, runs, trace=trace)
                bench.kernel("table.to_markdown(runs=[1]); None")  # every value read
                bench.find_grid()
                lab_page.reveal_widget()
                time.sleep(SETTLE)
                return _actions(bench, repeats, screenshots)
            finally:
                context.close()
    finally:
        server.stop()


def _actions(bench, repeats, screenshots):
    results = {"sort": [], "filter": [], "clear": []}
    view = None

    def measured(name, i, expect, action):
        nonlocal view
        marks = bench.measure(expect, action)
        view = marks.get("view") or view
        results[name].append(_split(marks))
        _progress(name, i, repeats, results[name][-1])
        if screenshots and i == 0:
            time.sleep(SETTLE)
            bench.lab.screenshot(f"{list(results).index(name) + 1}-{name}")
        time.sleep(SETTLE)  # the grid's repaints for its images are done

    column = json.loads(bench.kernel(f"print(grid.view_keys().index({COLUMN!r}))"))
    in_order = [1, bench.runs]
    if screenshots:
        bench.lab.screenshot("0-shown")

    # (a) Sorted descending from the header menu; back to run order before the next time.
    top = bench.expect(sort=COLUMN)
    for i in range(repeats):
        bench.open_header_menu(column)
        measured("sort", i, top, bench.menu_item("Sort Descending").click)
        bench.open_header_menu(column)
        bench.measure(in_order, bench.menu_item("No Sort").click)
        time.sleep(SETTLE)

    # (b) A range filter from the Filters bar, (c) cleared.
    lo, hi = bench.runs * 0.2, bench.runs * 0.3  # a fifth of the runs, from the 40 % mark
    shown = bench.expect(key=COLUMN, lo=lo, hi=hi)
    bench.open_filter_bar(f"Group/{COLUMN}")
    for i in range(repeats):
        bench.fill_range(lo, hi)
        time.sleep(0.5)  # the typed values reach the kernel
        measured("filter", i, shown, bench.button("Add filter").click)
        measured("clear", i, in_order, bench.button("Clear all").click)
    return results, view


def report(results, view, runs, repeats, command):
    from _report import browser_header

    def seconds(values):
        return f"{statistics.median(values):.2f} s", f"{max(values):.2f} s"

    what = {
        "sort": "sort: a numeric column descending, from the grid's header menu "
                "(filter icon, then \"Sort Descending\")",
        "filter": "filter: a range on that column, from the Filters bar (\"Add filter\")",
        "clear": "clear: that filter removed (\"Clear all\")",
    }
    lines = browser_header("The table in a browser: sorting and filtering a big table",
                           command, "jupyterlab", "ipydatagrid") + [
        f"- A database of {runs:,} runs x 20 variables (as in the table benchmark) shown by "
        "`RunTable(..., watch=False)` in a JupyterLab notebook. Each figure runs from the "
        "user's click in the page (its pointerdown) to the grid having painted the new rows "
        "in view, timed in the page: a requestAnimationFrame loop reads the grid's data "
        "model each frame for the expected first run and row count, and the figure ends at "
        "the next frame. Sorting and filtering run in the kernel; the browser then asks for "
        f"the rows in view (rows {view[0]}-{view[1]} and columns {view[2]}-{view[3]} here, "
        "a thumbnail column among them; every run's thumbnail is one image here, which the "
        "browser decodes once: a new image is drawn by a repaint about 0.4 s later, not "
        f"counted). {repeats} times each; median and worst.",
        "",
        "| measurement | median | worst | target | met |",
        "|---|---:|---:|---:|:---:|",
    ]
    for name in ("sort", "filter", "clear"):
        totals = [r["total"] for r in results[name]]
        median, worst = seconds(totals)
        met = "yes" if max(totals) <= TARGET else "no"
        lines.append(f"| {what[name]} | {median} | {worst} | <= {TARGET:g} s | {met} |")
    lines += [
        "",
        "Where the time goes (medians, timed in the page): *kernel* from the click to the "
        "kernel's \"tick\" arriving (the change's message, the update pump's gathering, "
        "sorting or filtering, and the page handling the messages before the tick: the "
        "Filters bar's chips and the count of runs shown); *debounce* the grid's wait before "
        "it asks for the rows in view; *reply* from its request to the rows in its data "
        "model; *paint* from there to the frame after the one that painted them. The reply "
        "size is its JSON, mostly the thumbnails.",
        "",
        "| measurement | kernel | debounce | reply | paint | reply size |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in ("sort", "filter", "clear"):
        parts = [r for r in results[name] if "kernel" in r]
        if not parts:
            continue
        med = {k: statistics.median(r[k] for r in parts)
               for k in ("kernel", "debounce", "reply", "paint")}
        size = statistics.median(r["bytes"] or 0 for r in parts)
        lines.append(f"| {name} | {med['kernel']:.2f} s | {med['debounce']:.2f} s | "
                     f"{med['reply']:.2f} s | {med['paint']:.2f} s | {size / 1e3:.0f} kB |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    from _report import big_table_arguments

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parse = big_table_arguments(p, 'bench_table_browser.py')
    p.add_argument("--trace", action="store_true", help="print each action's timeline, the "
                   "page's and the kernel's, to stderr")
    args, runs, command = parse(argv)
    with tempfile.TemporaryDirectory(prefix="bench-browser-") as root:
        results, view = run_benchmark(root, runs, args.repeats,
                                      screenshots=args.screenshots, trace=args.trace)
    text = report(results, view, runs, args.repeats, command)
    print(text)
    if args.output:
        from _report import write_section

        write_section(args.output, "table-browser", text)


if __name__ == "__main__":
    main()
