import sys
from pathlib import Path

import pytest

from damnit_nb.store import Database

sys.path.insert(0, str(Path(__file__).parent))  # helpers: old_formats, damnit_oracle


@pytest.fixture
def db(tmp_path):
    database = Database(tmp_path / "db", proposal=1234)
    yield database
    database.close()


@pytest.fixture
def reopen(tmp_path):
    """Open the same database directory in a new Database object."""
    opened = []

    def _reopen(db):
        db.close()
        new = Database(db.path)
        opened.append(new)
        return new

    yield _reopen
    for d in opened:
        d.close()
