"""Drive JupyterLab in headless Chromium: the server, the browser, and reading what the page shows.

Every use of JupyterLab's and the widget managers' private internals lives in this module, so a
JupyterLab or ipydatagrid upgrade breaks one file.

- :class:`LabServer` starts ``jupyter lab`` (this Python's environment) with every Jupyter dir
  isolated under a folder, in its own process group, and stops it by that group.
- :func:`launch_chromium` starts Debian's Chromium through Playwright (:func:`chromium_context`
  also stops it).
- :class:`LabPage` wraps a Playwright page showing the Lab: open a notebook, run all cells or
  one, wait, execute code in the kernel, read DataGrid (cells, header levels) and text widgets,
  click a grid's cells and header menus where the grid draws them, save screenshots.
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from damnit_nb._processes import descendants, start_time
from tests.helpers import eventually

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "ARTIFACTS",
    "LabServer",
    "LabPage",
    "KernelError",
    "launch_chromium",
    "chromium_context",
    "free_port",
    "descendants",
    "start_time",
    "wait_until",
    "notebook_json",
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what, interval=0.25):
    """Call ``predicate()`` until it returns something truthy, and return that.

    Raises ``TimeoutError`` naming *what* was awaited (and the last value seen) after *timeout* s.
    """
    last = eventually(predicate, timeout, interval)
    if not last:
        raise TimeoutError(f"timed out after {timeout} s waiting for {what}; last value: {last!r}")
    return last


def notebook_json(cells):
    """A notebook (nbformat 4, Python 3 kernel) of code cells with these sources."""
    return {
        "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                   "source": src} for src in cells],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


class LabServer:
    """A JupyterLab server on 127.0.0.1 with a random token, isolated under *base_dir*.

    Parameters
    ----------
    base_dir : path
        Holds the Jupyter config/data/runtime dirs, the server log and (by default) the root dir.
    root_dir : path, optional
        The folder the Lab serves (default ``base_dir/root``).
    env : dict, optional
        Extra environment variables for the server and so for its kernels.
    frontend : "lab" or "notebook", optional
        JupyterLab (default) or Notebook 7 (``jupyter notebook``: notebooks at ``/notebooks/``).
    """

    def __init__(self, base_dir, root_dir=None, env=None, frontend="lab"):
        self.frontend = frontend
        self.base_dir = Path(base_dir)
        self.root_dir = Path(root_dir) if root_dir else self.base_dir / "root"
        self.extra_env = dict(env or {})
        self.token = secrets.token_hex(16)
        self.port = None
        self.proc = None
        self.log_path = self.base_dir / "jupyter-lab.log"
        self._kernels = {}  # pid -> start time, so a reused PID is never signalled

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, name):
        """The URL opening notebook *name* (relative to the root dir) with a fresh workspace."""
        if self.frontend == "notebook":
            return f"{self.url}/notebooks/{name}?token={self.token}"
        return f"{self.url}/lab/tree/{name}?token={self.token}&reset"

    def log(self):
        """The server's output so far (for failure messages)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def start(self, timeout=90):
        """Start the server and wait until ``/api/status`` answers; retry on a taken port."""
        for _ in range(3):
            self._spawn()
            try:
                self._wait_ready(timeout)
                return self
            except _PortTaken:
                self.stop()
        raise RuntimeError(f"JupyterLab could not find a free port; log:\n{self.log()}")

    def _spawn(self):
        jdir = self.base_dir / "jupyter"
        env = dict(os.environ)
        for var, sub in [
            ("JUPYTER_CONFIG_DIR", "config"),
            ("JUPYTER_DATA_DIR", "data"),
            ("JUPYTER_RUNTIME_DIR", "runtime"),
            ("IPYTHONDIR", "ipython"),
            ("JUPYTERLAB_SETTINGS_DIR", "lab-settings"),
            ("JUPYTERLAB_WORKSPACES_DIR", "lab-workspaces"),
        ]:
            (jdir / sub).mkdir(parents=True, exist_ok=True)
            env[var] = str(jdir / sub)
        # No "notified about Jupyter news?" toast over the screenshots.
        notification = jdir / "lab-settings/@jupyterlab/apputils-extension"
        notification.mkdir(parents=True, exist_ok=True)
        (notification / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        env.pop("JUPYTER_PATH", None)
        env["JUPYTER_PLATFORM_DIRS"] = "1"
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        app = "JupyterNotebookApp" if self.frontend == "notebook" else "LabApp"
        cmd = [
            sys.executable, "-m", "jupyter", self.frontend,
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            f"--{app}.expose_app_in_browser=True",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]  # fmt: skip
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                cmd,
                env=env,
                cwd=self.root_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()

    def _wait_ready(self, timeout):
        request = urllib.request.Request(
            f"{self.url}/api/status", headers={"Authorization": f"token {self.token}"}
        )

        def ready():
            if self.proc.poll() is not None:
                if "address already in use" in self.log().lower():
                    raise _PortTaken()
                raise RuntimeError(
                    f"JupyterLab exited with code {self.proc.returncode}; log:\n{self.log()}"
                )
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    return response.status == 200
            except (urllib.error.URLError, OSError):
                return False

        wait_until(ready, timeout, f"JupyterLab /api/status on port {self.port}")

    def _remember_kernels(self):
        if self.proc is not None and self.proc.poll() is None:
            for pid in descendants(self.proc.pid):
                self._kernels.setdefault(pid, start_time(pid))

    def stop(self):
        """Stop the server by its process group (SIGINT twice, then SIGKILL), kernels included.

        Kernels run in sessions of their own; any still alive once the server is gone are
        killed by PID.
        """
        if self.proc is None:
            return
        self._remember_kernels()
        pgid = self.proc.pid
        for sig, wait in [(signal.SIGINT, 0.5), (signal.SIGINT, 15), (signal.SIGKILL, 10)]:
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left in the group (it should be nothing).
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid, started in self._kernels.items():
            if start_time(pid) == started:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        # A killed process lingers until the system has torn it down: wait for that.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(
                start_time(pid) == started for pid, started in self._kernels.items()):
            time.sleep(0.05)
        self._kernels.clear()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class _PortTaken(Exception):
    pass


