"""``RunTable``: a proposal's live table of runs in a notebook.

It ties together the proposal's files, its database, its variables (from a context file and
from notebook cells), the engine thread that computes them, and the widget that shows them.
"""

import html
import re
import threading
from datetime import datetime
from pathlib import Path

__all__ = ["RunTable"]

_FIXED_COLUMNS = [("run", "Run"), ("state", "State"), ("start_time", "Start time"),
                  ("comment", "Comment")]


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
    watch: start the engine at once (else call ``start()``).
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
        self._view = None
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
            if watch:
                self.start()
        except BaseException:
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
            view = self._view
        if view is not None:
            view.set_columns(self._columns())

    # -- values -------------------------------------------------------------------------------
    def wait(self, timeout=60.0):
        """Block until every run on disk is processed and stored; False if ``timeout``
        passed first. A table on a read-only database processes nothing: True at once."""
        return self._engine.wait(timeout)

    def set_comment(self, run, text):
        """Set a run's comment (also what editing the Comment column does)."""
        self._db.set_comment(run, text)
        view = self._view
        if view is not None:
            view.set_cells(run, {"comment": text})

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

    def _log_tail(self, run, lines=40, max_bytes=16384):
        """The end of ``run``'s log, read from the end of the file (logs grow run after run)."""
        from .engine.engine import log_path

        path = log_path(self.database_dir / "process_logs", run, self.proposal)
        try:
            with open(path, "rb") as f:
                size = f.seek(0, 2)
                f.seek(max(0, size - max_bytes))
                text = f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""
        if size > max_bytes:
            text = "…\n" + text.partition("\n")[2]  # from the first whole line
        return _tail(text, lines)

    def logs(self, run):
        """What computing ``run`` printed (stdout, stderr, tracebacks), oldest first."""
        from .engine.engine import log_path

        path = log_path(self.database_dir / "process_logs", run, self.proposal)
        try:
            return path.read_text()
        except FileNotFoundError:
            return ""

    def reprocess(self, runs="all", match=None):
        """Compute variables again even if up to date: ``runs`` is "all" or run numbers,
        ``match`` a glob (or list of globs) on variable names or titles (None: all).
        Returns the names of the variables queued. A run not on disk raises ValueError."""
        return self._engine.reprocess(runs, match)

    def cancel(self, runs=None):
        """Stop computing: drop waiting runs and stop running ones (all, or ``runs``)."""
        self._engine.cancel(runs)

    # -- engine control -----------------------------------------------------------------------
    def start(self):
        """Start watching the proposal (``RunTable`` does it unless ``watch=False``)."""
        self._engine.start()

    def close(self):
        """Stop watching and processing, close the database; the widget keeps what it
        shows. Safe to call twice."""
        self._engine.stop()
        with self._lock:
            view, self._view = self._view, None
        if view is not None:
            view.close()
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- engine listener (engine thread) ------------------------------------------------------
    def engine_run_added(self, run, start_time):
        """(Engine listener, engine thread.) A new run is in the database."""
        view = self._view
        if view is not None:
            view.set_cells(run, {"run": run, "start_time": _format_time(start_time)})

    def engine_run_state(self, run, state):
        """(Engine listener, engine thread.) A run's state changed."""
        view = self._view
        if view is not None:
            view.set_cells(run, {"state": state})  # its log is read when the cell is clicked

    def engine_results(self, run, names):
        """(Engine listener, engine thread.) Results of ``run`` were stored."""
        view = self._view
        if view is not None:
            values = self._db.values(runs=[run]).get(run, {})
            self._show_values(view, run, {n: values.get(n) for n in names})

    def engine_status(self, status):
        """(Engine listener, engine thread.) What the engine is doing changed."""
        self._status = status
        view = self._view
        if view is not None:
            view.set_status(self._status_html(status))

    # -- display ------------------------------------------------------------------------------
    @property
    def widget(self):
        """The widget showing this table (made on first use)."""
        with self._lock:
            if self._view is None:
                from .widgets import RunTableView

                self._view = RunTableView(self._columns(), on_edit=self._cell_edited,
                                          on_detail=self._cell_detail,
                                          editable=["comment", *self._user_variables()])
                self._fill_view()
            return self._view.widget

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def _fill_view(self):
        """Show what the database holds in a new view. The engine may post newer values
        meanwhile: the snapshot fills only the cells they left empty."""
        view = self._view
        values = self._db.values()
        states = self._engine.run_states()
        for info in self._db.runs():
            row = {"run": info.run, "start_time": _format_time(info.start_time),
                   "state": states.get(info.run)}
            view.set_cells(info.run, row, if_absent=True)
            self._show_values(view, info.run, values.get(info.run, {}), if_absent=True)
        view.set_status(self._status_html(self._status or self._engine.status()))

    @staticmethod
    def _show_values(view, run, values, if_absent=False):
        from .widgets import display_value

        shown = {}
        for name, stored in values.items():
            if name == "comment" or (stored is not None
                                     and stored.provenance == "manual-input"):
                shown[name] = stored.value if stored is not None else None
                continue
            shown[name], _ = display_value(stored)  # the detail is made when it is clicked
        view.set_cells(run, shown, if_absent=if_absent)

    def _cell_detail(self, run, key):
        """What clicking a cell shows under the table (widget-callback thread), read then
        rather than kept for every run: a run's log for its State, a value's detail (an
        error message, a full-size image, a plot) from the database."""
        from .widgets import display_value

        if key == "state":
            if self._engine.run_states().get(run) == "unsaved":  # why it is not stored yet
                return self._engine.status().problem or "computed, not stored yet"
            tail = self._log_tail(run)
            if tail or self._engine.run_states().get(run) not in ("done", "failed", "cancelled"):
                return tail or None
            return "(nothing was printed)"
        if key in ("run", "start_time", "comment"):
            return None
        stored = self._db.values(runs=[run]).get(run, {}).get(key)
        if stored is None or stored.provenance == "manual-input":
            return None
        return display_value(stored)[1]

    def _columns(self):
        defs = self._definitions()
        users = [(n, t) for n, t in self._user_variables().items() if n not in defs]
        return _FIXED_COLUMNS + users + [(name, defs[name].title) for name in defs.order
                                         if not defs[name].transient]

    def _cell_edited(self, run, key, text):
        """A user edited a cell (widget-callback thread): store it; returns what to show."""
        if key == "comment":
            self._db.set_comment(run, text)
            return text
        try:
            self._db.set_user_value(run, key, text)
        except KeyError as e:
            raise ValueError(str(e)) from e
        stored = self._db.values(runs=[run]).get(run, {}).get(key)
        return None if stored is None else stored.value

    def _user_variables(self):
        """{name: title} of the user-editable variables of the database."""
        return {n: v.title or n for n, v in self._db.variables().items()
                if v.type is not None and n != "comment"}

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
        view = self._view
        if view is not None:
            view.set_columns(self._columns())
            view.set_editable(["comment", *self._user_variables()])

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
        view = self._view
        if view is not None:
            stored = self._db.values(runs=[run]).get(run, {}).get(name)
            view.set_cells(run, {name: None if stored is None else stored.value})

    def _status_html(self, status):
        where = html.escape(str(self.proposal_dir))
        parts = []
        if status.state == "crashed":
            parts.append(f"<b style='color:#b00'>Stopped by an internal error</b>: "
                         f"{html.escape(str(status.error))}")
        elif status.state == "read-only":
            parts.append(f"Showing {where}")
        elif status.state == "stopped":
            parts.append("Stopped")
        elif status.state == "processing":
            running = list(status.running)
            total = status.done + status.queued + max(1, len(running))
            what = ("run " + str(running[0]) if len(running) == 1
                    else "runs " + ", ".join(map(str, running)) if running else "runs")
            parts.append(f"Watching {where} · processing {what} "
                         f"({status.done + max(1, len(running))} of {total})")
        else:
            parts.append(f"Watching {where}")
        if status.errors:
            parts.append(f"<span style='color:#b00'>{status.errors} errors</span>")
        if status.unsaved:
            parts.append(f"<span style='color:#b00'>{status.unsaved} run(s) not stored yet"
                         "</span>")
        lines = [" · ".join(parts)]
        if status.problem:
            lines.append(f"<span style='color:#b00'>{html.escape(status.problem)}</span>")
        if self.context_error:
            lines.append("<span style='color:#b00'>The context file has errors; the last good "
                         "version is in use:</span><pre style='margin:2px 0'>"
                         f"{html.escape(self.context_error)}</pre>")
        warnings = self.context_warnings
        if warnings:
            lines.append(f"<details><summary>{len(warnings)} warning(s) in the context file"
                         "</summary><pre style='margin:2px 0'>"
                         + html.escape("\n".join(warnings)) + "</pre></details>")
        notes = self._db.time_comments()
        if notes:
            items = "".join(f"<li>{html.escape(_format_time(t) or '')}: {html.escape(c)}</li>"
                            for _, t, c in notes[-20:])
            lines.append(f"<details><summary>{len(notes)} time comment(s)</summary>"
                         f"<ul style='margin:2px 0'>{items}</ul></details>")
        overridden = self.overridden
        if overridden:
            lines.append("Defined in a cell, replacing the context file's: "
                         + html.escape(", ".join(overridden)))
        return "<br>".join(lines)

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


def _tail(text, lines=40):
    """The last ``lines`` lines of a log."""
    parts = text.rstrip("\n").split("\n")
    if len(parts) <= lines:
        return "\n".join(parts) if text else ""
    return "\n".join(["…"] + parts[-lines:])


def _format_time(timestamp):
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")
