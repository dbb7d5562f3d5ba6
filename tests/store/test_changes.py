"""Following writers: `Database.data_version()`, `change_cursor()` and `changes_since()`
report what other processes (damnit_nb, DAMNIT 0.4.0) and the Database itself commit."""

import hashlib
import sqlite3
import subprocess
import sys
import textwrap
import time
import warnings

import pytest
from damnit_oracle import requires_damnit, run_damnit

from damnit_nb.store import Database, prepare_error, prepare_result
from damnit_nb.store.changes import WINDOW, Changes


def in_another_process(db_path, code):
    """Run `code` in a new Python process with `db`, a Database of db_path."""
    prelude = ("import sys\nfrom damnit_nb.store import Database, prepare_error, prepare_result\n"
               "db = Database(sys.argv[1])\n")
    subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code), str(db_path)],
                   check=True, timeout=120)


def upsert(db_path, run, name, value, timestamp):
    """Write one value as DAMNIT does (an upsert stamped `timestamp`), on another connection."""
    conn = sqlite3.connect(db_path / "runs.sqlite", isolation_level=None)
    try:
        conn.execute(
            "INSERT INTO run_variables (proposal, run, name, version, value, timestamp,"
            " provenance) VALUES (1234, ?, ?, 1, ?, ?, 'context.py')"
            " ON CONFLICT (proposal, run, name, version) DO UPDATE SET value=excluded.value,"
            " timestamp=excluded.timestamp", (run, name, value, timestamp))
    finally:
        conn.close()


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_data_version_changes_with_every_commit_and_not_with_reads(db):
    db.write_results(1, [prepare_result("x", 1.0)])
    first = db.data_version()
    db.values(), db.runs(), db.variables(), db.table()
    assert db.data_version() == first
    in_another_process(db.path, "db.set_comment(1, 'elsewhere')")
    second = db.data_version()
    assert second != first and db.data_version() == second
    db.set_comment(1, "here")  # SQLite's own data_version does not change for these
    assert db.data_version() not in (first, second)


def test_another_process_s_writes_are_each_reported_once(db):
    db.add_variable("sample", type="string")
    db.write_results(1, [prepare_result("x", 1.0)])
    cursor = db.change_cursor()
    assert not db.changes_since(cursor)[0]
    in_another_process(db.path, """
        db.write_results(1, [prepare_result("x", 2.0)])
        db.set_comment(1, "beam lost")
        db.set_user_value(1, "sample", "Au")
        db.add_variable("energy", title="XGM/Energy", tags=["xgm"],
                        attributes={"units": "uJ"})
        db.add_run(2, start_time=1.7e9)
        db.write_results(2, [prepare_result("energy", 3.5)])
        db.add_time_comment("shift change", timestamp=1.7e9 + 60)
    """)
    changes, cursor = db.changes_since(cursor)
    assert [(r.run, r.start_time) for r in changes.runs] == [(2, 1.7e9)]
    assert {k: v.value for k, v in changes.values.items()} == {
        (1, "x"): 2.0, (1, "comment"): "beam lost", (1, "sample"): "Au", (2, "energy"): 3.5}
    assert changes.values[1, "sample"].provenance == "manual-input"
    energy = changes.variables["energy"]
    assert list(changes.variables) == ["energy"]
    assert (energy.title, energy.tags, energy.attributes) == ("XGM/Energy", ("xgm",),
                                                              {"units": "uJ"})
    assert [c[1:] for c in changes.time_comments] == [(1.7e9 + 60, "shift change")]
    assert not (changes.removed_runs or changes.removed_variables
                or changes.removed_time_comments)
    assert db.changes_since(cursor) == (Changes(), cursor)

    in_another_process(db.path, """
        db.write_results(1, [prepare_error("x", ValueError("no beam"))])
        db.set_comment(1, None)
    """)
    changes, cursor = db.changes_since(cursor)
    assert changes.values[1, "x"].error == "no beam"
    assert changes.values[1, "comment"] is None  # cleared
    assert set(changes.values) == {(1, "x"), (1, "comment")} and not changes.runs


def test_this_database_s_own_writes_are_reported_too(db):
    cursor = db.change_cursor()
    db.write_results(3, [prepare_error("x", RuntimeError("oops"))])
    changes, cursor = db.changes_since(cursor)
    assert [r.run for r in changes.runs] == [3] and changes.values[3, "x"].is_error
    assert not db.changes_since(cursor)[0]


def test_writes_stamped_alike_are_neither_missed_nor_repeated(db):
    """Upserts keep a row's rowid and stamp it with the writer's clock, which is not the
    order of commits: two writes in one microsecond, a write stamped before one already
    seen (its writer waited for the lock)."""
    db.write_results(1, [prepare_result("a", 0.0), prepare_result("b", 0.0)])
    cursor = db.change_cursor()
    now = time.time()
    upsert(db.path, 1, "a", 1.0, now)
    changes, cursor = db.changes_since(cursor)
    assert {k: v.value for k, v in changes.values.items()} == {(1, "a"): 1.0}
    upsert(db.path, 1, "b", 2.0, now)  # the same timestamp, another row
    upsert(db.path, 2, "a", 3.0, now)  # and a new row
    changes, cursor = db.changes_since(cursor)
    assert {k: v.value for k, v in changes.values.items()} == {(1, "b"): 2.0, (2, "a"): 3.0}
    upsert(db.path, 1, "a", 4.0, now - WINDOW / 2)  # committed after a later write was seen
    changes, cursor = db.changes_since(cursor)
    assert {k: v.value for k, v in changes.values.items()} == {(1, "a"): 4.0}
    for second in range(3):  # several writes within one second, by two writers
        upsert(db.path, 1, "b", 10.0 + second, now + 0.1 * (second + 1))
        db.write_results(1, [prepare_result("c", 20.0 + second)])
        changes, cursor = db.changes_since(cursor)
        assert {k: v.value for k, v in changes.values.items()} == {
            (1, "b"): 10.0 + second, (1, "c"): 20.0 + second}
    assert not db.changes_since(cursor)[0]


