"""Errors raised by the store.

Each subclasses the built-in it specialises, keeps the offending value as an attribute and
says in its message what to do next.
"""

import errno
import sqlite3
from pathlib import Path

__all__ = [
    "CorruptDatabaseError",
    "UnsupportedFormatError",
    "ProposalMismatchError",
    "NoProposalError",
    "InvalidNameError",
    "BackupError",
    "ReadOnlyDatabaseError",
    "StoreUnavailableError",
]


class CorruptDatabaseError(sqlite3.DatabaseError):
    """The database file exists but SQLite cannot read it. It is never overwritten."""

    def __init__(self, path, reason):
        self.path = path
        self.reason = reason
        super().__init__(
            f"{path} is not a readable SQLite database ({reason}). It was left untouched: "
            "restore it from a backup, or move it away to start a new database in its place."
        )


class UnsupportedFormatError(ValueError):
    """The file is an SQLite database, but not one in a DAMNIT data format we know."""

    def __init__(self, path, version, supported):
        self.path = path
        self.version = version
        self.supported = supported
        super().__init__(
            f"{path} is not a DAMNIT database damnit_nb can read (data format v{version}; "
            f"damnit_nb reads v0 to v{supported}). Use a new database directory, or move "
            "this file away."
        )


class BackupError(OSError):
    """An old database could not be copied before upgrading it, so it was not upgraded."""

    def __init__(self, path, backup_path, version, reason):
        self.path = path
        self.backup_path = backup_path
        self.version = version
        self.reason = reason
        super().__init__(
            f"{path} is in DAMNIT's older data format v{version} and must be upgraded, but "
            f"its backup copy {backup_path} could not be written ({reason}). Nothing was "
            f"changed. Make {Path(backup_path).parent} writable (or free some space) and open "
            "it again, or copy the database directory somewhere you can write and open the "
            "copy."
        )


class ReadOnlyDatabaseError(PermissionError):
    """A write to a database that was opened read-only: one written by a newer DAMNIT
    (`version` is its format), or one whose files we cannot write (`reason` says why)."""

    def __init__(self, path, version, supported, reason=None):
        self.path = path
        self.version = version
        self.supported = supported
        self.reason = reason
        if reason is not None:
            message = (f"{path} was opened read-only ({reason}): nothing can be stored in "
                       "it. Ask for write access, or copy the database directory somewhere "
                       "you can write and open the copy.")
        else:
            message = (f"{path} is in DAMNIT data format v{version}, newer than v{supported} "
                       "which damnit_nb writes: it was opened read-only so as not to damage "
                       "it. Update damnit_nb to change it.")
        super().__init__(message)


class StoreUnavailableError(OSError):
    """The store cannot be written right now: the database stayed locked past the busy
    timeout, the disk is full, an I/O error, a file system mounted read-only.

    Nothing already stored was changed by the failed write (its HDF5 changes are undone,
    its SQLite transaction rolled back), so the same write can simply be retried later.
    `reason` is "locked", "full", "io" or "read-only"; `path` the file that failed; the
    original error is the `__cause__`, its errno (if any) `errno`.
    """

    REASONS = ("locked", "full", "io", "read-only")

    def __init__(self, path, reason, detail, code=None):
        self.path = path
        self.reason = reason
        self.detail = detail
        what = {
            "locked": (f"{path} stayed locked by another process ({detail}): DAMNIT's "
                       "backend, another kernel or a slow network file system holds it. "
                       "Retry once it is free (a longer busy_timeout waits more)."),
            "full": (f"there is no space left for {path} ({detail}). Free some space (or "
                     "raise the quota), then retry."),
            "io": (f"an I/O error stopped the write of {path} ({detail}): the disk or the "
                   "network file system may be failing. Retry once it works again."),
            "read-only": (f"{path} cannot be written now ({detail}): its file system is "
                          "read-only or its permissions changed. Retry once it is writable "
                          "again."),
        }[reason]
        super().__init__(f"The store is unavailable: {what} Nothing already stored was "
                         "changed.")
        self.errno = code

    @classmethod
    def from_error(cls, exc, path):
        """The StoreUnavailableError an error means (for `path`), or None if it means
        something else (a bug, bad data, a permanent problem)."""
        if isinstance(exc, cls):
            return exc
        if isinstance(exc, sqlite3.Error):
            code = getattr(exc, "sqlite_errorcode", None)
            reason = _SQLITE_REASONS.get(code & 0xFF) if code is not None else next(
                (r for text, r in _SQLITE_MESSAGES if text in str(exc).lower()), None)
            return None if reason is None else cls(path, reason, str(exc))
        if isinstance(exc, TimeoutError) and exc.errno is None:  # a lock not had in time
            return cls(path, "locked", str(exc))
        if isinstance(exc, OSError):
            reason = _OS_REASONS.get(exc.errno)
            if reason is not None:
                return cls(getattr(exc, "filename", None) or path, reason,
                           exc.strerror or str(exc), exc.errno)
        return None


_OS_REASONS = {
    errno.ENOSPC: "full",
    errno.EDQUOT: "full",
    errno.EIO: "io",
    errno.ESTALE: "io",
    errno.ETIMEDOUT: "io",
    errno.EROFS: "read-only",
    errno.EAGAIN: "locked",  # a file another program holds with a lock
}
# SQLite's primary result codes
_SQLITE_REASONS = {5: "locked", 6: "locked", 8: "read-only", 10: "io", 13: "full",
                   14: "io", 15: "locked"}
_SQLITE_MESSAGES = (("locked", "locked"), ("disk i/o error", "io"), ("is full", "full"),
                    ("readonly", "read-only"), ("unable to open", "io"))


class ProposalMismatchError(ValueError):
    """The database belongs to another proposal than the one asked for."""

    def __init__(self, path, proposal, stored):
        self.path = path
        self.proposal = proposal
        self.stored = stored
        super().__init__(
            f"{path} belongs to proposal {stored}, not {proposal}. Open it without a "
            "proposal number, or use another database directory for this proposal."
        )


class NoProposalError(ValueError):
    """Writing run data needs a proposal number, and the database does not know one."""

    def __init__(self, path):
        self.path = path
        super().__init__(
            f"{path} has no proposal number yet: open it with Database(path, proposal=...)."
        )


class InvalidNameError(ValueError):
    """A variable name that DAMNIT could not use as a column name."""

    def __init__(self, name):
        self.name = name
        super().__init__(
            f"Invalid variable name {name!r}: use Python identifiers separated by dots "
            "(like 'xgm.energy')."
        )
