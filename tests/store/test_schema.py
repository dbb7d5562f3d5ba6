"""Schema facts of DAMNIT's data format v4, and how existing databases are opened."""

import sqlite3

import pytest

from damnit_nb.store import Database, errors, prepare_result


def connect(db):
    return sqlite3.connect(db.path / "runs.sqlite")


def objects(conn, kind):
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type=?", (kind,))}


def columns(conn, table):
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def unique_indexes(conn, table):
    found = set()
    for _, name, unique, *_ in conn.execute(f"PRAGMA index_list({table})"):
        if unique:
            cols = tuple(r[2] for r in conn.execute(f"PRAGMA index_info({name})"))
            found.add(cols)
    return found


def test_tables_views_and_columns(db):
    db.close()
    with connect(db) as conn:
        assert {"metameta", "run_info", "run_variables", "variables", "time_comments", "tags",
                "variable_tags", "damnit_nb_code_versions"} <= objects(conn, "table")
        assert objects(conn, "view") == {"runs", "max_diffs"}
        assert objects(conn, "trigger") == {"delete_orphan_tags_after_variable_tag_delete"}
        assert columns(conn, "run_info") == ["proposal", "run", "start_time", "added_at"]
        assert columns(conn, "run_variables") == [
            "proposal", "run", "name", "version", "value", "timestamp", "max_diff",
            "provenance", "summary_type", "summary_method", "attributes"]
        assert columns(conn, "variables") == ["name", "type", "title", "description",
                                              "attributes"]
        assert columns(conn, "time_comments") == ["timestamp", "comment"]
        assert columns(conn, "tags") == ["id", "name"]
        assert columns(conn, "variable_tags") == ["variable_name", "tag_id"]
        assert ("proposal", "run") in unique_indexes(conn, "run_info")
        assert ("proposal", "run", "name", "version") in unique_indexes(conn, "run_variables")
        assert ("name",) in unique_indexes(conn, "tags")
        assert ("name",) in unique_indexes(conn, "variables")
        fks = {(r[2], r[3], r[6]) for r in conn.execute("PRAGMA foreign_key_list(variable_tags)")}
        assert fks == {("variables", "variable_name", "CASCADE"), ("tags", "tag_id", "CASCADE")}
        meta = dict(conn.execute("SELECT key, value FROM metameta"))
        assert int(meta["data_format_version"]) == 4
        assert int(meta["proposal"]) == 1234
        assert len(meta["db_id"]) == 40
        # Rollback journal, not WAL (network file systems)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


def test_runs_view_has_one_column_per_variable(db):
    db.add_variable("energy")
    db.write_results(1, [prepare_result("energy", 2.5), prepare_result("x.y", "s")])
    db.set_comment(1, "hi")
    db.close()
    conn = connect(db)
    try:
        cols = columns(conn, "runs")
        assert cols[:4] == ["proposal", "run", "start_time", "added_at"]
        assert set(cols[4:]) == {"energy", "x.y", "comment"}
        row = conn.execute('SELECT energy, "x.y", comment FROM runs WHERE run=1').fetchone()
        assert row == (2.5, "s", "hi")
        assert "energy" in columns(conn, "max_diffs")
    finally:
        conn.close()


def test_deleting_a_variable_cascades_to_tags(db):
    db.add_variable("a", tags=["t1", "t2"])
    db.add_variable("b", tags=["t2"])
    db.close()
    conn = connect(db)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        with conn:
            conn.execute("DELETE FROM variables WHERE name='a'")
        assert [r[0] for r in conn.execute("SELECT name FROM tags")] == ["t2"]
    finally:
        conn.close()


def test_opening_an_existing_database_does_not_write(db, tmp_path):
    db.add_variable("a", tags=["t"])
    db.write_results(1, [prepare_result("a", 1)], code_versions={"a": "v1"})
    db.close()
    before = (db.path / "runs.sqlite").read_bytes()
    with Database(db.path, proposal=1234) as again:
        again.values(), again.variables(), again.runs(), again.table(), again.code_versions()
    assert (db.path / "runs.sqlite").read_bytes() == before


def test_database_without_our_table(db):
    """A database made by DAMNIT has no code-versions table; we read it and add it on write."""
    db.close()
    with connect(db) as conn:
        conn.execute("DROP TABLE damnit_nb_code_versions")
    conn.close()
    with Database(db.path) as again:
        assert again.code_versions() == {}
        again.write_results(1, [prepare_result("a", 1)])
        assert again.values()[1]["a"].code_version is None
        again.write_results(1, [prepare_result("a", 2)], code_versions={"a": "abc"})
        assert again.values()[1]["a"].code_version == "abc"


@pytest.mark.parametrize("version", ["abc", -1])
def test_unknown_format_versions_are_refused(db, version):
    db.close()
    with connect(db) as conn:
        conn.execute("UPDATE metameta SET value=? WHERE key='data_format_version'", (version,))
    conn.close()
    before = (db.path / "runs.sqlite").read_bytes()
    with pytest.raises(errors.UnsupportedFormatError) as info:
        Database(db.path)
    assert info.value.version == version and f"v{version}" in str(info.value)
    assert str(db.path / "runs.sqlite") in str(info.value)
    assert (db.path / "runs.sqlite").read_bytes() == before


def test_legacy_database_without_metameta(tmp_path):
    (tmp_path / "db").mkdir()
    conn = sqlite3.connect(tmp_path / "db" / "runs.sqlite")
    with conn:
        conn.execute("CREATE TABLE runs(proposal, runnr, start_time, added_at, comment)")
    conn.close()
    with pytest.raises(errors.UnsupportedFormatError) as info:
        Database(tmp_path / "db")
    assert info.value.version == 0


def test_corrupt_database_is_left_alone(tmp_path):
    path = tmp_path / "db"
    path.mkdir()
    garbage = b"this is not an SQLite database" * 100
    (path / "runs.sqlite").write_bytes(garbage)
    with pytest.raises(errors.CorruptDatabaseError) as info:
        Database(path, proposal=1)
    assert isinstance(info.value, sqlite3.DatabaseError)
    assert str(path / "runs.sqlite") in str(info.value)
    assert info.value.path == path / "runs.sqlite"
    assert (path / "runs.sqlite").read_bytes() == garbage


def test_empty_database_file_is_initialised(tmp_path):
    path = tmp_path / "db"
    path.mkdir()
    (path / "runs.sqlite").touch()
    with Database(path, proposal=5) as db:
        assert db.proposal == 5 and db.runs() == []
