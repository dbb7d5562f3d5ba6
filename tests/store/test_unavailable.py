"""A store that cannot be written right now: a clear StoreUnavailableError, nothing changed.

Locked by another process past the busy timeout, disk full, a file system turned read-only:
each write raises StoreUnavailableError (the cause chained) and leaves the run file's bytes
and the SQLite rows as they were; once the store is back the same write succeeds. A database
whose files cannot be written opens read-only, saying why. Real full disks and read-only
mounts are made in a private mount namespace; those tests are skipped where none can be made.
"""

import errno
import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import warnings

import numpy as np
import pytest

from damnit_nb.store import Database, StoreUnavailableError, prepare_result
from damnit_nb.store.h5file import journal_path


def _dump(db_dir):
    conn = sqlite3.connect(db_dir / "runs.sqlite")
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.fixture
def stored(tmp_path):
    """A database with run 1 written once; yields (db, run file, its bytes, SQL dump)."""
    db = Database(tmp_path / "db", proposal=1234, busy_timeout=0.2)
    db.write_results(1, [prepare_result("x", 1.0), prepare_result("line", np.arange(50.0))])
    db.set_comment(1, "before")
    h5 = tmp_path / "db" / "extracted_data" / "p1234_r1.h5"
    yield db, h5, h5.read_bytes(), _dump(db.path)
    db.close()


def _unchanged(db, h5, h5_bytes, dump):
    """The run file's bytes and the SQLite rows as they were; no journal or temporary file
    (the writers' lock files aside)."""
    assert h5.read_bytes() == h5_bytes
    assert not journal_path(h5).exists()
    assert [p.name for p in h5.parent.iterdir() if not p.name.endswith(".lock")] == [h5.name]
    assert _dump(db.path) == dump


def _hold(script, *args):
    """A process that holds something (printing "held") until its stdin is closed."""
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *map(str, args)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def _release(child):
    child.stdin.close()
    child.wait(30)


NEW_VALUES = [prepare_result("x", 2.0), prepare_result("y", np.arange(1000.0))]


def test_database_locked_by_another_process(stored):
    db, h5, h5_bytes, dump = stored
    child = _hold("""
        import sqlite3, sys
        conn = sqlite3.connect(sys.argv[1], isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        print("held", flush=True)
        sys.stdin.read()
        conn.execute("ROLLBACK")
    """, db.db_path)
    try:
        with pytest.raises(StoreUnavailableError) as info:
            db.write_results(1, NEW_VALUES)
        assert info.value.reason == "locked" and "runs.sqlite" in str(info.value)
        assert "Nothing already stored was changed" in str(info.value)
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        with pytest.raises(StoreUnavailableError, match="locked"):
            db.set_comment(1, "after")
    finally:
        _release(child)
    _unchanged(db, h5, h5_bytes, dump)  # the run file's changes were undone
    db.write_results(1, NEW_VALUES)  # the store is back
    assert db.values()[1]["x"].value == 2.0 and db.read_data(1, "x") == 2.0


def test_run_file_locked_by_another_writer(stored):
    db, h5, h5_bytes, dump = stored
    child = _hold("""
        import fcntl, os, sys
        fd = os.open(sys.argv[1], os.O_RDWR)
        fcntl.lockf(fd, fcntl.LOCK_EX)
        print("held", flush=True)
        sys.stdin.read()
    """, h5.with_name(f".{h5.name}.lock"))
    try:
        with pytest.raises(StoreUnavailableError) as info:
            db.write_results(1, NEW_VALUES)
        assert info.value.reason == "locked" and isinstance(info.value.__cause__, TimeoutError)
    finally:
        _release(child)
    _unchanged(db, h5, h5_bytes, dump)
    db.write_results(1, NEW_VALUES)
    assert db.read_data(1, "x") == 2.0


@pytest.fixture
def disk_full(monkeypatch):
    """Writes that would grow a file fail with ENOSPC; overwrites still work (as on a full
    disk: the blocks of existing bytes are there)."""
    real_pwrite, real_write = os.pwrite, os.write

    def grows(fd, size, offset=None):
        end = os.fstat(fd).st_size
        return (os.lseek(fd, 0, os.SEEK_CUR) if offset is None else offset) + size > end

    def pwrite(fd, data, offset):
        if grows(fd, len(data), offset):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, data, offset)

    def write(fd, data):
        if grows(fd, len(data)):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    def on():
        monkeypatch.setattr(os, "pwrite", pwrite)
        monkeypatch.setattr(os, "write", write)

    yield on
    monkeypatch.undo()


