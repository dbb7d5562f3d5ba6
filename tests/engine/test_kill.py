"""A writer killed (SIGKILL) at any point of a write loses nothing that was stored.

The store's fault-injection hook (`damnit_nb.store.faults`, the DAMNIT_NB_KILL_AT
environment variable) makes a process kill itself at an exact point of a write: in the
middle of changing a run file in place, once the run file is written, before and after the
SQLite commit, and once the write is finished. After each kill the database passes SQLite's
integrity check, every run file opens once recovered, the values stored before are intact,
and the run file and the database agree: on the old values if the kill came before the
commit, on the new ones after it. The next write leaves no journal or temporary file.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from damnit_nb.simulate import simulate_run
from damnit_nb.store import Database, prepare_result
from damnit_nb.store.faults import ENV_VAR, POINTS

COMMITTED = ("after-commit", "finished")  # the points at which the write counts as done


def _run_child(script, *args, kill_at=None):
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    env["PYTHONUNBUFFERED"] = "1"
    if kill_at is not None:
        env[ENV_VAR] = kill_at
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


def _integrity(db_dir):
    conn = sqlite3.connect(db_dir / "runs.sqlite")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def _leftovers(db_dir):
    """Journals and temporary files of writers, in extracted_data."""
    return sorted(p.name for p in (db_dir / "extracted_data").iterdir()
                  if p.name.endswith((".journal", ".writing.h5")))


def _same(h5_value, stored):
    if isinstance(stored, bytes):  # a PNG thumbnail, stored as uint8 in the run file
        return np.asarray(h5_value, dtype=np.uint8).tobytes() == stored
    if isinstance(stored, np.ndarray):
        return np.array_equal(h5_value, stored)
    if isinstance(h5_value, bytes):
        h5_value = h5_value.decode()
    return h5_value == stored


def _stores_agree(db):
    """Every run's file holds exactly the summaries and errors its SQLite rows hold."""
    db_only = {n for n, v in db.variables().items() if v.type is not None}
    db_only |= {"comment", "start_time"}
    for run, values in db.values().items():
        path = db.run_file(run)
        wanted = {n: v for n, v in values.items() if n not in db_only}
        if not path.exists():
            assert not wanted, f"run {run}: values without a run file"
            continue
        with h5py.File(path, "r") as f:
            summaries = set(f[".reduced"]) if ".reduced" in f else set()
            errors = set(f[".errors"]) if ".errors" in f else set()
            assert summaries | errors == set(wanted), f"run {run}"
            for name, stored in wanted.items():
                if stored.is_error:
                    assert name in errors and name not in summaries, (run, name)
                else:
                    assert _same(f[f".reduced/{name}"][()], stored.value), (run, name)


# ------------------------------------------------------- one write, killed at a point ----

WRITER = '''
    import sys
    import numpy as np
    from damnit_nb.store import Database, prepare_result

    db = Database(sys.argv[1])
    value = float(sys.argv[3])
    db.write_results(int(sys.argv[2]), [
        prepare_result("x", value), prepare_result("line", np.arange(100.0) + value),
        prepare_result("img", np.full((40, 30), value)),
    ], {"x": f"v{value}", "line": f"v{value}", "img": f"v{value}"})
    print("written")
'''


def _values(db, run):
    """(x, line[0], img[0, 0]) of a run as the database and as its run file hold them."""
    stored = db.values().get(run, {})
    if "x" not in stored:
        return None
    return (stored["x"].value, float(db.read_data(run, "x")),
            float(db.read_data(run, "line")[0]), float(db.read_data(run, "img")[0, 0]))


CASES = [*((p, True) for p in (*POINTS, "run-file-write:6")),
         # a new file is written whole: nothing in it is overwritten
         *((p, False) for p in POINTS if p != "run-file-write")]


@pytest.mark.parametrize("point, existing", CASES,
                         ids=[f"{p}-{'in place' if e else 'new file'}" for p, e in CASES])
