import sqlite3
import threading

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from damnit_nb.store import Database, StoredValue, errors, prepare_error, prepare_result
from damnit_nb.store.results import PNG_MAGIC


def all_kinds():
    rng = np.random.default_rng(1)
    return {
        "f": 2.5, "i": 7, "b": True, "c": 1 - 3j, "s": "text", "lst": [1.0, 4.0, 2.0],
        "arr": np.linspace(0, 1, 500), "img": rng.random((16, 24)),
        "cube": np.zeros((2, 3, 4), dtype=np.int16),
        "da": xr.DataArray(np.arange(4.0), dims="t", coords={"t": [0, 1, 2, 3]},
                           attrs={"units": "uJ"}, name="energy"),
        "mean": np.arange(5.0),
    }


def write_all(db, run=1):
    kinds = all_kinds()
    results = [prepare_result(n, v, summary="mean" if n == "mean" else None)
               for n, v in kinds.items()]
    results += [prepare_result("bad", {"not": "saveable"}),
                prepare_error("err", ZeroDivisionError("division by zero"))]
    db.write_results(run, results, code_versions={n: f"v-{n}" for n in kinds})
    return kinds


def test_new_database_directory(tmp_path):
    with Database(tmp_path / "new", proposal=77) as db:
        assert (tmp_path / "new" / "runs.sqlite").is_file()
        assert (tmp_path / "new" / "extracted_data").is_dir()
        assert db.proposal == 77
    with Database(tmp_path / "new") as db:
        assert db.proposal == 77


def test_runs(db, reopen):
    assert db.add_run(3, start_time=1_700_000_000.0) is True
    assert db.add_run(3) is False
    assert db.add_run(1) is True
    db = reopen(db)
    runs = db.runs()
    assert [r.run for r in runs] == [1, 3]
    assert runs[1].start_time == 1_700_000_000.0 and runs[1].proposal == 1234
    assert runs[0].start_time is None and runs[0].added_at > 1_700_000_000


def test_comments(db, reopen):
    db.set_comment(5, "first")
    db.set_comment(5, "second")
    db.set_comment(6, "other")
    db = reopen(db)
    values = db.values()
    assert values[5]["comment"].value == "second"
    assert values[5]["comment"].provenance == "manual-input"
    assert values[6]["comment"].value == "other"
    assert [r.run for r in db.runs()] == [5, 6]
    db.set_comment(6, "")
    assert "comment" not in db.values().get(6, {})


def test_variables_and_tags(db, reopen):
    db.add_variable("xgm.energy", title="XGM/Energy", description="Pulse energy",
                    tags=["xgm", "beam"], attributes={"units": "uJ"})
    db.add_variable("sample", type="string", tags="meta")
    db.add_variable("xgm.energy", title="XGM/Energy", tags=["xgm"])  # update: drop a tag
    db = reopen(db)
    v = db.variables()
    assert list(v) == ["xgm.energy", "sample"]
    assert v["xgm.energy"].title == "XGM/Energy" and v["xgm.energy"].tags == ("xgm",)
    assert v["xgm.energy"].description is None
    assert v["sample"].type == "string" and v["sample"].tags == ("meta",)
    # The orphaned tag was removed by DAMNIT's trigger
    tags = [r[0] for r in db.query("SELECT name FROM tags ORDER BY name")]
    assert tags == ["meta", "xgm"]


@pytest.mark.parametrize("name", ["1abc", "a b", "a..b", "", "x-y"])
def test_bad_variable_names(db, name):
    with pytest.raises(errors.InvalidNameError) as info:
        db.add_variable(name)
    assert info.value.name == name


def test_bad_variable_type(db):
    with pytest.raises(ValueError, match="boolean, integer, number, string"):
        db.add_variable("x", type="float")