def test_disk_full_while_changing_a_run_file(stored, disk_full):
    db, h5, h5_bytes, dump = stored
    disk_full()
    with pytest.raises(StoreUnavailableError) as info:
        db.write_results(1, NEW_VALUES)
    assert info.value.reason == "full" and info.value.errno == errno.ENOSPC
    assert "no space left" in str(info.value)
    _unchanged(db, h5, h5_bytes, dump)


def test_disk_full_while_writing_a_new_run_file(stored, disk_full):
    db, h5, h5_bytes, dump = stored
    disk_full()
    with pytest.raises(StoreUnavailableError, match="no space left"):
        db.write_results(2, NEW_VALUES)
    _unchanged(db, h5, h5_bytes, dump)  # no run file, temporary file or row for run 2


def test_failure_after_the_run_file_is_written_undoes_it(stored, monkeypatch):
    """An SQLite failure after the run file was changed (here: the disk fills up at the
    commit) rolls the run file back too."""
    import damnit_nb.store.faults as faults

    db, h5, h5_bytes, dump = stored

    def full_at(point):
        if point == "before-commit":
            raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(faults, "reached", full_at)
    with pytest.raises(StoreUnavailableError) as info:
        db.write_results(1, NEW_VALUES)
    assert info.value.reason == "full"
    _unchanged(db, h5, h5_bytes, dump)


def test_other_errors_are_not_unavailability(stored, monkeypatch):
    import damnit_nb.store.h5file as h5file

    db, h5, h5_bytes, dump = stored

    def bug(*args, **kwargs):
        raise KeyError("a bug, not the store")

    monkeypatch.setattr(h5file, "_objects_of", bug)
    with pytest.raises(KeyError):
        db.write_results(1, NEW_VALUES)
    _unchanged(db, h5, h5_bytes, dump)


# ------------------------------------------------- real file systems (namespaces) ----

