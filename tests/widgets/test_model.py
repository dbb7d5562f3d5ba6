import threading

import pytest

from damnit_nb.widgets.cells import MISSING, Cell
from damnit_nb.widgets.model import (
    COMMENT_KEY, RUN_KEY, STATE_KEY, ColumnSpec, TableModel,
)


def apply(state, delta):
    """A view's copy of the table (``{"columns": [...], "rows": {run: {key: Cell}}}``)
    brought up to date by ``delta``, as a view would do it."""
    if delta.columns is not None:
        state["columns"] = [c.key for c in delta.columns]
    for key in delta.columns_removed + delta.columns_added:
        for row in state["rows"].values():
            row.pop(key, None)
    for run in delta.rows_removed:
        state["rows"].pop(run, None)
    for run in delta.rows_added:
        state["rows"][run] = {}
    for (run, key), cell in delta.cells.items():
        if cell is MISSING:
            state["rows"][run].pop(key, None)
        else:
            state["rows"][run][key] = cell


def view_of(model):
    version, snap = model.snapshot()
    return version, {"columns": [c.key for c in snap.columns],
                     "rows": {run: dict(cells) for run, cells in snap.rows.items()}}


def test_numbers_stay_numbers_and_an_error_is_a_mark_without_value():
    model = TableModel([ColumnSpec("x", "X")])
    model.set_cells(1, {"x": Cell.number(2.5)})
    model.set_cells(2, {"x": Cell.error("ValueError", "bad")})
    model.set_cells(3, {"x": Cell.number(-1.0)})
    model.set_cells(4, {"x": Cell.number(10.0)})
    _, snap = model.snapshot()
    cells = {run: snap.cell(run, "x") for run in snap.rows}
    assert cells[2].mark == "error" and cells[2].value is None
    assert cells[2].error_cls == "ValueError" and cells[2].message == "bad"
    numeric = sorted((c.value, run) for run, c in cells.items() if c.mark is None)
    assert numeric == [(-1.0, 3), (2.5, 1), (10.0, 4)]  # as numbers: "10.0" < "2.5" as text
    assert all(type(c.value) is float for c in cells.values() if c.mark is None)


@pytest.mark.parametrize("name,title", [("state", "State"), ("comment", "Comment"),
                                        ("run", "Run"), ("x", "Start time")])
def test_variables_named_or_titled_as_fixed_columns_are_columns_of_their_own(name, title):
    model = TableModel([ColumnSpec(name, title)])
    model.set_run(5, state="running", comment="the fixed comment")
    model.set_cells(5, {name: Cell.text("the variable")})
    keys = [c.key for c in model.columns()]
    assert len(keys) == len(set(keys)) == 5
    assert model.cell(5, name).value == "the variable"
    assert model.cell(5, STATE_KEY).value == "running"
    assert model.cell(5, COMMENT_KEY).value == "the fixed comment"
    assert model.cell(5, RUN_KEY).value == 5
    titles = [c.header for c in model.columns()]
    assert titles.count(title) == 2  # both shown, told apart by their keys


def test_fixed_keys_cannot_be_used_for_variables():
    model = TableModel()
    for key in (STATE_KEY, RUN_KEY, "#other"):
        with pytest.raises(ValueError, match="reserved"):
            model.set_column(ColumnSpec(key))


def test_hierarchical_header_from_title():
    spec = ColumnSpec("xgm_i", "XGM / SA1 / Intensity", units="uJ")
    assert spec.group == ("XGM", "SA1") and spec.label == "Intensity"
    assert ColumnSpec("n").group == () and ColumnSpec("n").label == "n"


def test_many_updates_of_one_cell_make_one_delta_with_the_last_value():
    model = TableModel([ColumnSpec("x")])
    model.set_cells(1, {"x": Cell.number(0)})
    version = model.version
    for i in range(100):
        model.set_cells(1, {"x": Cell.number(i + 1)})
    delta = model.changes_since(version)
    assert delta.cells == {(1, "x"): Cell.number(100)}
    assert delta.version == version + 100 and delta.rows_added == () and delta.columns is None
    assert not model.changes_since(delta.version)


def test_an_unchanged_value_is_not_a_change():
    model = TableModel([ColumnSpec("x")])
    model.set_cells(1, {"x": Cell.number(1.5)})
    version = model.version
    model.set_cells(1, {"x": Cell.number(1.5)})
    model.set_columns([ColumnSpec("x")])
    assert model.version == version


