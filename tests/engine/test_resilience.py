"""The engine never stops: a store that refuses writes for a while, a read-only database, a
change made just before ``wait()``; and a table releases what it opened."""

import os
import sqlite3
import textwrap
import threading
import warnings

import pytest

from damnit_nb import RunTable
from damnit_nb.context import Definitions, Variable
from damnit_nb.engine import Engine, RunFinder
from damnit_nb.simulate import simulate_run
from damnit_nb.store import Database
from tests.helpers import eventually


@Variable(title="Trains")
def trains(run):
    return len(run.train_ids)


class FlakyDatabase:
    """A real database whose writes of results fail while ``locked`` is set, as when another
    program holds it past the busy timeout."""

    def __init__(self, db):
        self._db = db
        self.locked = threading.Event()
        self.refused = 0

    def write_results(self, *args, **kwargs):
        if self.locked.is_set():
            self.refused += 1
            raise sqlite3.OperationalError("database is locked")
        return self._db.write_results(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._db, name)


class Listener:
    def __init__(self):
        self.states = {}

    def engine_run_added(self, run, start_time):
        pass

    def engine_results(self, run, names):
        pass

    def engine_run_state(self, run, state):
        self.states[run] = state

    def engine_status(self, status):
        pass


def test_a_locked_database_defers_writes_and_processing_resumes(tmp_path):
    proposal = tmp_path / "p004100"
    simulate_run(proposal, 1, trains=10, modules=1)
    db = FlakyDatabase(Database(tmp_path / "db", proposal=4100))
    db.locked.set()
    listener = Listener()
    engine = Engine(proposal, db, lambda: Definitions([trains]), listener, proposal=4100,
                    settle=0.1, poll=0.1)
    engine.start()
    try:
        assert eventually(lambda: db.refused >= 1 and listener.states.get(1) == "unsaved", 30)
        status = engine.status()
        assert status.state != "crashed" and status.unsaved == 1
        assert "database is locked" in status.problem
        assert engine.wait(0.5) is False  # not done while its results are not stored
        simulate_run(proposal, 2, trains=12, modules=1)  # a run arriving meanwhile
        db.locked.clear()
        assert engine.wait(60)
        values = db.values()
        assert values[1]["trains"].value == 10 and values[2]["trains"].value == 12
        assert engine.run_states() == {1: "done", 2: "done"}
        assert engine.status().problem is None
    finally:
        engine.stop()
        db.close()


def _make_newer(db_dir):
    conn = sqlite3.connect(db_dir / "runs.sqlite")
    with conn:
        conn.execute("UPDATE metameta SET value=5 WHERE key='data_format_version'")
    conn.close()


def test_a_read_only_database_is_shown_without_processing(tmp_path):
    proposal = tmp_path / "p004200"
    simulate_run(proposal, 1, trains=10, modules=1)
    db_dir = proposal / "usr" / "Shared" / "damnit_nb"
    Database(db_dir, proposal=4200).close()
    _make_newer(db_dir)
    before = (db_dir / "runs.sqlite").read_bytes()
    ctx = tmp_path / "context.py"
    ctx.write_text(textwrap.dedent('''
        from damnit_ctx import Variable

        @Variable(title="Trains")
        def trains(run):
            return len(run.train_ids)
    '''))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the database says it is read-only
        table = RunTable(proposal, context=ctx, settle=0.1, poll=0.1)
    with table:
        simulate_run(proposal, 2, trains=10, modules=1)
        assert table.wait(10)
        status = table.status()
        assert status.state == "read-only" and "read-only" in status.problem
        assert "read-only" in table._status_html(status)
    assert (db_dir / "runs.sqlite").read_bytes() == before


