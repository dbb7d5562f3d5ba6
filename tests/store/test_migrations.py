"""Databases from older DAMNIT versions are backed up and upgraded to v4; newer ones are only
read."""

import shutil
import sqlite3

import h5py
import numpy as np
import pytest

from damnit_nb import DamnitNbWarning
from damnit_nb.store import Database, errors, migrations, prepare_result

from damnit_oracle import requires_damnit, run_damnit
from old_formats import PROPOSAL, START, make_database


def write_v0_run_file(db_dir):
    path = db_dir / "extracted_data" / f"p{PROPOSAL}_r1.h5"
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f[".reduced/energy"] = 2.5
        f[".reduced/image"] = np.arange(20.0).reshape(4, 5)
        f["image/data"] = np.arange(20.0).reshape(4, 5)
        f["energy/data"] = np.array([2.4, 2.5, 2.65])  # max_diff 0.25
        f[".reduced/dose"] = 0.5
        f["dose/data"] = np.array([0.5, 3.0])
        f["dose/data"].attrs["max_diff"] = 7.0  # a stored max_diff is used as it is
    return path


def meta(path):
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT key, value FROM metameta"))
    finally:
        conn.close()


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_old_database_is_backed_up_and_upgraded(tmp_path, version):
    db_dir = tmp_path / "db"
    db_path = make_database(db_dir, version)
    if version == 0:
        h5_path = write_v0_run_file(db_dir)
        h5_before = h5_path.read_bytes()
    original = db_path.read_bytes()

    with Database(db_dir) as db:
        assert db.backup_path == db_dir / f"runs.sqlite.v{version}.bak"
        assert db.backup_path.read_bytes() == original
        assert db.proposal == PROPOSAL and not db.read_only
        assert [(r.run, r.start_time) for r in db.runs()] == [(1, START), (2, START + 60)]
        values = db.values()
        assert values[1]["energy"].value == 2.5 and values[2]["energy"].value == 3.5
        assert values[1]["comment"].value == "hello" and "comment" not in values[2]
        assert values[1]["sample"].value == "Fe"
        assert values[1]["good"].value == 1 and values[2]["good"].value == 0
        assert values[1]["shots"].value == 7 and values[1]["dose"].value == 0.5
        variables = db.variables()
        assert {n: v.type for n, v in variables.items() if v.type} == {
            "sample": "string", "good": "boolean", "shots": "integer", "dose": "number"}
        assert variables["sample"].title == "Sample"
        assert variables["sample"].description == "what was in the beam"
        if version >= 3:
            assert variables["energy"].tags == ("xgm",)
        assert [c[1:] for c in db.time_comments()] == [(START + 30, "beam down")]
        if version == 0:
            assert values[1]["energy"].timestamp == h5_path.stat().st_mtime
            assert values[1]["image"].value[:8] == b"\x89PNG\r\n\x1a\n"
            assert h5_path.read_bytes() == h5_before  # run files are never rewritten
        # The upgraded database is writable like a new one.
        db.add_variable("energy", title="XGM/Energy", tags=["xgm", "beam"])
        db.set_user_value(2, "sample", "Cu")
        db.write_results(2, [prepare_result("energy", 4.5)])
        assert db.values([2])[2]["energy"].value == 4.5
        assert db.variables()["energy"].tags == ("beam", "xgm")
    info = meta(db_path)
    assert int(info["data_format_version"]) == 4 and len(info["db_id"]) == 40

    conn = sqlite3.connect(db_path)
    try:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(run_variables)")]
        assert cols == ["proposal", "run", "name", "version", "value", "timestamp", "max_diff",
                        "provenance", "summary_type", "summary_method", "attributes"]
        assert conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall()
        row = conn.execute("SELECT energy, sample, comment FROM runs WHERE run=1").fetchone()
        assert row == (2.5, "Fe", "hello")
    finally:
        conn.close()

    # Opened again: nothing left to do, nothing written.
    upgraded = db_path.read_bytes()
    with Database(db_dir, proposal=PROPOSAL) as db:
        assert db.backup_path is None
        db.table(), db.values()
    assert db_path.read_bytes() == upgraded


def test_intermediate_v1(tmp_path):
    db_dir = tmp_path / "db"
    make_database(db_dir, 1, intermediate=True)
    with Database(db_dir) as db:
        assert db.values()[1]["sample"].value == "Fe"
    conn = sqlite3.connect(db_dir / "runs.sqlite")
    try:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(run_variables)")]
    finally:
        conn.close()
    assert "stored_type" not in cols and cols[-1] == "attributes"


