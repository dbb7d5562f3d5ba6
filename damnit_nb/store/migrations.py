"""Upgrading a database written by an older DAMNIT to data format v4, by numbered steps.

DAMNIT's formats: v0 (unversioned: one `runs` table, a column per variable), v1 (values in
the long `run_variables` table, `run_info`; an early "intermediate" v1 also had a
`run_variables.stored_type` column), v2 (`run_variables.attributes`), v3 (tags), v4 (a trigger
removing orphaned tags). Each step is one transaction that also records the new version, so an
interrupted upgrade resumes where it stopped. Before the first step, the database file is copied
next to itself (`runs.sqlite.v{N}.bak`); without that copy nothing is changed.

Only the SQLite file is changed: the per-run HDF5 files are read (v0 image summaries become
PNG thumbnails in the database, as DAMNIT's own v0 upgrade makes them) but never rewritten.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import sqlite3
from pathlib import Path
from secrets import token_hex

import numpy as np

from . import schema
from .errors import BackupError

__all__ = ["MIGRATIONS", "migration", "upgrade", "backup_path"]

log = logging.getLogger(__name__)

MIGRATIONS = {}  # to_version -> (description, function(conn, db_dir))


def migration(to_version, description):
    """Register the step from `to_version - 1` to `to_version`."""

    def register(func):
        if to_version in MIGRATIONS:
            raise ValueError(f"Two migrations to v{to_version}")
        MIGRATIONS[to_version] = (description, func)
        return func

    return register


def _columns(conn, table):
    return [r[1] for r in conn.execute(f"PRAGMA table_info({schema._quote_ident(table)})")]


def _set_version(conn, version):
    conn.execute(
        "INSERT INTO metameta (key, value) VALUES ('data_format_version', ?)"
        " ON CONFLICT (key) DO UPDATE SET value=excluded.value", (version,))


# ------------------------------------------------------------------------------ steps ----

_V1_TABLES = """
CREATE TABLE IF NOT EXISTS run_info(proposal, run, start_time, added_at);
CREATE UNIQUE INDEX IF NOT EXISTS proposal_run ON run_info (proposal, run);
CREATE TABLE IF NOT EXISTS run_variables(
    proposal, run, name, version, value, timestamp, max_diff, provenance,
    summary_type, summary_method
);
CREATE UNIQUE INDEX IF NOT EXISTS variable_version
    ON run_variables (proposal, run, name, version);
