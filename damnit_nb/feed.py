"""`TableFeed`: fills a table model from a database and keeps it following every writer.

It reads the database (runs, values, comments, variables) into a `widgets.model.TableModel`,
then, on a daemon thread, asks the database every ``interval`` seconds whether anything was
committed (`Database.data_version`, O(1)) and, only then, what (`Database.changes_since`):
values, comments and user-editable values, new runs and new variables, whoever wrote them
(this kernel's engine, another kernel, DAMNIT). A big database is read in chunks: the first
runs' values before `load` returns, the others' on the thread before it follows. A read that fails (a database locked for
longer than its busy timeout, a file system gone) is retried at the next look; the thread
never stops before `close`.
"""

from __future__ import annotations

import logging
import threading

from .widgets.cells import Cell, from_stored
from .widgets.model import COMMENT_KEY, ColumnSpec, TableModel

__all__ = ["TableFeed", "column_specs", "stored_cells", "LOAD_CHUNK"]

log = logging.getLogger(__name__)

#: Runs whose values are read at once while a big table loads (see `TableFeed.load`).
LOAD_CHUNK = 500


def stored_cells(values):
    """{key: Cell} for one run's {name: StoredValue or None} (the comment under its
    reserved key)."""
    out = {}
    for name, stored in values.items():
        if name == "comment":
            out[COMMENT_KEY] = (None if stored is None or stored.value in (None, "")
                                else Cell.text(stored.value))
        else:
            out[name] = from_stored(stored, max_diff=getattr(stored, "max_diff", None))
    return out


def column_specs(definitions, variables):
    """The variable columns, in order: user-editable variables, then the variables in use
    (``definitions``, a `context.Definitions`), then the database's other variables (defined
    by another writer). ``variables``: the database's {name: VariableInfo}."""
    specs, seen = [], set()

    def add(spec):
        if spec.key not in seen:
            seen.add(spec.key)
            specs.append(spec)

    for name, info in variables.items():
        if info.type is not None and name != "comment":
            add(ColumnSpec(name, info.title or name, units=(info.attributes or {}).get("units"),
                           tags=info.tags, description=info.description, editable=True))
    for name in definitions.order:
        var = definitions[name]
        if not var.transient:
            add(ColumnSpec(name, var.title or name, units=var.units, tags=tuple(var.tags),
                           description=var.description))
    for name, info in variables.items():
        if name != "comment":
            add(ColumnSpec(name, info.title or name, units=(info.attributes or {}).get("units"),
                           tags=info.tags, description=info.description))
    return specs


class TableFeed:
    """Keeps ``model`` (a `TableModel`, made if None) equal to what ``db`` holds, following
    other writers every ``interval`` seconds once `start` is called. ``definitions()`` gives
    the variables in use (for the columns); ``on_changes(changes)`` is called (on the feed's
    thread) after each batch of changes applied, e.g. to refresh a status line."""

    def __init__(self, db, definitions, *, model=None, interval=1.0, on_changes=None):
        self.db = db
        self.model = model if model is not None else TableModel()
        self._definitions = definitions
        self._interval = interval
        self._on_changes = on_changes
        self._stop = threading.Event()
        self._poke = threading.Event()
        self._thread = None
        self._cursor = None
        self._unloaded = []  # runs whose values are not read yet (see `load`)
        self._variables = {}
        self.loaded = threading.Event()
        self.error = None  # why the last look failed (None: it did not)

    # -- filling ---------------------------------------------------------------------------------
    def load(self, first=None):
        """Read the database into the model (what a table opened now shows): every run, and
        the values of the ``first`` oldest runs (None: all); the feed's thread reads the
        others' values (`load_more`) before it follows the database, so a big table shows
        its first rows at once."""
        cursor = self.db.change_cursor()  # first: what is written after it is seen later
        self._variables = self.db.variables()
        self.refresh_columns()
        infos = self.db.runs()
        rows = {info.run: ({} if info.start_time is None else
                           {"#start_time": Cell(kind="time", value=float(info.start_time))})
                for info in infos}
        runs = sorted(rows)
        now, self._unloaded = (runs, []) if first is None else (runs[:first], runs[first:])
        self.model.update(rows)
        self._load_values(now)
        self._cursor = cursor
        if not self._unloaded:
            self.loaded.set()

    def _load_values(self, runs):
        if runs:
            self.model.update({run: stored_cells(values)
                               for run, values in self.db.values(runs=runs).items()})

    def load_more(self, chunk=LOAD_CHUNK):
        """Read the values of the next ``chunk`` runs not read yet; False when none is left."""
        runs, self._unloaded = self._unloaded[:chunk], self._unloaded[chunk:]
        self._load_values(runs)
        if not self._unloaded:
            self.loaded.set()
        return bool(self._unloaded)

    def reload_variables(self):
        """Read the database's variables again (they were changed here) and refresh the
        columns."""
        self._variables = self.db.variables()
        self.refresh_columns()

    def refresh_columns(self):
        """Make the model's columns those of the variables in use and in the database."""
        self.model.set_columns(column_specs(self._definitions(), self._variables))

    def show_values(self, run, values):
        """Show one run's {name: StoredValue or None} at once (the engine just stored them)."""
        self.model.update({run: stored_cells(values)})

    # -- following -------------------------------------------------------------------------------
    def start(self):
        """Load (on the feed's thread) and follow until `close`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._main, name="damnit_nb-feed",
                                            daemon=True)
            self._thread.start()

    def poke(self):
        """Look at the database now rather than at the next interval."""
        self._poke.set()

    def _main(self):
        while not self._stop.is_set():
            try:
                if self._cursor is None:
                    self.load()
                elif self._unloaded:
                    if self.load_more():
                        continue  # the next chunk at once
                else:
                    self.step()
                self.error = None
            except Exception as e:  # locked, gone, failing: tried again at the next look
                if self.error is None:
                    log.warning("damnit_nb: cannot read the database now (%s); trying again",
                                e)
                self.error = e
            self._poke.wait(self._interval)
            self._poke.clear()

    def step(self):
        """Apply what was committed since the last look; returns the `Changes`."""
        changes, self._cursor = self.db.changes_since(self._cursor)
        if not changes:
            return changes
        if changes.variables or changes.removed_variables:
            self._variables = self.db.variables()
            self.refresh_columns()
        rows = {}
        for info in changes.runs:
            rows.setdefault(info.run, {})["#start_time"] = (
                None if info.start_time is None else Cell(kind="time",
                                                          value=float(info.start_time)))
        for (run, name), stored in changes.values.items():
            rows.setdefault(run, {}).update(stored_cells({name: stored}))
        if rows:
            self.model.update(rows)
        if changes.removed_runs:
            self.model.remove_runs(changes.removed_runs)
        if self._on_changes is not None:
            try:
                self._on_changes(changes)
            except Exception:
                log.exception("A table feed listener failed")
        return changes

    def close(self):
        self._stop.set()
        self._poke.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
