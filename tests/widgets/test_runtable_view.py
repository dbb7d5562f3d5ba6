import threading

import numpy as np
import pytest

from damnit_nb.widgets import ERROR_MARK, RunTableView, display_value, sparkline
from damnit_nb.widgets.runtable import HtmlDetail
from tests.helpers import eventually

COLUMNS = [("run", "Run"), ("comment", "Comment"), ("x", "X")]


@pytest.fixture
def view():
    comments = []
    v = RunTableView(COLUMNS, on_comment=lambda run, text: comments.append((run, text)),
                     min_interval=0.2)
    v.comments = comments
    v.sent = []  # custom messages (cell updates) the grid sends to the browser
    v.resends = []  # whole-table replacements
    v.grid.comm.send = lambda data=None, **kw: v.sent.append(data)
    v.grid.observe(lambda change: v.resends.append(change), names="_data")
    yield v
    v.close()


def cell_messages(v):
    """The cell updates the grid sent to the browser."""
    return [m["content"] for m in v.sent
            if m.get("method") == "custom" and m["content"]["event_type"] == "cell-changed"]


def shown(v):
    return v.grid.data.to_dict(orient="index")


def test_rows_appear_and_cells_update_without_resending_the_table(view):
    view.set_cells(1, {"run": 1, "x": 1.5})
    view.set_cells(2, {"run": 2, "x": 2.5})
    assert eventually(lambda: len(view.grid.data) == 2)
    assert shown(view)[2]["X"] == 2.5
    resends = len(view.resends)
    view.set_cells(2, {"x": 7.0})
    assert eventually(lambda: shown(view)[2]["X"] == 7.0)
    assert len(view.resends) == resends  # a changed cell goes out alone
    assert any(m["value"] == 7.0 for m in cell_messages(view))