def test_round_trip_every_kind(db, reopen):
    kinds = write_all(db)
    db = reopen(db)
    vals = db.values()[1]
    assert vals["f"].value == 2.5 and vals["i"].value == 7 and vals["b"].value == 1
    assert vals["c"].value == 1 - 3j and vals["c"].summary_type == "complex"
    assert vals["s"].value == "text"
    assert vals["lst"].summary_type == "trendline"
    np.testing.assert_array_equal(vals["lst"].value, [[0, 1, 2], [1, 4, 2]])
    assert vals["arr"].summary_type == "trendline" and vals["arr"].value.shape[0] == 2
    assert isinstance(vals["img"].value, bytes) and vals["img"].value.startswith(PNG_MAGIC)
    assert vals["cube"].value == "int16: (2, 3, 4)"
    assert vals["da"].attributes == {"units": "uJ"} and vals["da"].units == "uJ"
    assert vals["mean"].value == 2.0 and vals["mean"].summary_method == "mean"
    assert vals["f"].code_version == "v-f" and vals["bad"].code_version is None
    assert vals["bad"].error_cls == "TypeError" and "dict" in vals["bad"].error
    assert vals["err"].error == "division by zero" and vals["bad"].value is None
    assert vals["err"].error_cls == "ZeroDivisionError" and not vals["err"].skipped
    assert all(isinstance(v, StoredValue) and v.timestamp for v in vals.values())

    # Full data from the HDF5 file
    for name in ("f", "i", "s", "arr", "img", "cube", "lst"):
        np.testing.assert_array_equal(db.read_data(1, name), np.asarray(kinds[name]))
    assert db.read_data(1, "c") == 1 - 3j
    da = db.read_data(1, "da")
    xr.testing.assert_identical(da, kinds["da"])
    with pytest.raises(KeyError):
        db.read_data(1, "err")
    assert db.code_versions(1)["arr"] == "v-arr"
    assert db.code_versions()[1]["s"] == "v-s"


def test_skip_recorded(db):
    class Skip(Exception):
        pass

    db.write_results(2, [prepare_error("x", Skip("no XGM in this run"))])
    sv = db.values([2])[2]["x"]
    assert sv.skipped and sv.error == "no XGM in this run"


def test_recompute_replaces_value_and_error(db):
    db.write_results(1, [prepare_error("x", ValueError("bad"))])
    db.write_results(1, [prepare_result("x", 5)])
    sv = db.values()[1]["x"]
    assert sv.value == 5 and not sv.is_error
    db.write_results(1, [prepare_error("x", ValueError("worse"))])
    sv = db.values()[1]["x"]
    assert sv.value is None and sv.error == "worse"
    with pytest.raises(KeyError):
        db.read_data(1, "x")


def test_values_filter_by_runs(db):
    for run in (1, 2, 3):
        db.write_results(run, [prepare_result("x", run * 10)])
    assert set(db.values([1, 3])) == {1, 3}
    assert db.values([]) == {}


def test_dataframe(db, reopen):
    db.add_variable("x", title="Group/X")
    db.add_run(1, start_time=1_700_000_000)
    db.add_run(2, start_time=1_700_000_100)
    db.set_comment(1, "note")
    db.write_results(1, [prepare_result("x", 1.5), prepare_result("y", "a")])
    db.write_results(2, [prepare_error("x", RuntimeError("no"))])
    db = reopen(db)
    df = db.dataframe()
    assert list(df.columns) == ["run", "start_time", "added_at", "comment", "x", "y"]
    assert list(df["run"]) == [1, 2]
    assert df.loc[0, "x"] == 1.5 and pd.isna(df.loc[1, "x"])
    assert df.loc[0, "comment"] == "note"
    assert str(df["start_time"].dt.tz) == "UTC"
    assert list(db.dataframe(with_titles=True).columns)[3:] == ["Comment", "Group/X", "y"]


def test_write_results_rejects_other_objects(db):
    with pytest.raises(TypeError, match="prepare_result"):
        db.write_results(1, [("x", 1)])


def test_no_proposal(tmp_path):
    with Database(tmp_path / "db") as db:
        assert db.proposal is None
        with pytest.raises(errors.NoProposalError, match="proposal="):
            db.add_run(1)


