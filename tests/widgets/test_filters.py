import numpy as np
import pytest

from damnit_nb.widgets.cells import Cell
from damnit_nb.widgets.filters import check_filter, describe, matching_runs, parse_runs
from damnit_nb.widgets.model import ColumnSpec, TableModel


# --- parse_runs --------------------------------------------------------------------------------
@pytest.mark.parametrize("text,runs", [
    ("17, 20-32", [17] + list(range(20, 33))),
    ("17", [17]),
    ("3 1,2", [1, 2, 3]),
    ("5-5", [5]),
    ("8:10", [8, 9, 10]),
    ("20 - 22, 17", [17, 20, 21, 22]),  # spaces around the dash
    (" 4,, 4 ", [4]),
    (12, [12]),
])
def test_parse_runs(text, runs):
    assert parse_runs(text) == runs


@pytest.mark.parametrize("text,message", [
    ("5-3", "ends before it starts: write 3-5"),
    ("x", "'x' is not a run"),
    ("17, 2x", "'2x' is not a run"),
    ("-4", "is not a run"),
    ("1.5", "is not a run"),
    ("", "no runs given"),
    (" , ", "no runs given"),
    ("1-2000000", "too large"),
])
def test_parse_runs_says_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_runs(text)


# --- check_filter ------------------------------------------------------------------------------
def test_check_filter_normalises():
    assert check_filter({"kind": "runs", "runs": "32, 20-31,17"}) == {
        "kind": "runs", "runs": "17, 20-32"}
    assert check_filter({"kind": "runs", "runs": [3, 1, 2]}) == {"kind": "runs", "runs": "1-3"}
    assert check_filter({"kind": "state", "states": "failed"}) == {
        "kind": "state", "states": ["failed"]}
    assert check_filter({"kind": "range", "key": "x", "min": 5, "max": 1.5}) == {
        "kind": "range", "key": "x", "min": 1.5, "max": 5}  # swapped
    out = check_filter({"kind": "range", "key": "x", "min": np.int64(3), "max": np.float32(4)})
    assert out == {"kind": "range", "key": "x", "min": 3, "max": 4.0}
    assert type(out["min"]) is int and type(out["max"]) is float  # plain Python numbers
    assert check_filter({"kind": "pick", "key": "t", "values": ("a", 2)}) == {
        "kind": "pick", "key": "t", "values": ["a", "2"]}
    assert check_filter({"kind": "errors", "key": "x", "extra": 1}) == {
        "kind": "errors", "key": "x"}
    spec = {"kind": "contains", "key": "t", "text": "ab"}
    assert check_filter(spec) == spec and check_filter(spec) is not spec


@pytest.mark.parametrize("spec,message", [
    ("runs", "is not a filter"),
    ({"kind": "colour"}, "'kind' one of runs, state, range"),
    ({"kind": "runs", "runs": "5-3"}, "write 3-5"),
    ({"kind": "runs"}, "no runs given"),
    ({"kind": "state"}, "needs 'states'"),
    ({"kind": "state", "states": []}, "needs 'states'"),
    ({"kind": "state", "states": 5}, "must be a list of states"),
    ({"kind": "range", "min": 1}, "needs the column's 'key'"),
    ({"kind": "range", "key": "", "min": 1}, "needs the column's 'key'"),
    ({"kind": "range", "key": "x"}, "needs 'min', 'max' or both"),
    ({"kind": "range", "key": "x", "min": "1"}, "'min' must be a number or None"),
    ({"kind": "range", "key": "x", "max": True}, "'max' must be a number or None"),
    ({"kind": "range", "key": "x", "min": float("nan")}, "NaN"),
    ({"kind": "pick", "key": "t"}, "needs 'values'"),
    ({"kind": "pick", "key": "t", "values": "a"}, "needs 'values'"),
    ({"kind": "pick", "key": "t", "values": []}, "one at least"),
    ({"kind": "contains", "key": "t", "text": ""}, "needs 'text'"),
    ({"kind": "errors"}, "needs the column's 'key'"),
])
def test_check_filter_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        check_filter(spec)


