import pytest
from ipywidgets import HTML, Button, Checkbox, Dropdown, SelectMultiple, Text

from damnit_nb.widgets.cells import Cell
from damnit_nb.widgets.filterbar import PICK_LIMIT, FilterBar
from damnit_nb.widgets.filters import matching_runs
from damnit_nb.widgets.model import ColumnSpec, TableModel
from tests.widgets.frontend import browser_click, browser_update


# --- the browser's side ------------------------------------------------------------------------
def shown(root):
    """The widgets the browser shows under ``root``, depth first (hidden ones left out)."""
    out = []
    for child in getattr(root, "children", ()):
        if child.layout.display == "none":
            continue
        out.append(child)
        out.extend(shown(child))
    return out


def find(root, cls, **attrs):
    """The one shown widget of type ``cls`` whose traits equal ``attrs``."""
    hits = [w for w in shown(root) if type(w) is cls
            and all(getattr(w, k) == v for k, v in attrs.items())]
    assert len(hits) == 1, f"{len(hits)} shown {cls.__name__} with {attrs}"
    return hits[0]


def is_shown(root, cls, **attrs):
    return any(type(w) is cls and all(getattr(w, k) == v for k, v in attrs.items())
               for w in shown(root))


def choose(bar, label):
    """Pick ``label`` in "Filter" as the browser does (it sends the index)."""
    menu = find(bar, Dropdown, description="Filter")
    browser_update(menu, index=list(menu.options).index(
        next(o for o in menu.options if o[0] == label)))


def type_in(bar, placeholder, text):
    browser_update(find(bar, Text, placeholder=placeholder), value=text)


def add(bar):
    browser_click(find(bar, Button, description="Add filter"))


def message(bar):
    return find(bar, HTML).value


def chips(bar):
    return [w for w in shown(bar) if type(w) is Button and w.description.endswith(" ×")]


# --- fixtures ----------------------------------------------------------------------------------
def settle(pump, clock):
    """Let the pump flush whatever is due once a second has passed."""
    clock.t += 1
    return pump.run_once()


@pytest.fixture
def model():
    m = TableModel([ColumnSpec("xgm", "XGM / Intensity", units="uJ"),
                    ColumnSpec("sample", "Sample"), ColumnSpec("note", "Note"),
                    ColumnSpec("img", "Image", kind="image"), ColumnSpec("empty")])
    for run in range(1, 41):
        m.set_cells(run, {"xgm": Cell.number(run / 2) if run != 3 else Cell.error("KeyError"),
                          "sample": Cell.text("gold" if run % 2 else "silver"),
                          "note": Cell.text(f"note {run}")})
    m.set_run(1, state="done")
    m.set_run(2, state="running")
    m.set_run(3, state="done")
    return m


@pytest.fixture
def bar(model, pump):
    b = FilterBar(model, pump)
    yield b
    b.close()


# --- tests -------------------------------------------------------------------------------------
def test_offers_runs_state_then_the_columns_by_title(bar):
    menu = find(bar, Dropdown, description="Filter")
    assert [label for label, _ in menu.options] == [
        "Runs", "State", "Comment", "XGM / Intensity", "Sample", "Note", "Image", "empty"]
    assert menu.value == "#run"
    assert is_shown(bar, Text, placeholder="17, 20-32")
    assert not is_shown(bar, Checkbox, description="errors only")
    assert not is_shown(bar, Button, description="Clear all") and chips(bar) == []


def test_a_range_typed_in_min_and_max_is_added(bar, model):
    choose(bar, "XGM / Intensity")
    assert not is_shown(bar, Text, placeholder="17, 20-32")
    type_in(bar, "min", "1")
    type_in(bar, "max", " 5 ")
    add(bar)
    assert bar.filters == [{"kind": "range", "key": "xgm", "min": 1.0, "max": 5.0}]
    assert [c.description for c in chips(bar)] == ["XGM / Intensity: 1 to 5 ×"]
    assert message(bar) == ""
    assert matching_runs(bar.filters, model) == set(range(2, 11)) - {3}
    # a blank bound is none
    type_in(bar, "min", "")
    type_in(bar, "max", "2e1")
    add(bar)
    assert bar.filters[1] == {"kind": "range", "key": "xgm", "min": None, "max": 20.0}
    assert [c.description for c in chips(bar)][1] == "XGM / Intensity ≤ 20 ×"


