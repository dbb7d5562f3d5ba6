"""The run table widget: a status line, an ipydatagrid of runs, and a detail line.

Any thread may post changes (``set_columns``, ``set_cells``, ``set_status``); they go into a
model guarded by a lock, and one pump thread applies them to the widgets, coalesced, a few
times a second at most: changed cells as cell updates, new rows or columns as one new table.
"""

import html
import threading
import time
import warnings

import ipywidgets as widgets
import pandas as pd
from ipydatagrid import DataGrid, ImageRenderer, TextRenderer, VegaExpr

__all__ = ["RunTableView", "ERROR_MARK", "SKIP_MARK", "ImageCell", "HtmlDetail"]

ERROR_MARK = "⚠"
SKIP_MARK = "–"
_ROW_KEY = "run_key"
_MARKED_BACKGROUND = VegaExpr(
    f"isString(cell.value) && indexof(cell.value, '{ERROR_MARK}') == 0 ? '#f6d5d3' : "
    f"(isString(cell.value) && indexof(cell.value, '{SKIP_MARK} ') == 0 ? '#eeeeee' : 'white')"
)


#: Row height (px) once a column shows images, so thumbnails can be seen in the table.
IMAGE_ROW_SIZE = 56
#: Seconds after images are sent when the grid is repainted: it draws an image only once the
#: browser has decoded it, and that happens after the first paint.
_REPAINT_AFTER = (0.5, 2.0)


class ImageCell(str):
    """A cell value that is an image (a ``data:`` URI): its column draws images."""


class HtmlDetail(str):
    """A cell's detail that is HTML (an image, a plot), shown as it is rather than as text."""