def test_v0_max_diff_from_run_file(tmp_path):
    db_dir = tmp_path / "db"
    make_database(db_dir, 0)
    write_v0_run_file(db_dir)
    Database(db_dir).close()
    conn = sqlite3.connect(db_dir / "runs.sqlite")
    try:
        rows = dict(conn.execute(
            "SELECT name, max_diff FROM run_variables WHERE run=1 AND max_diff IS NOT NULL"))
    finally:
        conn.close()
    assert rows == {"energy": pytest.approx(0.25), "dose": 7.0}


def test_each_step_is_its_own_transaction(tmp_path, monkeypatch):
    db_dir = tmp_path / "db"
    db_path = make_database(db_dir, 1)

    def broken(conn, db_dir):
        conn.execute("CREATE TABLE half_done(x)")
        raise RuntimeError("interrupted")

    monkeypatch.setitem(migrations.MIGRATIONS, 3, ("broken", broken))
    with pytest.raises(RuntimeError, match="interrupted"):
        Database(db_dir)
    assert int(meta(db_path)["data_format_version"]) == 2  # step 2 committed, 3 rolled back
    conn = sqlite3.connect(db_path)
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name='half_done'").fetchall()
    conn.close()

    monkeypatch.undo()
    with Database(db_dir) as db:  # resumes from v2, with a new backup of the v2 file
        assert db.backup_path.name == "runs.sqlite.v2.bak"
        assert db.values()[1]["energy"].value == 2.5
    assert (db_dir / "runs.sqlite.v1.bak").is_file()
    assert int(meta(db_path)["data_format_version"]) == 4


def test_backups_are_never_overwritten(tmp_path):
    db_dir = tmp_path / "db"
    db_path = make_database(db_dir, 2)
    (db_dir / "runs.sqlite.v2.bak").write_bytes(b"older backup")
    with Database(db_dir) as db:
        assert db.backup_path.name == "runs.sqlite.v2.2.bak"
    assert (db_dir / "runs.sqlite.v2.bak").read_bytes() == b"older backup"
    assert db_path.is_file()


def test_no_backup_no_upgrade(tmp_path, monkeypatch):
    db_dir = tmp_path / "db"
    db_path = make_database(db_dir, 2)
    original = db_path.read_bytes()

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(migrations.shutil, "copyfile", refuse)
    with pytest.raises(errors.BackupError) as info:
        Database(db_dir)
    assert isinstance(info.value, OSError)
    assert info.value.version == 2 and info.value.path == db_path
    message = str(info.value)
    assert "runs.sqlite.v2.bak" in message and "Permission denied" in message
    assert "writable" in message and "Nothing was changed" in message
    assert db_path.read_bytes() == original
    assert not list(db_dir.glob("*.bak*"))


def test_newer_database_is_opened_read_only(db):
    db.add_variable("a", title="A")
    db.add_variable("u", type="integer")
    db.write_results(1, [prepare_result("a", 1.5)])
    db.close()
    conn = sqlite3.connect(db.path / "runs.sqlite")
    with conn:
        conn.execute("UPDATE metameta SET value=5 WHERE key='data_format_version'")
    conn.close()
    before = (db.path / "runs.sqlite").read_bytes()
    h5_before = (db.path / "extracted_data" / "p1234_r1.h5").read_bytes()
    with pytest.warns(DamnitNbWarning, match="read-only"):
        newer = Database(db.path, proposal=1234)
    with newer:
        assert newer.read_only
        assert newer.values()[1]["a"].value == 1.5
        assert newer.dataframe()["a"].tolist() == [1.5]
        assert newer[1, "A"].read() == 1.5
        for write in (lambda: newer.set_comment(1, "x"), lambda: newer.add_variable("b"),
                      lambda: newer.write_results(1, [prepare_result("a", 2)]),
                      lambda: newer.set_user_value(1, "u", 1), lambda: newer.add_run(2),
                      lambda: newer.add_time_comment("x")):
            with pytest.raises(errors.ReadOnlyDatabaseError) as info:
                write()
        assert isinstance(info.value, PermissionError) and info.value.version == 5
        assert "v5" in str(info.value) and "Update damnit_nb" in str(info.value)
    assert (db.path / "runs.sqlite").read_bytes() == before
    assert (db.path / "extracted_data" / "p1234_r1.h5").read_bytes() == h5_before


