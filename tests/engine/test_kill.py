"""A kernel killed (SIGKILL) while processing loses nothing that was saved.

A real process runs a RunTable on a simulated proposal and is killed at varied moments while
it computes and stores results; after each kill the database passes SQLite's integrity
check, every per-run HDF5 file opens, and the comments typed earlier are intact. A last
process, left to finish, completes every run with the right values.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

from damnit_nb.simulate import simulate_run
from damnit_nb.store import Database

RUNS = (1, 2, 3, 4, 5, 6)
XGM = ("SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD")

CONTEXT = textwrap.dedent('''
    import time
    import numpy as np
    from damnit_ctx import Variable

    @Variable(title="Mean intensity")
    def mean_intensity(run):
        time.sleep(0.05)
        return float(run["SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD"].ndarray()[:, :10].mean())

    @Variable(title="Profile")
    def profile(run, m: "var#mean_intensity"):
        time.sleep(0.05)
        data = run["SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD"].ndarray()[:, :10]
        return data.mean(axis=0) + 0 * m

    @Variable(title="Image")
    def image(run):
        time.sleep(0.05)
        return np.outer(np.arange(64.0), np.arange(48.0)) + run.train_ids[0] % 7
''')

CHILD = textwrap.dedent('''
    import sys, time
    from damnit_nb import RunTable
    table = RunTable(sys.argv[1], context=sys.argv[2], settle=0, poll=0.05)
    print("started", flush=True)
    ok = table.wait(120)
    print("finished" if ok else "timeout", flush=True)
    table.close()
''')


@pytest.fixture
def proposal(tmp_path):
    path = tmp_path / "p004321"
    for run in RUNS:
        simulate_run(path, run, trains=20, modules=1)
    return path


def _start(proposal, ctx, script):
    return subprocess.Popen([sys.executable, str(script), str(proposal), str(ctx)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _check_intact(db_dir, comments):
    conn = sqlite3.connect(db_dir / "runs.sqlite")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = dict(conn.execute("SELECT run, value FROM run_variables WHERE name='comment'"))
    finally:
        conn.close()
    for run, text in comments.items():
        assert stored.get(run) == text
    for f in sorted((db_dir / "extracted_data").glob("p*_r*.h5")):
        if f.name.endswith(".writing.h5"):
            continue  # a killed writer's temporary file (removed by the next write)
        with h5py.File(f, "r") as h5:
            h5.visit(lambda name: None)  # the whole tree is readable


def test_sigkill_while_processing_loses_nothing(proposal, tmp_path):
    ctx = tmp_path / "context.py"
    ctx.write_text(CONTEXT)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    db_dir = proposal / "usr" / "Shared" / "damnit_nb"

    # Comments typed before processing starts must survive every kill.
    db = Database(db_dir, proposal=4321)
    comments = {1: "alignment run", 4: "sample B, 10 um"}
    for run, text in comments.items():
        db.set_comment(run, text)
    db.close()

    rng = np.random.default_rng(3)
    killed_mid_work = 0
    for attempt in range(5):
        child = _start(proposal, ctx, script)
        try:
            assert child.stdout.readline().strip() == "started", child.stderr.read()
            time.sleep(float(rng.uniform(0.05, 0.6)))
            if child.poll() is None:
                killed_mid_work += 1
            child.send_signal(signal.SIGKILL)
            child.wait(30)
        finally:
            if child.poll() is None:
                child.kill()
        _check_intact(db_dir, comments)
    assert killed_mid_work >= 3  # the kills landed while the process was working

    # A process left alone redoes whatever the kills interrupted.
    child = _start(proposal, ctx, script)
    out, err = child.communicate(timeout=180)
    assert "finished" in out, err
    _check_intact(db_dir, comments)
    # Every run was written again: no temporary file of a killed writer is left.
    assert not list((db_dir / "extracted_data").glob("*.writing.h5"))

    db = Database(db_dir)
    try:
        df = db.dataframe(with_titles=True).set_index("Run")
        from damnit_nb.data import RunDirectory

        for run in RUNS:
            data = RunDirectory(proposal / "raw" / f"r{run:04d}")[XGM].ndarray()[:, :10]
            assert df.loc[run, "Mean intensity"] == pytest.approx(float(data.mean()))
            np.testing.assert_allclose(db.read_data(run, "profile"), data.mean(axis=0))
            assert db.read_data(run, "image").shape == (64, 48)
    finally:
        db.close()
