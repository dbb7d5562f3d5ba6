"""Following a database that others write: `Database.change_cursor()` and
`Database.changes_since(cursor)`, which say what was committed since the cursor was made.

Whether anything was committed at all is `Database.data_version()`, O(1); only then are the
tables read, in one read transaction, and compared with what the cursor holds:

- `run_info`, `variables` (with their tags) and `time_comments` are small (one row per run,
  variable or comment) and are read whole: new, changed and removed rows are found by
  comparison, whoever wrote them and however (DAMNIT updates start times and standalone
  comments in place).
- `run_variables` is large (a row per run and variable, thumbnails inline) and has no index
  but its key; opening or following a database adds none (it writes nothing). DAMNIT and
  damnit_nb write a value, a comment, a user-editable value, an error or a cleared value
  as an upsert of that row (its rowid stays) stamped with the writer's clock (`timestamp`,
  epoch seconds, microseconds). A changed row is one whose (rowid, timestamp) the cursor
  does not hold, among the rows stamped no earlier than `WINDOW` seconds before the
  previous look (by this process's clock). The window covers a writer that took its
  timestamp, then waited for the write lock (DAMNIT waits up to 30 s) and committed after
  later writes were seen, and hosts whose clocks differ by up to a minute. Rows stamped
  alike (the same second, even the same microsecond) are told apart by rowid, so none is
  missed or reported twice. Not seen: a row written without a timestamp, or rewritten
  with exactly the timestamp it had (only a clock stepping back does that), or stamped
  more than `WINDOW` seconds before it is committed.

That read scans `run_variables` (SQLite reads past each thumbnail to its timestamp): tens of
milliseconds at 9,000 runs x 20 variables, once per poll in which something was committed.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field
from typing import Mapping

__all__ = ["Changes", "ChangeCursor", "change_cursor", "changes_since", "WINDOW"]

WINDOW = 120.0  # seconds a run_variables row may be stamped before it is committed


@dataclass(frozen=True)
class Changes:
    """What was committed to a database between two looks (`Database.changes_since`).

    - runs: `RunInfo` of new runs and of runs whose row changed (a start time set), by run.
    - removed_runs: run numbers no longer in the database.
    - values: {(run, name): StoredValue} for each value written (computed values, errors,
      comments under the name "comment", user-editable values); None for a value cleared.
    - variables: {name: VariableInfo} of new or changed definitions (title, description,
      type, attributes, tags).
    - removed_variables: names whose definition was removed.
    - time_comments: (id, timestamp, text) of new or changed standalone comments.
    - removed_time_comments: ids of standalone comments removed.

    False when nothing changed.
    """

    runs: tuple = ()
    removed_runs: tuple = ()
    values: Mapping = field(default_factory=dict)
    variables: Mapping = field(default_factory=dict)
    removed_variables: tuple = ()
    time_comments: tuple = ()
    removed_time_comments: tuple = ()

    def __bool__(self):
        return any((self.runs, self.removed_runs, self.values, self.variables,
                    self.removed_variables, self.time_comments, self.removed_time_comments))


@dataclass(frozen=True, repr=False, eq=False)
class ChangeCursor:
    """A database's state as one `Database` saw it (opaque): made by `change_cursor()` and
    returned by `changes_since()`, valid only with the Database that made it."""

    owner: weakref.ref
    version: int
    looked_at: float  # this process's clock just before the state was read
    stamps: Mapping  # run_variables rowid -> timestamp, rows stamped within the window
    runs: Mapping  # run -> RunInfo
    variables: Mapping  # name -> VariableInfo
    time_comments: Mapping  # id -> (id, timestamp, text)

    def __repr__(self):
        return f"<ChangeCursor at data version {self.version}>"


def _read(db, snap, since):
    """The state `snap` (a snapshot of db) shows: (cursor, {rowid: timestamp} of the
    run_variables rows stamped at or after `since`, None for the window before now)."""
    looked_at = time.time()  # before the read transaction takes its first lock
    if since is None:
        since = looked_at - WINDOW
    version = db.data_version()  # the first read: this state's version
    # Every proposal's rows (a database holds one): a test of the proposal costs more
    # than it saves. The changed rows' proposal is checked below.
    stamps = dict(snap.execute(
        "SELECT rowid, timestamp FROM run_variables WHERE timestamp >= ?",
        (since,)).fetchall())
    runs = {info.run: info for info in db.runs()}
    variables = db.variables()
    comments = {c[0]: c for c in db.time_comments()}
    kept_since = looked_at - WINDOW
    cursor = ChangeCursor(
        weakref.ref(db), version, looked_at,
        {rowid: ts for rowid, ts in stamps.items() if ts >= kept_since},
        runs, variables, comments)
    return cursor, stamps


def change_cursor(db) -> ChangeCursor:
    """A cursor for `db` as it is now (see `Database.change_cursor`)."""
    with db.snapshot() as snap:
        return _read(db, snap, None)[0]


def changes_since(db, cursor: ChangeCursor):
    """(Changes, new cursor) since `cursor` (see `Database.changes_since`)."""
    if not isinstance(cursor, ChangeCursor) or cursor.owner() is not db:
        raise ValueError(f"{cursor!r} was not made by {db!r}: make one with "
                         "db.change_cursor().")
    if db.data_version() == cursor.version:
        return Changes(), cursor
    since = min(cursor.looked_at, time.time()) - WINDOW
    with db.snapshot() as snap:  # the values below are read from the state of `new`
        new, stamps = _read(db, snap, since)
        changed = [rowid for rowid, ts in stamps.items() if cursor.stamps.get(rowid) != ts]
        cells = set()
        for start in range(0, len(changed), 500):
            chunk = changed[start:start + 500]
            cells.update(snap.execute(
                f"SELECT run, name FROM run_variables WHERE proposal = ? AND rowid IN"
                f" ({', '.join('?' * len(chunk))})", [db.proposal, *chunk]).fetchall())
        stored = db.values(runs=sorted({run for run, _ in cells}),
                           names=sorted({name for _, name in cells})) if cells else {}
    values = {(run, name): stored.get(run, {}).get(name) for run, name in sorted(cells)}
    changes = Changes(
        runs=tuple(info for run, info in new.runs.items() if cursor.runs.get(run) != info),
        removed_runs=tuple(sorted(set(cursor.runs) - set(new.runs))),
        values=values,
        variables={n: v for n, v in new.variables.items() if cursor.variables.get(n) != v},
        removed_variables=tuple(n for n in cursor.variables if n not in new.variables),
        time_comments=tuple(c for i, c in new.time_comments.items()
                            if cursor.time_comments.get(i) != c),
        removed_time_comments=tuple(sorted(set(cursor.time_comments)
                                           - set(new.time_comments))),
    )
    return changes, new
