"""`TableModel`: the run table as typed data, runs x columns, that any thread may update and
views read as versioned deltas. Imports no widgets.

Columns are keyed by variable name (`ColumnSpec.key`); titles are only shown. The columns every
table has (run, state, start time, comment) have reserved keys starting with "#" (`RUN_KEY`...),
which no variable name can be, so a variable titled "State" or named ``state`` is a column of
its own. A cell is a `cells.Cell` (a typed value and its marks); a run's state, start time and
comment are cells of the reserved columns.

A view opened late calls `snapshot()`, shows it, then applies `changes_since(version)` as often
as it likes: each delta carries every item's latest value once, so it never shows a value older
than one it has shown.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field

from .cells import MISSING, Cell, kind_of_kinds

__all__ = [
    "ColumnSpec", "TableModel", "TableState", "Delta", "KINDS",
    "RUN_KEY", "STATE_KEY", "START_TIME_KEY", "COMMENT_KEY", "FIXED_COLUMNS",
]

log = logging.getLogger(__name__)

#: What a column holds, for views choosing renderers, sorts and filters (None: decided by its
#: cells, see `cells.column_kind`).
KINDS = ("number", "text", "image", "trend", "state", "time")

RUN_KEY = "#run"
STATE_KEY = "#state"
START_TIME_KEY = "#start_time"
COMMENT_KEY = "#comment"


@dataclass(frozen=True)
class ColumnSpec:
    """One column. ``key``: the variable name (or a reserved "#" key for the fixed columns);
    ``title``: what the header shows ("/" separates levels of a hierarchical header, see
    `group` and `label`); ``kind``: one of `KINDS` or None; ``units``, ``tags``,
    ``description``: as the variable defines them; ``editable``: users may type values."""

    key: str
    title: str | None = None
    kind: str | None = None
    units: str | None = None
    tags: tuple = ()
    description: str | None = None
    editable: bool = False

    def __post_init__(self):
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(f"A column key must be a non-empty string, not {self.key!r}")
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"Unknown column kind {self.kind!r}: use one of {KINDS} or None")
        object.__setattr__(self, "tags", tuple(self.tags))

    @property
    def fixed(self):
        """True for the columns every table has (their keys start with "#")."""
        return self.key.startswith("#")

    @property
    def header(self):
        """The title, or the key when there is none."""
        return self.title or self.key

    @property
    def _parts(self):
        parts = [p.strip() for p in self.header.split("/") if p.strip()]
        return parts or [self.header]

    @property
    def group(self):
        """The header's levels above this column: ``("XGM",)`` for "XGM / Intensity"."""
        return tuple(self._parts[:-1])

    @property
    def label(self):
        """The header's last level: "Intensity" for "XGM / Intensity"."""
        return self._parts[-1]


FIXED_COLUMNS = (
    ColumnSpec(RUN_KEY, "Run", "number"),
    ColumnSpec(STATE_KEY, "State", "state"),
    ColumnSpec(START_TIME_KEY, "Start time", "time"),
    ColumnSpec(COMMENT_KEY, "Comment", "text", editable=True),
)
_FIXED_KEYS = frozenset(c.key for c in FIXED_COLUMNS)


@dataclass(frozen=True)
class TableState:
    """A consistent copy of the table: ``columns`` in order (fixed ones first) and ``rows``,
    run -> {key: Cell} (absent keys are missing values)."""

    columns: tuple
    rows: dict

    def cell(self, run, key):
        return self.rows.get(run, {}).get(key, MISSING)


