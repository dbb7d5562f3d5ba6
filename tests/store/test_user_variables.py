"""User-editable variables and tags, shared with DAMNIT both ways."""

import sqlite3

import h5py
import pytest

from damnit_nb.store import Database

from damnit_oracle import requires_damnit, run_damnit

USER_VARS = {"sample": "string", "good": "boolean", "shots": "integer", "dose": "number"}


def manual_rows(path):
    conn = sqlite3.connect(path / "runs.sqlite")
    try:
        return {(run, name): (value, prov, method) for run, name, value, prov, method in
                conn.execute("SELECT run, name, value, provenance, summary_method"
                             " FROM run_variables WHERE provenance='manual-input'")}
    finally:
        conn.close()


def test_user_values_are_written_as_damnits_gui_does(db):
    for name, vtype in USER_VARS.items():
        db.add_variable(name, title=name.title(), type=vtype)
    db.add_run(1, start_time=1_700_000_000)
    db.set_user_value(1, "sample", "Fe")
    db.set_user_value(1, "good", "no")
    db.set_user_value(1, "shots", "12")
    db.set_user_value(1, "dose", 0.25)
    db.set_comment(1, "a note")
    rows = manual_rows(db.path)
    assert rows == {(1, "sample"): ("Fe", "manual-input", ""),
                    (1, "good"): (0, "manual-input", ""),
                    (1, "shots"): (12, "manual-input", ""),
                    (1, "dose"): (0.25, "manual-input", ""),
                    (1, "comment"): ("a note", "manual-input", "")}
    db.set_user_value(1, "sample", "")
    assert manual_rows(db.path)[(1, "sample")] == (None, "manual-input", None)
    assert db[1].keys() == ["comment", "dose", "good", "shots"]
    assert db[1, "Shots"].read() == 12 and db[1, "good"].summary() == 0


@requires_damnit
def test_damnit_user_variables_and_tags_appear(tmp_path):
    run_damnit("""
        from damnit.backend.db import DamnitDB, ReducedData
        from damnit.backend.user_variables import UserEditableVariable
        db = DamnitDB.from_dir(sys.argv[1], create=True)
        db.metameta["proposal"] = 1234
        for name, vtype in [("sample", "string"), ("good", "boolean"), ("shots", "integer"),
                            ("dose", "number")]:
            db.add_user_variable(UserEditableVariable(name, title=name.title(),
                                                      variable_type=vtype,
                                                      description=f"the {name}"))
        db.update_computed_variables({"energy": {
            "title": "XGM/Energy", "description": None, "attributes": None, "type": None,
            "tags": ["xgm", "beam"]}})
        db.ensure_run(1234, 1, start_time=1.7e9)
        for name, value in [("sample", "Fe"), ("good", True), ("shots", 7), ("dose", 0.5)]:
            db.set_variable(1234, 1, name, ReducedData(value), provenance="manual-input")
        print(json.dumps("ok"))
    """, tmp_path)
    with Database(tmp_path) as db:
        variables = db.variables()
        assert {n: v.type for n, v in variables.items() if v.type} == USER_VARS
        assert variables["shots"].title == "Shots"
        assert variables["shots"].description == "the shots"
        assert variables["energy"].tags == ("beam", "xgm")
        values = db.values()[1]
        assert (values["sample"].value, values["good"].value, values["shots"].value,
                values["dose"].value) == ("Fe", 1, 7, 0.5)
        assert values["good"].provenance == "manual-input"
        assert db[1, "Sample"].read() == "Fe" and db[1, "good"].read() == 1
        table = db.table(with_titles=True)
        assert table.loc[0, "Shots"] == 7 and table.loc[0, "Sample"] == "Fe"
        # Our edits, read back by DAMNIT.
        db.set_user_value(1, "shots", 9)
        db.set_user_value(1, "good", "false")
        db.set_user_value(1, "sample", "")
        db.set_comment(1, "from damnit_nb")
    with h5py.File(tmp_path / "extracted_data" / "p1234_r1.h5", "w") as f:
        f.create_group(".reduced")  # DAMNIT's API opens the run's file to list variables
    out = run_damnit("""
        from damnit.backend.db import DamnitDB
        api = damnit.Damnit(sys.argv[1])
        db = DamnitDB.from_dir(sys.argv[1])
        types = {n: v.variable_type for n, v in db.get_user_variables().items()}
        rows = {r[0]: [r[1], r[2]] for r in db.conn.execute(
            "SELECT name, value, provenance FROM run_variables WHERE run=1")}
        print(json.dumps({"types": types, "rows": rows, "keys": api[1].keys(),
                          "shots": int(api[1, "Shots"].read()),
                          "good": api[1, "good"].read(),
                          "comment": api[1, "comment"].read(),
                          "tags": sorted(db.get_variable_tags("energy"))}))
    """, tmp_path)
    assert out["types"] == USER_VARS
    assert out["rows"]["shots"] == [9, "manual-input"]
    assert out["rows"]["good"] == [0, "manual-input"]
    assert out["rows"]["sample"] == [None, "manual-input"]
    assert out["shots"] == 9 and out["good"] == 0 and out["comment"] == "from damnit_nb"
    assert "sample" not in out["keys"] and out["tags"] == ["beam", "xgm"]


@pytest.mark.parametrize("vtype,given,message", [
    ("boolean", "maybe", "true/false"), ("integer", "1.5", "whole number"),
    ("number", "lots", "a number")])
def test_bad_user_values_say_what_is_allowed(db, vtype, given, message):
    db.add_variable("u", type=vtype)
    with pytest.raises(ValueError, match=message):
        db.set_user_value(1, "u", given)
