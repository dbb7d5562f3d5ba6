"""Where a proposal's run database is: DAMNIT's (``usr/Shared/amore``), else damnit_nb's
(``usr/Shared/damnit_nb``), each a directory holding ``runs.sqlite``. Standard library only,
so the server extension can use it without loading the store."""

from __future__ import annotations

import os

__all__ = ["DATABASE_DIRS", "DB_FILE", "database_dir"]

#: Where a proposal's database may be, below its directory, the first found first.
DATABASE_DIRS = ("usr/Shared/amore", "usr/Shared/damnit_nb")
#: The database file in such a directory (`store.database.DB_NAME`).
DB_FILE = "runs.sqlite"


def database_dir(proposal_dir):
    """The first of `DATABASE_DIRS` below ``proposal_dir`` holding a database (a path
    string), or None if none does yet."""
    for rel in DATABASE_DIRS:
        candidate = os.path.join(proposal_dir, rel)
        if os.path.isfile(os.path.join(candidate, DB_FILE)):
            return candidate
    return None