def test_deltas_of_rows_and_columns():
    model = TableModel([ColumnSpec("a"), ColumnSpec("b")])
    model.set_cells(1, {"a": Cell.number(1), "b": Cell.number(2)})
    version, view = view_of(model)
    model.set_cells(2, {"a": Cell.number(3)})
    model.set_columns([ColumnSpec("b", "B"), ColumnSpec("c")])  # a removed, b changed, moved
    model.set_cells(1, {"c": Cell.text("new"), "b": None})
    delta = model.changes_since(version)
    assert delta.rows_added == (2,)
    assert delta.columns_added == ("c",) and delta.columns_changed == ("b",)
    assert delta.columns_removed == ("a",)
    assert [c.key for c in delta.columns][-2:] == ["b", "c"]
    assert delta.cells[1, "b"] is MISSING
    apply(view, delta)
    assert view == view_of(model)[1]


def test_cells_set_before_their_column_come_with_the_column():
    model = TableModel()
    model.set_cells(1, {"late": Cell.number(7)})
    version = model.version
    model.set_column(ColumnSpec("late"))
    assert model.changes_since(version).cells == {(1, "late"): Cell.number(7)}


def test_removed_and_readded_run_starts_empty():
    model = TableModel([ColumnSpec("a"), ColumnSpec("b")])
    model.set_cells(1, {"a": Cell.number(1), "b": Cell.number(2)})
    version, view = view_of(model)
    model.remove_runs([1])
    model.set_cells(1, {"a": Cell.number(5)})
    delta = model.changes_since(version)
    assert delta.rows_added == (1,) and delta.rows_removed == ()
    apply(view, delta)
    assert view["rows"][1] == {RUN_KEY: Cell.number(1), "a": Cell.number(5)}


def test_listeners_are_called_after_the_lock_is_released():
    model = TableModel([ColumnSpec("x")])
    seen = []
    # reading the model from the listener would deadlock if the lock were held
    unsubscribe = model.subscribe(lambda v: seen.append((v, model.cell(1, "x").value)))
    model.set_cells(1, {"x": Cell.number(3)})
    unsubscribe()
    model.set_cells(1, {"x": Cell.number(4)})
    assert seen == [(model.version - 1, 3)]


def test_a_failing_listener_does_not_stop_updates(caplog):
    model = TableModel()
    model.subscribe(lambda v: 1 / 0)
    model.set_run(1, state="queued")
    assert model.cell(1, STATE_KEY).value == "queued"
    assert "listener failed" in caplog.text


def test_a_view_opened_while_a_writer_runs_ends_with_the_final_state_never_an_older_value():
    # Each update adds a run (a snapshot that misses one loses it for good) and changes run
    # 0's value (a view going back to an older one shows it).
    model = TableModel([ColumnSpec("x"), ColumnSpec("y")])
    n_updates = 3000
    started = threading.Event()

    def write():
        for i in range(1, n_updates + 1):
            model.update({i: {"x": Cell.number(i)}, 0: {"y": Cell.number(i)}})
            if i == 50:
                started.set()

    writer = threading.Thread(target=write)
    writer.start()
    started.wait()
    version, view = view_of(model)  # opened while the writer is busy
    shown = [view["rows"][0]["y"].value]
    while True:
        done = not writer.is_alive()  # read before the delta: a delta after it is the last
        delta = model.changes_since(version)
        apply(view, delta)
        shown.append(view["rows"][0]["y"].value)
        version = delta.version
        if done:
            break
    writer.join()
    assert view == view_of(model)[1]
    assert sorted(view["rows"]) == list(range(n_updates + 1))
    assert all(view["rows"][i]["x"].value == i for i in range(1, n_updates + 1))
    assert shown[-1] == n_updates and shown == sorted(shown)  # never an older value


def test_column_kind_follows_every_change_as_cells_say_it():
    from damnit_nb.widgets.cells import column_kind

    model = TableModel([ColumnSpec("a", "A")])
    assert model.column_kind("a") is None
    model.update({1: {"a": Cell.number(1)}, 2: {"a": Cell.error("ValueError", "bad")}})
    assert model.column_kind("a") == "number"  # marks do not count
    model.update({3: {"a": Cell.text("x")}})
    assert model.column_kind("a") == "text"
    model.update({3: {"a": Cell.number(3)}})  # the text replaced: numbers again
    assert model.column_kind("a") == "number"
    model.update({4: {"a": Cell.text("y")}})
    model.remove_runs([4])
    assert model.column_kind("a") == "number"
    model.update({1: {"a": None}, 3: {"a": None}})
    assert model.column_kind("a") is None
    model.update({5: {"a": Cell.number(5)}})
    assert model.column_kind("a") == column_kind(model.column("a").values()) == "number"
    model.remove_column("a")
    assert model.column_kind("a") is None
