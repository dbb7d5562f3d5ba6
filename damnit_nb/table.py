"""``RunTable``: a proposal's live table of runs in a notebook.

It ties together the proposal's files, its database, its variables (from a context file and
from notebook cells), the engine thread that computes them, and the widget that shows them.
"""

import html
import re
import threading
from pathlib import Path

__all__ = ["RunTable"]

#: Seconds between looks at the database for what other writers committed.
FOLLOW_INTERVAL = 1.0
#: Runs whose values are read before ``RunTable(...)`` returns (the oldest: the first rows
#: shown); the others' are read on the feed's thread at once after.
FIRST_LOADED = 200


class RunTable:
    """A live table of a proposal's runs, one column per variable.

    >>> table = RunTable("/gpfs/exfel/exp/SPB/202401/p002012", context="context.py")
    >>> table                                 # shows the table; it fills itself
    >>> @table.variable(title="XGM/Intensity", summary="mean", units="uJ")
    ... def xgm_intensity(run):
    ...     return run["SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD"].xarray()

    proposal: the proposal directory (holding ``raw/``).
    context: a DAMNIT context file whose variables are columns too (optional).
    database: the database directory (default ``<proposal>/usr/Shared/damnit_nb``).
    proposal_number: needed only if the directory's name is not ``p<number>``.
    settle: seconds a run's files must be unchanged before it is processed.
    poll: seconds between looks at ``raw/`` for new runs.
    watch: process runs (the engine starts at once); with ``watch=False`` the table only
        shows the database and follows what others write to it (call ``start()`` to
        process runs after all).
    reader: what variables get as their run: ``"damnit_nb"`` (default, our reader) or
        ``"extra_data"`` (an ``extra_data.DataCollection``; needs EXtra-data installed).
    executor: where variables are computed: ``"threads"`` (default: threads of this
        kernel) or ``"processes"`` (worker processes: a variable that hangs or exhausts
        memory fails alone); ``workers``: how many runs at once.
    cluster: a Dask ``distributed.Client`` or scheduler address: variables declared with
        ``cluster=True`` are computed there (for the facility's cluster, a client of a
        dask-jobqueue ``SLURMCluster``).
    timeout: seconds one run's variables may take before they are stopped and marked as
        timed out (None: no limit).
    params: values for ``param#name`` arguments of variables.
    mymdc: a function ``mymdc(proposal, run, field)`` answering ``"mymdc#field"`` arguments
        (``sample_name``, ``run_type``, ``techniques``) from the facility's metadata service;
        without it, variables needing one are skipped, saying why.
    """

    def __init__(self, proposal, context=None, *, database=None, proposal_number=None,
                 settle=5.0, poll=1.0, watch=True, reader="damnit_nb", executor="threads",
                 workers=1, cluster=None, timeout=None, params=None, mymdc=None):
        from .context import Definitions, load_context_file
        from .engine import Engine, run_opener
        from .engine.executors import make_executor
        from .store import Database

        run_opener(reader)  # before anything is made: a bad choice fails at once
        self.reader = reader
        self.proposal_dir = Path(proposal).expanduser().absolute()
        if not self.proposal_dir.is_dir():
            raise FileNotFoundError(
                f"no proposal directory at {self.proposal_dir}: give the directory that holds "
                "raw/ (for example /gpfs/exfel/exp/SPB/202401/p002012)")
        if proposal_number is None:
            proposal_number = _proposal_from_dirname(self.proposal_dir)
        self.database_dir = Path(database or self.proposal_dir / "usr" / "Shared" / "damnit_nb")

        self._lock = threading.RLock()  # guards the variables below
        self._app = None
        self._feed = None
        self._engine_started = False
        self._status = None
        self._file_defs = Definitions()
        self._cell_vars = {}  # name -> Variable, from notebook cells (checked with the file's)
        self._defs = Definitions()
        self.context_file = None
        self.context_error = None  # why the context file's latest version is not used
        self._context_sig = None
        self._db = self._engine = None
        executor = make_executor(executor, workers)
        try:  # what was made is closed again if anything after it fails
            self._db = Database(self.database_dir, proposal=proposal_number)
            self.proposal = self._db.proposal
            from .feed import TableFeed

            self._feed = TableFeed(self._db, self._definitions, interval=FOLLOW_INTERVAL,
                                   on_changes=self._database_changed)
            self._model = self._feed.model
            if context is not None:
                self.context_file = Path(context).expanduser().absolute()
                self._context_sig = _file_signature(self.context_file)
                self._file_defs = load_context_file(self.context_file)
                self._set_definitions(self._file_defs)
            self._engine = Engine(self.proposal_dir, self._db, self._definitions, self,
                                  proposal=self.proposal, settle=settle, poll=poll,
                                  reader=reader, executor=executor, cluster=cluster,
                                  timeout=timeout, params=params, mymdc=mymdc,
                                  log_dir=self.database_dir / "process_logs",
                                  on_poll=self._check_context)
            self._feed.load(first=FIRST_LOADED)  # the rest on the feed's thread
            self._feed.start()
            if watch:
                self.start()
        except BaseException:
            if self._feed is not None:
                self._feed.close()
            if self._engine is not None:
                self._engine.stop()
            else:
                executor.shutdown()
            if self._db is not None:
                self._db.close()
            raise

    # -- variables ----------------------------------------------------------------------------
    def variable(self, title=None, **kwargs):
        """Decorator: add a variable from a notebook cell, as ``Variable`` does in a context file.

        Usable bare (``@table.variable``) or called (``@table.variable(title=..., summary=...)``).
        The column appears at once and fills for every run; running the cell again with other
        code recomputes it (and what depends on it); with the same code, nothing is recomputed.
        """
        from .context import Variable

        if callable(title) and not isinstance(title, str) and not kwargs:
            return self.add_variable(Variable(title))

        def decorate(func):
            return self.add_variable(Variable(title, **kwargs)(func))

        return decorate

    def add_variable(self, var):
        """Add (or replace) a ``Variable``; returns it."""
        with self._lock:
            cell_vars = {n: v for n, v in self._cell_vars.items() if n != var.name}
            cell_vars[var.name] = var  # a redefinition moves to the end
            self._set_definitions(_combine(self._file_defs, cell_vars))
            self._cell_vars = cell_vars
        self._engine.request()
        return var

    @property
    def variables(self):
        """The variables in use, name -> Variable (context file first, then cells)."""
        return dict(self._definitions().variables)

    def _definitions(self):
        with self._lock:
            return self._defs

    @property
    def context_warnings(self):
        """What checking the context file found that does not stop it being used
        (pyflakes: unused imports, undefined names...), as ``"line N: ..."`` strings."""
        with self._lock:
            return [str(w) for w in self._file_defs.warnings]

    @property
    def overridden(self):
        """Names of context-file variables that a notebook cell redefined (the cell wins)."""
        with self._lock:
            return sorted(set(self._file_defs.variables) & set(self._cell_vars))

    def _check_context(self):
        """Reload the context file if it was saved since (engine thread, every poll).

        A version that does not load leaves the last good one in use and says why in
        ``context_error`` and the status line; only variables whose code changed (and
        what depends on them) are recomputed.
        """
        if self.context_file is None:
            return
        sig = _file_signature(self.context_file)
        if sig == self._context_sig:
            return
        from .context import DefinitionError, load_context_file

        try:
            file_defs = load_context_file(self.context_file)
            with self._lock:
                defs = _combine(file_defs, self._cell_vars)
        except DefinitionError as e:  # ContextFileError, or cells no longer fitting it
            self._context_sig = sig
            self.context_error = str(e)
        else:
            self._set_definitions(defs)  # if the database refuses them, tried at the next poll
            with self._lock:
                self._file_defs = file_defs
                self.context_error = None
            self._context_sig = sig
            self._engine.request()
        self.engine_status(self._engine.status())

    def _set_definitions(self, defs):
        """Use ``defs`` (checked already); record its variables in the database (unless it
        is read-only: then they are only shown)."""
        if not self._db.read_only:
            self._db.add_variables({
                name: {"title": var.title, "description": var.description, "tags": var.tags,
                       "attributes": {"units": var.units} if var.units else {}}
                for name, var in defs.variables.items() if not var.transient
            })
        with self._lock:
            self._defs = defs
        if self._feed is not None:
            self._feed.reload_variables()

    # -- values -------------------------------------------------------------------------------
    def wait(self, timeout=60.0):
        """Block until every run on disk is processed and stored; False if ``timeout``
        passed first. A table on a read-only database processes nothing: True at once."""
        return self._engine.wait(timeout)

    def sync(self, timeout=10.0):
        """Block until the table shows what it holds: the database's values read, and every
        change shown by the widget (if it was made); False if ``timeout`` passed first."""
        import time

        deadline = time.monotonic() + timeout
        if not self._feed.loaded.wait(timeout):
            return False
        app = self._app
        return app is None or app.sync(max(0.0, deadline - time.monotonic()))

    def set_comment(self, run, text):
        """Set a run's comment (also what editing the Comment column does)."""
        self._db.set_comment(run, text)
        self._model.set_run(run, comment=text or None)

    def export(self, path, with_titles=True):
        """Write the table to ``path``: ``.csv``, ``.xlsx`` or ``.md`` (by its suffix).
        Images and arrays are written as their summary text. Returns the path."""
        return self._db.export(path, with_titles=with_titles)

    def to_dataframe(self, with_titles=True):
        """The table as a pandas DataFrame indexed by run number, summaries as values.

        Columns: start time, comment, then one per variable (by title, or by name with
        ``with_titles=False``); failed variables are None.
        """
        df = self._db.dataframe(with_titles=with_titles)
        return df.set_index(df.columns[0])

    def errors(self):
        """{(run, name): message} for every variable that failed or was skipped."""
        return {(run, name): f"{v.error_cls}: {v.error}"
                for run, values in self._db.values().items()
                for name, v in values.items() if v.is_error}

    def status(self):
        """What the engine is doing (an ``EngineStatus``)."""
        return self._engine.status()

    def run_states(self):
        """{run: "queued" | "running" | "unsaved" | "done" | "failed" | "cancelled" |
        "vanished"} for runs seen since the table started ("unsaved": computed, waiting for
        the database to take the results, ``status().problem`` says why; "failed": a variable
        raised, or the run's task failed; "vanished": its directory is gone, its values are
        kept)."""
        return self._engine.run_states()

    def _log_path(self, run):
        """The file of ``run``'s log."""
        from .engine.engine import log_path

        return log_path(self.database_dir / "process_logs", run, self.proposal)

    def logs(self, run):
        """What computing ``run`` printed (stdout, stderr, tracebacks), oldest first."""
        try:
            return self._log_path(run).read_text()
        except FileNotFoundError:
            return ""

    def reprocess(self, runs="all", match=None):
        """Compute variables again even if up to date: ``runs`` is "all" or run numbers,
        ``match`` a glob (or list of globs) on variable names or titles (None: all).
        Returns the names of the variables queued. A run not on disk raises ValueError, as
        does a table that only follows the database (``watch=False``, not started)."""
        if not self._engine_started:
            raise ValueError("this table only follows the database (watch=False) and processes "
                             "nothing: reprocess in the table that processes the runs, or call "
                             "start() here first")
        return self._engine.reprocess(runs, match)

    def cancel(self, runs=None):
        """Stop computing: drop waiting runs and stop running ones (all, or ``runs``)."""
        self._engine.cancel(runs)

    # -- engine control -----------------------------------------------------------------------
    def start(self):
        """Start watching the proposal (``RunTable`` does it unless ``watch=False``)."""
        self._engine_started = True
        self._engine.start()
        app = self._app
        if app is not None:
            app.set_processing(not self._db.read_only)

    def close(self):
        """Stop watching and processing, stop following the database and close it; the
        widget keeps what it shows. Safe to call twice."""
        self._engine.stop()
        self._feed.close()
        with self._lock:
            app, self._app = self._app, None
        if app is not None:
            app.close()
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- engine listener (engine thread) ------------------------------------------------------
    def engine_run_added(self, run, start_time):
        """(Engine listener, engine thread.) A new run is in the database."""
        self._model.set_run(run, start_time=start_time)

    def engine_run_state(self, run, state):
        """(Engine listener, engine thread.) A run's state changed."""
        self._model.set_run(run, state=state)

    def engine_results(self, run, names):
        """(Engine listener, engine thread.) Results of ``run`` were stored."""
        values = self._db.values(runs=[run], names=list(names)).get(run, {})
        self._feed.show_values(run, {n: values.get(n) for n in names})

    def engine_status(self, status):
        """(Engine listener, engine thread.) What the engine is doing changed."""
        self._status = status
        app = self._app
        if app is not None:
            app.set_status(self._status_html(status))

    def _database_changed(self, changes):
        """(Feed thread.) Another writer committed something: new time comments change the
        status line."""
        if changes.time_comments or changes.removed_time_comments:
            self.engine_status(self._engine.status())

    # -- display ------------------------------------------------------------------------------
    @property
    def widget(self):
        """The widget showing this table (made on first use): status, toolbar, column chooser
        and filters, the grid, and the clicked cell's detail with the selected run's log."""
        with self._lock:
            if self._app is None:
                from .widgets.app import TableApp
                from .widgets.settings import ViewSettings

                self._app = TableApp(
                    self._model, _Actions(self), settings=ViewSettings(self.database_dir),
                    log_path=self._log_path,
                    processing=self._engine_started and not self._db.read_only)
                self._app.set_status(self._status_html(self._status or self._engine.status()))
            return self._app

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    @property
    def selected_runs(self):
        """The runs selected in the table (a list; settable, e.g. ``table.selected_runs =
        [17, 18]``). Empty before the table is shown."""
        app = self._app
        return list(app.grid.selected_runs) if app is not None else []

    @selected_runs.setter
    def selected_runs(self, runs):
        runs = [int(r) for r in runs]
        self.widget.grid.selected_runs = runs

    def plot(self, y, x="run", *, kind=None, color=None, bins=None, runs=None,
             per_run=False):
        """A plot of variable ``y`` against ``x`` (default the run number) across runs: a
        widget that updates as runs arrive and values change, linked to the table (points
        selected there select rows here, and the other way round).

        Variables are named by name or title (``"run"`` for the run number). ``kind``:
        "scatter" (the default), "line" or "histogram" (of ``y``, with ``bins`` bins, default
        20); ``color``: a variable colouring the points; ``runs``: only these runs.

        ``per_run=True`` overlays the full data of runs instead, read from their run files:
        ``y`` along its coordinate (``x=None``), or against variable ``x`` of the same run
        (aligned on their common train IDs when both have a ``trainId`` dimension); ``kind``
        "line" (the default), "scatter" or "histogram" (one per run); ``runs``: these runs,
        else the runs selected in the table, following the selection.

        >>> table.plot("xgm_intensity")                     # against the run number
        >>> table.plot("energy", x="xgm_intensity", color="delay")
        >>> table.plot("xgm_intensity", kind="histogram", bins=50)
        >>> table.plot("xgm_trace", per_run=True, runs=[17, 18])
        """
        from .widgets.model import RUN_KEY
        from .widgets.overlay import DATA_PLOT_KINDS
        from .widgets.plot import PLOT_KINDS

        kinds = DATA_PLOT_KINDS if per_run else PLOT_KINDS
        kind = kind or kinds[0]
        if kind not in kinds:
            raise ValueError(f"Unknown plot kind {kind!r}: use one of {', '.join(kinds)}")
        if bins is not None and (not isinstance(bins, int) or isinstance(bins, bool)
                                 or bins < 1):
            raise ValueError(f"bins is a positive whole number, not {bins!r}")
        if runs is not None:
            runs = [int(r) for r in runs]
        if per_run:
            if color is not None:
                raise ValueError("per_run plots colour each run apart: leave out color")
            keys = {}
            for role, name in (("y", y), ("x", None if x in (None, "run") else x)):
                if name is None:
                    continue
                key = self._model.find_column(name)
                spec = next(s for s in self._model.columns() if s.key == key)
                if spec.fixed:
                    raise ValueError(f"{name!r} is not a variable, so no run file holds its "
                                     "data: choose a variable")
                keys[role] = key
            return self.widget.new_data_plot(keys["y"], keys.get("x"), kind=kind,
                                             bins=bins or 20, runs=runs)
        keys = {}
        for role, name in (("y", y), ("x", x), ("color", color)):
            if name is None:
                continue
            key = self._model.find_column(name)
            kind_now = self._model.column_kind(key)
            spec = next(s for s in self._model.columns() if s.key == key)
            if spec.kind not in (None, "number") or kind_now not in (None, "number"):
                raise ValueError(f"{name!r} does not hold numbers, so it cannot be the plot's "
                                 f"{role}: choose a numeric variable")
            keys[role] = key
        return self.widget.new_plot(keys["y"], keys.get("x", RUN_KEY), kind=kind,
                                    color=keys.get("color"), bins=bins or 20, runs=runs)

    def preview(self, run, name, *, as_lines=False):
        """A preview of one run's variable (by name or title): its data drawn as DAMNIT's
        double-click preview draws it (1-D as a line, 2-D as an image or, ``as_lines``, a
        family of lines, images, plotly figures, text), read from the run's file in the
        background; big data is downsampled for display, with a note saying so."""
        from ._text import number_ranges
        from .widgets.preview import Preview

        key = self._model.find_column(name)
        spec = next(s for s in self._model.columns() if s.key == key)
        if spec.fixed:
            raise ValueError(f"{name!r} is not a variable: preview a variable's column")
        run = int(run)
        if run not in self._model.runs():
            raise KeyError(f"No run {run} in the table: it has runs "
                           f"{number_ranges(self._model.runs())}")
        return Preview(lambda: self._preview_data(run, key), title=f"Run {run} · {spec.header}",
                       name=spec.header, units=spec.units, as_lines=as_lines)

    def _preview_data(self, run, key):
        """(Any thread but the pump's: it reads the run's file.) What a preview of a cell
        draws: the variable's preview (DAMNIT's `.preview` or its 1-D/2-D data), else its
        data."""
        data = self._db[run, key]
        value = data.preview_data()
        return data.read() if value is None else value

    def to_markdown(self, runs=None):
        """The table as Markdown (the columns shown, in their order; ``runs``: these runs,
        default all), as "copy selection as Markdown" gives it."""
        from .widgets.cells import as_markdown

        self._feed.loaded.wait(60)  # a big table's values are still being read
        app = self._app
        specs = {s.key: s for s in self._model.columns()}
        keys = app.grid.view_keys() if app is not None else list(specs)
        runs = self._model.runs() if runs is None else [int(r) for r in runs]
        columns = [specs[k] for k in keys if k in specs]
        rows = self._model.block(runs, [c.key for c in columns])
        return as_markdown([dict(zip([c.key for c in columns], row)) for row in rows], columns)

    def _cell_detail(self, run, key):
        """What clicking a cell shows under the table, as HTML (widget-callback thread): a
        run's log for its state, a value's detail (the error, the full value, its provenance)
        and the column's description."""
        from .widgets.cells import detail_html
        from .widgets.logs import read_tail
        from .widgets.model import STATE_KEY

        if key == STATE_KEY:
            state = self._engine.run_states().get(run)
            if state == "unsaved":  # why it is not stored yet
                return html.escape(self._engine.status().problem or "computed, not stored yet")
            tail = read_tail(self._log_path(run))
            if not tail:
                return "<i>nothing was printed</i>" if state else "<i>no log</i>"
            return f"<pre style='white-space:pre-wrap; margin:2px 0'>{html.escape(tail)}</pre>"
        body = detail_html(self._model.cell(run, key))
        spec = next((s for s in self._model.columns() if s.key == key), None)
        if spec is not None and not spec.fixed:
            about = f"<br><small>Variable <code>{html.escape(spec.key)}</code>"
            if spec.units:
                about += f", in {html.escape(spec.units)}"
            if spec.description:
                about += f": {html.escape(spec.description)}"
            body += about + "</small>"
        return body

    def _cell_edited(self, run, key, text):
        """A user edited a cell (widget-callback thread): store it. ValueError if refused."""
        from .widgets.model import COMMENT_KEY

        if key == COMMENT_KEY:
            self.set_comment(run, text)
            return text
        try:
            self._db.set_user_value(run, key, text)
        except KeyError as e:
            raise ValueError(str(e)) from e
        self._feed.show_values(run, self._db.values(runs=[run], names=[key]).get(run, {key: None}))
        return text

    def add_user_variable(self, name, type="string", *, title=None, description=None):
        """Add a column that users fill in by hand (a DAMNIT user-editable variable).

        ``type``: ``"string"``, ``"number"``, ``"integer"`` or ``"boolean"``. Values typed in
        the table (or given to :meth:`set_value`) are checked against it and saved as user
        input; DAMNIT's GUI shows and edits the same column.
        """
        from .store.database import USER_TYPES

        if type not in USER_TYPES:
            raise ValueError(f"type must be one of {', '.join(map(repr, USER_TYPES))}, "
                             f"not {type!r}")
        self._db.add_variable(name, title=title, description=description, type=type)
        self._feed.reload_variables()

    def add_time_comment(self, text, timestamp=None):
        """A comment not tied to a run, at ``timestamp`` (epoch seconds or datetime; default
        now): DAMNIT's standalone comments, listed above the table."""
        self._db.add_time_comment(text, timestamp)
        self.engine_status(self._engine.status())

    def time_comments(self):
        """The time comments as a DataFrame (``time`` in UTC, ``comment``), oldest first."""
        import pandas as pd

        rows = self._db.time_comments()
        return pd.DataFrame({
            "time": pd.to_datetime([t for _, t, _ in rows], unit="s", utc=True),
            "comment": [c for _, _, c in rows],
        })

    def set_value(self, run, name, value):
        """Set a user-editable variable's value for a run (as typing it in the table does)."""
        self._db.set_user_value(run, name, value)
        self._feed.show_values(run, self._db.values(runs=[run], names=[name]).get(
            run, {name: None}))

    def _status_html(self, status):
        from .widgets.status import status_html

        return status_html(
            status, where=self.proposal_dir, context_error=self.context_error,
            warnings=self.context_warnings, time_comments=self._db.time_comments(),
            overridden=self.overridden,
            following=(None if self._engine_started or self._db.read_only
                       else "following the database, processing nothing"))

    def __repr__(self):
        return f"<RunTable {self.proposal_dir} ({len(self._definitions())} variables)>"