def test_proposal_mismatch(db):
    db.close()
    with pytest.raises(errors.ProposalMismatchError) as info:
        Database(db.path, proposal=999)
    assert info.value.stored == 1234


def test_closed_database(db):
    db.close()
    db.close()
    with pytest.raises(ValueError, match="closed"):
        db.runs()


def test_concurrent_writers_lose_nothing(db):
    n_threads, per_thread = 4, 10
    failures = []

    def work(t):
        try:
            for i in range(per_thread):
                run = i % 3 + 1
                db.set_comment(run + 10 * t, f"c{t}-{i}")
                db.write_results(run, [prepare_result(f"v{t}_{i}", t * 100 + i)])
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert failures == []
    vals = db.values()
    for t in range(n_threads):
        for i in range(per_thread):
            run = i % 3 + 1
            assert vals[run][f"v{t}_{i}"].value == t * 100 + i
            # the HDF5 merge kept every variable
            assert db.read_data(run, f"v{t}_{i}") == t * 100 + i


def test_two_database_objects_share_one_directory(db):
    other = Database(db.path)
    try:
        db.write_results(1, [prepare_result("a", 1)])
        other.write_results(1, [prepare_result("b", 2)])
        assert set(db.values()[1]) == {"a", "b"}
        assert db.read_data(1, "a") == 1 and db.read_data(1, "b") == 2
    finally:
        other.close()


def test_start_time_result_goes_to_run_info(db):
    db.write_results(4, [prepare_result("start_time", 1_700_000_123.5),
                         prepare_result("x", 1)])
    (info,) = db.runs()
    assert info.start_time == 1_700_000_123.5
    assert set(db.values()[4]) == {"x"}
    assert db.read_data(4, "start_time") == 1_700_000_123.5