@dataclass(frozen=True)
class Delta:
    """What changed between versions ``since`` and ``version``.

    ``columns``: all columns in their order now if any column was added, changed, removed or
    moved, else None; ``columns_added``/``columns_changed``/``columns_removed``: keys (an added
    column starts empty: its cells are in ``cells``). ``rows_added``/``rows_removed``: runs (an
    added run starts empty: its cells are in ``cells``). ``cells``: {(run, key): Cell}, each
    changed cell's latest value once (`cells.MISSING` for one cleared). Removals may name
    items the view never had; they are to be ignored.
    """

    since: int
    version: int
    columns: tuple | None = None
    columns_added: tuple = ()
    columns_changed: tuple = ()
    columns_removed: tuple = ()
    rows_added: tuple = ()
    rows_removed: tuple = ()
    cells: dict = field(default_factory=dict)

    def __bool__(self):
        return self.version != self.since


def _touch(log_dict, item, version):
    """Record ``item`` as changed at ``version``, keeping ``log_dict`` ordered by version."""
    log_dict.pop(item, None)
    log_dict[item] = version


def _since(log_dict, since):
    """The items of a `_touch`ed log changed after ``since``, newest first."""
    out = []
    for item in reversed(log_dict):
        if log_dict[item] <= since:
            break
        out.append(item)
    return out