def shape(path, views=True):
    """{table or view: its columns}, and the triggers and unique indexes."""
    conn = sqlite3.connect(path)
    try:
        kinds = "('table', 'view')" if views else "('table')"
        names = [r[0] for r in conn.execute(
            f"SELECT name FROM sqlite_master WHERE type IN {kinds}"
            " AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'damnit_nb_%'"
            " ORDER BY name")]
        found = {n: [r[1] for r in conn.execute(f"PRAGMA table_info({n})")] for n in names}
        found["triggers"] = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='trigger'")]
        found["indexes"] = sorted(r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL"))
        return found
    finally:
        conn.close()


def damnit_schema(path, version):
    run_damnit("""
        import sqlite3
        from damnit.backend.db_migrations import apply_migrations
        conn = sqlite3.connect(sys.argv[1])
        conn.execute("CREATE TABLE metameta(key PRIMARY KEY NOT NULL, value)")
        apply_migrations(conn, -1, int(sys.argv[2]), lambda v: None)
        conn.close()
        print(json.dumps("ok"))
    """, path, version)
    return path


@requires_damnit
@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_upgraded_schema_matches_damnits(tmp_path, version):
    """An upgraded database has the tables, columns, indexes and trigger of DAMNIT's v4."""
    db_dir = tmp_path / "db"
    make_database(db_dir, version)
    Database(db_dir).close()
    theirs = shape(damnit_schema(tmp_path / "damnit.sqlite", 4), views=False)
    assert shape(db_dir / "runs.sqlite", views=False) == theirs


@requires_damnit
@pytest.mark.parametrize("version", [1, 2, 3])
def test_old_schemas_match_damnits(tmp_path, version):
    """Our old-format databases have the tables and columns DAMNIT's own code makes."""
    damnit_schema(tmp_path / "damnit.sqlite", version)
    ours = make_database(tmp_path / "ours", version)
    assert shape(ours) == shape(tmp_path / "damnit.sqlite")


@requires_damnit
@pytest.mark.parametrize("version", [0, 1, 3])
def test_damnit_reads_upgraded_database(tmp_path, version):
    db_dir = tmp_path / "db"
    db_path = make_database(db_dir, version)
    h5 = write_v0_run_file(db_dir)
    h5.with_name(f"p{PROPOSAL}_r2.h5").write_bytes(h5.read_bytes())  # DAMNIT needs a file
    Database(db_dir).close()
    upgraded = db_path.read_bytes()
    out = run_damnit("""
        db = damnit.Damnit(sys.argv[1])
        df = db.table(with_titles=True)
        res = {"runs": db.runs(), "columns": list(df.columns),
               "sample": db[1, "Sample"].read(), "good": [db[1, "good"].read(),
               db[2, "good"].read()], "comment": db[1, "comment"].read(),
               "energy": float(db[1, "energy"].summary()),
               "user": sorted(db._db.get_user_variables())}
        print(json.dumps(res))
    """, db_dir)
    assert out["runs"] == [1, 2]
    assert {"Proposal", "Run", "Timestamp", "comment", "Sample", "Good run"} <= set(
        out["columns"])
    assert out["sample"] == "Fe" and out["good"] == [1, 0] and out["comment"] == "hello"
    assert out["energy"] == 2.5 and out["user"] == ["dose", "good", "sample", "shots"]
    assert db_path.read_bytes() == upgraded  # DAMNIT had nothing to upgrade


@requires_damnit
def test_v0_upgrade_matches_damnits_own(tmp_path):
    """DAMNIT's own v0 upgrade (`amore-proto migrate v0-to-v1`) on a copy gives the same
    values, max_diffs and thumbnails (PNG), and the same user variables."""
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    make_database(ours, 0)
    write_v0_run_file(ours)
    shutil.copytree(ours, theirs)
    run_damnit("""
        import types
        sys.modules.setdefault("extra_proposal", types.ModuleType("extra_proposal"))
        from damnit.backend.db import DamnitDB
        from damnit.migrations import migrate_v0_to_v1
        d = Path(sys.argv[1])
        migrate_v0_to_v1(DamnitDB(d / "runs.sqlite", allow_old=True), d, False)
        print(json.dumps("ok"))
    """, theirs)
    Database(ours).close()

    def rows(path):
        conn = sqlite3.connect(path / "runs.sqlite")
        try:
            cells = {(run, name): (value[:8] if isinstance(value, bytes) else value, max_diff)
                     for run, name, value, max_diff in conn.execute(
                         "SELECT run, name, value, max_diff FROM run_variables")}
            users = conn.execute("SELECT * FROM variables WHERE type IS NOT NULL"
                                 " ORDER BY name").fetchall()
            runs = conn.execute("SELECT * FROM run_info ORDER BY run").fetchall()
            return cells, users, runs
        finally:
            conn.close()

    assert rows(ours) == rows(theirs)
