"""RunGrid through the messages a browser's streaming grid exchanges with it."""

import json

import pytest

from damnit_nb.widgets.cells import Cell
from damnit_nb.widgets.grid import RunGrid, payload
from damnit_nb.widgets.model import ColumnSpec, TableModel
from damnit_nb.widgets.pump import UpdatePump
from tests.widgets.gridclient import GridClient, text


def flush(pump, clock):
    clock.t += 10
    pump.run_once()


def make(pump, clock, specs, rows, **kw):
    model = TableModel(specs)
    model.update(rows)
    grid = RunGrid(model, pump=pump, **kw)
    flush(pump, clock)
    return model, grid, GridClient(grid)


def test_columns_are_keyed_by_name_so_titles_may_repeat_reserved_ones(pump, clock):
    specs = [ColumnSpec("state", "State"), ColumnSpec("comment", "Comment"),
             ColumnSpec("run", "Run")]
    model, grid, client = make(pump, clock, specs, {1: {"state": Cell.text("mine"),
                                                        "run": Cell.number(7)}})
    assert grid.view_keys() == ["#run", "#state", "#start_time", "#comment", "state",
                                "comment", "run"]
    (run, cells), = client.rows()
    assert run == 1
    assert sorted(map(text, cells.values()), key=str) == sorted(
        ["1", None, None, None, "mine", None, "7"], key=str)


def test_numbers_sort_as_numbers_and_marks_sort_last(pump, clock):
    rows = {1: {"x": Cell.number(10)}, 2: {"x": Cell.number(9)}, 3: {"x": Cell.error("E")},
            4: {"x": Cell.number(100)}, 5: {}, 6: {"x": Cell.skipped("no")}}
    model, grid, client = make(pump, clock, [ColumnSpec("x", "X")], rows)
    client.sort("X")
    flush(pump, clock)
    assert grid.view_runs()[:3] == [2, 1, 4]  # as text it would be 10, 100, 9
    assert set(grid.view_runs()[3:]) == {3, 5, 6}
    client.sort("X", desc=True)
    flush(pump, clock)
    assert grid.view_runs()[:3] == [4, 1, 2]
    assert set(grid.view_runs()[3:]) == {3, 5, 6}  # still last
    shown = client.texts("X")
    assert shown[4] == "100" and shown[3] == "error: E" and shown[5] is None


@pytest.mark.parametrize("hierarchical", [True, False])
def test_the_header_menu_sorts_the_column_it_was_opened_on(pump, clock, hierarchical):
    rows = {1: {"x": Cell.number(10), "y": Cell.number(3)},
            2: {"x": Cell.number(9), "y": Cell.number(1)},
            3: {"x": Cell.number(100), "y": Cell.number(2)}}
    specs = [ColumnSpec("x", "XGM/X"), ColumnSpec("y", "XGM/Y")]
    model, grid, client = make(pump, clock, specs, rows, hierarchical=hierarchical)
    client.menu_sort(grid.view_keys().index("x"))
    flush(pump, clock)
    assert grid.view_runs() == [2, 1, 3]
    # Scrolled right, the browser holds only some columns: the menu still names the right one.
    client.menu_sort(grid.view_keys().index("y"), c1=grid.view_keys().index("x"))
    flush(pump, clock)
    assert grid.view_runs() == [2, 3, 1]


def test_marks_travel_beside_the_value_and_a_warning_sign_is_only_text(pump, clock):
    rows = {1: {"t": Cell.text("⚠ not an error"), "x": Cell.error("ValueError", "bad")},
            2: {"t": Cell.text("plain"), "x": Cell.number(1.5, bold=True,
                                                         background=(255, 0, 0))}}
    model, grid, client = make(pump, clock, [ColumnSpec("t", "T"), ColumnSpec("x", "X")],
                               rows)
    cells = dict(client.rows())
    assert cells[1]["T"] == "⚠ not an error"  # a plain string: painted as text
    assert cells[1]["X"] == {"m": "e", "t": "error: ValueError"}
    assert cells[2]["X"] == {"b": 1, "bg": "#ff0000", "t": "1.5"}
    assert payload(Cell.number(2.0, varied=True)) == {"b": 1, "t": "2"}  # DAMNIT's max_diff
    assert payload(Cell.number(3, provenance="manual-input"))["p"] == 1


