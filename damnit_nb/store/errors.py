"""Errors raised by the store.

Each subclasses the built-in it specialises, keeps the offending value as an attribute and
says in its message what to do next.
"""

import sqlite3

__all__ = [
    "CorruptDatabaseError",
    "UnsupportedFormatError",
    "ProposalMismatchError",
    "NoProposalError",
    "InvalidNameError",
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
    """The database is in a DAMNIT data format other than the one this version reads."""

    def __init__(self, path, version, supported):
        self.path = path
        self.version = version
        self.supported = supported
        super().__init__(
            f"{path} is in DAMNIT data format v{version}; damnit_nb reads v{supported} only. "
            f"Open it once with DAMNIT (which migrates older databases to v{supported}), "
            "or use a new database directory."
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