def test_add_run_accepts_datetimes(db):
    from datetime import datetime, timezone

    db.add_run(1, start_time=datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    assert db.runs()[0].start_time == datetime(2024, 1, 2, 3, 4, 5,
                                               tzinfo=timezone.utc).timestamp()


def test_unchanged_variable_definitions_are_not_rewritten(db):
    assert db.add_variable("a", title="A", tags=["x", "y"]) is True
    before = (db.path / "runs.sqlite").read_bytes()
    assert db.add_variable("a", title="A", tags=["y", "x"]) is False
    assert (db.path / "runs.sqlite").read_bytes() == before
    assert db.add_variables({"a": {"title": "A", "tags": ["x", "y"]},
                             "b": {"description": "new"}}) == ["b"]
    assert db.variables()["b"].title == "b"
    with pytest.raises(TypeError, match="units"):
        db.add_variables({"c": {"units": "mm"}})


@pytest.mark.parametrize("vtype, given, stored", [
    ("boolean", "yes", 1), ("boolean", False, 0), ("integer", "42", 42), ("integer", 3.0, 3),
    ("number", "2.5", 2.5), ("string", 12, "12"),
])
def test_user_editable_values(db, reopen, vtype, given, stored):
    db.add_variable("u", type=vtype)
    db.set_user_value(3, "u", given)
    db = reopen(db)
    sv = db.values()[3]["u"]
    assert sv.value == stored and type(sv.value) is type(stored)
    assert sv.provenance == "manual-input"
    db.set_user_value(3, "u", "")
    assert "u" not in db.values().get(3, {})


@pytest.mark.parametrize("vtype, given", [("boolean", "maybe"), ("integer", "1.5"),
                                          ("integer", 2.5), ("number", "abc")])
def test_user_editable_values_rejected(db, vtype, given):
    db.add_variable("u", type=vtype)
    with pytest.raises(ValueError, match="not valid for 'u'"):
        db.set_user_value(1, "u", given)


def test_user_value_needs_a_typed_variable(db):
    db.add_variable("computed")
    db.add_variable("note", type="string")
    with pytest.raises(KeyError, match="editable ones: note"):
        db.set_user_value(1, "computed", 3)


def test_time_comments(db, reopen):
    first = db.add_time_comment("beam down", timestamp=1_700_000_000)
    db.add_time_comment("beam back")
    db = reopen(db)
    comments = db.time_comments()
    assert [c[2] for c in comments] == ["beam down", "beam back"]
    assert comments[0] == (first, 1_700_000_000.0, "beam down")


def test_concurrent_database_objects_merge_one_run_file(db):
    others = [Database(db.path) for _ in range(3)]
    try:
        def work(i, d):
            for j in range(5):
                d.write_results(1, [prepare_result(f"v{i}_{j}", i * 10 + j)])

        threads = [threading.Thread(target=work, args=(i, d)) for i, d in enumerate(others)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        for i in range(3):
            for j in range(5):
                assert db.read_data(1, f"v{i}_{j}") == i * 10 + j
    finally:
        for d in others:
            d.close()


def test_locked_by_another_process_then_recovers(tmp_path):
    from damnit_nb.store.errors import StoreUnavailableError

    with Database(tmp_path, proposal=1, busy_timeout=0.05) as db:
        other = sqlite3.connect(tmp_path / "runs.sqlite", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # as another process writing
        with pytest.raises(StoreUnavailableError, match="locked") as info:
            db.set_comment(1, "waits, then gives up")
        assert info.value.reason == "locked"
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        other.execute("ROLLBACK")
        other.close()
        db.set_comment(1, "now it works")
        assert db.values()[1]["comment"].value == "now it works"


def test_unwritable_result_is_stored_as_error(db):
    bad = xr.DataArray(np.arange(2.0), dims="x",
                       coords={"x": np.array([{"a": 1}, {"b": 2}], dtype=object)})
    db.write_results(1, [prepare_result("bad", bad), prepare_result("good", 2)])
    vals = db.values()[1]
    assert vals["bad"].is_error and "could not be saved" in vals["bad"].error
    assert vals["good"].value == 2


def test_code_version_follows_the_latest_write(db):
    db.write_results(1, [prepare_result("a", 1), prepare_result("b", 2)], {"a": "v1", "b": "v1"})
    db.write_results(1, [prepare_result("a", 3)], {"a": "v2"})
    assert db.code_versions(1) == {"a": "v2", "b": "v1"}
    db.write_results(1, [prepare_result("b", 4)])  # stored without a version
    assert db.code_versions(1) == {"a": "v2"}
    assert db.values()[1]["b"].code_version is None


def test_files_are_shared_with_the_proposals_other_users(db):
    import stat

    db.write_results(1, [prepare_result("a", 1)])
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(db.path / "runs.sqlite") == 0o666
    assert mode(db.path / "extracted_data") == 0o777
    assert mode(db.path / "extracted_data" / "p1234_r1.h5") == 0o666


def test_public_read_path(db):
    db.write_results(1, [prepare_result("a", 1 + 2j), prepare_result("b", np.arange(3.0))])
    rows = db.query("SELECT name, summary_type FROM run_variables WHERE run=? ORDER BY name",
                    (1,))
    assert rows == [("a", "complex"), ("b", "trendline")]
    with db.snapshot() as snap:
        assert snap.execute("SELECT count(*) FROM run_info").fetchone() == (1,)
        with pytest.raises(sqlite3.OperationalError):
            snap.execute("DELETE FROM run_info")
    assert db.runs()[0].run == 1  # nothing was deleted, and the connection writes again
    db.set_comment(1, "still writable")
    assert db.variable_names() == ["a", "b", "comment"]


def test_values_say_how_much_the_data_varied_within_the_run(db):
    db.write_results(1, [prepare_result("flat", np.ones(10)),
                         prepare_result("varied", np.array([1.0, 4.0, 2.5])),
                         prepare_result("scalar", 3.0)])
    values = db.values()[1]
    assert values["flat"].max_diff == 0.0
    assert values["varied"].max_diff == 3.0
    assert values["scalar"].max_diff is None