def test_describe():
    titles = {"xgm": "XGM", "t": "Sample"}
    assert describe({"kind": "runs", "runs": "20-32, 17"}) == "Runs 17, 20-32"
    assert describe({"kind": "state", "states": ["failed", "running"]}) == (
        "State: failed or running")
    assert describe({"kind": "range", "key": "xgm", "min": 1, "max": 5}, titles) == "XGM: 1 to 5"
    assert describe({"kind": "range", "key": "xgm", "min": 0.5}, titles) == "XGM ≥ 0.5"
    assert describe({"kind": "range", "key": "other", "max": 2}, titles) == "other ≤ 2"
    assert describe({"kind": "pick", "key": "t", "values": list("abcd")}, titles) == (
        "Sample is a, b, c…")
    assert describe({"kind": "contains", "key": "t", "text": "Au"}, titles) == (
        "Sample contains 'Au'")
    assert describe({"kind": "errors", "key": "xgm"}, titles) == "XGM: errors"


# --- matching_runs -----------------------------------------------------------------------------
@pytest.fixture
def model():
    m = TableModel([ColumnSpec("x", "X"), ColumnSpec("sample", "Sample"), ColumnSpec("img")])
    m.set_cells(1, {"x": Cell.number(2.5), "sample": Cell.text("Gold foil")})
    m.set_cells(2, {"x": Cell.error("ValueError", "bad"), "sample": Cell.text("silver")})
    m.set_cells(3, {"x": Cell.number(-1), "sample": Cell.text("gold")})
    m.set_cells(4, {"x": Cell.number(10.0), "img": Cell.skipped("no camera")})
    m.set_cells(5, {"x": Cell.number(True), "sample": Cell.error("KeyError")})
    m.set_cells(6, {"sample": Cell.text("10")})
    for run, state in {1: "done", 2: "done", 3: "failed", 4: "running", 5: "done"}.items():
        m.set_run(run, state=state)
    return m


@pytest.mark.parametrize("spec,runs", [
    ({"kind": "runs", "runs": "2-4, 6, 99"}, {2, 3, 4, 6}),
    ({"kind": "state", "states": ["running"]}, {4}),
    ({"kind": "state", "states": ["done", "running"]}, {1, 2, 4, 5}),
    # "failed": the failed run, and the runs with an error value (not a skip)
    ({"kind": "state", "states": ["failed"]}, {2, 3, 5}),
    ({"kind": "state", "states": ["nothing"]}, set()),
    # numbers within [min, max]; errors, missing values, text and booleans never are
    ({"kind": "range", "key": "x", "min": 0, "max": 10}, {1, 4}),
    ({"kind": "range", "key": "x", "min": 2.5}, {1, 4}),
    ({"kind": "range", "key": "x", "max": 0}, {3}),
    ({"kind": "range", "key": "sample", "min": 0}, set()),
    ({"kind": "pick", "key": "sample", "values": ["gold", "10"]}, {3, 6}),
    ({"kind": "pick", "key": "x", "values": ["2.5", "10"]}, {1, 4}),  # the shown text
    ({"kind": "contains", "key": "sample", "text": "GOLD"}, {1, 3}),
    ({"kind": "contains", "key": "sample", "text": "error"}, {5}),  # shown as "error: KeyError"
    ({"kind": "errors", "key": "x"}, {2}),
    ({"kind": "errors", "key": "img"}, {4}),  # a skip counts
    ({"kind": "errors", "key": "sample"}, {5}),
    ({"kind": "errors", "key": "not_a_column"}, set()),
])
def test_matching_runs_by_kind(model, spec, runs):
    assert matching_runs([spec], model) == runs


def test_matching_runs_ands_filters_and_limits_to_given_runs(model):
    gold = {"kind": "contains", "key": "sample", "text": "gold"}
    assert matching_runs([], model) == set(model.runs())
    assert matching_runs([gold, {"kind": "range", "key": "x", "min": 0}], model) == {1}
    assert matching_runs([gold], model, runs=[3, 4]) == {3}
    assert matching_runs([gold, {"kind": "state", "states": ["failed"]}], model) == {3}


def test_matching_runs_refuses_a_bad_filter(model):
    with pytest.raises(ValueError, match="write 3-5"):
        matching_runs([{"kind": "runs", "runs": "5-3"}], model)


class CountingModel(TableModel):
    def __init__(self, *args):
        self.reads = 0
        super().__init__(*args)

    def column(self, key):
        self.reads += 1
        return super().column(key)


def test_failed_state_reads_each_column_once_however_many_runs():
    m = CountingModel([ColumnSpec(f"v{i}") for i in range(3)])
    m.update({run: {"v0": Cell.error("E") if run % 7 == 0 else Cell.number(run)}
              for run in range(1, 301)})
    got = matching_runs([{"kind": "state", "states": ["failed"]}], m)
    assert got == set(range(7, 301, 7))
    assert m.reads <= 1 + len(m.columns())  # the state column, then each column once
