"""`Database`: a DAMNIT database directory (runs.sqlite + extracted_data/), read and written
in DAMNIT's data format v4 so that DAMNIT's own tools and damnit_nb share it.

Thread-safe: one SQLite connection used under a lock, short transactions, a busy timeout for
other processes (DAMNIT's backend, other notebooks) holding the database. A write that
fails because the store is unavailable (locked past the busy timeout, disk full, I/O error,
read-only file system) raises `StoreUnavailableError` and changes nothing already stored.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .._text import number_ranges
from . import faults, migrations, schema
from .errors import (
    CorruptDatabaseError, NoProposalError, ProposalMismatchError, ReadOnlyDatabaseError,
    StoreUnavailableError,
)
from .h5file import (
    begin_write, journal_path, read_data, recover_run_file, run_file_lock, run_file_path,
    share,
)
from .results import ErrorFlags, PreparedResult
from .values import decode_value, encode_value, parse_user_value

__all__ = ["Database", "RunInfo", "VariableInfo", "StoredValue", "DB_NAME", "USER_TYPES"]

log = logging.getLogger(__name__)

DB_NAME = "runs.sqlite"
BUSY_TIMEOUT = 30  # seconds to wait for another process's write lock (default)
USER_TYPES = ("boolean", "integer", "number", "string")
MANUAL_INPUT = "manual-input"


class RunInfo(NamedTuple):
    """One row of run_info. Times are seconds since the epoch (UTC), or None."""

    proposal: int
    run: int
    start_time: float | None
    added_at: float | None


class VariableInfo(NamedTuple):
    """A variable's definition as stored in the `variables` table, with its tags."""

    name: str
    title: str | None
    description: str | None
    type: str | None
    attributes: dict
    tags: tuple


@dataclass(frozen=True)
class StoredValue(ErrorFlags):
    """A stored value, decoded for display.

    value: a number, str, complex, PNG bytes (thumbnail), a numpy array (trendline: 2 x N of
    x and y; or another array), or None for an error.
    """

    value: object
    summary_type: str | None = None
    attributes: dict = field(default_factory=dict)
    error: str | None = None
    error_cls: str | None = None
    timestamp: float | None = None
    code_version: str | None = None
    provenance: str | None = None
    summary_method: str | None = None
    max_diff: float | None = None  # max - min of the data within the run (DAMNIT bolds > 0)

    @property
    def units(self):
        return self.attributes.get("units")


def _now():
    return datetime.now(tz=timezone.utc).timestamp()


def _as_timestamp(value):
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    if isinstance(value, np.datetime64):
        return value.astype("datetime64[ns]").astype(np.int64) / 1e9
    return float(value)


def _unwritable(*paths):
    """Why one of the paths (None: skipped) cannot be written, or None if all can."""
    for path in paths:
        if path is None or os.access(path, os.W_OK):
            continue
        try:
            read_only_fs = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
        except OSError:
            read_only_fs = False
        if read_only_fs:
            return f"{path} is on a read-only file system"
        import getpass

        return f"{path} is not writable by user {getpass.getuser()}"
    return None


class _Snapshot:
    """What `Database.snapshot` yields: execute only, on a read-only connection."""

    __slots__ = ("_conn",)

    def __init__(self, conn):
        self._conn = conn

    def execute(self, sql, params=()):
        return self._conn.execute(sql, params)