def test_a_write_killed_at_each_point(tmp_path, point, existing):
    db_dir = tmp_path / "db"
    with Database(db_dir, proposal=1234) as db:
        db.set_comment(1, "typed before")
        if existing:
            db.write_results(1, [prepare_result("kept", 7.0),
                                 prepare_result("big", np.ones((256, 1024)))])
            db.write_results(1, [prepare_result("x", 1.0),
                                 prepare_result("line", np.arange(100.0) + 1),
                                 prepare_result("img", np.full((40, 30), 1.0))])
            before = _values(db, 1)
            assert before == (1.0, 1.0, 1.0, 1.0)

    child = _run_child(WRITER, db_dir, 1, 2.0, kill_at=point)
    assert child.returncode == -signal.SIGKILL, child.stderr  # it died at that point
    assert "written" not in child.stdout

    _integrity(db_dir)
    with Database(db_dir) as db:
        db.run_file(1)  # a reader finishes or undoes the killed write first
        after = _values(db, 1)
        if point in COMMITTED:
            assert after == (2.0, 2.0, 2.0, 2.0)
        else:
            assert after == (before if existing else None)
        assert _leftovers(db_dir) == []
        _stores_agree(db)
        assert db.values()[1]["comment"].value == "typed before"
        if existing:
            assert db.read_data(1, "kept") == 7.0 and db.read_data(1, "big").shape == (256, 1024)
            with h5py.File(db.run_file(1), "r") as f:
                f.visit(lambda name: None)  # the whole tree is readable

    child = _run_child(WRITER, db_dir, 1, 3.0)  # the next write
    assert child.returncode == 0 and "written" in child.stdout, child.stderr
    assert _leftovers(db_dir) == []
    with Database(db_dir) as db:
        assert _values(db, 1) == (3.0, 3.0, 3.0, 3.0)
        _stores_agree(db)
        assert db.code_versions(1)["x"] == "v3.0"


def test_a_killed_write_is_recovered_by_the_next_writer(tmp_path):
    """Without a reader in between: the next writer rolls the killed write back first."""
    db_dir = tmp_path / "db"
    with Database(db_dir, proposal=1234) as db:
        db.write_results(1, [prepare_result("x", 1.0), prepare_result("y", 5.0)])
    child = _run_child(WRITER, db_dir, 1, 2.0, kill_at="run-file-write:3")
    assert child.returncode == -signal.SIGKILL
    assert _leftovers(db_dir) == [".p1234_r1.h5.journal"]
    with Database(db_dir) as db:
        db.write_results(1, [prepare_result("y", 6.0)])
        assert _leftovers(db_dir) == []
        assert db.read_data(1, "x") == 1.0 and db.values()[1]["x"].value == 1.0
        assert db.read_data(1, "y") == 6.0
        _stores_agree(db)


SHRINKER = '''
    import sys
    import numpy as np
    from damnit_nb.store import Database, prepare_result

    db = Database(sys.argv[1])
    db.write_results(1, [prepare_result("img", np.full((64, 1024), 2.0))])
    print("written")
'''


def test_a_write_killed_while_compacting_the_file(tmp_path):
    """The write is committed before the file is compacted; a compaction cut short leaves
    the file as the write made it."""
    db_dir = tmp_path / "db"
    with Database(db_dir, proposal=1234) as db:
        db.write_results(1, [prepare_result("img", np.ones((256, 1024)))])  # 2 MiB
        db.write_results(1, [prepare_result("s", 1.0)])
        path = db.run_file(1)
    inode = path.stat().st_ino
    # Its smaller image leaves most of the file unused: the commit compacts the file,
    # which is the second time a run file is written whole; it dies there.
    child = _run_child(SHRINKER, db_dir, kill_at="run-file-written:2")
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert path.stat().st_ino == inode  # not compacted
    with Database(db_dir) as db:
        db.run_file(1)
        assert _leftovers(db_dir) == []
        assert db.read_data(1, "img").shape == (64, 1024) and db.read_data(1, "s") == 1.0
        _stores_agree(db)
    child = _run_child(SHRINKER, db_dir)
    assert child.returncode == 0, child.stderr
    assert path.stat().st_ino != inode and path.stat().st_size < 1 << 20  # compacted now