CREATE TABLE IF NOT EXISTS variables(
    name TEXT PRIMARY KEY NOT NULL, type TEXT, title TEXT, description TEXT, attributes TEXT
);
CREATE TABLE IF NOT EXISTS time_comments(timestamp, comment);
"""

_V0_RUN_COLUMNS = ("proposal", "runnr", "start_time", "added_at")


@migration(1, "Values move from the wide `runs` table to `run_info` and `run_variables`.")
def _to_v1(conn, db_dir):
    cols = _columns(conn, "runs")
    names = [c for c in cols if c not in _V0_RUN_COLUMNS]
    rows = [dict(zip(cols, row)) for row in conn.execute("SELECT * FROM runs")]
    conn.execute("DROP TABLE runs")  # its unique index `proposal_run` goes with it
    for statement in schema.split_statements(_V1_TABLES):
        conn.execute(statement)
    variables = []
    for row in rows:
        proposal, run = row["proposal"], row["runnr"]
        conn.execute("INSERT OR IGNORE INTO run_info VALUES (?, ?, ?, ?)",
                     (proposal, run, row["start_time"], row["added_at"]))
        found = _read_legacy_run_file(Path(db_dir), proposal, run)
        timestamp = found.get("mtime")
        for name in names:
            value = row[name]
            thumbnail = found.get("thumbnails", {}).get(name)
            if thumbnail is not None:
                value = thumbnail
            if value is None:
                continue
            # v0 did not record where a value came from: provenance stays NULL.
            variables.append((proposal, run, name, 1, value, timestamp,
                              found.get("max_diffs", {}).get(name)))
    conn.executemany(
        "INSERT INTO run_variables (proposal, run, name, version, value, timestamp, max_diff)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)", variables)
    # DAMNIT's API looks titles up in `variables`: give each computed variable a row (its
    # context file, when next run, sets its real title).
    conn.executemany("INSERT OR IGNORE INTO variables (name, title) VALUES (?, ?)",
                     [(n, n) for n in names if n != "comment"])
    schema.rebuild_views(conn)


def _read_legacy_run_file(db_dir, proposal, run):
    """From a v0 run file: its mtime (the values' timestamp), max_diffs and PNG thumbnails
    for 2-D (or RGBA) summaries, as DAMNIT's own v0 upgrade finds them. A variable's max_diff
    is its data's `max_diff` attribute, else computed for 1-D numbers. Read only; a missing
    or unreadable file gives {}."""
    from .h5file import open_run_file, run_file_path

    path = run_file_path(db_dir, proposal, run)
    if not path.is_file():
        return {}
    found = {"mtime": path.stat().st_mtime, "max_diffs": {}, "thumbnails": {}}
    try:
        with open_run_file(path) as f:
            reduced = f.get(".reduced", {})
            for name in reduced:
                dset = reduced[name]
                if dset.ndim == 2 or (dset.ndim == 3 and dset.shape[2] in (3, 4)):
                    found["thumbnails"][name] = _png(dset[()])
            for name in f:
                if name.startswith("."):
                    continue
                data = _main_dataset(f[name])
                if data is None:
                    continue
                if "max_diff" in data.attrs:
                    found["max_diffs"][name] = float(np.asarray(data.attrs["max_diff"]))
                elif data.ndim == 1 and data.size and np.issubdtype(data.dtype, np.number):
                    values = data[()]
                    found["max_diffs"][name] = float(abs(np.nanmax(values) - np.nanmin(values)))
    except (OSError, KeyError, ValueError, TypeError):
        log.warning("Could not read %s while upgrading its database; its values keep no "
                    "timestamp or max_diff", path, exc_info=True)
    return found


def _main_dataset(obj):
    """A variable's data in a v0 file: its `data` dataset, else its one dataset that is not
    a dimension scale, else None."""
    import h5py

    if not isinstance(obj, h5py.Group):
        return None
    if isinstance(obj.get("data"), h5py.Dataset):
        return obj["data"]
    main = [d for d in obj.values() if isinstance(d, h5py.Dataset)
            and d.attrs.get("CLASS", b"") != b"DIMENSION_SCALE"]
    return main[0] if len(main) == 1 else None


def _png(image):
    from .results import thumbnail_png

    if image.ndim == 2:
        return thumbnail_png(image)
    import matplotlib.image

    buffer = io.BytesIO()
    matplotlib.image.imsave(buffer, np.ascontiguousarray(image), format="png")
    return buffer.getvalue()


_V1_VALUE_COLUMNS = ("proposal", "run", "name", "version", "value", "timestamp", "max_diff",
                     "provenance", "summary_type", "summary_method")


@migration(2, "run_variables gains an `attributes` column (JSON: units, bold, errors...).")
def _to_v2(conn, db_dir):
    cols = _columns(conn, "run_variables")
    # An early ("intermediate") v1 had a stored_type column, and lacked the summary columns.
    conn.execute("DROP VIEW IF EXISTS runs")
    conn.execute("DROP VIEW IF EXISTS max_diffs")
    if "stored_type" in cols:
        conn.execute("ALTER TABLE run_variables DROP COLUMN stored_type")
    for col in _V1_VALUE_COLUMNS:
        if col not in cols:
            conn.execute(f"ALTER TABLE run_variables ADD COLUMN {col}")
    conn.execute("ALTER TABLE run_variables ADD COLUMN attributes")
    schema.rebuild_views(conn)


@migration(3, "Tags: tables `tags` and `variable_tags`.")
def _to_v3(conn, db_dir):
    for statement in schema.split_statements(schema.TAGS_SCHEMA):
        conn.execute(statement)


@migration(4, "A trigger removes a tag when its last variable loses it.")
def _to_v4(conn, db_dir):
    for statement in schema.split_statements(schema.ORPHAN_TAGS_TRIGGER):
        conn.execute(statement)
    # The id DAMNIT names its update topic after (it adds one on opening if missing).
    conn.execute("INSERT OR IGNORE INTO metameta (key, value) VALUES ('db_id', ?)",
                 (token_hex(20),))
    schema.rebuild_views(conn)  # one column per variable, whatever the old views had


# ----------------------------------------------------------------------------- driver ----

def backup_path(db_path, version) -> Path:
    """Where the copy of a v{version} database goes: `runs.sqlite.v{N}.bak`, or with a
    number added if that exists (a backup is never overwritten)."""
    db_path = Path(db_path)
    candidate = db_path.with_name(f"{db_path.name}.v{version}.bak")
    n = 2
    while candidate.exists():
        candidate = db_path.with_name(f"{db_path.name}.v{version}.{n}.bak")
        n += 1
    return candidate


def _backup(conn, db_path, version):
    """Copy the database file, holding a read lock so no other process commits meanwhile."""
    target = backup_path(db_path, version)
    tmp = target.with_name(target.name + ".writing")
    conn.execute("BEGIN")
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # takes the read lock
        shutil.copyfile(db_path, tmp)
        os.replace(tmp, target)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise BackupError(db_path, target, version, exc.strerror or str(exc)) from exc
    finally:
        conn.execute("COMMIT")
    log.info("Backed up %s (DAMNIT format v%d) to %s", db_path, version, target)
    return target


def upgrade(conn: sqlite3.Connection, db_path, version, transaction):
    """Back up a v{version} database, then apply each step up to v4 in its own transaction.

    transaction: a context manager factory giving a write transaction on `conn`. Each step
    reads the version again inside its transaction, so a database another process is
    upgrading at the same time is upgraded once. Returns the backup's path.
    """
    db_path = Path(db_path)
    backup = _backup(conn, db_path, version)
    for to_version in range(version + 1, schema.FORMAT_VERSION + 1):
        description, step = MIGRATIONS[to_version]
        with transaction():
            current = schema.read_format_version(conn, db_path)
            if current >= to_version:
                continue
            step(conn, db_path.parent)
            _set_version(conn, to_version)
        log.info("Upgraded %s to DAMNIT format v%d: %s", db_path, to_version, description)
    return backup