def test_wait_sees_a_run_written_while_a_look_at_the_disk_was_under_way(tmp_path,
                                                                      monkeypatch):
    listed, release = threading.Event(), threading.Event()

    class SlowFinder(RunFinder):
        """Lists the runs, then takes its time before the engine hears of them."""

        def poll(self, now=None):
            ready = super().poll(now)
            if self.raw_dir.name == "raw" and gate.is_set():
                listed.set()
                release.wait(30)
            return ready

    gate = threading.Event()
    monkeypatch.setattr("damnit_nb.engine.engine.RunFinder", SlowFinder)
    proposal = tmp_path / "p004300"
    (proposal / "raw").mkdir(parents=True)
    db = Database(tmp_path / "db", proposal=4300)
    engine = Engine(proposal, db, lambda: Definitions([trains]), Listener(), proposal=4300,
                    settle=0, poll=0.05)
    engine.start()
    try:
        assert engine.wait(30)
        gate.set()
        assert listed.wait(30)  # a look at the disk has listed raw/ (empty) and goes on
        gate.clear()
        simulate_run(proposal, 1, trains=10, modules=1)
        answer = []
        waiter = threading.Thread(target=lambda: answer.append(engine.wait(60)))
        waiter.start()
        release.set()
        waiter.join(90)
        assert answer == [True]
        assert db.values()[1]["trains"].value == 10  # wait() returned after run 1 was done
    finally:
        release.set()
        engine.stop()
        db.close()


def _open_files(path):
    fds = "/proc/self/fd"
    found = 0
    for fd in os.listdir(fds):
        try:
            if os.readlink(os.path.join(fds, fd)) == str(path):
                found += 1
        except OSError:
            pass
    return found


def test_close_closes_the_database(tmp_path):
    proposal = tmp_path / "p004400"
    (proposal / "raw").mkdir(parents=True)
    table = RunTable(proposal, settle=0.1, poll=0.1)
    sqlite_file = table.database_dir / "runs.sqlite"
    assert _open_files(sqlite_file) >= 1
    table.close()
    assert _open_files(sqlite_file) == 0
    table.close()  # twice is fine


def test_a_table_that_fails_to_open_leaves_nothing_open(tmp_path):
    proposal = tmp_path / "p004500"
    (proposal / "raw").mkdir(parents=True)
    ctx = tmp_path / "context.py"
    ctx.write_text("from damnit_ctx import Variable\n\n@Variable(title=1)\ndef x(run):\n"
                   "    return 1\n")
    threads = threading.active_count()
    with pytest.raises(ValueError):
        RunTable(proposal, context=ctx, executor="processes")
    assert _open_files(proposal / "usr" / "Shared" / "damnit_nb" / "runs.sqlite") == 0
    assert threading.active_count() == threads


LOCKER = ("import sqlite3, sys\n"
          "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
          "c.execute('BEGIN EXCLUSIVE')\n"
          "print('locked', flush=True)\n"
          "sys.stdin.readline()\n"
          "c.execute('ROLLBACK')\n")


def test_a_database_another_process_holds_locked_delays_processing_only(tmp_path):
    import subprocess
    import sys

    proposal = tmp_path / "p004600"
    (proposal / "raw").mkdir(parents=True)
    db = Database(tmp_path / "db", proposal=4600, busy_timeout=0.2)
    listener = Listener()
    engine = Engine(proposal, db, lambda: Definitions([trains]), listener, proposal=4600,
                    settle=0.1, poll=0.1)
    engine.start()
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(db.db_path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"
        simulate_run(proposal, 1, trains=10, modules=1)
        assert eventually(lambda: "locked" in (engine.status().problem or ""), 30)
        assert engine.status().state != "crashed"
        locker.stdin.write("\n")
        locker.stdin.flush()
        assert locker.wait(30) == 0
        assert engine.wait(60)
        assert db.values()[1]["trains"].value == 10
        assert engine.run_states() == {1: "done"}
        assert engine.status().problem is None
    finally:
        locker.kill()
        engine.stop()
        db.close()


def _open_run_files(directory):
    fds = "/proc/self/fd"
    found = []
    for fd in os.listdir(fds):
        try:
            target = os.readlink(os.path.join(fds, fd))
        except OSError:
            continue
        if target.startswith(str(directory)) and target.endswith(".h5"):
            found.append(target)
    return found


def test_finished_runs_leave_no_data_file_open(tmp_path):
    proposal = tmp_path / "p004700"
    for run in (1, 2, 3):
        simulate_run(proposal, run, trains=10, modules=2)
    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        @table.variable(title="Mean")
        def mean(run):
            return float(run["SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD"]
                         .ndarray().mean())

        assert table.wait(60)
        assert len(table.to_dataframe()["Mean"].dropna()) == 3
        assert _open_run_files(proposal / "raw") == []
