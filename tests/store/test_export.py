"""Database.export: the run table as CSV, Excel or Markdown."""

import numpy as np
import pandas as pd
import pytest

from damnit_nb.store import Database, prepare_error, prepare_result


@pytest.fixture
def filled(db):
    db.add_variable("energy", title="XGM/Energy")
    db.add_variable("note", title="Note", type="string")
    db.add_run(1, start_time=1_700_000_000)
    db.add_run(2, start_time=1_700_000_060)
    db.set_comment(1, "a | b")
    db.set_user_value(2, "note", "ok")
    db.write_results(1, [prepare_result("energy", 1.5), prepare_result("big", 123456.0),
                         prepare_result("img", np.ones((4, 4))),
                         prepare_result("line", np.arange(200.0)),
                         prepare_result("nd", np.ones((2, 2, 2))),
                         prepare_result("c", 1 + 1j), prepare_error("bad", ValueError("x"))])
    db.write_results(2, [prepare_result("energy", 2.0)])
    return db


def test_csv(filled, tmp_path):
    path = filled.export(tmp_path / "runs.csv")
    df = pd.read_csv(path)
    assert list(df.columns[:4]) == ["Proposal", "Run", "Timestamp", "bad"]
    assert {"XGM/Energy", "Note", "comment", "img", "line"} <= set(df.columns)
    assert df["XGM/Energy"].tolist() == [1.5, 2.0]
    assert df.loc[0, "img"] == "<image>" and df.loc[0, "line"] == "<trendline>"
    assert df.loc[0, "nd"] == "float64: (2, 2, 2)" and df.loc[0, "c"] == "(1+1j)"
    assert df.loc[0, "Timestamp"] == "2023-11-14 23:13:20"  # Europe/Berlin
    assert df.loc[0, "comment"] == "a | b" and df.loc[1, "Note"] == "ok"
    assert pd.isna(df.loc[1, "img"]) and pd.isna(df.loc[0, "bad"])
    names = pd.read_csv(filled.export(tmp_path / "names.csv", with_titles=False))
    assert "energy" in names.columns and "run" in names.columns


def test_excel(filled, tmp_path):
    pytest.importorskip("openpyxl")
    path = filled.export(tmp_path / "runs.xlsx")
    sheets = pd.read_excel(path, sheet_name=None)
    assert list(sheets) == ["p1234 DAMNIT run table"]
    df = sheets["p1234 DAMNIT run table"]
    assert df["XGM/Energy"].tolist() == [1.5, 2.0] and df.loc[0, "img"] == "<image>"
    assert df["Run"].tolist() == [1, 2] and df.loc[0, "Timestamp"] == "2023-11-14 23:13:20"


def test_markdown(filled, tmp_path):
    text = filled.export(tmp_path / "runs.md").read_text()
    lines = text.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:3] == ["Proposal", "Run", "Timestamp"]
    assert set(lines[1]) <= {"|", "-"}
    assert len(lines) == 4 and text.endswith("\n")
    row = dict(zip(header, (c.strip() for c in lines[2][1:-1].split(" | "))))
    assert row["XGM/Energy"] == "1.5000" and row["big"] == "1.235e+05"
    assert row["img"] == "<image>" and row["bad"] == "" and row["comment"] == "a \\| b"
    row2 = dict(zip(header, (c.strip() for c in lines[3][1:-1].split(" | "))))
    assert row2["XGM/Energy"] == "2" and row2["img"] == ""


def test_unknown_suffix(filled, tmp_path):
    with pytest.raises(ValueError) as info:
        filled.export(tmp_path / "runs.json")
    assert all(s in str(info.value) for s in (".csv", ".xlsx", ".md", "runs.json"))
    assert not (tmp_path / "runs.json").exists()


def test_empty_table(tmp_path):
    with Database(tmp_path / "db", proposal=1) as db:
        df = pd.read_csv(db.export(tmp_path / "t.csv"))
        assert list(df.columns) == ["Proposal", "Run", "Timestamp", "comment"] and df.empty
        assert db.export(tmp_path / "t.md").read_text().count("\n") == 2
