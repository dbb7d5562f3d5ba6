import json
import os
import re
import stat
import threading
import warnings

import pytest

from damnit_nb.widgets.columns import HIDDEN_MARK, SHOWN_MARK, ColumnChooser
from damnit_nb.widgets.model import ColumnSpec, TableModel
from damnit_nb.widgets.pump import UpdatePump
from damnit_nb.widgets.settings import ViewSettings, config_dir
from tests.widgets.frontend import Recorder, browser_click, browser_update

FIXED = ["#run", "#state", "#start_time", "#comment"]
SPECS = [ColumnSpec("xgm", "XGM / Intensity", "number", units="uJ", tags=("xgm",)),
         ColumnSpec("energy", "Energy", "number", tags=("xgm", "beam")),
         ColumnSpec("cam", "Camera", "image", tags=("detector",)),
         ColumnSpec("n", None, "number")]


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def config(tmp_path, monkeypatch):
    path = tmp_path / "config"
    monkeypatch.setenv("DAMNIT_NB_CONFIG_DIR", str(path))
    return path


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "amore"
    path.mkdir()
    return path


@pytest.fixture
def pump():
    clock = Clock()
    p = UpdatePump(autostart=False, clock=clock)
    p.clock = clock
    return p


def settle(pump):
    """Let the pump flush whatever is due (time moves on by more than its pauses)."""
    pump.clock.t += 10
    pump.run_once()


@pytest.fixture
def make(config, db, pump):
    made = []

    def make(model=None, settings=True):
        model = model if model is not None else TableModel(SPECS)
        if settings is True:
            settings = ViewSettings(db)
        chooser = ColumnChooser(model, settings, pump=pump)
        made.append(chooser)
        return chooser

    yield make
    for chooser in made:
        chooser.close()


def listed(chooser):
    """The list as the browser shows it: (label, key) pairs."""
    return list(chooser.column_list.options)


def select(chooser, *keys):
    """The user selects ``keys`` in the list (the browser sends indices)."""
    order = [k for _label, k in listed(chooser)]
    browser_update(chooser.column_list, index=[order.index(k) for k in keys])


def click(chooser, label, pump):
    browser_click(chooser.buttons[label])
    settle(pump)


def saved(config):
    files = list((config / "views").glob("*.json"))
    assert len(files) == 1
    return json.loads(files[0].read_text())


# --- the list and the buttons -------------------------------------------------------------------

def test_every_column_is_shown_at_first_and_listed_with_its_title(make):
    chooser = make()
    assert chooser.visible_columns == FIXED + ["xgm", "energy", "cam", "n"]
    assert listed(chooser) == [
        (SHOWN_MARK + "State", "#state"), (SHOWN_MARK + "Start time", "#start_time"),
        (SHOWN_MARK + "Comment", "#comment"), (SHOWN_MARK + "XGM / Intensity", "xgm"),
        (SHOWN_MARK + "Energy", "energy"), (SHOWN_MARK + "Camera", "cam"),
        (SHOWN_MARK + "n", "n")]
    assert [b.description for b in chooser.buttons.values()] == [
        "Show", "Hide", "Up", "Down", "Show all", "Only these"]


def test_hide_and_show_through_the_browser(make, pump):
    chooser = make()
    sent = Recorder(chooser.column_list)
    select(chooser, "energy", "cam")
    assert chooser.column_list.value == ("energy", "cam")
    click(chooser, "Hide", pump)
    assert chooser.visible_columns == FIXED + ["xgm", "n"]
    labels = dict((k, label) for label, k in listed(chooser))
    assert labels["energy"] == HIDDEN_MARK + "Energy"
    assert labels["xgm"] == SHOWN_MARK + "XGM / Intensity"
    # the browser got the new labels, and the selection is kept for the next click
    assert HIDDEN_MARK + "Camera" in sent.state["_options_labels"]
    assert chooser.column_list.value == ("energy", "cam")
    assert len(sent.updates) == 1  # the labels and the selection in one message
    assert list(sent.state["index"]) == [4, 5]

    select(chooser, "cam")
    click(chooser, "Show", pump)
    assert chooser.visible_columns == FIXED + ["xgm", "cam", "n"]


def test_the_run_number_cannot_be_hidden(make, pump):
    chooser = make()
    assert "#run" not in [k for _label, k in listed(chooser)]
    chooser.visible_columns = ["n", "xgm"]
    assert chooser.visible_columns == ["#run", "n", "xgm"]
    settle(pump)
    assert chooser.visible_columns == ["#run", "n", "xgm"]