@pytest.mark.parametrize("lo,hi,says", [
    ("abc", "", "'abc' is not a number: give the minimum"),
    ("", "", "give a minimum, a maximum or both"),
    ("nan", "", "NaN"),
])
def test_a_bad_range_is_explained_and_adds_nothing(bar, lo, hi, says):
    choose(bar, "XGM / Intensity")
    type_in(bar, "min", lo)
    type_in(bar, "max", hi)
    add(bar)
    assert bar.filters == []
    assert says in message(bar)


def test_a_bad_run_range_is_shown_in_red_and_adds_nothing(bar):
    type_in(bar, "17, 20-32", "17, 5-3")
    add(bar)
    assert bar.filters == []
    assert "ends before it starts: write 3-5" in message(bar)
    assert "color:#b00020" in message(bar)
    assert chips(bar) == []
    type_in(bar, "17, 20-32", "17, 3-5")
    add(bar)
    assert bar.filters == [{"kind": "runs", "runs": "3-5, 17"}]
    assert message(bar) == ""
    assert find(bar, Text, placeholder="17, 20-32").value == ""  # ready for the next one


def test_an_error_message_is_escaped(bar):
    type_in(bar, "17, 20-32", "<b>")
    add(bar)
    assert "'&lt;b&gt;' is not a run" in message(bar)


def test_state_offers_the_states_present_and_failed(bar):
    choose(bar, "State")
    states = find(bar, Dropdown, description="")
    assert list(states.options) == ["done", "failed", "running"]
    browser_update(states, index=2)
    add(bar)
    assert bar.filters == [{"kind": "state", "states": ["running"]}]
    assert chips(bar)[0].description == "State: running ×"


def test_a_text_column_of_few_values_is_picked(bar, model):
    choose(bar, "Sample")
    pick = find(bar, SelectMultiple)
    assert list(pick.options) == ["gold", "silver"]
    add(bar)
    assert bar.filters == [] and "choose one or more values" in message(bar)
    browser_update(pick, index=[1])
    add(bar)
    assert bar.filters == [{"kind": "pick", "key": "sample", "values": ["silver"]}]
    assert matching_runs(bar.filters, model) == set(range(2, 41, 2))


def test_a_text_column_of_many_values_is_searched(bar, model):
    assert len({f"note {r}" for r in model.runs()}) > PICK_LIMIT
    choose(bar, "Note")
    assert not is_shown(bar, SelectMultiple)
    add(bar)
    assert "type the text to look for" in message(bar)
    type_in(bar, "contains", "NOTE 3")
    add(bar)
    assert bar.filters == [{"kind": "contains", "key": "note", "text": "NOTE 3"}]
    assert matching_runs(bar.filters, model) == {3} | set(range(30, 40))


def test_errors_only_for_variable_columns(bar, model):
    choose(bar, "Comment")  # fixed: no errors to filter for
    assert not is_shown(bar, Checkbox, description="errors only")
    choose(bar, "XGM / Intensity")
    box = find(bar, Checkbox, description="errors only")
    browser_update(box, value=True)
    assert find(bar, Text, placeholder="min").disabled
    add(bar)
    assert bar.filters == [{"kind": "errors", "key": "xgm"}]
    assert matching_runs(bar.filters, model) == {3}
    assert not box.value and not find(bar, Text, placeholder="min").disabled
    choose(bar, "Runs")
    assert not is_shown(bar, Checkbox, description="errors only")


def test_an_image_column_is_filtered_for_errors_only(bar):
    choose(bar, "Image")
    assert not any(type(w) in (Text, SelectMultiple) for w in shown(bar))
    add(bar)
    assert bar.filters == [] and "tick 'errors only'" in message(bar)
    browser_update(find(bar, Checkbox, description="errors only"), value=True)
    add(bar)
    assert bar.filters == [{"kind": "errors", "key": "img"}]


def test_a_column_without_values_is_searched(bar):
    choose(bar, "empty")
    assert is_shown(bar, Text, placeholder="contains")


def test_a_chip_click_removes_its_filter_and_clear_all_removes_all(bar):
    for text in ("1-3", "7", "9"):
        type_in(bar, "17, 20-32", text)
        add(bar)
    assert [c.description for c in chips(bar)] == ["Runs 1-3 ×", "Runs 7 ×", "Runs 9 ×"]
    clear = find(bar, Button, description="Clear all")
    browser_click(chips(bar)[1])
    assert bar.filters == [{"kind": "runs", "runs": "1-3"}, {"kind": "runs", "runs": "9"}]
    assert [c.description for c in chips(bar)] == ["Runs 1-3 ×", "Runs 9 ×"]
    browser_click(clear)
    assert bar.filters == [] and chips(bar) == []
    assert not is_shown(bar, Button, description="Clear all")


