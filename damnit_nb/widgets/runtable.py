"""The run table widget: a status line, an ipydatagrid of runs, and a detail line.

Any thread may post changes (``set_columns``, ``set_cells``, ``set_status``); they go into a
model guarded by a lock, and one pump thread applies them to the widgets, coalesced, a few
times a second at most: changed cells as cell updates, new rows or columns as one new table.
"""

import html
import threading
import warnings

import ipywidgets as widgets
import pandas as pd
from ipydatagrid import DataGrid, TextRenderer, VegaExpr

__all__ = ["RunTableView", "ERROR_MARK", "SKIP_MARK"]

ERROR_MARK = "⚠"
SKIP_MARK = "–"
_ROW_KEY = "run_key"
_MARKED_BACKGROUND = VegaExpr(
    f"isString(cell.value) && indexof(cell.value, '{ERROR_MARK}') == 0 ? '#f6d5d3' : "
    f"(isString(cell.value) && indexof(cell.value, '{SKIP_MARK} ') == 0 ? '#eeeeee' : 'white')"
)


class HtmlDetail(str):
    """A cell's detail that is HTML (an image, a plot), shown as it is rather than as text."""


class RunTableView:
    """What a RunTable shows. ``widget`` is the ipywidgets box to display.

    ``columns`` is a list of ``(key, header)``; cells are addressed by ``(run, key)``.
    Cells of the ``editable`` columns (default: ``comment_key``) can be edited: ``on_edit(run,
    key, text)`` is called (on the widget-callback thread) and returns what the cell should
    show, or raises ValueError to refuse the edit (the cell reverts and the message is shown
    under the table); ``on_comment(run, text)`` is the older form for the comment alone.
    Edits of other columns revert. ``details`` maps ``(run, key)`` to a longer text shown
    under the table when the cell is clicked (error messages).
    """

    def __init__(self, columns, *, comment_key="comment", on_comment=None, on_edit=None,
                 editable=None, min_interval=0.3):
        self._lock = threading.Lock()  # guards the model below
        self._columns = list(columns)
        self._rows = {}  # run -> {key: shown value}
        self._details = {}  # (run, key) -> text
        self._dirty_cells = {}  # (run, key) -> value, not yet sent
        self._dirty_table = True
        self._status = ""
        self._dirty_status = False
        self._comment_key = comment_key
        self._on_comment = on_comment
        self._on_edit = on_edit
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

    def set_cells(self, run, values, details=None):
        """Show ``values`` ({key: value}) in the row of ``run``, adding the row if new."""
        with self._lock:
            row = self._rows.get(run)
            if row is None:
                row = self._rows[run] = {}
                self._dirty_table = True
            for key, value in values.items():
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
                           or self._dirty_status):
                    self._wake.wait()
                if self._closed:
                    return
            try:
                self._flush()
            except Exception as e:  # a widget hiccup must not stop later updates
                warnings.warn(f"damnit_nb: updating the table failed: {e!r}", RuntimeWarning)
            # coalesce: whatever arrives during this pause goes out in the next flush
            with self._lock:
                if not self._closed:
                    self._wake.wait(self._min_interval)

    def _flush(self):
        """Apply what changed to the widgets."""
        with self._lock:
            status = self._status if self._dirty_status else None
            self._dirty_status = False
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
                with self.grid.hold_sync():
                    self.grid.data = frame
                    self.grid.layout.height = self._height(len(rows))
            for (run, key), value in cells.items():
                header = self._grid_headers.get(key)
                if header is not None:
                    self.grid.set_cell_value(header, run, _cell_text(value))

    def _frame(self):
        with self._lock:
            return self._frame_locked()

    def _frame_locked(self):
        runs = sorted(self._rows)
        data = {header: [_cell_text(self._rows[r].get(key)) for r in runs]
                for key, header in self._columns}
        frame = pd.DataFrame(data, index=pd.Index(runs, name=_ROW_KEY), dtype=object)
        return frame

    @staticmethod
    def _height(nrows):
        return f"{min(640, 26 + 22 * max(nrows, 3))}px"

    # -- widget callbacks (the kernel's comm thread) ----------------------------------------------
    def _cell_changed(self, change):
        run = self._run_at(change["row"])
        key = self._key_of(change["column"])
        if run is None or key is None:
            return
        value = change["value"]
        with self._lock:
            shown = self._rows.get(run, {}).get(key)
            if value == shown or (value in ("", None) and shown in ("", None)):
                return  # our own update, echoed
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


def _cell_text(value):
    """What the grid gets for a value: missing values as empty text, not NaN."""
    return "" if value is None else value
