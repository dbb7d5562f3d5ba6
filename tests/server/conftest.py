"""Fixtures for the server extension's tests: a Jupyter server with damnit_nb enabled
(pytest-jupyter's ``jp_fetch`` and friends), and a facility of proposals with real databases.

pytest-jupyter's fixtures and hooks are imported here rather than named in ``pytest_plugins``:
pytest accepts ``pytest_plugins`` only in the root conftest, where its autouse event-loop
fixture would run for every test of the suite.
"""

import sqlite3
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403  (fixtures and hooks)
from traitlets.config import Config

from damnit_nb.store import Database, prepare_error, prepare_result
from damnit_nb.store.values import encode_value
from tests.store.old_formats import make_database

START = 1_770_000_000.0
CONTEXT = '''\
from damnit_ctx import Variable


@Variable(title="Run number")
def run_number(run, number: "meta#run_number"):
    return number
'''


def _proposal_dir(root, instrument, cycle, name):
    path = Path(root, instrument, cycle, name)
    (path / "raw").mkdir(parents=True)
    return path


def _fill(db_dir):
    """Runs 1-3 with numbers, a string, an image, a trendline, an error, a comment, units
    and tags; run 2's spread is a NaN, stored as DAMNIT stores numpy values (a .npy blob)."""
    db = Database(db_dir, proposal=1234)
    try:
        db.add_variable("energy", title="XGM/Energy", tags=["xgm", "beam"],
                        attributes={"units": "uJ"}, description="Pulse energy")
        db.add_variable("good", title="Good run", type="boolean")
        for run in (1, 2, 3):
            db.add_run(run, start_time=START + 60 * run)
        db.set_comment(1, "first run")
        db.set_user_value(1, "good", "yes")
        db.write_results(1, [
            prepare_result("energy", 1.5, units="uJ"),
            prepare_result("shots", np.int64(7)),
            prepare_result("sample", "Fe"),
            prepare_result("image", np.arange(30.0).reshape(5, 6)),
            prepare_result("line", np.arange(300.0)),
            prepare_result("phase", 1 + 2j),
            prepare_error("broken", ValueError("boom")),
        ])
        db.write_results(2, [prepare_result("energy", float("inf")),
                             prepare_result("sample", "Co")])
    finally:
        db.close()
    blob, summary_type = encode_value(np.array(np.nan))
    with sqlite3.connect(Path(db_dir, "runs.sqlite")) as conn:
        conn.execute(
            "INSERT INTO run_variables (proposal, run, name, version, value, timestamp,"
            " provenance, summary_type) VALUES (1234, 2, 'spread', 1, ?, ?, 'context.py', ?)",
            (blob, START, summary_type))
        conn.execute("INSERT INTO variables (name, title) VALUES ('spread', 'Spread')")


@pytest.fixture(scope="session")
def facility(tmp_path_factory):
    """Proposal directories as the facility lays them out, under ``root`` (the one root
    served) and ``elsewhere`` (not served)."""
    base = tmp_path_factory.mktemp("gpfs")
    root, elsewhere = base / "exp", base / "elsewhere"
    f = SimpleNamespace(base=base, root=root, elsewhere=elsewhere)
    # DAMNIT's database with a context file
    f.p1234 = _proposal_dir(root, "SPB", "202401", "p001234")
    f.amore = f.p1234 / "usr" / "Shared" / "amore"
    _fill(f.amore)
    (f.amore / "context.py").write_text(CONTEXT)
    # no database yet
    f.p2000 = _proposal_dir(root, "SPB", "202401", "p002000")
    # a number not zero-padded, with damnit_nb's own database
    f.p3000 = _proposal_dir(root, "FXE", "202402", "p3000")
    Database(f.p3000 / "usr" / "Shared" / "damnit_nb", proposal=3000).close()
    # databases that cannot be served as they are
    f.corrupt = _proposal_dir(root, "SQS", "202401", "p004000")
    (f.corrupt / "usr" / "Shared" / "amore").mkdir(parents=True)
    (f.corrupt / "usr" / "Shared" / "amore" / "runs.sqlite").write_bytes(b"not SQLite " * 100)
    f.older = _proposal_dir(root, "SQS", "202401", "p004001")
    make_database(f.older / "usr" / "Shared" / "amore", 2)
    f.empty = _proposal_dir(root, "SQS", "202401", "p004002")
    (f.empty / "usr" / "Shared" / "amore").mkdir(parents=True)
    (f.empty / "usr" / "Shared" / "amore" / "runs.sqlite").write_bytes(b"")
    # outside the root, and links out of it
    f.outside = _proposal_dir(elsewhere, "SPB", "202401", "p009999")
    _fill(f.outside / "usr" / "Shared" / "amore")
    (root / "SPB" / "202401" / "p005555").symlink_to(f.outside)
    f.usr_out = _proposal_dir(root, "SPB", "202401", "p006666")
    (f.usr_out / "usr").symlink_to(f.outside / "usr")
    return f


@pytest.fixture
def jp_server_config(facility):
    """The server: damnit_nb enabled (as its installed config file does), serving
    ``facility.root``."""
    return Config({
        "ServerApp": {"jpserver_extensions": {"damnit_nb": True}},
        "DamnitNbServer": {"proposal_roots": [str(facility.root)]},
    })


@pytest.fixture
def fetch(jp_fetch):
    """``jp_fetch`` with the extension's prefix, answering errors instead of raising them."""
    def _fetch(*parts, **kwargs):
        kwargs.setdefault("raise_error", False)
        kwargs.setdefault("follow_redirects", False)
        return jp_fetch("damnit-nb", *parts, **kwargs)

    return _fetch