def test_hierarchical_headers_and_flat_titles(pump, clock):
    specs = [ColumnSpec("a", "XGM/Intensity", units="uJ"), ColumnSpec("b", "XGM/Position")]
    model, grid, client = make(pump, clock, specs, {1: {"a": Cell.number(1)}})
    assert grid.field_of("a") == ("XGM", "Intensity [uJ]")
    assert grid.field_of("#run") == ("", "Run")
    grid.hierarchical = False
    grid.units_in_header = False
    flush(pump, clock)
    assert grid.field_of("a") == "XGM/Intensity"
    model.set_cells(1, {"a": Cell.number(2, units="uJ")})
    flush(pump, clock)
    assert client.texts("XGM/Intensity") == {1: "2 uJ"}


def test_a_changed_value_is_one_small_message_and_a_new_run_one_row(pump, clock):
    rows = {r: {"x": Cell.number(r)} for r in range(1, 2001)}
    model, grid, client = make(pump, clock, [ColumnSpec("x", "X")], rows)
    client.request(0, 29)  # the browser shows 30 rows
    client.recorder.clear()
    model.set_cells(5, {"x": Cell.number(-1)})
    flush(pump, clock)
    (change,) = client.recorder.custom("cell-changed")
    assert change["row"] == grid.view_runs().index(5) and change["value"] == "-1"
    assert client.recorder.bytes() <= 1000
    client.recorder.clear()
    model.set_cells(2001, {"x": Cell.number(5)})
    flush(pump, clock)
    (reply,) = client.recorder.custom("data-reply")
    assert (reply["r1"], reply["r2"]) == (2000, 2000)  # the new row only
    assert client.recorder.custom("tick") == []
    assert client.recorder.bytes() <= 20_000
    assert grid._row_count == 2001


def test_a_click_names_the_run_the_browser_showed_while_runs_arrive(pump, clock):
    model, grid, client = make(pump, clock, [ColumnSpec("x", "X")],
                               {r: {} for r in range(1, 11)}, newest_first=True)
    client.request()
    row = grid.view_runs().index(4)
    clicked = []
    grid.on_click(lambda run, key: clicked.append((run, key)))
    model.update({r: {} for r in range(11, 14)})  # three new runs on top, before a repaint
    flush(pump, clock)
    client.click(row, grid.view_keys().index("#comment"))  # what the user saw at that row
    assert clicked == [(4, "#comment")]
    client.request()  # the browser repaints: rows moved
    client.click(row, grid.view_keys().index("#comment"))
    assert clicked[-1] == (grid.view_runs()[row], "#comment") and clicked[-1][0] == 7


def test_selection_follows_runs_both_ways(pump, clock):
    model, grid, client = make(pump, clock, [], {r: {} for r in range(1, 6)})
    client.request()
    client.select_rows(1, 3)
    assert grid.selected_runs == [grid.view_runs()[1], grid.view_runs()[3]]
    grid.selected_runs = [5]
    assert grid.selections[0]["r1"] == grid.view_runs().index(5)
    grid.newest_first = True  # rows move: the selection moves with its run
    flush(pump, clock)
    assert grid.selections[0]["r1"] == grid.view_runs().index(5) == 0


def test_filters_from_the_header_menu_and_from_python(pump, clock):
    rows = {r: {"x": Cell.number(r), "s": Cell.text("a" if r % 2 else "b")}
            for r in range(1, 21)}
    model, grid, client = make(pump, clock, [ColumnSpec("x", "X"), ColumnSpec("s", "S")],
                               rows)
    client.filter("X", "between", [5, 8])
    flush(pump, clock)
    assert grid.view_runs() == [5, 6, 7, 8] and grid.shown_count == 4
    client.filter("S", "in", ["b"])
    flush(pump, clock)
    assert grid.view_runs() == list(range(2, 21, 2))
    client.filter("X", "between", [0, 100])
    grid.filters = [{"kind": "runs", "runs": "3-6"}, {"kind": "range", "key": "x", "min": 4}]
    flush(pump, clock)
    assert grid.view_runs() == [4, 5, 6]
    with pytest.raises(ValueError):
        grid.filters = [{"kind": "nonsense"}]


def test_a_browser_message_that_fails_does_not_break_the_grid(pump, clock, caplog):
    model, grid, client = make(pump, clock, [ColumnSpec("x", "X")], {1: {}})
    client.click("not a row", None)
    grid.comm.handle_msg({"content": {"data": {"method": "custom", "content": {
        "type": "data-request", "r1": "x"}}}, "buffers": []})
    assert client.texts("Run") == {1: "1"}
    json.dumps(client.recorder.messages, default=str)