def test_up_and_down_reorder_the_selected_columns(make, pump):
    chooser = make()
    select(chooser, "energy", "n")
    click(chooser, "Up", pump)
    assert chooser.visible_columns == FIXED + ["energy", "xgm", "n", "cam"]
    assert chooser.column_list.value == ("energy", "n")
    click(chooser, "Up", pump)
    click(chooser, "Up", pump)
    assert chooser.visible_columns == ["#run", "#state", "energy", "#start_time", "n",
                                       "#comment", "xgm", "cam"]
    select(chooser, "#state")
    click(chooser, "Up", pump)  # at the top already: the run number stays first
    click(chooser, "Up", pump)
    assert chooser.visible_columns[:3] == ["#run", "#state", "energy"]
    select(chooser, "xgm", "cam")
    click(chooser, "Down", pump)  # cam is last: the block stays
    assert chooser.visible_columns[-2:] == ["xgm", "cam"]
    select(chooser, "xgm")
    click(chooser, "Down", pump)
    assert chooser.visible_columns[-2:] == ["cam", "xgm"]


def test_hidden_columns_keep_their_place_and_move_with_the_list(make, pump):
    chooser = make()
    select(chooser, "energy")
    click(chooser, "Hide", pump)
    select(chooser, "cam")
    click(chooser, "Up", pump)  # past the hidden energy, which is listed
    assert [k for _l, k in listed(chooser)][3:] == ["xgm", "cam", "energy", "n"]
    assert chooser.visible_columns == FIXED + ["xgm", "cam", "n"]


def test_show_all_and_only_these(make, pump):
    chooser = make()
    select(chooser, "n", "xgm")
    click(chooser, "Only these", pump)
    assert chooser.visible_columns == ["#run", "xgm", "n"]
    assert [label for label, _k in listed(chooser)] == [
        HIDDEN_MARK + t for t in ("State", "Start time", "Comment")] + [
        SHOWN_MARK + "XGM / Intensity", HIDDEN_MARK + "Energy", HIDDEN_MARK + "Camera",
        SHOWN_MARK + "n"]
    click(chooser, "Show all", pump)
    assert chooser.visible_columns == FIXED + ["xgm", "energy", "cam", "n"]


def test_header_checkboxes_follow_the_browser(make, pump):
    chooser = make()
    assert chooser.hierarchical and chooser.units_in_header
    browser_update(chooser.hierarchical_box, value=False)
    assert chooser.hierarchical is False
    chooser.units_in_header = False
    assert chooser.units_box.value is False


def test_visible_columns_set_from_python(make, pump):
    chooser = make()
    chooser.visible_columns = ["#run", "cam", "#state", "xgm"]
    settle(pump)
    assert chooser.visible_columns == ["#run", "cam", "#state", "xgm"]
    labels = [label for label, _k in listed(chooser)]
    assert labels[:2] == [SHOWN_MARK + "Camera", HIDDEN_MARK + "Start time"]
    with pytest.raises(ValueError, match="'nope'.*the columns are '#run'"):
        chooser.visible_columns = ["#run", "nope"]
    assert chooser.visible_columns == ["#run", "cam", "#state", "xgm"]
    chooser.visible_columns = []  # every column, in the chosen order
    assert chooser.visible_columns == ["#run", "cam", "#start_time", "#comment", "#state",
                                       "energy", "xgm", "n"]


# --- the tags filter ----------------------------------------------------------------------------

def test_tags_filter_lists_only_the_columns_with_the_tag(make, pump):
    chooser = make()
    menu = chooser.tag_filter
    assert [label for label, _v in menu.options] == ["All tags", "beam", "detector", "xgm"]
    browser_update(menu, index=3)  # "xgm"
    settle(pump)
    assert [k for _l, k in listed(chooser)] == ["xgm", "energy"]
    assert chooser.visible_columns == FIXED + ["xgm", "energy", "cam", "n"]  # listing only

    select(chooser, "energy")
    click(chooser, "Up", pump)  # moves among the listed columns
    assert chooser.visible_columns == FIXED + ["energy", "xgm", "cam", "n"]
    select(chooser, "energy", "xgm")
    click(chooser, "Hide", pump)
    click(chooser, "Show all", pump)  # every column listed: these two
    assert chooser.visible_columns == FIXED + ["energy", "xgm", "cam", "n"]

    browser_update(menu, index=0)
    settle(pump)
    assert len(listed(chooser)) == 7


def test_a_tag_gone_from_the_model_resets_the_filter(make, pump):
    model = TableModel(SPECS)
    chooser = make(model)
    browser_update(chooser.tag_filter, index=2)  # "detector"
    settle(pump)
    assert [k for _l, k in listed(chooser)] == ["cam"]
    model.remove_column("cam")
    settle(pump)
    assert chooser.tag_filter.value == ""
    assert [label for label, _v in chooser.tag_filter.options] == ["All tags", "beam", "xgm"]
    assert len(listed(chooser)) == 6


