"""Errors raised by the store.

Each subclasses the built-in it specialises, keeps the offending value as an attribute and
says in its message what to do next.
"""

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
    """A write to a database that was opened read-only (written by a newer DAMNIT)."""

    def __init__(self, path, version, supported):
        self.path = path
        self.version = version
        self.supported = supported
        super().__init__(
            f"{path} is in DAMNIT data format v{version}, newer than v{supported} which "
            "damnit_nb writes: it was opened read-only so as not to damage it. Update "
            "damnit_nb to change it."
        )


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