class Database:
    """A DAMNIT database directory: `runs.sqlite` and `extracted_data/p{proposal}_r{run}.h5`.

    `path` is the directory, created with its `extracted_data/` if missing. `proposal` is
    stored in a new database; for an existing one it must match (or be left out).
    Opening an existing v4 database does not write to it. A database from an older DAMNIT
    (formats v0-v3) is copied to `runs.sqlite.v{N}.bak` (`backup_path`) and upgraded step
    by step; one from a newer DAMNIT, or one whose files or directory we cannot write, is
    opened read-only (`read_only`, `read_only_reason`) with a warning. `busy_timeout`:
    seconds a write waits for another process holding the database (default BUSY_TIMEOUT)
    before it raises StoreUnavailableError.

    Reading as with DAMNIT's API (`damnit.Damnit`): `db.table()`, `db[run].keys()`,
    `db[run, name].read()` / `.summary()` / `.units` / `.preview_data()`.
    `db.export("runs.xlsx")` writes the table to CSV, Excel or Markdown. Raw reads of the
    SQLite tables: `db.query(sql)`, `with db.snapshot() as snap: snap.execute(sql)`.
    """

    def __init__(self, path, proposal=None, *, busy_timeout=None):
        self.path = Path(path)
        self.db_path = self.path / DB_NAME
        self.busy_timeout = BUSY_TIMEOUT if busy_timeout is None else float(busy_timeout)
        self.path.mkdir(parents=True, exist_ok=True)
        existed = self.db_path.is_file() and self.db_path.stat().st_size > 0
        extracted = self.path / "extracted_data"
        if not extracted.is_dir():
            try:
                extracted.mkdir()
                share(extracted, directory=True)
            except OSError:
                if not existed:
                    raise
        self._lock = threading.RLock()
        self._closed = False
        self._version = 0  # data_version(): counts commits seen (ours and others')
        self._sqlite_version = None  # PRAGMA data_version when data_version() last looked
        self._read_only_version = None
        self._read_only_reason = None
        self.backup_path = None  # where an older database was copied before upgrading it
        reason = _unwritable(self.db_path if existed else None, self.path, extracted)
        if reason is not None and not existed:
            raise PermissionError(f"Cannot create a database in {self.path}: {reason}. "
                                  "Choose a directory you can write.")
        try:
            if reason is None:
                self._conn = sqlite3.connect(
                    self.db_path, timeout=self.busy_timeout, isolation_level=None,
                    check_same_thread=False)
            else:
                self._conn = self._connect_read_only()
        except sqlite3.Error as exc:
            raise CorruptDatabaseError(self.db_path, str(exc)) from exc
        try:
            if reason is not None:
                self._read_only_reason = reason
                self._warn_read_only(f"{self.db_path} opened read-only: {reason}. Nothing "
                                     "can be stored in it.", stacklevel=2)
            self._open(existed, proposal)
        except BaseException:
            self._conn.close()
            raise

    def _connect_read_only(self):
        uri = self.db_path.absolute().as_uri() + "?mode=ro"
        return sqlite3.connect(uri, uri=True, timeout=self.busy_timeout,
                               isolation_level=None, check_same_thread=False)

    @staticmethod
    def _warn_read_only(message, stacklevel):
        """Warn the code that opened the database (stacklevel: frames up to it)."""
        import warnings

        from .. import DamnitNbWarning

        warnings.warn(message, DamnitNbWarning, stacklevel=stacklevel + 1)

    def _open(self, existed, proposal):
        conn = self._conn
        # SQLite's default rollback journal, not WAL: WAL needs shared memory between all
        # processes using the database, which network file systems (where proposal
        # directories live, shared with DAMNIT on other hosts) do not provide.
        conn.execute("PRAGMA foreign_keys = ON")
        version = schema.read_format_version(conn, self.db_path) if existed else None
        if version is None:  # a new (or empty) database
            with self._transaction():
                # Checked again under the write lock: another process may have just made it.
                if schema.read_format_version(conn, self.db_path) is None:
                    schema.create_schema(conn, proposal)
            share(self.db_path)
        elif version < schema.FORMAT_VERSION:
            self.backup_path = migrations.upgrade(conn, self.db_path, version,
                                                  self._transaction)
        elif version > schema.FORMAT_VERSION:
            self._reopen_read_only(version)
        stored = self._meta("proposal")
        if proposal is not None:
            if stored is None:
                if not self.read_only:
                    with self._transaction():
                        self._conn.execute(
                            "INSERT INTO metameta VALUES ('proposal', ?) ON CONFLICT (key)"
                            " DO UPDATE SET value=excluded.value", (int(proposal),))
            elif int(stored) != int(proposal):
                raise ProposalMismatchError(self.db_path, int(proposal), int(stored))
        self._proposal = int(proposal) if proposal is not None else (
            int(stored) if stored is not None else None)

    def _reopen_read_only(self, version):
        """A newer DAMNIT's database: never written, so never damaged by us."""
        if self._read_only_reason is None:
            self._conn.close()
            self._conn = self._connect_read_only()
            self._warn_read_only(
                f"{self.db_path} is in DAMNIT data format v{version}, newer than "
                f"v{schema.FORMAT_VERSION}: opened read-only. Update damnit_nb to write "
                "to it.", stacklevel=4)
        self._read_only_version = version

    @property
    def read_only(self):
        """True for a database that is read, never written: one written by a newer DAMNIT,
        or one whose files we cannot write (`read_only_reason` says which)."""
        return self._read_only_version is not None or self._read_only_reason is not None

    @property
    def read_only_reason(self):
        """Why the database is read-only (a sentence), or None if it is writable."""
        if self._read_only_reason is not None:
            return self._read_only_reason
        if self._read_only_version is not None:
            return (f"it is in DAMNIT data format v{self._read_only_version}, newer than "
                    f"v{schema.FORMAT_VERSION} which damnit_nb writes")
        return None

    def _check_writable(self):
        if self._read_only_reason is not None:
            raise ReadOnlyDatabaseError(self.db_path, self._read_only_version,
                                        schema.FORMAT_VERSION, self._read_only_reason)
        if self._read_only_version is not None:
            raise ReadOnlyDatabaseError(self.db_path, self._read_only_version,
                                        schema.FORMAT_VERSION)

    # ---------------------------------------------------------------- plumbing ----

    def _meta(self, key):
        row = self._conn.execute("SELECT value FROM metameta WHERE key=?", (key,)).fetchone()
        return None if row is None else row[0]

    @contextmanager
    def _transaction(self):
        """A write transaction on the shared connection, committed or rolled back.

        An SQLite error meaning the store is unavailable (busy past the timeout, disk full,
        I/O error, read-only) is raised as StoreUnavailableError.
        """
        with self._lock:
            self._check_open()
            self._check_writable()
            with self._unavailable_as_error():
                # IMMEDIATE takes the write lock up front, so two writers never deadlock
                # each holding a read lock and waiting for the other.
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                    self._conn.execute("COMMIT")
                    self._version += 1  # SQLite's data_version ignores our own commits
                except BaseException:
                    # e.g. still busy after the timeout: leave no transaction behind us
                    self._roll_back()
                    raise

    @contextmanager
    def _unavailable_as_error(self):
        """SQLite errors that mean the store is unavailable raised as StoreUnavailableError."""
        try:
            yield
        except sqlite3.Error as exc:
            unavailable = StoreUnavailableError.from_error(exc, self.db_path)
            if unavailable is None:
                raise
            raise unavailable from exc

    def _roll_back(self):
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:  # SQLite rolls back itself when it cannot write its journal
            log.warning("Rolling back a transaction of %s failed", self.db_path,
                        exc_info=True)

    def _check_open(self):
        if self._closed:
            raise ValueError(f"{self.db_path} is closed: open a new Database.")

    def _read(self, sql, params=()):
        with self._lock, self._unavailable_as_error():
            self._check_open()
            return self._conn.execute(sql, params).fetchall()

    def _require_proposal(self):
        if self._proposal is None:
            raise NoProposalError(self.db_path)
        return self._proposal

    @staticmethod
    def _ensure_run(conn, proposal, run, start_time=None):
        cur = conn.execute(
            "INSERT INTO run_info (proposal, run, start_time, added_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (proposal, run) DO NOTHING", (proposal, run, start_time, _now()))
        new = cur.rowcount == 1
        if start_time is not None and not new:
            conn.execute("UPDATE run_info SET start_time=? WHERE proposal=? AND run=?",
                         (start_time, proposal, run))
        return new

    @staticmethod
    def _is_known(conn, name):
        """Whether the `runs` view already has a column for name (no full table scan)."""
        if conn.execute("SELECT 1 FROM variables WHERE name=?", (name,)).fetchone():
            return True
        return conn.execute("SELECT 1 FROM run_variables WHERE name=? LIMIT 1",
                            (name,)).fetchone() is not None

    # ---------------------------------------------------------------- public API ----

    @property
    def proposal(self):
        """The proposal number (from metameta unless given when opening), or None."""
        return self._proposal

    def add_run(self, run, start_time=None) -> bool:
        """Record a run (start_time: epoch seconds or datetime). True if it is new.

        DAMNIT's table lists only runs with a start time.
        """
        proposal = self._require_proposal()
        with self._transaction() as conn:
            return self._ensure_run(conn, proposal, int(run), _as_timestamp(start_time))

    def runs(self) -> list[RunInfo]:
        """All runs of this database's proposal, by run number."""
        rows = self._read(
            "SELECT proposal, run, start_time, added_at FROM run_info WHERE proposal=?"
            " ORDER BY run", (self._proposal,))
        return [RunInfo(*row) for row in rows]

    def set_comment(self, run, text):
        """Set a run's comment (as user input); an empty text or None clears it."""
        proposal = self._require_proposal()
        value = text if text else None
        with self._transaction() as conn:
            self._ensure_run(conn, proposal, int(run))
            self._set_manual(conn, proposal, int(run), "comment", value)

    def add_variable(self, name, *, title=None, description=None, attributes=None, tags=(),
                     type=None) -> bool:
        """Define or update a variable (and set its tags to exactly `tags`).

        type: None for computed variables, else one of USER_TYPES (user-editable).
        title defaults to the name, as DAMNIT does. Returns True if anything changed
        (an unchanged definition is not written again).
        """
        return bool(self.add_variables({name: dict(
            title=title, description=description, attributes=attributes, tags=tags,
            type=type)}))

    def add_variables(self, definitions) -> list[str]:
        """Define or update several variables in one transaction.

        definitions: {name: {"title", "description", "attributes", "tags", "type"}} (keys
        optional, as for add_variable). Only changed definitions are written; returns their
        names. The `runs` view is rebuilt once if a name is new.
        """
        wanted = {}
        for name, spec in definitions.items():
            schema.check_name(name)
            unknown = set(spec) - {"title", "description", "attributes", "tags", "type"}
            if unknown:
                raise TypeError(f"Unknown variable fields {sorted(unknown)} for {name!r}: use "
                                "title, description, attributes, tags, type.")
            vtype = spec.get("type")
            if vtype is not None and vtype not in USER_TYPES:
                raise ValueError(f"Unknown variable type {vtype!r}: use None (computed) or "
                                 f"one of {', '.join(USER_TYPES)}.")
            tags = spec.get("tags") or ()
            if isinstance(tags, str):
                tags = (tags,)
            wanted[name] = VariableInfo(
                name, spec.get("title") or name, spec.get("description"), vtype,
                dict(spec.get("attributes") or {}), tuple(sorted({str(t) for t in tags})))
        current = self.variables()
        changed = [n for n, info in wanted.items()
                   if current.get(n) is None or current[n]._replace(
                       tags=tuple(sorted(current[n].tags))) != info]
        if not changed:
            return []
        with self._transaction() as conn:
            new_names = [n for n in changed if not self._is_known(conn, n)]
            for name in changed:
                info = wanted[name]
                conn.execute(
                    "INSERT INTO variables (name, type, title, description, attributes)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                    " type=excluded.type, title=excluded.title,"
                    " description=excluded.description, attributes=excluded.attributes",
                    (name, info.type, info.title, info.description,
                     json.dumps(info.attributes) if info.attributes else None))
                self._set_tags(conn, name, set(info.tags))
            if new_names:
                schema.rebuild_views(conn)
        return changed

    @staticmethod
    def _set_tags(conn, name, tags):
        existing = {r[0] for r in conn.execute(
            "SELECT t.name FROM tags t JOIN variable_tags vt ON t.id = vt.tag_id"
            " WHERE vt.variable_name=?", (name,))}
        for tag in tags - existing:
            conn.execute("INSERT OR IGNORE INTO tags (name) VALUES (?)", (tag,))
            conn.execute(
                "INSERT OR IGNORE INTO variable_tags (variable_name, tag_id)"
                " SELECT ?, id FROM tags WHERE name=?", (name, tag))
        for tag in existing - tags:
            conn.execute(
                "DELETE FROM variable_tags WHERE variable_name=?"
                " AND tag_id=(SELECT id FROM tags WHERE name=?)", (name, tag))

    def set_user_value(self, run, name, value):
        """Set a user-editable variable (one defined with a type) for a run, as user input.

        The value is converted to the variable's type (strings as typed in a table cell are
        accepted); None or "" clears it. Raises KeyError for a variable without a type.
        """
        proposal = self._require_proposal()
        info = self.variables().get(name)
        if info is None or info.type is None:
            editable = sorted(n for n, v in self.variables().items() if v.type is not None)
            raise KeyError(f"{name!r} is not a user-editable variable; editable ones: "
                           f"{', '.join(editable) or 'none'} (add one with "
                           "add_variable(name, type=...)).")
        if value is None or (isinstance(value, str) and not value.strip()):
            parsed = None
        else:
            parsed = parse_user_value(name, info.type, value)
        with self._transaction() as conn:
            self._ensure_run(conn, proposal, int(run))
            self._set_manual(conn, proposal, int(run), name, parsed)

    def _set_manual(self, conn, proposal, run, name, value):
        """Write a value typed by a user as DAMNIT's GUI does: provenance "manual-input",
        summary_method "" (all NULL but the provenance and time when clearing)."""
        new_name = not self._is_known(conn, name)
        conn.execute(
            "INSERT INTO run_variables (proposal, run, name, version, value, timestamp,"
            " max_diff, provenance, summary_type, summary_method, attributes)"
            " VALUES (?, ?, ?, 1, ?, ?, NULL, ?, NULL, ?, NULL)"
            " ON CONFLICT (proposal, run, name, version) DO UPDATE SET"
            " value=excluded.value, timestamp=excluded.timestamp,"
            " max_diff=NULL, provenance=excluded.provenance, summary_type=NULL,"
            " summary_method=excluded.summary_method, attributes=NULL",
            (proposal, run, name, value, _now(), MANUAL_INPUT,
             None if value is None else ""))
        if new_name:
            schema.rebuild_views(conn)

    def add_time_comment(self, text, timestamp=None) -> int:
        """Add a comment not tied to a run (DAMNIT's standalone comments); returns its id."""
        ts = _as_timestamp(timestamp) if timestamp is not None else _now()
        with self._transaction() as conn:
            return conn.execute("INSERT INTO time_comments VALUES (?, ?)",
                                (ts, str(text))).lastrowid

    def time_comments(self) -> list[tuple[int, float, str]]:
        """Standalone comments as (id, timestamp, text), oldest first."""
        return [tuple(r) for r in self._read(
            "SELECT rowid, timestamp, comment FROM time_comments ORDER BY timestamp")]

    def variables(self) -> dict[str, VariableInfo]:
        """Every defined variable, in definition order."""
        with self._lock:
            rows = self._read(
                "SELECT name, title, description, type, attributes FROM variables"
                " ORDER BY rowid")
            tag_rows = self._read(
                "SELECT vt.variable_name, t.name FROM variable_tags vt"
                " JOIN tags t ON t.id = vt.tag_id ORDER BY t.name")
        tags = {}
        for var, tag in tag_rows:
            tags.setdefault(var, []).append(tag)
        result = {}
        for name, title, description, vtype, attrs in rows:
            result[name] = VariableInfo(
                name, title, description, vtype, json.loads(attrs) if attrs else {},
                tuple(tags.get(name, ())))
        return result

    def write_results(self, run, results, code_versions=None, *, provenance="context.py"):
        """Store results of one run: the run file first, then one SQLite transaction that
        commits both (see h5file for the write protocol).

        Each named variable's previous value, summary or error for the run is replaced; other
        variables are kept. code_versions maps names to the code version they came from.
        A result named "start_time" (epoch seconds) sets the run's start time, as in DAMNIT.
        Raises StoreUnavailableError if the store cannot be written right now (locked past
        the busy timeout, disk full, I/O error, read-only file system): then nothing stored
        has changed and the same call can be retried. ReadOnlyDatabaseError for a database
        opened read-only.
        """
        proposal = self._require_proposal()
        self._check_writable()
        run = int(run)
        results = [r for r in results if r is not None]
        for r in results:
            if not isinstance(r, PreparedResult):
                raise TypeError(f"write_results takes PreparedResult objects, not "
                                f"{type(r).__name__}: use prepare_result()/prepare_error().")
            schema.check_name(r.name)
        if not results:
            return
        h5_path = run_file_path(self.path, proposal, run)
        try:
            with run_file_lock(h5_path, timeout=self.busy_timeout):
                self._recover(h5_path, proposal, run)
                write = begin_write(h5_path, results)  # unsaveable results become errors
                try:
                    self._record_results(proposal, run, write.stored, code_versions,
                                         provenance, write.token)
                except BaseException:
                    write.abort()
                    raise
                faults.reached("after-commit")
                try:
                    write.commit()
                except OSError:  # committed in SQLite: the next write or read finishes it
                    log.warning("Finishing the write of %s failed; the next access "
                                "finishes it", h5_path, exc_info=True)
        except (OSError, sqlite3.Error) as exc:
            unavailable = StoreUnavailableError.from_error(
                exc, self.db_path if isinstance(exc, sqlite3.Error) else h5_path)
            if unavailable is None or unavailable is exc:
                raise
            raise unavailable from exc

    def _recover(self, h5_path, proposal, run):
        """Finish or undo a write of the run file left unfinished (call under its lock)."""
        def committed(token):
            with self._lock:
                if not schema.has_run_file_writes_table(self._conn):
                    return False
            rows = self._read(f"SELECT token FROM {schema.RUN_FILE_WRITES_TABLE}"
                              " WHERE proposal=? AND run=?", (proposal, run))
            return bool(rows) and rows[0][0] == token

        recover_run_file(h5_path, committed)

    def run_file(self, run, proposal=None) -> Path:
        """The HDF5 file of a run, ready to read: a write that a killed writer left
        unfinished is finished or undone first (a write under way is left to its writer;
        `h5file.open_run_file` waits for it)."""
        proposal = self._require_proposal() if proposal is None else int(proposal)
        path = run_file_path(self.path, proposal, int(run))
        if journal_path(path).exists() and not self.read_only:
            try:
                with run_file_lock(path, timeout=0):
                    self._recover(path, proposal, int(run))
            except TimeoutError:
                pass  # its writer is at work and finishes it
            except (OSError, sqlite3.Error):
                log.warning("Could not finish an interrupted write of %s; reading it as it "
                            "is", path, exc_info=True)
        return path

    def _record_results(self, proposal, run, results, code_versions, provenance, token):
        timestamp = _now()
        # As DAMNIT does, a "start_time" result goes into run_info, not run_variables.
        start_time = None
        for r in results:
            if r.name == "start_time" and not r.is_error:
                try:
                    start_time = _as_timestamp(r.summary)
                except (TypeError, ValueError):
                    pass
        results = [r for r in results if r.name != "start_time"]
        rows = [self._row(proposal, run, r, timestamp, provenance) for r in results]
        with self._transaction() as conn:
            self._ensure_run(conn, proposal, run, start_time)
            new_names = [r.name for r in results if not self._is_known(conn, r.name)]
            conn.executemany(
                "INSERT INTO run_variables (proposal, run, name, version, value, timestamp,"
                " max_diff, provenance, summary_type, summary_method, attributes)"
                " VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (proposal, run, name, version) DO UPDATE SET"
                " value=excluded.value, timestamp=excluded.timestamp,"
                " max_diff=excluded.max_diff, provenance=excluded.provenance,"
                " summary_type=excluded.summary_type, summary_method=excluded.summary_method,"
                " attributes=excluded.attributes", rows)
            # DAMNIT's API looks titles up in `variables`: every stored name needs a row there.
            conn.executemany("INSERT OR IGNORE INTO variables (name, title) VALUES (?, ?)",
                             [(r.name, r.name) for r in results])
            code_versions = code_versions or {}
            versioned = [r.name for r in results if code_versions.get(r.name) is not None]
            if versioned:
                schema.ensure_code_versions_table(conn)
                conn.executemany(
                    f"INSERT OR REPLACE INTO {schema.CODE_VERSIONS_TABLE}"
                    " (proposal, run, name, code_version, computed_at) VALUES (?, ?, ?, ?, ?)",
                    [(proposal, run, n, str(code_versions[n]), timestamp) for n in versioned])
            unversioned = [r.name for r in results if code_versions.get(r.name) is None]
            if unversioned and schema.has_code_versions_table(conn):
                # A value stored without a version must not keep its predecessor's
                conn.executemany(
                    f"DELETE FROM {schema.CODE_VERSIONS_TABLE}"
                    " WHERE proposal=? AND run=? AND name=?",
                    [(proposal, run, n) for n in unversioned])
            # The run file's write is committed with these rows (see h5file).
            schema.ensure_run_file_writes_table(conn)
            conn.execute(
                f"INSERT INTO {schema.RUN_FILE_WRITES_TABLE} (proposal, run, token)"
                " VALUES (?, ?, ?) ON CONFLICT (proposal, run) DO UPDATE SET"
                " token=excluded.token", (proposal, run, token))
            if new_names:
                schema.rebuild_views(conn)
            faults.reached("before-commit")

    @staticmethod
    def _row(proposal, run, r, timestamp, provenance):
        if r.is_error:
            attrs = json.dumps({"error": r.error, "error_cls": r.error_cls})
            return (proposal, run, r.name, None, timestamp, None, provenance, None, None, attrs)
        value, summary_type = encode_value(r.summary, r.summary_type)
        attrs = json.dumps(r.attributes) if r.attributes else None
        max_diff = r.max_diff if r.max_diff is None or np.isfinite(r.max_diff) else None
        return (proposal, run, r.name, value, timestamp, max_diff, provenance,
                summary_type, r.summary_method, attrs)

    def values(self, runs=None, names=None) -> dict[int, dict[str, StoredValue]]:
        """Stored values by run and name (latest version), decoded for display.

        runs: an iterable of run numbers, or None for all; names: an iterable of variable
        names, or None for all. Cleared values are left out.
        """
        params = [self._proposal]
        where = "rv.proposal=?"
        for column, wanted, kind in (("rv.run", runs, int), ("rv.name", names, str)):
            if wanted is None:
                continue
            wanted = [kind(w) for w in wanted]
            if not wanted:
                return {}
            where += f" AND {column} IN ({', '.join('?' * len(wanted))})"
            params += wanted
        with self._lock:
            has_cv = schema.has_code_versions_table(self._conn)
            cv_col = "cv.code_version" if has_cv else "NULL"
            cv_join = (f" LEFT JOIN {schema.CODE_VERSIONS_TABLE} cv ON cv.proposal=rv.proposal"
                       " AND cv.run=rv.run AND cv.name=rv.name") if has_cv else ""
            rows = self._read(
                "SELECT rv.run, rv.name, rv.value, rv.summary_type, rv.attributes,"
                f" rv.timestamp, rv.provenance, rv.summary_method, rv.max_diff, {cv_col}"
                f" FROM run_variables rv{cv_join} WHERE {where}"
                " AND rv.version = (SELECT max(version) FROM run_variables v2"
                " WHERE v2.proposal=rv.proposal AND v2.run=rv.run AND v2.name=rv.name)"
                " ORDER BY rv.run", params)
        result = {}
        for run, name, value, stype, attrs_json, ts, prov, method, max_diff, cv in rows:
            attrs = json.loads(attrs_json) if attrs_json else {}
            error = attrs.pop("error", None)
            error_cls = attrs.pop("error_cls", None)
            if value is None and error is None and error_cls is None:
                continue
            if error_cls is not None or error is not None:
                error_cls = error_cls or "Exception"
                error = error if error is not None else ""
            result.setdefault(run, {})[name] = StoredValue(
                value=decode_value(value, stype), summary_type=stype, attributes=attrs,
                error=error, error_cls=error_cls, timestamp=ts, code_version=cv,
                provenance=prov, summary_method=method, max_diff=max_diff)
        return result

    def code_versions(self, run=None):
        """Code version each stored value came from: {name: version} for one run, or
        {run: {name: version}} for all runs."""
        with self._lock:
            if not schema.has_code_versions_table(self._conn):
                return {}
            sql = (f"SELECT run, name, code_version FROM {schema.CODE_VERSIONS_TABLE}"
                   " WHERE proposal=?")
            params = [self._proposal]
            if run is not None:
                sql += " AND run=?"
                params.append(int(run))
            rows = self._read(sql, params)
        if run is not None:
            return {name: cv for _, name, cv in rows}
        out = {}
        for r, name, cv in rows:
            out.setdefault(r, {})[name] = cv
        return out

    def read_data(self, run, name):
        """The full data of one variable for one run, read from its HDF5 file."""
        return read_data(self.run_file(run), name)

    def table(self, with_titles=False):
        """The run table as DAMNIT's API gives it (`damnit.Damnit(path).table()`): columns
        proposal, run, start_time (Europe/Berlin), then the variables (comment always among
        them), images and arrays as placeholders ('<thumbnail>', '<sparkline>', '<ndarray>').

        with_titles: variable columns by title, and Proposal, Run, Timestamp.
        """
        from .tables import run_table

        return run_table(self, with_titles=with_titles)

    def export(self, path, with_titles=True):
        """Write the run table to a file chosen by suffix: '.csv', '.xlsx' or '.md'.

        Images and arrays are written as their summary text. Raises ValueError for another
        suffix. Returns the path.
        """
        from .tables import export

        return export(self, path, with_titles=with_titles)

    def __getitem__(self, key):
        """`db[run]` (a RunVariables), `db[run, name]` (a VariableData; name or title), or
        with the proposal first: `db[proposal, run]`, `db[proposal, run, name]`."""
        from .access import RunVariables

        proposal, name = self._proposal, None
        if isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], str):
            run, name = key
        elif isinstance(key, tuple) and len(key) == 2:
            proposal, run = key
        elif isinstance(key, tuple) and len(key) == 3:
            proposal, run, name = key
        elif isinstance(key, tuple):
            raise TypeError(f"Index a Database with run, (run, name) or (proposal, run, name), "
                            f"not {key!r}")
        else:
            run = key
        if isinstance(run, (bool, str)) or not isinstance(run, (int, np.integer)):
            raise TypeError(f"Run numbers are integers, not {run!r}")
        run = int(run)
        if not self._read("SELECT 1 FROM run_info WHERE proposal=? AND run=?",
                          (proposal, run)):
            known = [r.run for r in self.runs()]
            raise KeyError(f"No run {run} in proposal {proposal}: known runs are "
                           f"{number_ranges(known) or 'none'}.")
        run_vars = RunVariables(self, int(proposal), run)
        return run_vars if name is None else run_vars[name]

    def dataframe(self, with_titles=False):
        """The run table as damnit_nb shows it, as a pandas DataFrame: one row per run of this
        proposal (with a start time or not), columns run, start_time, added_at (UTC
        datetimes), comment, then one per variable in definition order, holding the decoded
        summaries (errors as None). For DAMNIT's own view of the table, see `table()`."""
        import pandas as pd

        runs = self.runs()
        values = self.values()
        names = [n for n in self.variable_names() if n != "comment"]
        records = []
        for info in runs:
            vals = values.get(info.run, {})
            record = {"run": info.run, "start_time": info.start_time,
                      "added_at": info.added_at}
            comment = vals.get("comment")
            record["comment"] = comment.value if comment is not None else None
            for name in names:
                sv = vals.get(name)
                record[name] = None if sv is None or sv.is_error else sv.value
            records.append(record)
        df = pd.DataFrame.from_records(
            records, columns=["run", "start_time", "added_at", "comment", *names])
        for col in ("start_time", "added_at"):
            df[col] = pd.to_datetime(df[col].astype("float64"), unit="s", utc=True)
        if with_titles:
            titles = {n: v.title for n, v in self.variables().items() if v.title}
            titles.update({"run": "Run", "start_time": "Timestamp", "added_at": "Added at",
                           "comment": "Comment"})
            df = df.rename(columns=titles)
        return df

    def variable_names(self) -> list[str]:
        """Every variable name in the order of DAMNIT's `runs` view: defined ones in
        definition order, then those that only have values."""
        with self.snapshot() as snap:
            return schema.variable_names(snap)

    def query(self, sql, params=()) -> list[tuple]:
        """The rows of one read-only SQL statement on the database (DAMNIT's tables as
        they are, see its data format). Writing through it raises sqlite3.OperationalError;
        writes go through the methods above."""
        with self.snapshot() as snap:
            return snap.execute(sql, params).fetchall()

    @contextmanager
    def snapshot(self):
        """Several reads that see one state of the database: yields an object whose
        `execute(sql, params=())` returns an SQLite cursor, all in one read transaction
        under the lock (no other thread of this Database runs meanwhile). Read-only:
        writing through it raises sqlite3.OperationalError."""
        with self._lock:
            self._check_open()
            conn = self._conn
            conn.execute("PRAGMA query_only = ON")
            try:
                conn.execute("BEGIN")
                try:
                    yield _Snapshot(conn)
                finally:
                    conn.execute("COMMIT")
            finally:
                conn.execute("PRAGMA query_only = OFF")

    # ------------------------------------------------------------ following writers ----

    def data_version(self) -> int:
        """A number that grows whenever anything was committed to the database since it
        was last asked: by another connection or process (another Database, a notebook,
        DAMNIT's backend or GUI) or by this Database. Equal numbers mean nothing changed.

        O(1): SQLite's `PRAGMA data_version` (which changes when another connection
        commits, never for this connection's own commits) plus a count of this Database's
        commits. Reads nothing else and writes nothing, so it works on a read-only
        database. Raises StoreUnavailableError if the database stays locked past the busy
        timeout.
        """
        with self._lock, self._unavailable_as_error():
            self._check_open()
            sqlite_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            if sqlite_version != self._sqlite_version:
                if self._sqlite_version is not None:
                    self._version += 1
                self._sqlite_version = sqlite_version
            return self._version

    def change_cursor(self):
        """A `ChangeCursor` for the database as it is now: give it to `changes_since` to
        learn what was committed after this call. Reads the database (a scan of its
        tables: tens of ms at 9,000 runs x 20 variables), writes nothing."""
        from .changes import change_cursor

        return change_cursor(self)

    def changes_since(self, cursor):
        """What was committed to the database after `cursor` was made, by anyone:
        returns `(changes, new_cursor)`, a `Changes` (new or changed runs, values per
        (run, name) with comments and user-editable values, variable definitions, time
        comments; false if nothing changed) and the cursor to pass next time. Each change
        is reported once; this Database's own writes are reported too.

        When nothing was committed it costs one `data_version()`; otherwise one read of the
        tables (see `damnit_nb.store.changes` for how changed values are found, and for
        the clock assumption it makes). Writes nothing, so it works on a read-only
        database.
        """
        from .changes import changes_since

        return changes_since(self, cursor)

    def close(self):
        """Close the database; further calls raise ValueError. Safe to call twice."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return f"<damnit_nb Database {self.path} (proposal {self._proposal})>"