# --- the model changing -------------------------------------------------------------------------

def test_new_model_columns_appear_shown_through_the_pump(make, pump):
    model = TableModel(SPECS)
    chooser = make(model)
    select(chooser, "energy")
    click(chooser, "Hide", pump)

    done = threading.Event()  # a writer thread only wakes the pump
    threading.Thread(target=lambda: (model.set_columns(
        SPECS[:1] + [ColumnSpec("delay", "Delay")] + SPECS[1:]), done.set())).start()
    assert done.wait(5)
    assert "delay" not in chooser.visible_columns
    settle(pump)
    assert chooser.visible_columns == FIXED + ["xgm", "delay", "cam", "n"]
    assert (SHOWN_MARK + "Delay", "delay") in listed(chooser)
    assert chooser.column_list.value == ("energy",)  # the selection is kept


def test_a_hidden_column_removed_and_added_back_stays_hidden(make, pump):
    model = TableModel(SPECS)
    chooser = make(model)
    select(chooser, "cam")
    click(chooser, "Hide", pump)
    model.remove_column("cam")
    settle(pump)
    assert "cam" not in [k for _l, k in listed(chooser)]
    model.set_column(SPECS[2])
    settle(pump)
    assert (HIDDEN_MARK + "Camera", "cam") in listed(chooser)
    assert "cam" not in chooser.visible_columns


def test_cell_updates_send_nothing(make, pump):
    model = TableModel(SPECS)
    chooser = make(model)
    sent = Recorder(chooser.column_list)
    model.set_cells(1, {})
    settle(pump)
    assert sent.messages == []


def test_same_titles_are_told_apart(make):
    chooser = make(TableModel([ColumnSpec("a", "X"), ColumnSpec("b", "X")]))
    assert [label for label, _k in listed(chooser)][-2:] == [SHOWN_MARK + "X (a)",
                                                             SHOWN_MARK + "X (b)"]


# --- saved and restored -------------------------------------------------------------------------

def test_the_choice_is_restored_by_a_new_chooser(make, pump, config, db):
    first = make()
    select(first, "n")
    click(first, "Up", pump)
    select(first, "energy")
    click(first, "Hide", pump)
    browser_update(first.units_box, value=False)
    doc = saved(config)
    assert doc["database"] == str(db.resolve())
    assert doc["settings"]["columns"]["hidden"] == ["energy"]
    assert doc["settings"]["columns"]["units_in_header"] is False

    second = make()
    assert second.visible_columns == FIXED + ["xgm", "n", "cam"]
    assert second.units_in_header is False and second.units_box.value is False
    assert second.hierarchical is True
    assert (HIDDEN_MARK + "Energy", "energy") in listed(second)


def test_visible_columns_set_from_python_is_saved(make, config):
    make().visible_columns = ["#run", "cam", "xgm"]
    assert make().visible_columns == ["#run", "cam", "xgm"]


def test_keys_gone_from_the_model_are_kept_in_the_saved_choice(make, pump, config):
    first = make()
    select(first, "cam", "xgm")
    click(first, "Hide", pump)

    fewer = make(TableModel([s for s in SPECS if s.key != "cam"]))
    assert fewer.visible_columns == FIXED + ["energy", "n"]
    select(fewer, "n")
    click(fewer, "Up", pump)
    assert saved(config)["settings"]["columns"]["hidden"] == ["cam", "xgm"]
    assert "cam" in saved(config)["settings"]["columns"]["order"]

    again = make()  # cam is back, and still hidden
    assert again.visible_columns == FIXED + ["n", "energy"]
    assert (HIDDEN_MARK + "Camera", "cam") in listed(again)


def test_new_columns_are_shown_in_a_restored_choice(make, pump):
    first = make()
    select(first, "energy")
    click(first, "Hide", pump)
    more = make(TableModel(SPECS + [ColumnSpec("delay", "Delay")]))
    assert more.visible_columns == FIXED + ["xgm", "cam", "n", "delay"]


def test_without_settings_nothing_is_saved(make, pump, config):
    chooser = make(settings=None)
    select(chooser, "cam")
    click(chooser, "Hide", pump)
    assert "cam" not in chooser.visible_columns
    assert not config.exists()


def test_nothing_is_written_in_the_database_directory(make, pump, db):
    chooser = make()
    select(chooser, "cam")
    click(chooser, "Hide", pump)
    assert list(db.iterdir()) == []