def test_a_runs_state_reads_as_a_sign_and_a_colour_while_it_is_processed(pump, clock):
    model, grid, client = make(pump, clock, [], {1: {}, 2: {}, 3: {}})
    model.set_run(1, state="queued")
    model.set_run(2, state="running")
    model.set_run(3, state="done")
    flush(pump, clock)
    cells = {run: c["State"] for run, c in client.rows()}
    assert cells[1] == {"t": "◷ queued", "bg": "#fff6d5"}
    assert cells[2]["t"] == "▶ running"
    assert cells[3] == "✓ done"


def test_updates_are_coalesced_under_a_real_deadline():
    import threading
    import time

    pump = UpdatePump(min_interval=0.3)
    model = TableModel([ColumnSpec("x", "X")])
    model.update({1: {"x": Cell.number(0)}})
    grid = RunGrid(model, pump=pump)
    client = GridClient(grid)
    client.request()
    client.recorder.clear()
    for i in range(60):  # 60 updates over 3 s
        model.set_cells(1, {"x": Cell.number(i + 1)})
        time.sleep(0.05)
    time.sleep(0.5)
    changes = client.recorder.custom("cell-changed")
    assert changes[-1]["value"] == "60"
    assert len(changes) <= 3 / 0.3 + 2, len(changes)

    client.recorder.clear()

    def runs_arrive():
        for run in range(2, 102):  # 100 runs over 5 s
            model.set_cells(run, {"x": Cell.number(run)})
            time.sleep(0.05)

    t = threading.Thread(target=runs_arrive)
    t.start()
    t.join()
    time.sleep(0.5)
    assert grid._row_count == 101
    replies = client.recorder.custom("data-reply")
    assert len(replies) <= 5 / 0.3 + 2, len(replies)
    assert client.recorder.custom("tick") == []  # rows at the end: no whole view re-sent
    assert sum(r["r2"] - r["r1"] + 1 for r in replies) == 100  # each new row sent once
    grid.close()
    pump.close()


def test_a_column_of_images_with_other_cells_goes_quiet(pump, clock):
    import base64
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (200, 100), "red").save(out, "PNG")
    png = out.getvalue()
    rows = {1: {"img": Cell("image", png)}, 2: {"img": Cell.error("ValueError", "no")},
            3: {"img": Cell.number(4)}}
    model, grid, client = make(pump, clock, [ColumnSpec("img", "Image")], rows)
    cells = dict(client.rows())
    uri = next(v for k, v in cells[1].items() if "Image" in k)
    assert uri.startswith("data:image/png;base64,")
    assert max(Image.open(io.BytesIO(base64.b64decode(uri.split(",")[1]))).size) <= 84
    assert next(v for k, v in cells[2].items() if "Image" in k).startswith("data:image/svg")
    client.recorder.clear()
    for _ in range(5):  # repaints come, once; nothing is sent again and again
        grid._repaint_soon()
        flush(pump, clock)
        client.request()
    assert client.recorder.custom("cell-changed") == []
    sizes = [s.get("base_row_size") for s in client.recorder.states() if "base_row_size" in s]
    assert len(sizes) <= 5
    client.recorder.clear()
    flush(pump, clock)
    flush(pump, clock)
    assert client.recorder.messages == []  # quiet once nothing changes


def test_long_texts_are_cut_in_the_cell_and_bad_images_sent_as_they_are():
    from damnit_nb.widgets.grid import TEXT_LIMIT

    shown = payload(Cell.text("x" * 100_000))
    assert len(shown) == TEXT_LIMIT and shown.endswith("…")
    assert payload(Cell("image", b"\x89PNG not really"), image_column=True).startswith(
        "data:image/png;base64,")


def test_units_go_with_the_value_when_the_header_has_other_ones(pump, clock):
    model, grid, client = make(pump, clock, [ColumnSpec("e", "E", units="uJ")],
                               {1: {"e": Cell.number(2.0, units="uJ")},
                                2: {"e": Cell.number(3.0, units="mJ")},
                                3: {"e": Cell.number(4.0)}})
    assert client.texts("E [uJ]") == {1: "2", 2: "3 mJ", 3: "4"}
    model.set_cells(1, {"e": Cell.number(2.0, units="µJ")})  # micro sign or Greek mu: uJ
    flush(pump, clock)
    assert client.texts("E [uJ]")[1] == "2"


def test_the_first_state_is_already_the_chosen_layout(pump, clock):
    model = TableModel([ColumnSpec("a", "G/A"), ColumnSpec("b", "B")])
    model.update({1: {}, 2: {}})
    grid = RunGrid(model, pump=pump, visible_columns=["b"], hierarchical=False,
                   newest_first=True)
    names = [f["name"] for f in grid._data["schema"]["fields"]]
    assert names == ["run_key", "Run", "B", "ipydguuid"]  # what the browser gets first
    assert grid.view_runs() == [2, 1]
