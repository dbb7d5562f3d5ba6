"""A proposal's run table as JSON (``api/runs``) and a run's thumbnail, read from its database
(`damnit_nb.store.Database`) without ever writing to it: an empty database, or one of an
older DAMNIT format (which opening would upgrade), is refused rather than changed.

Imported by the handlers on their first request (it loads the store: numpy, h5py)."""

from __future__ import annotations

import math
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path

from ..store import Database, StoreUnavailableError
from ..store.database import DB_NAME
from ..store.errors import UnsupportedFormatError
from ..store.schema import FORMAT_VERSION, read_format_version
from ..widgets.cells import from_stored
from .errors import DatabaseBusyError, NotFoundError, UnreadableDatabaseError

__all__ = ["read_runs", "read_thumbnail", "BUSY_TIMEOUT"]

#: Seconds a request waits for another process's write to the database before it gives up.
BUSY_TIMEOUT = 10


def read_runs(proposal, thumbnail_url):
    """``{"proposal", "columns", "runs"}`` for a `proposals.Proposal`. A column is ``{"name",
    "title", "units", "tags", "description", "type"}`` (type: None for computed variables,
    else the user-editable type); a run ``{"run", "start_time", "comment", <name>: summary}``,
    every summary JSON-safe:
    numbers (NaN and infinities as None), strings, booleans or None (errors, trendlines);
    a PNG thumbnail as ``thumbnail_url(run, name)``. ``start_time`` is in seconds since the
    epoch (UTC). A variable named like a fixed key (run, start_time, comment) is left out of
    the runs."""
    with _database(proposal) as db:
        infos = db.runs()
        values = db.values()
        variables = db.variables()
        names = [n for n in db.variable_names() if n != "comment"]
        number = db.proposal if db.proposal is not None else proposal.number
    columns = []
    for name in names:
        info = variables.get(name)
        attrs = info.attributes if info is not None else {}
        units = attrs.get("units") or next(
            (v[name].units for v in values.values() if name in v and v[name].units), None)
        columns.append({"name": name, "title": (info.title if info else None) or name,
                        "units": units, "tags": list(info.tags) if info else [],
                        "description": info.description if info else None,
                        "type": info.type if info else None})
    booleans = {n for n, info in variables.items() if info.type == "boolean"}
    runs = []
    for info in infos:
        stored = values.get(info.run, {})
        comment = stored.get("comment")
        row = {"run": info.run, "start_time": _finite(info.start_time),
               "comment": comment.value if comment is not None and isinstance(
                   comment.value, str) else None}
        for name in names:
            value = _summary(stored.get(name), info.run, name, thumbnail_url)
            if name in booleans and isinstance(value, (int, float)):
                value = bool(value)  # SQLite stores a user's true/false as 1/0
            row.setdefault(name, value)
        runs.append(row)
    return {"proposal": number, "columns": columns, "runs": runs}


def read_thumbnail(proposal, run, name) -> bytes:
    """The PNG summary of variable *name* for *run*; NotFoundError if there is none."""
    with _database(proposal) as db:
        if run not in {info.run for info in db.runs()}:
            raise NotFoundError(f"Proposal {proposal.number} has no run {run}.")
        stored = db.values(runs=[run], names=[name]).get(run, {}).get(name)
    if stored is None:
        raise NotFoundError(f"Run {run} of proposal {proposal.number} has no value for "
                            f"{name!r}: see api/runs for its variables.")
    cell = from_stored(stored)
    if cell.kind != "image":
        raise NotFoundError(f"{name!r} of run {run} has no thumbnail: its summary is not an "
                            "image (see its value in api/runs).")
    return cell.value


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _summary(stored, run, name, thumbnail_url):
    cell = from_stored(stored)
    if cell.kind == "number":
        return _finite(cell.value)
    if cell.kind == "text":
        return cell.value
    if cell.kind == "image":
        return thumbnail_url(run, name)
    return None  # missing, error, skipped, trendline


@contextmanager
def _database(proposal):
    """The proposal's `Database`, opened only if that writes nothing to it."""
    if proposal.database is None:
        raise NotFoundError(
            f"Proposal {proposal.number} has no database yet (no {DB_NAME} in "
            f"{proposal.path}/usr/Shared/amore nor .../damnit_nb). Open it in a notebook "
            f"(damnit-nb/open?proposal={proposal.number}) to make one as runs are processed.")
    path = os.path.join(proposal.database, DB_NAME)
    version = _format_version(path)
    if version is None:
        raise NotFoundError(f"{path} is empty: no run was stored in it yet.")
    if version < FORMAT_VERSION:
        raise UnreadableDatabaseError(
            path, f"{path} is in an older DAMNIT data format (v{version}), which the server "
            "does not upgrade. Open it once in a notebook (damnit_nb.Database(path) backs it "
            "up and upgrades it), then reload.")
    try:
        db = Database(proposal.database, busy_timeout=BUSY_TIMEOUT)
    except (sqlite3.Error, UnsupportedFormatError, OSError) as e:
        raise _problem(e, path) from e
    try:
        yield db
    except (sqlite3.Error, OSError) as e:
        raise _problem(e, path) from e
    finally:
        db.close()


def _format_version(path):
    """The file's DAMNIT data format, read on a read-only connection (None: empty)."""
    try:
        conn = sqlite3.connect(Path(path).as_uri() + "?mode=ro", uri=True,
                               timeout=BUSY_TIMEOUT)
        try:
            return read_format_version(conn, path)
        finally:
            conn.close()
    except (sqlite3.Error, UnsupportedFormatError) as e:
        raise _problem(e, path) from e


def _problem(error, path):
    """The error to answer for a failure to read the database at *path*."""
    for e in (error, error.__cause__):
        busy = StoreUnavailableError.from_error(e, path) if e is not None else None
        if busy is not None:
            return DatabaseBusyError(str(busy))
    if isinstance(error, (sqlite3.DatabaseError, UnsupportedFormatError)):
        return UnreadableDatabaseError(path, str(error))
    return UnreadableDatabaseError(path, f"{path} cannot be read ({error}). Check it with "
                                   "DAMNIT or damnit_nb in a notebook.")