def _in_mount_namespace(setup, script, *args):
    """Run `setup` (shell, may mount) then the Python `script` in a private mount namespace;
    returns the JSON the script prints last. Skips if no namespace can be made here."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("needs unshare(1)")
    prefix = [unshare, "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        prefix[1:1] = ["--user", "--map-root-user"]
    python = " ".join(shlex.quote(a) for a in [sys.executable, "-c", textwrap.dedent(script),
                                               *map(str, args)])
    proc = subprocess.run([*prefix, "sh", "-c", f"{setup} && echo MOUNTED && exec {python}"],
                          capture_output=True, text=True, timeout=120)
    if "MOUNTED" not in proc.stdout:
        pytest.skip(f"cannot mount in a private namespace here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


FULL_DISK = """
    import json, os, sqlite3, sys
    import numpy as np
    from pathlib import Path
    from damnit_nb.store import Database, StoreUnavailableError, prepare_result

    d = Path(sys.argv[1])
    db = Database(d / "db", proposal=1)
    db.write_results(1, [prepare_result("x", 1.0), prepare_result("line", np.arange(50.0))])
    db.set_comment(1, "before")
    h5 = d / "db" / "extracted_data" / "p1_r1.h5"

    def state():
        conn = sqlite3.connect(d / "db" / "runs.sqlite")
        return [h5.read_bytes().hex(), list(conn.iterdump()),
                sorted(n for n in os.listdir(h5.parent) if not n.endswith(".lock"))]

    before = state()
    fd = os.open(d / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\\0" * 4096)
    except OSError:
        pass
    os.ftruncate(fd, os.fstat(fd).st_size - 24 * 1024)  # a little room is left
    os.close(fd)
    out = {}
    for what, write in [
            ("h5", lambda: db.write_results(1, [prepare_result("x", 2.0),
                                               prepare_result("big", np.ones(300_000))])),
            ("new run", lambda: db.write_results(2, [prepare_result("x", 2.0)])),
            ("sqlite", lambda: db.set_comment(1, "a long comment " * 20_000))]:
        try:
            write()
            out[what] = "written"
        except StoreUnavailableError as exc:
            out[what] = [exc.reason, type(exc.__cause__).__name__]
        out[what + " unchanged"] = state() == before
    os.unlink(d / "filler")
    db.write_results(1, [prepare_result("x", 2.0), prepare_result("big", np.ones(300_000))])
    out["after"] = [db.values()[1]["x"].value, float(db.read_data(1, "x"))]
    print(json.dumps(out))
"""


def test_a_real_full_disk(tmp_path):
    d = tmp_path / "small"
    d.mkdir()
    out = _in_mount_namespace(f"mount -t tmpfs -o size=4m tmpfs {d}", FULL_DISK, d)
    assert out["h5"][0] == "full" and out["h5 unchanged"]
    assert out["new run"][0] == "full" and out["new run unchanged"]
    assert out["sqlite"] == ["full", "OperationalError"] and out["sqlite unchanged"]
    assert out["after"] == [2.0, 2.0]


READ_ONLY_MOUNT = """
    import json, subprocess, sys, warnings
    from pathlib import Path
    from damnit_nb.store import (
        Database, ReadOnlyDatabaseError, StoreUnavailableError, prepare_result)

    d = Path(sys.argv[1])
    out = {}
    db = Database(d, proposal=1)  # writable
    # Its run files' directory turns read-only (SQLite's own file cannot while it is open)
    extracted = str(d / "extracted_data")
    subprocess.run(["mount", "--bind", extracted, extracted], check=True)
    subprocess.run(["mount", "-o", "remount,ro,bind", extracted], check=True)
    h5 = d / "extracted_data" / "p1_r1.h5"
    before = h5.read_bytes()
    try:
        db.write_results(1, [prepare_result("x", 3.0)])
        out["h5"] = "written"
    except StoreUnavailableError as exc:
        out["h5"] = [exc.reason, exc.errno]
    out["unchanged"] = [h5.read_bytes() == before, db.values()[1]["x"].value]
    db.close()
    subprocess.run(["mount", "-o", "remount,ro,bind", str(d)], check=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        db = Database(d)
    out["read_only"] = [db.read_only, db.read_only_reason, [str(w.message) for w in caught]]
    out["values"] = [db.values()[1]["x"].value, float(db.read_data(1, "x")),
                     db.values()[1]["comment"].value]
    try:
        db.write_results(1, [prepare_result("x", 4.0)])
    except ReadOnlyDatabaseError as exc:
        out["write"] = str(exc)
    print(json.dumps(out))
"""


def test_a_read_only_file_system(tmp_path):
    d = tmp_path / "db"
    with Database(d, proposal=1) as db:
        db.write_results(1, [prepare_result("x", 1.0)])
        db.set_comment(1, "before")
    out = _in_mount_namespace(f"mount --bind {d} {d}", READ_ONLY_MOUNT, d)
    assert out["h5"] == ["read-only", errno.EROFS] and out["unchanged"] == [True, 1.0]
    read_only, reason, caught = out["read_only"]
    assert read_only and "read-only file system" in reason
    assert any("opened read-only" in w and "read-only file system" in w for w in caught)
    assert out["values"] == [1.0, 1.0, "before"]
    assert "opened read-only" in out["write"]


NOT_WRITABLE = """
    import json, sys, warnings
    from damnit_nb.store import Database, ReadOnlyDatabaseError, prepare_result

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        db = Database(sys.argv[1])
    out = {"read_only": db.read_only, "reason": db.read_only_reason,
           "warned": [str(w.message) for w in caught],
           "x": db.values()[1]["x"].value, "read": float(db.read_data(1, "x"))}
    try:
        db.write_results(1, [prepare_result("x", 2.0)])
    except ReadOnlyDatabaseError as exc:
        out["write"] = str(exc)
    try:
        db.set_comment(1, "no")
    except ReadOnlyDatabaseError as exc:
        out["comment"] = type(exc).__name__
    print(json.dumps(out))
"""


def test_a_directory_we_cannot_write_opens_read_only():
    top = tempfile.mkdtemp()  # under /tmp, so another user can reach it
    try:
        os.chmod(top, 0o755)
        d = os.path.join(top, "db")
        with Database(d, proposal=1) as db:
            db.write_results(1, [prepare_result("x", 1.0)])
        os.chmod(d, 0o555)  # runs.sqlite stays writable: SQLite needs the directory too
        cmd = [sys.executable, "-c", textwrap.dedent(NOT_WRITABLE), d]
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("as root, needs setpriv(1) to run as another user")
            cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        os.chmod(os.path.join(top, "db"), 0o755)
        shutil.rmtree(top)
    assert out["read_only"] and "not writable by user" in out["reason"]
    assert any("opened read-only" in w for w in out["warned"])
    assert out["x"] == 1.0 and out["read"] == 1.0
    assert "opened read-only" in out["write"] and out["comment"] == "ReadOnlyDatabaseError"


def test_a_new_database_where_we_cannot_write(tmp_path, monkeypatch):
    import damnit_nb.store.database as database

    monkeypatch.setattr(database.os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError, match="Cannot create a database"):
        Database(tmp_path / "new", proposal=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        monkeypatch.undo()
        Database(tmp_path / "new", proposal=1).close()