def test_bursts_from_many_threads_are_coalesced(view):
    view.set_cells(1, {"run": 1, "x": 0})
    assert eventually(lambda: len(view.grid.data) == 1)
    view.sent.clear()

    def hammer(k):
        for i in range(200):
            view.set_cells(1, {"x": k * 1000 + i})

    threads = [threading.Thread(target=hammer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = view.cell(1, "x")
    assert eventually(lambda: shown(view)[1]["X"] == final)
    # 800 posts in well under a second become a handful of cell messages
    assert len(cell_messages(view)) < 20


def test_editing_a_comment_saves_it_and_other_edits_are_reverted(view):
    view.set_cells(1, {"run": 1, "x": 3.0, "comment": None})
    assert eventually(lambda: len(view.grid.data) == 1)
    # what ipydatagrid's handlers receive when a user edits cells in the browser
    view._cell_changed({"row": 0, "column": "Comment", "column_index": 1, "value": "aligned"})
    assert view.comments == [(1, "aligned")]
    assert view.cell(1, "comment") == "aligned"
    view._cell_changed({"row": 0, "column": "X", "column_index": 2, "value": 99})
    assert view.comments == [(1, "aligned")]
    assert eventually(lambda: any(m["value"] == 3.0 for m in cell_messages(view)))
    # the kernel's own updates echo back: they are not user edits
    view._cell_changed({"row": 0, "column": "Comment", "column_index": 1, "value": "aligned"})
    assert view.comments == [(1, "aligned")]


def test_new_columns_and_error_details(view):
    view.set_cells(1, {"run": 1})
    view.set_columns(COLUMNS + [("y", "Y")])
    view.set_cells(1, {"y": f"{ERROR_MARK} ValueError"}, {"y": "ValueError: no XGM data"})
    assert eventually(lambda: "Y" in view.grid.data.columns and shown(view)[1]["Y"])
    view._cell_clicked({"region": "body", "column": "Y", "primary_key_row": 1})
    assert "no XGM data" in view.detail.value


def test_status_line(view):
    view.set_status("Watching <b>p002012</b>")
    assert eventually(lambda: view.status.value == "Watching <b>p002012</b>")


class Stored:
    def __init__(self, value, summary_type=None, error=None, error_cls=None):
        self.value, self.summary_type = value, summary_type
        self.error, self.error_cls = error, error_cls

    is_error = property(lambda self: self.error_cls is not None)
    skipped = property(lambda self: self.error_cls == "Skip")


def test_display_values():
    assert display_value(None) == (None, None)
    assert display_value(Stored(3.14159265358979)) == (3.14159, None)
    assert display_value(Stored(np.int64(4))) == (4, None)
    assert display_value(Stored("a"))[0] == "a"
    shown, detail = display_value(Stored(None, error="division by zero", error_cls="ZeroDivisionError"))
    assert shown == f"{ERROR_MARK} ZeroDivisionError" and "division by zero" in detail
    assert display_value(Stored(None, error="no AGIPD", error_cls="Skip"))[1] == "Skipped: no AGIPD"
    trend = np.vstack([np.arange(10), np.arange(10.0)])
    assert display_value(Stored(trend, "trendline"))[0] == sparkline(np.arange(10.0))
    assert display_value(Stored(np.zeros((2, 3, 4))))[0] == "float64: (2, 3, 4)"


def test_sparkline():
    assert sparkline([0, 1]) == "▁█"
    assert sparkline([np.nan, 2, 2]) == "▄▄"
    assert len(sparkline(np.arange(1000), width=24)) == 24
    assert sparkline([]) == ""


def test_images_and_trends_show_in_the_detail(view):
    from damnit_nb.store.results import thumbnail_png

    png = thumbnail_png(np.arange(64.0).reshape(8, 8))
    shown_value, detail = display_value(Stored(png, "png"))
    assert shown_value.startswith("data:image/png;base64,")  # drawn in the cell
    assert detail.startswith("<img src=\"data:image/png;base64,")
    import base64

    encoded = detail.split("base64,")[1].split('"')[0]
    assert base64.b64decode(encoded) == png  # the very thumbnail, shown

    trend = np.vstack([np.arange(5.0), np.array([1.0, 3.0, 2.0, np.nan, 5.0])])
    _, svg = display_value(Stored(trend, "trendline"))
    assert "<polyline" in svg and svg.count(",") >= 4 and "4 points" in svg

    view.set_cells(1, {"run": 1, "x": shown_value}, {"x": detail})
    view.set_cells(2, {"run": 2, "x": f"{ERROR_MARK} ValueError"})
    assert eventually(lambda: 2 in shown(view) and "X" in view.grid.renderers)
    assert type(view.grid.renderers["X"]).__name__ == "ImageRenderer"
    assert view.grid.base_row_size >= 56  # rows tall enough to see a thumbnail
    assert shown(view)[1]["X"] == shown_value
    assert shown(view)[2]["X"].startswith("data:image/svg+xml,")  # the error, drawn as text
    first = view.grid.base_row_size
    assert eventually(lambda: view.grid.base_row_size != first, timeout=5)  # repainted once loaded
    view._cell_clicked({"region": "body", "column": "X", "primary_key_row": 1})
    assert "<img src=\"data:image/png;base64," in view.detail.value  # as HTML, not escaped


def test_a_cell_without_a_detail_asks_for_it_when_clicked():
    asked = []

    def on_detail(run, key):
        asked.append((run, key))
        return {"x": HtmlDetail("<b>big plot</b>"), "comment": None}.get(key, "long log")

    v = RunTableView(COLUMNS, on_detail=on_detail, min_interval=0.05)
    try:
        for run in range(1, 51):
            v.set_cells(run, {"run": run, "x": float(run), "comment": "ok"})
        assert eventually(lambda: len(v.grid.data) == 50)
        assert asked == []  # nothing is made before a click
        v._cell_clicked({"region": "body", "column": "X", "primary_key_row": 7})
        assert asked == [(7, "x")] and "<b>big plot</b>" in v.detail.value
        v._cell_clicked({"region": "body", "column": "Run", "primary_key_row": 3})
        assert "long log" in v.detail.value
        v._cell_clicked({"region": "body", "column": "Comment", "primary_key_row": 3})
        assert v.detail.value.endswith(": ok")  # None: the value itself
        v.set_cells(7, {"x": 1.0}, {"x": "given"})  # a detail given is used as it is
        v._cell_clicked({"region": "body", "column": "X", "primary_key_row": 7})
        assert "given" in v.detail.value and asked[-1] == (3, "comment")
    finally:
        v.close()


def test_a_cell_shows_a_small_image_and_its_detail_the_whole_thumbnail():
    import base64
    import io

    from PIL import Image

    from damnit_nb.store.results import thumbnail_png
    from damnit_nb.widgets.display import CELL_IMAGE_SIZE

    rng = np.random.default_rng(0)
    png = thumbnail_png(rng.normal(100, 10, (512, 256)))  # a noisy detector image
    shown_value, detail = display_value(Stored(png))
    cell_png = base64.b64decode(shown_value.split("base64,")[1])
    with Image.open(io.BytesIO(cell_png)) as im, Image.open(io.BytesIO(png)) as full:
        assert im.width <= CELL_IMAGE_SIZE[0] and im.height <= CELL_IMAGE_SIZE[1]
        assert im.width / im.height == pytest.approx(full.width / full.height, rel=0.05)
        assert full.height > CELL_IMAGE_SIZE[1]
    # every image of a column goes out with each new table: a cell's is a few kB
    assert len(shown_value) < len(png) / 4
    assert base64.b64decode(detail.split("base64,")[1].split('"')[0]) == png


def browser_sends(v, content):
    """A message from the browser's grid, as the comm delivers it."""
    v.grid._handle_msg({"content": {"data": {"method": "custom", "content": content}}})


def test_a_non_image_in_an_image_column_is_sent_once_not_reverted_for_ever(view):
    import time

    from damnit_nb.store.results import thumbnail_png

    png_value, _ = display_value(Stored(thumbnail_png(np.ones((8, 8))), "png"))
    view.set_cells(1, {"run": 1, "x": png_value})
    view.set_cells(2, {"run": 2, "x": 1.0})
    assert eventually(lambda: 2 in shown(view) and "X" in view.grid.renderers)
    view.set_cells(2, {"x": f"{ERROR_MARK} ValueError"})  # a cell update, not an image
    assert eventually(lambda: any(m["row"] == 1 for m in cell_messages(view)))
    sent = [m for m in cell_messages(view) if m["row"] == 1][-1]
    # the browser echoes the change it was sent, as its grid does
    browser_sends(view, {"event_type": "cell-changed", "row": 1, "column": "X",
                         "column_index": sent["column_index"], "value": sent["value"]})
    count = len(cell_messages(view))
    time.sleep(1.0)  # five update intervals: nothing more may go out
    assert len(cell_messages(view)) == count
    assert shown(view)[2]["X"] == sent["value"]


def test_updates_posted_during_the_pause_do_not_end_it(view):
    import time

    view.set_cells(1, {"run": 1, "x": 0.0})
    assert eventually(lambda: 1 in shown(view))
    before = len(cell_messages(view))
    start = time.monotonic()
    for i in range(1, 31):  # 30 updates over 1.5 s: at most one sync per 0.2 s
        view.set_cells(1, {"x": float(i)})
        time.sleep(0.05)
    assert eventually(lambda: shown(view)[1]["X"] == 30.0)
    elapsed = time.monotonic() - start
    assert len(cell_messages(view)) - before <= elapsed / 0.2 + 2

    resends = len(view.resends)
    start = time.monotonic()
    for run in range(2, 32):  # 30 new runs over 1.5 s: new rows coalesce the same way
        view.set_cells(run, {"run": run, "x": 1.0})
        time.sleep(0.05)
    assert eventually(lambda: len(view.grid.data) == 31)
    elapsed = time.monotonic() - start
    assert len(view.resends) - resends <= elapsed / 0.2 + 2