def test_the_hook_is_inert_without_the_variable(tmp_path):
    child = _run_child(WRITER, tmp_path / "db", 1, 2.0)
    assert child.returncode != 0  # no proposal number: a normal error, not a kill
    assert child.returncode != -signal.SIGKILL and "NoProposalError" in child.stderr


def test_a_misspelt_point_is_refused(tmp_path):
    child = _run_child(WRITER, tmp_path / "db", 1, 2.0, kill_at="before-comit")
    assert "names no fault point" in child.stderr


# ---------------------------------------------- a kernel processing runs, killed ----

RUNS = (1, 2, 3, 4)
XGM = ("SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD")

CONTEXT = textwrap.dedent('''
    import numpy as np
    from damnit_ctx import Variable

    @Variable(title="Mean intensity")
    def mean_intensity(run):
        return float(run["SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD"].ndarray()[:, :10].mean())

    @Variable(title="Profile")
    def profile(run, m: "var#mean_intensity"):
        data = run["SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD"].ndarray()[:, :10]
        return data.mean(axis=0) + 0 * m

    @Variable(title="Image")
    def image(run):
        return np.outer(np.arange(64.0), np.arange(48.0)) + run.train_ids[0] % 7
''')

KERNEL = '''
    import sys
    from damnit_nb import RunTable
    table = RunTable(sys.argv[1], context=sys.argv[2], settle=0, poll=0.05)
    ok = table.wait(120)
    print("finished" if ok else "timeout", flush=True)
    table.close()
'''


@pytest.mark.parametrize("point", POINTS)
def test_a_kernel_killed_at_each_point_loses_nothing(tmp_path, point):
    proposal = tmp_path / "p004321"
    for run in RUNS:
        simulate_run(proposal, run, trains=20, modules=1)
    ctx = tmp_path / "context.py"
    ctx.write_text(CONTEXT)
    db_dir = proposal / "usr" / "Shared" / "damnit_nb"
    comments = {1: "alignment run", 4: "sample B, 10 um"}
    with Database(db_dir, proposal=4321) as db:
        for run in RUNS:  # values stored earlier, so the kernel changes run files in place
            db.write_results(run, [prepare_result("beam", float(run))])
        for run, text in comments.items():
            db.set_comment(run, text)

    # Killed the second time it reaches the point: one run's write went through before.
    child = _run_child(KERNEL, proposal, ctx, kill_at=f"{point}:2")
    assert child.returncode == -signal.SIGKILL, child.stderr
    _integrity(db_dir)
    with Database(db_dir) as db:
        values = db.values()
        for run in RUNS:
            assert db.read_data(run, "beam") == float(run)
            assert values[run]["beam"].value == float(run)
        assert {r: values[r]["comment"].value for r in comments} == comments
        _stores_agree(db)
        assert _leftovers(db_dir) == []

    # A kernel left alone redoes whatever the kill interrupted.
    child = _run_child(KERNEL, proposal, ctx)
    assert "finished" in child.stdout, child.stderr
    _integrity(db_dir)
    assert _leftovers(db_dir) == []
    from damnit_nb.data import RunDirectory

    with Database(db_dir) as db:
        _stores_agree(db)
        df = db.dataframe(with_titles=True).set_index("Run")
        for run in RUNS:
            data = RunDirectory(proposal / "raw" / f"r{run:04d}")[XGM].ndarray()[:, :10]
            assert df.loc[run, "Mean intensity"] == pytest.approx(float(data.mean()))
            np.testing.assert_allclose(db.read_data(run, "profile"), data.mean(axis=0))
            assert db.read_data(run, "image").shape == (64, 48)
            assert db.read_data(run, "beam") == float(run)