def _proposal_from_dirname(path):
    m = re.fullmatch(r"p(\d+)", path.name)
    if not m:
        raise ValueError(f"cannot tell the proposal number from the directory name {path.name!r}:"
                         " pass proposal_number=...")
    return int(m.group(1))


def _combine(file_defs, cell_vars):
    """The context file's variables, replaced and extended by the cells' (checked together:
    a cell may use the file's variables, and the file's the cells')."""
    from .context import Definitions

    return Definitions([*file_defs.declared.values(), *cell_vars.values()],
                       warnings=file_defs.warnings)


def _file_signature(path):
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class _Actions:
    """What the table's app asks of the table (its buttons, clicks and edits)."""

    def __init__(self, table):
        self._table = table

    def cell_detail(self, run, key):
        return self._table._cell_detail(run, key)

    def edit(self, run, key, text):
        return self._table._cell_edited(run, key, text)

    def reprocess(self, runs, match):
        return self._table.reprocess(runs, match)

    def cancel(self, runs):
        self._table.cancel(runs)

    def export(self, path):
        return self._table.export(path)

    def export_name(self, suffix):
        return Path.cwd() / f"p{self._table.proposal}_runs{suffix}"

    def to_markdown(self, runs):
        return self._table.to_markdown(runs)

    def read_data(self, run, key):
        return self._table._db.read_data(run, key)

    def preview_data(self, run, key):
        return self._table._preview_data(run, key)