def test_removed_rows_are_reported(db):
    db.add_variables({"a": {}, "b": {}})
    tc = db.add_time_comment("note")
    db.add_run(5)
    cursor = db.change_cursor()
    conn = sqlite3.connect(db.path / "runs.sqlite", isolation_level=None)
    with conn:
        conn.execute("DELETE FROM variables WHERE name='b'")
        conn.execute("DELETE FROM time_comments WHERE rowid=?", (tc,))
        conn.execute("DELETE FROM run_info WHERE run=5")
    conn.close()
    changes, cursor = db.changes_since(cursor)
    assert changes.removed_variables == ("b",) and changes.removed_time_comments == (tc,)
    assert changes.removed_runs == (5,) and not changes.values and not changes.variables


def test_following_writes_nothing_and_works_read_only(db):
    db.write_results(1, [prepare_result("x", 1.0)])
    db.close()
    conn = sqlite3.connect(db.path / "runs.sqlite", isolation_level=None)
    conn.execute("UPDATE metameta SET value=5 WHERE key='data_format_version'")
    conn.close()
    schema_before = sqlite3.connect(db.path / "runs.sqlite").execute(
        "SELECT * FROM sqlite_master").fetchall()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        newer = Database(db.path)  # a newer DAMNIT's: opened read-only
    with newer, Database(db.path.parent / "other", proposal=1) as unrelated:
        assert newer.read_only
        cursor = newer.change_cursor()
        upsert(db.path, 1, "x", 2.0, time.time())
        before = digest(db.path / "runs.sqlite")
        assert newer.data_version() != cursor.version
        changes, cursor = newer.changes_since(cursor)
        assert changes.values[1, "x"].value == 2.0
        assert not newer.changes_since(cursor)[0]
        assert digest(db.path / "runs.sqlite") == before
        with pytest.raises(ValueError, match="change_cursor"):
            unrelated.changes_since(cursor)
    assert sqlite3.connect(db.path / "runs.sqlite").execute(
        "SELECT * FROM sqlite_master").fetchall() == schema_before


@requires_damnit
def test_damnit_s_writes_are_reported(tmp_path):
    run_damnit("""
        from damnit.backend.db import DamnitDB, ReducedData
        db = DamnitDB.from_dir(Path(sys.argv[1]), create=True)
        db.metameta["proposal"] = 1234
        db.update_computed_variables({"energy": {
            "title": "Energy", "description": None, "tags": None, "attributes": None,
            "type": None}})
        db.set_variables(1234, 1, {"energy": ReducedData(1.0)}, provenance="context.py",
                         start_time=1.7e9)
        db.add_standalone_comment(1.7e9, "first")
        print(json.dumps("ok"))
    """, tmp_path)
    before = digest(tmp_path / "runs.sqlite")
    with Database(tmp_path) as db:
        cursor = db.change_cursor()
        assert digest(tmp_path / "runs.sqlite") == before  # opening and a cursor write nothing
        run_damnit("""
            from damnit.backend.db import DamnitDB, ReducedData
            from damnit.backend.user_variables import UserEditableVariable
            db = DamnitDB.from_dir(Path(sys.argv[1]))
            db.update_computed_variables({"energy": {
                "title": "XGM/Energy", "description": "pulse energy", "tags": ["xgm"],
                "attributes": None, "type": None}})
            db.set_variables(1234, 1, {"energy": ReducedData(2.0)}, provenance="context.py")
            db.set_variables(1234, 2, {"energy": ReducedData(None, attributes={
                "error": "boom", "error_cls": "ValueError"})}, provenance="context.py",
                start_time=1.7e9 + 600)
            db.change_run_comment(1234, 1, "from DAMNIT")
            db.add_user_variable(UserEditableVariable("sample", "Sample", "string"))
            db.set_variable(1234, 2, "sample", ReducedData("Au"), provenance="manual-input")
            db.ensure_run(1234, 3)
            db.change_standalone_comment(1, "first, edited")
            db.add_standalone_comment(1.7e9 + 60, "second")
            print(json.dumps("ok"))
        """, tmp_path)
        changes, cursor = db.changes_since(cursor)
        assert [(r.run, r.start_time) for r in changes.runs] == [
            (2, 1.7e9 + 600), (3, None)]
        values = changes.values
        assert set(values) == {(1, "energy"), (2, "energy"), (1, "comment"), (2, "sample")}
        assert values[1, "energy"].value == 2.0 and values[2, "energy"].error == "boom"
        assert values[1, "comment"].value == "from DAMNIT" and values[2, "sample"].value == "Au"
        assert set(changes.variables) == {"energy", "sample"}
        assert changes.variables["energy"][1:] == (
            "XGM/Energy", "pulse energy", None, {}, ("xgm",))
        assert changes.variables["sample"].type == "string"
        assert [c[2] for c in changes.time_comments] == ["first, edited", "second"]
        assert not db.changes_since(cursor)[0]

        run_damnit("""
            from damnit.backend.db import DamnitDB
            DamnitDB.from_dir(Path(sys.argv[1])).delete_variable("sample")
            print(json.dumps("ok"))
        """, tmp_path)
        changes, cursor = db.changes_since(cursor)
        assert changes.removed_variables == ("sample",) and not changes.values