class TableModel:
    """Runs x columns of typed cells, thread-safe.

    Any thread may update it (`update`, `set_cells`, `set_run`, `remove_runs`, `set_columns`,
    `set_column`, `remove_column`); each call that changes something increments `version` once.
    Views read `snapshot()` and then `changes_since(version)`. Listeners given to `subscribe`
    are called with the new version after each change, from the thread that made it, after the
    model's lock is released (so they may read the model; a pump sets an event and pulls).
    """

    def __init__(self, columns=()):
        self._lock = threading.Lock()
        self._version = 0
        self._columns = {}  # key -> ColumnSpec, in display order (fixed ones first)
        self._rows = {}  # run -> {key: Cell}
        self._cell_log = {}  # (run, key) -> version of its last change, oldest first
        self._row_log = {}  # run -> version it was added or removed
        self._column_log = {}  # key -> version it was added, changed or removed
        self._column_added = {}  # key -> version it was (last) added
        self._order_version = 0  # version of the last change to the column order
        self._kinds = {}  # key -> Counter of the kinds of its cells without a mark
        self._listeners = []
        for spec in FIXED_COLUMNS:
            self._columns[spec.key] = spec
        if columns:
            self.set_columns(columns)

    # --- reading

    @property
    def version(self):
        with self._lock:
            return self._version

    def columns(self):
        """The columns in their order, fixed ones first."""
        with self._lock:
            return tuple(self._columns.values())

    def runs(self):
        """The runs, in ascending order."""
        with self._lock:
            return sorted(self._rows)

    def cell(self, run, key):
        """One cell (`cells.MISSING` when there is no value)."""
        with self._lock:
            return self._rows.get(run, {}).get(key, MISSING)

    def block(self, runs, keys):
        """The cells of ``runs`` x ``keys`` as a list of rows (lists of `Cell`, `MISSING`
        where there is no value), read under one lock: what a view shows of a viewport."""
        with self._lock:
            empty = {}
            return [[self._rows.get(run, empty).get(key, MISSING) for key in keys]
                    for run in runs]

    def column(self, key):
        """{run: Cell} of one column (runs without a value left out)."""
        with self._lock:
            return {run: row[key] for run, row in self._rows.items() if key in row}

    def column_kind(self, key):
        """What a column holds, as `cells.column_kind` says of its cells, at once (the kinds
        of each column's values are counted as cells change)."""
        with self._lock:
            return kind_of_kinds(self._kinds.get(key, ()))

    def find_column(self, name):
        """The key of the column a user means by ``name``: a key, a variable's name, its
        title (with or without units, if no other column has it), or "run", "state",
        "start_time", "comment" for the fixed columns. KeyError (listing the names) if none
        or several match."""
        if not isinstance(name, str):
            raise TypeError(f"A column is named by a string, not {name!r}")
        specs = self.columns()
        keys = {s.key for s in specs}
        if name in keys:
            return name
        if "#" + name in _FIXED_KEYS:
            return "#" + name
        folded = name.strip().casefold()
        found = {s.key for s in specs
                 if folded in {s.header.casefold(), f"{s.header} [{s.units}]".casefold()}}
        if len(found) == 1:
            return found.pop()
        names = ", ".join(s.key.lstrip("#") for s in specs)
        if found:
            raise KeyError(f"{name!r} is the title of several columns ({', '.join(sorted(found))}):"
                           " name the variable instead")
        raise KeyError(f"No column {name!r} in the table: use a variable's name or title "
                       f"({names})")

    def snapshot(self):
        """``(version, TableState)``: a consistent copy of the whole table at ``version``."""
        with self._lock:
            rows = {run: dict(cells) for run, cells in self._rows.items()}
            return self._version, TableState(tuple(self._columns.values()), rows)

    def changes_since(self, since):
        """A `Delta` from version ``since`` (a `snapshot`'s or a previous delta's) to now."""
        with self._lock:
            version = self._version
            if since >= version:
                return Delta(since, version)
            columns = None
            added, changed, removed = [], [], []
            for key in _since(self._column_log, since):
                if key not in self._columns:
                    removed.append(key)
                elif self._column_added[key] > since:
                    added.append(key)
                else:
                    changed.append(key)
            if added or changed or removed or self._order_version > since:
                columns = tuple(self._columns.values())
            rows_added, rows_removed = [], []
            for run in _since(self._row_log, since):
                (rows_added if run in self._rows else rows_removed).append(run)
            cells = {}
            for run, key in _since(self._cell_log, since):
                if key in self._columns or key not in self._column_log:
                    cells[run, key] = self._rows[run].get(key, MISSING)
            for key in added:  # cells kept before their column was added
                for run, row in self._rows.items():
                    if key in row:
                        cells[run, key] = row[key]
            return Delta(since, version, columns, tuple(added), tuple(changed),
                         tuple(removed), tuple(sorted(rows_added)), tuple(sorted(rows_removed)),
                         cells)

    # --- listening

    def subscribe(self, listener):
        """Call ``listener(version)`` after each change; returns a function that unsubscribes.
        A listener that raises is logged and kept."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe():
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
        return unsubscribe

    def _changed(self, version):
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(version)
            except Exception:
                log.exception("A table model listener failed")

    # --- writing

    def update(self, rows):
        """Set cells of many runs at once: ``{run: {key: Cell or None}}`` (None clears a
        value). Runs not in the table are added (an empty mapping adds just the run). Keys of
        columns not defined yet are kept, and sent with the column when it is added."""
        with self._lock:
            version = self._version + 1
            changed = False
            for run, cells in rows.items():
                row = self._rows.get(run)
                if row is None:
                    row = self._rows[run] = {RUN_KEY: Cell.number(run)}
                    self._count_kind(RUN_KEY, row[RUN_KEY], +1)
                    _touch(self._row_log, run, version)
                    _touch(self._cell_log, (run, RUN_KEY), version)
                    changed = True
                for key, cell in cells.items():
                    if key == RUN_KEY:
                        raise ValueError(f"The {RUN_KEY!r} column is the run number; it is "
                                         "set when a run is added, not changed")
                    old = row.get(key)
                    if cell is None or cell.mark == "missing":
                        if row.pop(key, None) is None:
                            continue
                        cell = None
                    elif old == cell:
                        continue
                    else:
                        row[key] = cell
                    self._count_kind(key, old, -1)
                    self._count_kind(key, cell, +1)
                    _touch(self._cell_log, (run, key), version)
                    changed = True
            if not changed:
                return
            self._version = version
        self._changed(version)

    def set_cells(self, run, cells):
        """Set cells of one run: ``{key: Cell or None}`` (see `update`)."""
        self.update({run: cells})

    _UNSET = object()

    def set_run(self, run, *, state=_UNSET, start_time=_UNSET, comment=_UNSET):
        """Add a run, or change its state (a word, e.g. "queued", "running", "failed"), start
        time (seconds since the epoch) or comment; None clears one."""
        unset = TableModel._UNSET
        cells = {}
        if state is not unset:
            cells[STATE_KEY] = None if state is None else Cell(kind="state", value=str(state))
        if start_time is not unset:
            cells[START_TIME_KEY] = (None if start_time is None
                                     else Cell(kind="time", value=float(start_time)))
        if comment is not unset:
            cells[COMMENT_KEY] = None if comment is None else Cell.text(comment)
        self.update({run: cells})

    def remove_runs(self, runs):
        """Remove runs (and their cells) from the table."""
        with self._lock:
            version = self._version + 1
            gone = [run for run in runs if run in self._rows]
            if not gone:
                return
            for run in gone:
                for key, cell in self._rows.pop(run).items():
                    self._cell_log.pop((run, key), None)
                    self._count_kind(key, cell, -1)
                _touch(self._row_log, run, version)
            self._version = version
        self._changed(version)

    def set_columns(self, specs):
        """Make ``specs`` the variable columns, in this order (the fixed ones stay first):
        others are removed with their cells, new ones added, changed ones replaced."""
        specs = list(specs)
        for spec in specs:
            self._check_variable_key(spec.key)
        keys = [s.key for s in specs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"Column keys must be unique: {keys}")
        with self._lock:
            version = self._apply_columns(specs)
        if version is not None:
            self._changed(version)

    def set_column(self, spec):
        """Add a variable column at the end, or replace the one with its key in place."""
        self._check_variable_key(spec.key)
        with self._lock:
            specs = [s for s in self._columns.values() if not s.fixed]
            keys = [s.key for s in specs]
            if spec.key in keys:
                specs[keys.index(spec.key)] = spec
            else:
                specs.append(spec)
            version = self._apply_columns(specs)
        if version is not None:
            self._changed(version)

    def remove_column(self, key):
        """Remove a variable column and its cells (nothing happens if it is not there)."""
        self._check_variable_key(key)
        with self._lock:
            version = self._apply_columns(
                [s for s in self._columns.values() if not s.fixed and s.key != key])
        if version is not None:
            self._changed(version)

    def _apply_columns(self, specs):
        """Under the lock: the variable columns made ``specs``; the new version, or None if
        nothing changed."""
        version = self._version + 1
        old = self._columns
        keys = {s.key for s in specs}
        changed = False
        for key in [k for k in old if k not in _FIXED_KEYS and k not in keys]:
            self._drop_column_cells(key)
            _touch(self._column_log, key, version)
            changed = True
        for spec in specs:
            if spec.key not in old:
                self._column_added[spec.key] = version
                _touch(self._column_log, spec.key, version)
                changed = True
            elif old[spec.key] != spec:
                _touch(self._column_log, spec.key, version)
                changed = True
        new = {c.key: c for c in FIXED_COLUMNS}
        new.update((s.key, s) for s in specs)
        if list(new) != [k for k in old if k in new]:
            self._order_version = version
            changed = True
        if not changed:
            return None
        self._columns = new
        self._version = version
        return version

    def _drop_column_cells(self, key):
        for run, row in self._rows.items():
            if row.pop(key, None) is not None:
                self._cell_log.pop((run, key), None)
        self._kinds.pop(key, None)

    def _count_kind(self, key, cell, step):
        """Under the lock: count a cell in (or out of) its column's kinds."""
        if cell is None or cell.mark is not None:
            return
        counts = self._kinds.setdefault(key, Counter())
        counts[cell.kind] += step
        if counts[cell.kind] <= 0:
            del counts[cell.kind]

    @staticmethod
    def _check_variable_key(key):
        if key in _FIXED_KEYS or key.startswith("#"):
            raise ValueError(f"Column key {key!r} is reserved for the fixed columns "
                             f"({sorted(_FIXED_KEYS)}); variable columns are keyed by name")