def test_a_corrupt_settings_file_warns_and_gives_the_defaults(make, pump, config, db):
    settings = ViewSettings(db)
    settings.path.parent.mkdir(parents=True)
    settings.path.write_text('{"settings": {"columns": {"hidden": ["cam"')
    with pytest.warns(RuntimeWarning, match=re.escape(str(settings.path)) + ".*defaults are used"):
        chooser = make()
    assert chooser.visible_columns == FIXED + ["xgm", "energy", "cam", "n"]
    select(chooser, "cam")
    click(chooser, "Hide", pump)  # replaces the file
    assert saved(config)["settings"]["columns"]["hidden"] == ["cam"]


def test_a_saved_choice_of_the_wrong_shape_warns_and_shows_every_column(make, db):
    ViewSettings(db).set("columns", {"hidden": "cam"})
    with pytest.warns(RuntimeWarning, match="not understood"):
        chooser = make()
    assert chooser.visible_columns == FIXED + ["xgm", "energy", "cam", "n"]


@pytest.fixture(params=["read-only", "not a directory"])
def unwritable(request, config):
    """The config directory cannot be written: read-only (not for root, who writes anyway),
    or below a file."""
    if request.param == "read-only":
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            pytest.skip("root writes into read-only directories")
        config.mkdir()
        config.chmod(stat.S_IRUSR | stat.S_IXUSR)
        yield config
        config.chmod(stat.S_IRWXU)
        assert list(config.iterdir()) == []
    else:
        config.write_text("")
        yield config


def test_an_unwritable_config_dir_warns_once_and_keeps_the_choice(make, pump, unwritable):
    chooser = make()
    select(chooser, "cam")
    with pytest.warns(RuntimeWarning, match="cannot save.*kept in memory") as record:
        click(chooser, "Hide", pump)
    assert len(record) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        select(chooser, "xgm")
        click(chooser, "Hide", pump)
        browser_update(chooser.units_box, value=False)
    assert chooser.visible_columns == FIXED + ["energy", "n"]
    assert chooser._settings.get("columns")["hidden"] == ["cam", "xgm"]
    assert chooser._settings.get("columns")["units_in_header"] is False


# --- ViewSettings alone -------------------------------------------------------------------------

def test_settings_round_trip_and_location(config, db, monkeypatch):
    settings = ViewSettings(db)
    assert settings.path.parent == config / "views"
    assert settings.get("x", 5) == 5
    settings.set("x", {"a": [1, 2.5, None, True], "b": "t"})
    settings.set("y", (1, 2))
    again = ViewSettings(str(db) + "/.")
    assert again.path == settings.path
    assert again.get("x") == {"a": [1, 2.5, None, True], "b": "t"}
    assert again.get("y") == [1, 2]
    again.get("x")["a"].append(9)  # a copy
    assert again.get("x")["a"] == [1, 2.5, None, True]
    assert [p.name for p in settings.path.parent.iterdir()] == [settings.path.name]

    monkeypatch.delenv("DAMNIT_NB_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config / "xdg"))
    assert config_dir() == config / "xdg" / "damnit_nb"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(config / "home"))
    assert config_dir() == config / "home" / ".config" / "damnit_nb"


def test_settings_refuse_values_json_cannot_hold(config, db):
    settings = ViewSettings(db)
    for bad in ({1, 2}, object(), float("nan")):
        with pytest.raises(TypeError, match="JSON-serialisable"):
            settings.set("x", bad)
    assert settings.get("x") is None
    assert not settings.path.exists()


def test_settings_keep_what_another_kernel_saved(config, db):
    one, two = ViewSettings(db), ViewSettings(db)
    one.set("columns", 1)
    two.set("filters", 2)
    assert ViewSettings(db).get("columns") == 1 and ViewSettings(db).get("filters") == 2


def test_settings_from_many_threads(config, db):
    settings = ViewSettings(db)

    def write(k):
        for i in range(20):
            settings.set(f"k{k}", i)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {f"k{k}": ViewSettings(db).get(f"k{k}") for k in range(4)} == {
        f"k{k}": 19 for k in range(4)}
    assert [p.suffix for p in settings.path.parent.iterdir()] == [".json"]  # no temp files


@pytest.mark.parametrize("text", ["[]", "not json", '{"settings": 3}', "\xff"])
def test_unreadable_settings_files_warn(config, db, text):
    path = ViewSettings(db).path
    path.parent.mkdir(parents=True)
    path.write_bytes(text.encode("latin-1"))
    with pytest.warns(RuntimeWarning, match="cannot read the view settings"):
        settings = ViewSettings(db)
    assert settings.get("columns") is None


def test_a_closed_chooser_no_longer_follows_the_model(make, pump):
    model = TableModel(SPECS)
    chooser = make(model)
    settle(pump)
    chooser.close()
    chooser.close()  # twice is fine
    model.set_column(ColumnSpec("delay"))
    assert pump.next_due() is None
    assert "delay" not in chooser.visible_columns