def test_filters_set_from_python_show_as_chips(bar):
    bar.filters = [{"kind": "range", "key": "xgm", "min": 5, "max": 1},
                   {"kind": "runs", "runs": [4, 5, 6]}, {"kind": "runs", "runs": "4-6"},
                   {"kind": "errors", "key": "gone"}]
    assert bar.filters == [{"kind": "range", "key": "xgm", "min": 1, "max": 5},
                           {"kind": "runs", "runs": "4-6"}, {"kind": "errors", "key": "gone"}]
    assert [c.description for c in chips(bar)] == [
        "XGM / Intensity: 1 to 5 ×", "Runs 4-6 ×", "gone: errors ×"]
    assert is_shown(bar, Button, description="Clear all")
    with pytest.raises(ValueError, match="write 3-5"):
        bar.filters = [{"kind": "runs", "runs": "5-3"}]
    assert len(chips(bar)) == 3  # unchanged
    bar.filters = []
    assert chips(bar) == [] and not is_shown(bar, Button, description="Clear all")


def test_filters_given_when_made(model, pump):
    b = FilterBar(model, pump, filters=[{"kind": "state", "states": "failed"}])
    try:
        assert [c.description for c in chips(b)] == ["State: failed ×"]
    finally:
        b.close()


def test_new_columns_are_offered_after_a_pump_flush(bar, model, pump, clock):
    choose(bar, "Sample")
    menu = find(bar, Dropdown, description="Filter")
    sent = []
    menu.comm.send = lambda data=None, *a, **k: sent.append(data)
    bar.filters = [{"kind": "pick", "key": "sample", "values": ["gold"]}]
    model.set_column(ColumnSpec("new", "New one"))
    assert "New one" not in [label for label, _ in menu.options]  # not before the flush
    assert settle(pump, clock) == 1
    assert [label for label, _ in menu.options][-1] == "New one"
    assert menu.value == "sample" and find(bar, SelectMultiple)  # the choice kept
    assert any("New one" in d["state"].get("_options_labels", ()) for d in sent)
    # a title changed: the choice and the chip say it
    model.set_column(ColumnSpec("sample", "Target"))
    settle(pump, clock)
    assert "Target" in [label for label, _ in menu.options]
    assert [c.description for c in chips(bar)] == ["Target is gold ×"]
    # the column chosen is removed: back to runs
    model.remove_column("sample")
    settle(pump, clock)
    assert menu.value == "#run" and is_shown(bar, Text, placeholder="17, 20-32")
    assert settle(pump, clock) == 0  # nothing more to do


def test_a_title_shown_twice_says_its_key(model, pump, clock):
    model.set_columns(list(model.columns()[4:]) + [ColumnSpec("state", "State"),
                                                   ColumnSpec("s2", "Sample")])
    b = FilterBar(model, pump)
    try:
        labels = [label for label, _ in find(b, Dropdown, description="Filter").options]
        assert labels[:2] == ["Runs", "State"]
        assert "State (state)" in labels
        assert "Sample (sample)" in labels and "Sample (s2)" in labels
    finally:
        b.close()


def test_picked_values_follow_the_column_keeping_the_selection(bar, model, pump, clock):
    choose(bar, "Sample")
    pick = find(bar, SelectMultiple)
    browser_update(pick, index=[0])
    model.set_cells(41, {"sample": Cell.text("copper")})
    settle(pump, clock)
    assert list(pick.options) == ["copper", "gold", "silver"]
    assert pick.value == ("gold",)
    # enough values to be searched rather than picked
    model.update({r: {"sample": Cell.text(f"s{r}")} for r in range(100, 100 + PICK_LIMIT)})
    settle(pump, clock)
    assert not is_shown(bar, SelectMultiple) and is_shown(bar, Text, placeholder="contains")


def test_a_column_turning_numeric_gets_min_and_max(bar, model, pump, clock):
    choose(bar, "empty")
    model.set_cells(1, {"empty": Cell.number(3)})
    settle(pump, clock)
    assert is_shown(bar, Text, placeholder="min") and is_shown(bar, Text, placeholder="max")


def test_close_stops_the_updates(model, pump, clock):
    b = FilterBar(model, pump)
    b.close()
    model.set_column(ColumnSpec("late"))
    assert settle(pump, clock) == 0