class RunTableView:
    """What a RunTable shows. ``widget`` is the ipywidgets box to display.

    ``columns`` is a list of ``(key, header)``; cells are addressed by ``(run, key)``.
    Cells of the ``editable`` columns (default: ``comment_key``) can be edited: ``on_edit(run,
    key, text)`` is called (on the widget-callback thread) and returns what the cell should
    show, or raises ValueError to refuse the edit (the cell reverts and the message is shown
    under the table); ``on_comment(run, text)`` is the older form for the comment alone.
    Edits of other columns revert. A clicked cell shows a longer text under the table: the
    detail given to ``set_cells`` for it (text, or ``HtmlDetail``), else what ``on_detail(run,
    key)`` returns (called on the widget-callback thread when the cell is clicked; None: the
    cell's value), so details that are large (logs, images, plots) need not be kept for every
    run shown.
    """

    def __init__(self, columns, *, comment_key="comment", on_comment=None, on_edit=None,
                 on_detail=None, editable=None, min_interval=0.3):
        self._lock = threading.Lock()  # guards the model below
        self._columns = list(columns)
        self._rows = {}  # run -> {key: shown value}
        self._details = {}  # (run, key) -> text
        self._dirty_cells = {}  # (run, key) -> value, not yet sent
        self._dirty_table = True
        self._status = ""
        self._dirty_status = False
        self._image_keys = set()  # columns showing images
        self._image_renderer = None  # made when the first image arrives
        self._repaints = []  # monotonic times at which to repaint the grid (images loaded)
        self._comment_key = comment_key
        self._on_comment = on_comment
        self._on_edit = on_edit
        self._on_detail = on_detail
        self._editable = set(editable) if editable is not None else {comment_key}
        self._min_interval = min_interval

        self._widget_lock = threading.RLock()  # one thread changes widgets at a time
        self.status = widgets.HTML(layout=widgets.Layout(margin="0 0 4px 0"))
        self.grid = DataGrid(self._frame(), index_name=_ROW_KEY, editable=True,
                             selection_mode="cell", header_visibility="column",
                             base_column_size=110,
                             column_widths={"Run": 64, "Start time": 150, "Comment": 180},
                             default_renderer=TextRenderer(background_color=_MARKED_BACKGROUND),
                             layout=widgets.Layout(height=self._height(0)))
        self._grid_rows = []  # run of each row of the grid's current data, in order
        self._grid_headers = {}  # key -> header of the grid's current data
        self.detail = widgets.HTML()
        self.widget = widgets.VBox([self.status, self.grid, self.detail])
        self.grid.on_cell_change(self._cell_changed)
        self.grid.on_cell_click(self._cell_clicked)

        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._pump = threading.Thread(target=self._pump_main, name="damnit_nb-view", daemon=True)
        self._pump.start()

    # -- posting changes (any thread) -----------------------------------------------------------
    def set_columns(self, columns):
        """Replace the list of ``(key, header)`` columns."""
        with self._lock:
            if list(columns) != self._columns:
                self._columns = list(columns)
                self._dirty_table = True
                self._wake.notify()

    def set_cells(self, run, values, details=None, *, if_absent=False):
        """Show ``values`` ({key: value}) in the row of ``run``, adding the row if new.

        ``if_absent``: only in cells not shown yet (a snapshot read before newer posts must
        not overwrite them)."""
        with self._lock:
            row = self._rows.get(run)
            if row is None:
                row = self._rows[run] = {}
                self._dirty_table = True
            for key, value in values.items():
                if if_absent and key in row:
                    continue
                if isinstance(value, ImageCell) and key not in self._image_keys:
                    self._image_keys.add(key)
                    self._dirty_table = True  # the column starts drawing images
                if row.get(key, _MISSING) != value:
                    row[key] = value
                    self._dirty_cells[(run, key)] = value
                self._details.pop((run, key), None)
            for key, text in (details or {}).items():
                self._details[(run, key)] = text
            self._wake.notify()

    def set_status(self, html_text):
        with self._lock:
            if html_text != self._status:
                self._status = html_text
                self._dirty_status = True
                self._wake.notify()

    def cell(self, run, key):
        """The value shown (or about to be shown) for ``run`` and ``key``."""
        with self._lock:
            return self._rows.get(run, {}).get(key)

    def close(self):
        with self._lock:
            self._closed = True
            self._wake.notify()
        self._pump.join(5)
        with self._widget_lock:
            self.widget.close()

    # -- the pump -----------------------------------------------------------------------------
    def _pump_main(self):
        while True:
            with self._lock:
                while not (self._closed or self._dirty_table or self._dirty_cells
                           or self._dirty_status or self._repaint_due()):
                    self._wake.wait(self._until_repaint())
                if self._closed:
                    return
            try:
                self._flush()
            except Exception as e:  # a widget hiccup must not stop later updates
                warnings.warn(f"damnit_nb: updating the table failed: {e!r}", RuntimeWarning)
            # coalesce: whatever arrives during this pause goes out in the next flush; a post
            # wakes the pump but does not end the pause (only closing does)
            deadline = time.monotonic() + self._min_interval
            with self._lock:
                while not self._closed and (left := deadline - time.monotonic()) > 0:
                    self._wake.wait(left)

    def _repaint_due(self):
        return bool(self._repaints) and self._repaints[0] <= time.monotonic()

    def _until_repaint(self):
        return None if not self._repaints else max(0.0, self._repaints[0] - time.monotonic())

    def _flush(self):
        """Apply what changed to the widgets."""
        with self._lock:
            repaint = self._repaint_due()
            if repaint:
                now = time.monotonic()
                self._repaints = [t for t in self._repaints if t > now]
            status = self._status if self._dirty_status else None
            self._dirty_status = False
            images = set(self._image_keys)
            if images and (self._dirty_table or any(
                    isinstance(v, ImageCell) for v in self._dirty_cells.values())):
                now = time.monotonic()
                self._repaints = sorted(set(self._repaints) | {now + d for d in _REPAINT_AFTER})
            if self._dirty_table:
                frame, rows = self._frame_locked(), sorted(self._rows)
                headers = dict(self._columns)
                cells = {}
            else:
                frame = None
                cells = self._dirty_cells
            self._dirty_table = False
            self._dirty_cells = {}
        with self._widget_lock:
            if status is not None:
                self.status.value = status
            if frame is not None:
                self._grid_rows, self._grid_headers = rows, headers
                row_size = IMAGE_ROW_SIZE if images else 20
                with self.grid.hold_sync():
                    self.grid.data = frame
                    self.grid.base_row_size = row_size
                    self.grid.layout.height = self._height(len(rows), row_size)
                if images:
                    # After the data, in a message of its own: the browser's grid applies
                    # renderers that arrive with new data to the data it had before.
                    if self._image_renderer is None:
                        self._image_renderer = ImageRenderer(width="", height="100%",
                                                             placeholder="")
                    self.grid.renderers = {headers[k]: self._image_renderer
                                           for k in images if k in headers}
                    self.grid.send_state("renderers")
            for (run, key), value in cells.items():
                header = self._grid_headers.get(key)
                if header is not None:
                    self.grid.set_cell_value(header, run, _cell_text(value, key in images))
            if repaint and images:  # a 1 px change of row height makes the grid repaint
                size = self.grid.base_row_size
                self.grid.base_row_size = IMAGE_ROW_SIZE + 1 if size == IMAGE_ROW_SIZE else IMAGE_ROW_SIZE

    def _frame(self):
        with self._lock:
            return self._frame_locked()

    def _frame_locked(self):
        runs = sorted(self._rows)
        data = {header: [_cell_text(self._rows[r].get(key), key in self._image_keys)
                         for r in runs]
                for key, header in self._columns}
        frame = pd.DataFrame(data, index=pd.Index(runs, name=_ROW_KEY), dtype=object)
        return frame

    @staticmethod
    def _height(nrows, row_size=20):
        return f"{min(640, 26 + (row_size + 2) * max(nrows, 3))}px"

    # -- widget callbacks (the kernel's comm thread) ----------------------------------------------
    def _cell_changed(self, change):
        if threading.current_thread() is self._pump:
            return  # ipydatagrid calls this from inside our own set_cell_value
        run = self._run_at(change["row"])
        key = self._key_of(change["column"])
        if run is None or key is None:
            return
        value = change["value"]
        with self._lock:
            shown = self._rows.get(run, {}).get(key)
            sent = _cell_text(shown, key in self._image_keys)
            if (value == shown or value == sent
                    or (value in ("", None) and shown in ("", None))):
                return  # our own update, echoed by the browser
            if key not in self._editable:
                self._dirty_cells[(run, key)] = shown  # not editable: revert
                self._wake.notify()
                return
            self._rows[run][key] = value
        if self._on_edit is not None:
            try:
                accepted = self._on_edit(run, key, value)
            except ValueError as e:
                self.set_cells(run, {key: shown})
                with self._widget_lock:
                    self.detail.value = (f"<span style='color:#b00'>Run {run}: "
                                         f"{html.escape(str(e))}</span>")
                return
            if accepted != value:
                self.set_cells(run, {key: accepted})
        elif self._on_comment is not None and key == self._comment_key:
            self._on_comment(run, value)

    def set_editable(self, keys):
        """The keys of the columns whose cells users may edit."""
        with self._lock:
            self._editable = set(keys)

    def _cell_clicked(self, event):
        if event.get("region") != "body":
            return
        run = event.get("primary_key_row")
        if isinstance(run, list):
            run = run[0] if run else None
        key = self._key_of(event.get("column"))
        with self._lock:
            detail = self._details.get((run, key))
            header = dict(self._columns).get(key, key)
            value = self._rows.get(run, {}).get(key)
        if detail is None and self._on_detail is not None and run is not None and key:
            try:
                detail = self._on_detail(run, key)
            except Exception as e:  # a detail that cannot be read must not break clicking
                detail = f"(cannot show the detail: {type(e).__name__}: {e})"
        if detail is None:
            text = f"Run {run} · {html.escape(str(header))}: {html.escape(str(value))}"
        elif isinstance(detail, HtmlDetail):
            text = f"Run {run} · {html.escape(str(header))}:<br>{detail}"
        else:
            text = (f"Run {run} · {html.escape(str(header))}:"
                    f"<pre style='white-space: pre-wrap; margin: 2px 0'>{html.escape(detail)}</pre>")
        with self._widget_lock:
            self.detail.value = text

    def _run_at(self, row):
        with self._widget_lock:
            rows = self._grid_rows
        return rows[row] if isinstance(row, int) and 0 <= row < len(rows) else None

    def _key_of(self, header):
        with self._widget_lock:
            headers = self._grid_headers
        for key, h in headers.items():
            if h == header:
                return key
        return None


_MISSING = object()


def _cell_text(value, image_column=False):
    """What the grid gets for a value: missing values as empty text, not NaN; in a column
    that draws images, anything else as a small image of its text."""
    if image_column and not isinstance(value, ImageCell):
        return _text_image(value)
    return "" if value is None else value


def _text_image(value):
    """A ``data:`` URI of an SVG showing *value* as text (red for errors)."""
    from urllib.parse import quote

    if value is None or value == "":
        return ""
    text = html.escape(str(value))
    colour = "#b00" if str(value).startswith(ERROR_MARK) else "#555"
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="140" height="20">'
           f'<text x="2" y="14" font-family="sans-serif" font-size="12" fill="{colour}">'
           f"{text}</text></svg>")
    return "data:image/svg+xml," + quote(svg)