def launch_chromium(playwright, profile_dir):
    """A persistent Chromium context (Debian's /usr/bin/chromium) with its profile in *profile_dir*."""
    return playwright.chromium.launch_persistent_context(
        str(profile_dir),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 1200},
    )


@contextmanager
def chromium_context(profile_dir):
    """Playwright running a persistent Chromium context (see `launch_chromium`), closed after.

    Raises ``FileNotFoundError`` if Debian's Chromium is not installed."""
    if not os.access(CHROMIUM, os.X_OK):
        raise FileNotFoundError(
            f"{CHROMIUM} is missing: browser tests need Debian's chromium; "
            "run `bash scripts/setup.sh` to install it"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = launch_chromium(p, profile_dir)
        try:
            yield context
        finally:
            context.close()


# --- Page-side JavaScript: JupyterLab and widget-manager internals -------------------------------

# The notebook panel in the main area, or null.
_JS_PANEL = """
() => {
  const app = window.jupyterapp;
  if (!app) return null;
  const w = app.shell.currentWidget;
  return w && w.content && w.sessionContext ? w : null;
}
"""

_JS_NOTEBOOK_STATE = (
    """
() => {
  const panel = (%s)();
  if (!panel) return null;
  const ctx = panel.sessionContext;
  const kernel = ctx.session && ctx.session.kernel;
  const cells = panel.content.widgets.map(cell => ({
    type: cell.model.type,
    execution_count: cell.model.type === 'code' ? cell.model.executionCount : null,
    pending: cell.node.querySelector('.jp-InputArea-prompt') ?
             cell.node.querySelector('.jp-InputArea-prompt').textContent.includes('*') : false,
  }));
  return {
    ready: ctx.isReady,
    kernel_status: kernel ? kernel.status : null,
    connection: kernel ? kernel.connectionStatus : null,
    cells: cells,
  };
}
"""
    % _JS_PANEL
)

# Every live widget model the notebook's widget manager knows, as {id: model} (a Promise).
_JS_MODELS = (
    """
async () => {
  const panel = (%s)();
  if (!panel) return {};
  let manager = null;
  for (const cell of panel.content.widgets) {
    const area = cell.outputArea;
    if (!area) continue;
    for (const child of area.widgets) {
      for (const w of (child.widgets || [child])) {
        if (w && w._manager && w._manager.promise) { manager = await w._manager.promise; break; }
      }
      if (manager) break;
    }
    if (manager) break;
  }
  if (!manager) return {};
  const ids = Object.keys(manager._models);
  const models = {};
  for (const id of ids) {
    try { models[id] = await manager._models[id]; } catch (e) { /* failed model */ }
  }
  return models;
}
"""
    % _JS_PANEL
)

_JS_GRIDS = (
    """
async () => {
  const models = await (%s)();
  const grids = [];
  for (const [id, m] of Object.entries(models)) {
    if (!['DataGridModel', 'StreamingDataGridModel'].includes(m.get('_model_name')) || !m.data_model) continue;
    const dm = m.data_model;
    const read = (region, r, c) => {
      const v = dm.data(region, r, c);
      if (v === undefined) return null;
      // damnit_nb's cells with marks travel as {t: text, m: mark, ...}: their text
      return (v && typeof v === 'object' && 't' in v) ? v.t : v;
    };
    // A header's levels (a MultiIndex), the empty ones left out, joined with '/'.
    const header = (region, c) => {
      const levels = [];
      for (let r = 0; r < nhead; r++) { const v = read(region, r, c); if (v) levels.push(v); }
      return levels.join('/');
    };
    const nrows = dm.rowCount('body');
    const nbody = dm.columnCount('body');
    // Index columns are shown only when the grid shows row headers.
    const hv = m.get('header_visibility');
    const nidx = (hv === 'all' || hv === 'row') ? dm.columnCount('row-header') : 0;
    const nhead = dm.rowCount('column-header');
    const columns = [];
    for (let c = 0; c < nidx; c++) columns.push(nhead ? header('corner-header', c) : null);
    for (let c = 0; c < nbody; c++) columns.push(nhead ? header('column-header', c) : null);
    const rows = [];
    for (let r = 0; r < nrows; r++) {
      const row = [];
      for (let c = 0; c < nidx; c++) row.push(read('row-header', r, c));
      for (let c = 0; c < nbody; c++) row.push(read('body', r, c));
      rows.push(row);
    }
    grids.push({id: id, index_columns: nidx, columns: columns, rows: rows,
                selections: m.get('selections')});
  }
  return grids;
}
"""
    % _JS_MODELS
)

# The column header of every rendered grid: its levels' texts and the cells drawn merged.
_JS_GRID_HEADERS = (
    """
async () => {
  const models = await (%s)();
  const out = [];
  for (const [id, m] of Object.entries(models)) {
    const grid = ['DataGridModel', 'StreamingDataGridModel'].includes(m.get('_model_name'));
    if (!grid || !m.data_model) continue;
    const dm = m.data_model;
    const nhead = dm.rowCount('column-header');
    const ncol = dm.columnCount('body');
    const levels = [];
    for (let r = 0; r < nhead; r++) {
      const row = [];
      for (let c = 0; c < ncol; c++) {
        const v = dm.data('column-header', r, c);
        row.push(v === undefined || v === null ? '' : String(v));
      }
      levels.push(row);
    }
    // Cell groups are what the grid paints as one merged header cell.
    const merged = [];
    const ngroups = dm.groupCount ? dm.groupCount('column-header') : 0;
    for (let i = 0; i < ngroups; i++) {
      const g = dm.group('column-header', i);
      merged.push({row: g.r1, last_row: g.r2, first: g.c1, last: g.c2,
                   text: levels[g.r1] ? levels[g.r1][g.c1] : null});
    }
    out.push({id: id, levels: levels, merged: merged});
  }
  return out;
}
"""
    % _JS_MODELS
)

# Where a grid cell is drawn on the page (client coordinates), from the grid's own layout.
_JS_CELL_BOX = (
    """
async ([gridId, region, row, column]) => {
  const models = await (%s)();
  const m = models[gridId];
  if (!m) return {error: 'no grid model ' + gridId};
  let grid = null;
  for (const p of Object.values(m.views || {})) {
    const view = await p;
    if (view && view.grid && view.grid.grid && view.el && view.el.isConnected) {
      grid = view.grid.grid;
      break;
    }
  }
  if (!grid) return {error: 'the grid is not shown on the page'};
  grid.node.scrollIntoView({block: 'nearest'});
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const rect = grid.viewport.node.getBoundingClientRect();
  const x = rect.left + grid.headerWidth + grid.columnOffset('body', column) - grid.scrollX;
  const width = grid.columnSize('body', column);
  let y, height;
  if (region === 'column-header') {
    y = rect.top + grid.rowOffset('column-header', row);
    height = grid.rowSize('column-header', row);
  } else {
    y = rect.top + grid.headerHeight + grid.rowOffset('body', row) - grid.scrollY;
    height = grid.rowSize('body', row);
  }
  const hit = grid.hitTest(x + width / 2, y + height / 2);
  return {x: x, y: y, width: width, height: height,
          hit: {region: hit.region, row: hit.row, column: hit.column}};
}
"""
    % _JS_MODELS
)

# The body rows a grid's view shows now (from its scroll position) and their index texts.
_JS_ROWS_IN_VIEW = (
    """
async ([gridId]) => {
  const models = await (%s)();
  const m = models[gridId];
  if (!m) return {error: 'no grid model ' + gridId};
  for (const p of Object.values(m.views || {})) {
    const view = await p;
    if (!(view && view.grid && view.grid.grid && view.el && view.el.isConnected)) continue;
    const grid = view.grid.grid;
    const first = grid.rowAt('body', grid.scrollY);
    let last = grid.rowAt('body', grid.scrollY + grid.pageHeight - 1);
    if (last < 0) last = grid.rowCount('body') - 1;
    const dm = m.data_model;
    const index = [];
    for (let r = first; r >= 0 && r <= last; r++) {
      const v = dm.data('row-header', r, 0);
      index.push(v === undefined || v === null ? null : String(v));
    }
    return {first: first, last: last, scroll_y: grid.scrollY, index: index};
  }
  return {error: 'the grid is not shown on the page'};
}
"""
    % _JS_MODELS
)

# Text of widgets with a 'value' string (HTML, Label, ...), filtered by model name.
_JS_TEXTS = (
    """
async (names) => {
  const models = await (%s)();
  const out = [];
  for (const [id, m] of Object.entries(models)) {
    if (names.length && !names.includes(m.get('_model_name'))) continue;
    const v = m.get('value');
    if (typeof v !== 'string') continue;
    const div = document.createElement('div');
    div.innerHTML = v;
    out.push({id: id, model: m.get('_model_name'), value: v, text: div.textContent});
  }
  return out;
}
"""
    % _JS_MODELS
)

# Execute code in the notebook's kernel without a cell; collect its outputs.
_JS_EXECUTE = (
    """
async ([code, timeoutMs]) => {
  const panel = (%s)();
  if (!panel) throw new Error('no notebook panel is open');
  const kernel = panel.sessionContext.session.kernel;
  const outputs = [];
  const future = kernel.requestExecute({code: code, store_history: false, silent: false});
  future.onIOPub = (msg) => {
    const t = msg.header.msg_type;
    if (t === 'stream') outputs.push({type: 'stream', name: msg.content.name, text: msg.content.text});
    else if (t === 'execute_result' || t === 'display_data')
      outputs.push({type: t, data: msg.content.data});
    else if (t === 'error')
      outputs.push({type: 'error', ename: msg.content.ename, evalue: msg.content.evalue,
                    traceback: msg.content.traceback});
  };
  let timer;
  const timedOut = new Promise(resolve => { timer = setTimeout(() => resolve(null), timeoutMs); });
  const reply = await Promise.race([future.done, timedOut]);
  clearTimeout(timer);
  if (reply === null) return {status: 'timeout', outputs: outputs};
  return {status: reply.content.status, outputs: outputs};
}
"""
    % _JS_PANEL
)


class KernelError(RuntimeError):
    """Code executed in the kernel raised; ``outputs`` holds what it printed."""

    def __init__(self, message, outputs):
        super().__init__(message)
        self.outputs = outputs


class LabPage:
    """A Playwright page showing JupyterLab served by *server*."""

    def __init__(self, page, server, artifacts=ARTIFACTS, prefix=""):
        self.page = page
        self.server = server
        self.artifacts = Path(artifacts)
        self.prefix = prefix

    # --- notebooks ----------------------------------------------------------------------------

    def open_notebook(self, name, timeout=120):
        """Open notebook *name* (relative to the server's root dir); wait for an idle kernel.

        The notebook's metadata must name a kernelspec, or the Lab asks which kernel to start.
        """
        self.page.goto(self.server.notebook_url(name), wait_until="domcontentloaded")
        self.page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget", timeout=timeout * 1000
        )
        return self.wait_for_kernel_idle(timeout)

    def notebook_state(self):
        """Kernel status and every cell's type/execution count, or None if no notebook is shown."""
        return self.page.evaluate(_JS_NOTEBOOK_STATE)

    def wait_for_kernel_idle(self, timeout=120):
        """Wait until the notebook's kernel is connected and idle."""

        def idle():
            state = self.notebook_state()
            return (
                state
                and state["ready"]
                and state["connection"] == "connected"
                and state["kernel_status"] == "idle"
                and state
            )

        try:
            return wait_until(idle, timeout, "an idle kernel")
        except TimeoutError as e:
            dialog = self.page.evaluate(
                "() => { const d = document.querySelector('.jp-Dialog'); return d && d.innerText; }"
            )
            hint = f"\na dialog is open (does the notebook name a kernelspec?): {dialog!r}" if dialog else ""
            raise TimeoutError(f"{e}\nnotebook state: {self.notebook_state()}{hint}") from None

    def run_all_cells(self, timeout=300):
        """Run every cell and wait until all code cells have executed and the kernel is idle.

        Outputs saved in the notebook are cleared first, so stored execution counts cannot pass
        for fresh ones. Raises ``KernelError`` if a cell's output shows an error (running all
        cells stops at the first one).
        """
        self.wait_for_kernel_idle()
        self.page.evaluate(
            """async () => {
  const commands = window.jupyterapp.commands;
  await commands.execute('notebook:clear-all-cell-outputs');
  commands.execute('notebook:run-all-cells');  // resolves only once all ran: not awaited
}"""
        )
        return self.wait_for_all_cells_executed(timeout)

    def wait_for_all_cells_executed(self, timeout=300):
        """Wait until every code cell has an execution count, no cell is pending, kernel idle."""

        def done():
            state = self.notebook_state()
            if not state or state["kernel_status"] != "idle":
                return False
            code = [c for c in state["cells"] if c["type"] == "code"]
            if any(c["pending"] for c in code):
                return False
            if all(c["execution_count"] for c in code) or self.cell_errors():
                return state
            return False

        try:
            state = wait_until(done, timeout, "all cells to execute")
        except TimeoutError as e:
            self.screenshot("timeout-cells")
            raise TimeoutError(
                f"{e}\nnotebook state: {self.notebook_state()}\ncell errors: {self.cell_errors()}"
            ) from None
        errors = self.cell_errors()
        if errors:
            raise KernelError(f"cells raised: {errors}", errors)
        return state

    def run_cell(self, index, timeout=300):
        """Run the notebook's cell number *index* (counting every cell, from 0), as its Run
        button does, and wait until it has executed and the kernel is idle.

        Raises ``KernelError`` if the cell's output shows an error."""
        self.wait_for_kernel_idle()
        before = self.notebook_state()["cells"][index]["execution_count"]
        self.page.evaluate(
            """async (index) => {
  const panel = (%s)();
  panel.content.activeCellIndex = index;
  window.jupyterapp.commands.execute('notebook:run-cell');  // not awaited: polled below
}"""
            % _JS_PANEL,
            index,
        )

        def done():
            state = self.notebook_state()
            cell = state and state["cells"][index]
            if (state and state["kernel_status"] == "idle" and not cell["pending"]
                    and cell["execution_count"] not in (None, before)):
                return state
            return False

        state = wait_until(done, timeout, f"cell {index} to execute")
        errors = [e for e in self.cell_errors() if e[0] == index]
        if errors:
            raise KernelError(f"cell {index} raised: {errors}", errors)
        return state

    def cell_errors(self):
        """Error outputs shown by the cells, as ``[(cell_index, ename, evalue)]``."""
        return self.page.evaluate(
            """
() => {
  const panel = (%s)();
  const out = [];
  panel.content.widgets.forEach((cell, i) => {
    if (cell.model.type !== 'code') return;
    const outputs = cell.model.outputs;
    for (let j = 0; j < outputs.length; j++) {
      const o = outputs.get(j).toJSON();
      if (o.output_type === 'error') out.push([i, o.ename, o.evalue]);
    }
  });
  return out;
}
"""
            % _JS_PANEL
        )

    # --- the kernel ---------------------------------------------------------------------------

    def execute(self, code, timeout=120):
        """Execute *code* in the notebook's kernel (no cell); return its stdout and result text.

        Raises ``KernelError`` (with the traceback text) if the code raises.
        """
        # page.evaluate waits for the promise with no time limit: the page side has one.
        reply = self.page.evaluate(_JS_EXECUTE, [code, int(timeout * 1000)])
        if reply["status"] == "timeout":
            raise TimeoutError(f"the kernel did not finish within {timeout} s executing:\n{code}")
        texts = []
        for o in reply["outputs"]:
            if o["type"] == "stream":
                texts.append(o["text"])
            elif o["type"] in ("execute_result", "display_data"):
                texts.append(o["data"].get("text/plain", ""))
            elif o["type"] == "error":
                tb = "\n".join(o["traceback"])
                raise KernelError(f"{o['ename']}: {o['evalue']}\n{tb}", reply["outputs"])
        if reply["status"] != "ok":
            raise KernelError(f"execution ended with status {reply['status']!r}", reply["outputs"])
        return "".join(texts)

    # --- widgets ------------------------------------------------------------------------------

    def grids(self):
        """Every rendered DataGrid, as dicts: ``columns`` (header texts, shown index columns
        first), ``rows`` (lists of cell values as displayed), ``index_columns`` (how many lead).

        Index columns count only when the grid shows row headers (``header_visibility``)."""
        return self.page.evaluate(_JS_GRIDS)

    def grid(self):
        """The one DataGrid on the page as ``{"columns": [...], "rows": [[...]]}``."""
        grids = self.grids()
        if len(grids) != 1:
            raise AssertionError(f"expected one DataGrid on the page, found {len(grids)}")
        return grids[0]

    def grid_records(self):
        """The one DataGrid's rows as dicts keyed by column header."""
        g = self.grid()
        return [dict(zip(g["columns"], row)) for row in g["rows"]]

    def wait_for_grid(self, predicate, timeout=60, what="the grid to match"):
        """Poll the one DataGrid (as :meth:`grid` returns it) until ``predicate(grid)`` is true."""

        def check():
            grids = self.grids()
            if len(grids) == 1 and predicate(grids[0]):
                return grids[0]
            return None

        try:
            return wait_until(check, timeout, what, interval=0.5)
        except TimeoutError as e:
            self.screenshot("timeout-grid")
            raise TimeoutError(f"{e}\nlast grid(s): {json.dumps(self.grids(), default=str)}") from None

    def grid_headers(self):
        """The column header of every rendered DataGrid, as dicts: ``id``, ``levels`` (one list
        of texts per header row, top first, one text per body column; "" where a level is
        empty) and ``merged`` (the header cells drawn as one: ``row``, ``first`` and ``last``
        column, ``text``)."""
        return self.page.evaluate(_JS_GRID_HEADERS)

    def grid_header(self):
        """The one DataGrid's column header (see :meth:`grid_headers`)."""
        headers = self.grid_headers()
        if len(headers) != 1:
            raise AssertionError(f"expected one DataGrid on the page, found {len(headers)}")
        return headers[0]

    def cell_box(self, row, column, region="body", grid_id=None):
        """Where the one DataGrid (or grid *grid_id*) draws a cell: ``{x, y, width, height}``
        in the page's client coordinates (for ``page.mouse``), after scrolling the grid into
        view. *row* and *column* count body rows and body columns as shown (after the
        kernel's sorting); *region* is "body" or "column-header" (then *row* is a header
        level). Raises AssertionError if the grid's own hit test puts that point elsewhere."""
        if grid_id is None:
            grid_id = self.grid()["id"]
        box = self.page.evaluate(_JS_CELL_BOX, [grid_id, region, row, column])
        if "error" in box:
            raise AssertionError(box["error"])
        hit = box.pop("hit")
        if (hit["region"], hit["row"], hit["column"]) != (region, row, column):
            raise AssertionError(f"cell ({region}, {row}, {column}) is not where it is drawn: "
                                 f"its centre hits {hit}")
        return box

    def rows_in_view(self, grid_id=None):
        """What the one DataGrid (or grid *grid_id*) shows now: ``{first, last}`` (body rows
        in view, from its scroll position), ``scroll_y`` and ``index`` (the index texts of
        those rows, None where the browser has not received a row)."""
        if grid_id is None:
            grid_id = self.grid()["id"]
        view = self.page.evaluate(_JS_ROWS_IN_VIEW, [grid_id])
        if "error" in view:
            raise AssertionError(view["error"])
        return view

    def click_cell(self, row, column, region="body", grid_id=None):
        """Click the middle of a grid cell with the mouse (see :meth:`cell_box`)."""
        box = self.cell_box(row, column, region, grid_id)
        self.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        return box

    def open_header_menu(self, column, grid_id=None):
        """Click the menu icon of body column *column*'s header (bottom level), as a user
        does; the grid's menu (sort, filter) opens on the page."""
        header = self.grid_header() if grid_id is None else next(
            h for h in self.grid_headers() if h["id"] == grid_id)
        box = self.cell_box(len(header["levels"]) - 1, column, "column-header", grid_id)
        # ipydatagrid's icon sits in the cell's bottom-right corner (HeaderRenderer sizes).
        self.page.mouse.click(box["x"] + box["width"] - 8, box["y"] + box["height"] - 8)
        menu = self.page.locator(".lm-Menu").last
        menu.wait_for(state="visible", timeout=10_000)
        return menu

    def widget_texts(self, model_names=("HTMLModel", "LabelModel", "HTMLMathModel")):
        """Text of every rendered widget with a string value (markup stripped)."""
        return self.page.evaluate(_JS_TEXTS, list(model_names))

    def reveal_widget(self, nth=0):
        """Scroll the notebook so the cell with the *nth* widget output is at the top."""
        found = self.page.evaluate(
            """
async (nth) => {
  const panel = (%s)();
  if (!panel) return false;
  const cells = panel.content.widgets;
  let seen = 0;
  for (const cell of cells) {
    if (cell.model.type !== 'code') continue;
    const outputs = cell.model.outputs;
    let has = false;
    for (let j = 0; j < outputs.length; j++) {
      if ('application/vnd.jupyter.widget-view+json' in (outputs.get(j).data || {})) has = true;
    }
    if (has && seen++ === nth) {
      await panel.content.scrollToCell(cell, 'start');
      // Let the page lay out and paint.
      await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
      return true;
    }
  }
  return false;
}
"""
            % _JS_PANEL,
            nth,
        )
        if not found:
            raise AssertionError(f"no widget output number {nth} in the notebook")

    # --- artifacts ----------------------------------------------------------------------------

    def screenshot(self, name):
        """Save a full-page PNG as ``test-artifacts/<prefix><name>.png``; return its path."""
        self.artifacts.mkdir(parents=True, exist_ok=True)
        path = self.artifacts / f"{self.prefix}{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path
