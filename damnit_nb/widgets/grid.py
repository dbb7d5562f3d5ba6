"""`RunGrid`: the grid of runs, an ipydatagrid streaming grid fed by a `TableModel`.

The browser holds only what it shows. It is told the columns and the number of rows; it asks
for the rows and columns in view (``data-request``) and gets them as display payloads. Sorting
and filtering run here, on the model's typed cells: numbers sort as numbers, and errors, skips
and missing values (kept out of the values as marks) sort last. So a new run costs the rows in
view, one changed value a message of its own, and showing 9,000 runs costs what is on screen.

Columns are keyed by variable name. What the browser calls a column (its field name) is the
title, with units, made unique; hierarchical headers are a pandas MultiIndex built from "/"
in titles. Each cell travels as a payload (`payload`): its text, or a small object with the
text and its marks (error, skipped, bold, background, provenance), which the renderers read.
A user's string that starts with a warning sign is only a string.

The grid is flushed by the update pump (`pump.default_pump`): ``flush()`` takes the model's
delta since the last flush and sends what the browser must know. Messages from the browser
(data requests, clicks, sorting and filtering from its header menus, selections) arrive on the
kernel's comm thread: the state they share with the pump's thread is guarded by a lock, and
no message is sent and no callback called while it is held.
"""

from __future__ import annotations

import base64
import html
import logging
import math
import threading
from dataclasses import replace
from urllib.parse import quote

import pandas as pd
from ipydatagrid import DataGrid, ImageRenderer, TextRenderer, VegaExpr
from traitlets import Bool, Int, List, Unicode, observe, validate

from .cells import MISSING, number_text, short_text
from .filters import check_filter, matching_runs
from .model import RUN_KEY, STATE_KEY
from .pump import default_pump

__all__ = ["RunGrid", "payload", "ROW_SIZE", "IMAGE_ROW_SIZE"]

log = logging.getLogger(__name__)

#: Row heights in pixels: text rows, and rows once a column shows images.
ROW_SIZE = 22
IMAGE_ROW_SIZE = 56
#: Characters of a text a cell gets (a longer one is cut; its detail has it all).
TEXT_LIMIT = 200
#: The grid's largest height in pixels (more rows scroll).
MAX_HEIGHT = 480
#: Seconds after images are sent when the grid is made to repaint (see `_images_sent`).
_REPAINT_AFTER = (0.4, 1.5)
#: The index field: the run number, the key of every row.
_INDEX = "run_key"
_BARS = "▁▂▃▄▅▆▇█"
_MARK_CODES = {"error": "e", "skipped": "s"}
#: How a run's state reads in its row: a sign, and a background while it is not settled.
_STATES = {"queued": ("◷", "#fff6d5"), "running": ("▶", "#dcebff"),
           "unsaved": ("⚠", "#ffe2c2"), "failed": ("✖", None), "cancelled": ("■", None),
           "done": ("✓", None), "vanished": ("∅", "#eeeeee")}

# What the renderers draw from a payload: its text, colours and font (see `payload`).
_TEXT = VegaExpr("isObject(cell.value) ? cell.value.t : cell.value")
_BACKGROUND = VegaExpr(
    "isObject(cell.value) ? (cell.value.bg ? cell.value.bg : (cell.value.m == 'e' ? '#f6d5d3'"
    " : (cell.value.m == 's' ? '#eeeeee' : 'white'))) : 'white'")
_COLOUR = VegaExpr(
    "isObject(cell.value) ? (cell.value.m == 'e' ? '#a00000' : (cell.value.m == 's' ? "
    "'#666666' : (cell.value.p ? '#1f4e9a' : 'black'))) : 'black'")
_FONT = VegaExpr("isObject(cell.value) && cell.value.b ? 'bold 12px sans-serif' : "
                 "'12px sans-serif'")


def _sparkline(y):
    y = [v for v in y if math.isfinite(v)]
    if not y:
        return ""
    if len(y) > 24:  # resampled to 24 bars
        step = len(y) / 24
        y = [y[int(i * step)] for i in range(24)]
    lo, hi = min(y), max(y)
    if hi == lo:
        return _BARS[3] * len(y)
    return "".join(_BARS[int((v - lo) / (hi - lo) * (len(_BARS) - 1))] for v in y)


def _text_image(text, error=False):
    """A ``data:`` URI of an SVG showing ``text`` (for image columns' other cells)."""
    if not text:
        return ""
    colour = "#a00000" if error else "#555"
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="140" height="20">'
           f'<text x="2" y="14" font-family="sans-serif" font-size="12" fill="{colour}">'
           f"{html.escape(text)}</text></svg>")
    return "data:image/svg+xml," + quote(svg)


_THUMBS = {}  # hash of a PNG -> its cell-sized version (a bounded cache)
_THUMB_SIZE = (3 * IMAGE_ROW_SIZE // 2, IMAGE_ROW_SIZE)


def cell_image(png):
    """``png`` scaled down to fit a row (what a cell draws), as a ``data:`` URI; kept in a
    small cache, so a row sent again costs no scaling."""
    key = hash(png)
    uri = _THUMBS.get(key)
    if uri is None:
        import io

        from PIL import Image

        try:
            with Image.open(io.BytesIO(png)) as im:
                if im.width > _THUMB_SIZE[0] or im.height > _THUMB_SIZE[1]:
                    im.thumbnail(_THUMB_SIZE)
                    out = io.BytesIO()
                    im.save(out, "PNG", optimize=True)
                    png = out.getvalue()
        except (OSError, ValueError):  # not an image PIL reads: sent as it is
            pass
        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        if len(_THUMBS) > 4096:
            _THUMBS.clear()
        _THUMBS[key] = uri
    return uri


def payload(cell, *, units_in_value=False, image_column=False):
    """What the browser gets for a cell: None (no value), its text, or ``{"t": text, "m":
    "e" (error) or "s" (skipped), "b": bold, "bg": "#rrggbb", "p": not from the context file}``
    (only the keys that apply). In a column of images: an image URI for every cell."""
    if image_column:
        if cell.kind == "image" and cell.mark is None:
            return cell_image(cell.value)
        return _text_image(short_text(cell), error=cell.mark == "error")
    if cell.mark == "missing":
        return None
    if cell.kind == "state" and cell.mark is None:
        glyph, background = _STATES.get(cell.value, ("", None))
        text = f"{glyph} {cell.value}" if glyph else cell.value
        return {"t": text, "bg": background} if background else text
    if cell.kind == "number":
        text = number_text(cell.value)
        if units_in_value and cell.units:
            text = f"{text} {cell.units}"
    elif cell.kind == "trend":
        text = _sparkline(cell.value.y.tolist())
    else:
        text = short_text(cell)
        if len(text) > TEXT_LIMIT:  # the whole text is in the cell's detail
            text = text[:TEXT_LIMIT - 1] + "…"
    marks = {}
    if cell.mark in _MARK_CODES:
        marks["m"] = _MARK_CODES[cell.mark]
    if cell.shown_bold:
        marks["b"] = 1
    if cell.background is not None:
        marks["bg"] = "#%02x%02x%02x" % tuple(cell.background[:3])
    if cell.provenance is not None:
        marks["p"] = 1
        text = f"{text} ✎"
    if not marks:
        return text
    marks["t"] = text
    return marks


def _units_key(units):
    """Units compared as written, but for the micro sign ("uJ", "μJ" and "µJ" are one)."""
    return (units or "").replace("μ", "u").replace("µ", "u").strip() or None


def _sort_key(cell):
    """Numbers before text, both before marks and missing values (which sort last)."""
    if cell.mark is not None:
        return (2, 0, "")
    if cell.kind in ("number", "time") and not isinstance(cell.value, bool):
        v = cell.value
        return (0, v if not math.isnan(v) else math.inf, "")
    return (1, 0, short_text(cell).casefold())


class RunGrid(DataGrid):
    """The grid showing a `TableModel`'s runs: keyed by run and variable name, sorted and
    filtered here on typed values, sending the browser only what it shows.

    Traits (kernel-side; link them to other components):

    - ``selected_runs``: the runs selected in the grid (click or drag on rows); settable.
    - ``visible_columns``: the keys shown, in order (empty: every column of the model).
    - ``filters``: run filters (see `filters`), applied with the browser's own header filters.
    - ``sort_by``: ``[key, descending]`` (empty: by run, ``newest_first``).
    - ``newest_first``: without another sort, the newest run on top (kept in view; each
      new run then re-sends the rows in view, as they all move down). Default: oldest
      first, so a new run is one new row at the end.
    - ``hierarchical``: headers in levels from "/" in titles; else flat titles.
    - ``units_in_header``: units with the header; else with each value.
    - ``shown_count``: how many runs pass the filters.

    ``on_click(callback)``: ``callback(run, key)`` when a body cell is clicked, with ``run``
    None for a header (comm thread).
    """

    _model_name = Unicode("StreamingDataGridModel").tag(sync=True)
    _view_name = Unicode("StreamingDataGridView").tag(sync=True)
    _row_count = Int(0).tag(sync=True)
    _debounce_delay = Int(80).tag(sync=True)

    selected_runs = List(Int())
    visible_columns = List(Unicode())
    filters = List()
    sort_by = List()
    newest_first = Bool(False)
    hierarchical = Bool(True)
    units_in_header = Bool(True)
    shown_count = Int(0)

    def __init__(self, model, *, pump=None, **kwargs):
        self._lock = threading.RLock()  # guards what the comm and pump threads share below
        self._tm = model
        self._pump = pump or default_pump()
        self._version = 0  # the model's version the grid shows
        self._keys = []  # column keys in the browser's order
        self._fields = []  # the browser's field name of each key (str or tuple)
        self._specs = {}  # key -> ColumnSpec
        self._image_keys = set()
        self._order = []  # runs in the browser's row order (filtered and sorted)
        self._row_of = {}  # run -> row in _order
        self._sent = {}  # row -> run, as the browser holds it (its last data replies)
        self._viewport = (0, -1, 0, -1)  # the last rows and columns the browser asked for
        self._dirty_order = False
        self._dirty_columns = True
        self._selecting = False
        self._click_callbacks = []
        self._repaint = False  # a repaint is due (images were sent)
        self._images_shown = set()  # image payloads sent once (a repaint re-sends them)
        kwargs.setdefault("selection_mode", "row")
        kwargs.setdefault("header_visibility", "column")
        kwargs.setdefault("base_row_size", ROW_SIZE)
        kwargs.setdefault("base_column_size", 110)
        kwargs.setdefault("editable", False)
        self._image_renderer = None
        # What shapes the first layout (made by DataGrid's constructor, before it takes
        # the other traits), so the browser's first state is already the chosen one.
        for name in ("visible_columns", "hierarchical", "units_in_header", "filters",
                     "sort_by", "newest_first"):
            if name in kwargs:
                setattr(self, name, kwargs.pop(name))
        super().__init__(None, index_name=_INDEX,
                         default_renderer=TextRenderer(
                             text_value=_TEXT, background_color=_BACKGROUND,
                             text_color=_COLOUR, font=_FONT),
                         **kwargs)
        self.renderers = self._renderers()
        self.column_widths = self._widths()
        self.shown_count = self._row_count
        self.layout.height = self._height(self._row_count, bool(self._image_keys))
        if self._image_keys:
            self.base_row_size = IMAGE_ROW_SIZE
        self._unsubscribe = model.subscribe(lambda version: self._pump.wake(self))
        self._pump.register(self)
        self._pump.wake(self)

    # -- what the table shows (any thread) ------------------------------------------------------
    @property
    def data(self):
        """The rows the grid shows, in its order, as a DataFrame of shown texts indexed by
        run (computed; for looking, not for changing the table)."""
        with self._lock:
            keys, order = list(self._keys), list(self._order)
            titles = [self._specs[k].header for k in keys]
        rows = self._tm.block(order, keys)
        return pd.DataFrame([[short_text(c) for c in row] for row in rows], columns=titles,
                            index=pd.Index(order, name="run"))

    @data.setter
    def data(self, frame):
        # DataGrid's constructor sets its first frame: the grid starts with the model as it
        # is (so the browser's first state has the columns and the row count).
        with self._lock:
            self._version = self._tm.version  # first: later changes come as deltas
            self._layout_columns()
            self._compute_order()
            self._data = self._schema()
            self._row_count = len(self._order)
            self._dirty_columns = self._dirty_order = False  # all in the first state

    def view_runs(self):
        """The runs in the grid's order, after its filters."""
        with self._lock:
            return list(self._order)

    def view_keys(self):
        """The column keys in the grid's order."""
        with self._lock:
            return list(self._keys)

    def field_of(self, key):
        """The browser's name of the column ``key`` (a string, or a tuple of header levels)."""
        with self._lock:
            return self._fields[self._keys.index(key)]

    def on_click(self, callback, remove=False):
        """Call ``callback(run, key)`` when a cell is clicked (``run`` None: the column's
        header), on the comm thread."""
        if remove:
            self._click_callbacks.remove(callback)
        else:
            self._click_callbacks.append(callback)

    def close(self):
        self._unsubscribe()
        self._pump.unregister(self)
        super().close()

    # -- the pump's thread ----------------------------------------------------------------------
    def pending(self):
        with self._lock:
            return (self._version != self._tm.version or self._dirty_order
                    or self._dirty_columns or self._repaint)

    def _images_sent(self):
        """Images went to the browser: its grid draws an image only once decoded, after its
        first paint, so the grid is made to repaint a little later (twice, for slow ones)."""
        for delay in _REPAINT_AFTER:
            timer = threading.Timer(delay, self._repaint_soon)
            timer.daemon = True
            timer.start()

    def _repaint_soon(self):
        with self._lock:
            self._repaint = True
        self._pump.wake(self)

    def flush(self):
        """Send what changed since the last flush (the update pump calls this)."""
        with self._lock:
            delta = self._tm.changes_since(self._version)
            version = delta.version
            columns_changed = delta.columns is not None or self._dirty_columns
            cells = delta.cells
            order_changed = (bool(delta.rows_added or delta.rows_removed) or self._dirty_order
                             or self._sort_touched(cells.keys()))
            self._version = version
            self._dirty_order = self._dirty_columns = False
            repaint, self._repaint = self._repaint, False
            if columns_changed:
                self._layout_columns()
            old_order = self._order
            if order_changed or columns_changed:
                self._compute_order()
            appended = (order_changed and not columns_changed
                        and len(self._order) > len(old_order)
                        and self._order[:len(old_order)] == old_order)
            messages = []
            if appended or not (order_changed or columns_changed):
                messages = self._cell_messages(cells)
            data = self._schema() if columns_changed else None
            renderers = self._renderers() if columns_changed else None
            widths = self._widths() if columns_changed else None
            row_count = len(self._order)
            selections = self._selections_for(self.selected_runs) if order_changed else None
            image_rows = bool(self._image_keys)
        with self.hold_sync():
            if data is not None:
                self._data = data
                self.column_widths = widths
                self.base_row_size = IMAGE_ROW_SIZE if image_rows else ROW_SIZE
            self._row_count = row_count
            self.shown_count = row_count
            self.layout.height = self._height(row_count, image_rows)
        if selections is not None and selections != self.selections:
            # After the row count, in a message of its own: the browser selects only rows
            # it has.
            self._selecting = True
            try:
                self.selections = selections
            finally:
                self._selecting = False
        if repaint:  # a 1 px change of row height makes the grid repaint, headers too
            base = IMAGE_ROW_SIZE if image_rows else ROW_SIZE
            self.base_row_size = base + 1 if self.base_row_size == base else base
        if renderers is not None:
            # In a message of its own, after the data: the browser's grid applies renderers
            # that come with new data to the columns it had before.
            with self.hold_sync():
                self.renderers = renderers
                self.send_state("renderers")
        for content in messages:
            self.send(content)
        if appended:  # rows at the end: the browser's rows stay; it gets the new ones
            r1, _, c1, c2 = self._viewport
            self._reply_data({"r1": len(old_order), "r2": len(self._order) - 1,
                              "c1": c1, "c2": max(c2, len(self._keys) - 1)})
        elif order_changed or columns_changed:
            self.send({"event_type": "tick"})  # the browser asks for the rows in view again

    def _sort_touched(self, cell_keys):
        """Whether changed cells can move rows (they are in the sorted or filtered columns)."""
        watched = set()
        if self.sort_by:
            watched.add(self.sort_by[0])
        for spec in self.filters:
            watched.add(STATE_KEY if spec.get("kind") == "state" else spec.get("key"))
        for t in self._transforms:
            watched.add(self._key_of_field(t.get("column")))
        return any(key in watched for _, key in cell_keys)

    def _layout_columns(self):
        specs = {s.key: s for s in self._tm.columns()}
        keys = [k for k in (self.visible_columns or list(specs)) if k in specs]
        if RUN_KEY in specs and RUN_KEY not in keys:
            keys.insert(0, RUN_KEY)  # rows always say which run they are
        self._keys, self._specs = keys, specs
        kinds = {}
        for key in keys:
            kind = specs[key].kind
            if kind is None:
                kind = self._tm.column_kind(key)
            kinds[key] = kind
        self._image_keys = {k for k in keys if kinds[k] == "image"}
        self._kinds = kinds
        labels = []
        for key in keys:
            spec = specs[key]
            label = spec.label if self.hierarchical else spec.header
            if spec.units and self.units_in_header:
                label = f"{label} [{spec.units}]"
            group = spec.group if self.hierarchical else ()
            labels.append((group, label))
        depth = 1 + max((len(g) for g, _ in labels), default=0)
        seen = set()
        fields = []
        for group, label in labels:
            name = tuple([""] * (depth - 1 - len(group)) + list(group) + [label])
            while name in seen:  # two columns with one title: both shown, told apart
                name = name[:-1] + (name[-1] + "\u200b",)
            seen.add(name)
            fields.append(name if depth > 1 else name[0])
        self._fields = fields

    def _compute_order(self):
        runs = self._tm.runs()
        transforms = list(self._transforms)
        filters = list(self.filters)
        if filters:
            runs = sorted(matching_runs(filters, self._tm, runs))
        sort = list(self.sort_by)
        for t in transforms:  # the browser's header menus
            key = self._key_of_field(t.get("column"))
            if key is None:
                continue
            if t.get("type") == "sort":
                sort = [key, bool(t.get("desc"))]
            elif t.get("type") == "filter":
                runs = [r for r in runs if self._browser_filter(t, self._tm.cell(r, key))]
        if sort:
            key, desc = sort[0], bool(sort[1]) if len(sort) > 1 else False
            column = self._tm.column(key)
            present = [r for r in runs if column.get(r, MISSING).mark is None]
            absent = [r for r in runs if column.get(r, MISSING).mark is not None]
            present.sort(key=lambda r: (_sort_key(column[r]), r), reverse=desc)
            absent.sort(key=lambda r: (_sort_key(column.get(r, MISSING)), r))
            runs = present + absent  # marks and missing values last, either way
        elif self.newest_first:
            runs = sorted(runs, reverse=True)
        self._order = runs
        self._row_of = {run: i for i, run in enumerate(runs)}

    @staticmethod
    def _browser_filter(t, cell):
        """A filter from the browser's header menu, applied to a typed cell."""
        op, value = t.get("operator"), t.get("value")
        if op == "empty":
            return cell.mark is not None
        if op == "notempty":
            return cell.mark is None
        if cell.mark is not None:
            return False
        numeric = cell.kind in ("number", "time") and not isinstance(cell.value, bool)
        v = cell.value if numeric else short_text(cell)
        try:
            if op == "between":
                return float(value[0]) <= v <= float(value[1]) if numeric else False
            if op in ("<", ">", "<=", ">=", "=", "!="):
                other = float(value) if numeric else str(value)
                return {"<": v < other, ">": v > other, "<=": v <= other, ">=": v >= other,
                        "=": v == other, "!=": v != other}[op]
            text = short_text(cell)
            if op == "in":
                return text in {str(x) for x in value}
            if op in ("contains", "stringContains"):
                return str(value).casefold() in text.casefold()
            if op == "!contains":
                return str(value).casefold() not in text.casefold()
            if op == "startswith":
                return text.startswith(str(value))
            if op == "endswith":
                return text.endswith(str(value))
        except (TypeError, ValueError):
            return False
        return True

    def _key_of_field(self, name):
        if isinstance(name, list):
            name = tuple(name)
        for key, field in zip(self._keys, self._fields):
            if field == name or str(field) == name:
                return key
        return None

    def _payload(self, cell, key):
        spec = self._specs[key]
        if cell.provenance == "manual-input" and spec.editable:
            cell = replace(cell, provenance=None)  # typed by hand is what the column is for
        # units with the value where the header has none or others
        units_in_value = (not self.units_in_header
                          or _units_key(cell.units) != _units_key(spec.units))
        return payload(cell, units_in_value=units_in_value,
                       image_column=key in self._image_keys)

    def _cell_messages(self, cells):
        """cell-changed messages for changed cells the browser holds (others it will ask
        for when they come into view)."""
        out = []
        col_of = {k: i for i, k in enumerate(self._keys)}
        for (run, key), cell in cells.items():
            row = self._row_of.get(run)
            col = col_of.get(key)
            if row is None or col is None or self._sent.get(row) != run:
                continue
            if key not in self._image_keys and cell.kind == "image":
                self._dirty_columns = True  # the column starts showing images
                self._pump.wake(self)
                continue
            out.append({"event_type": "cell-changed", "row": row, "column_index": col,
                        "value": self._payload(cell, key)})
        return out

    def _schema(self):
        fields = [{"name": _INDEX, "type": "integer"}]
        for key, name in zip(self._keys, self._fields):
            kind = self._kinds.get(key)
            fields.append({"name": name, "type": "number" if kind == "number" else "string"})
        fields.append({"name": "ipydguuid", "type": "integer"})
        depth = max((len(f) for f in self._fields if isinstance(f, tuple)), default=1)
        index = _INDEX if depth == 1 else tuple([_INDEX] + [""] * (depth - 1))
        uuid = "ipydguuid" if depth == 1 else tuple(["ipydguuid"] + [""] * (depth - 1))
        fields[0]["name"], fields[-1]["name"] = index, uuid
        self._schema_fields = fields
        schema = {"fields": fields, "primaryKey": [index, uuid], "primaryKeyUuid": "ipydguuid"}
        data = pd.DataFrame({str(f["name"]): pd.Series([], dtype=object) for f in fields})
        return {"data": data, "schema": schema, "fields": [{str(f["name"]): None}
                                                           for f in fields]}

    def _widths(self):
        """Column widths (px) fitting each header's longest level and its kind of value."""
        widths = {}
        for key, name in zip(self._keys, self._fields):
            levels = name if isinstance(name, tuple) else (name,)
            longest = max(len(str(level)) for level in levels)
            kind = self._kinds.get(key)
            least = {"time": 135, "image": 90, "number": 60}.get(kind, 80)
            if key == "#comment" or self._specs[key].editable:
                least = 140
            widths[str(name)] = max(least, min(220, round(6.5 * longest) + 28))
        return widths

    def _renderers(self):
        renderers = {}
        for key, name in zip(self._keys, self._fields):
            if key in self._image_keys:
                if self._image_renderer is None:
                    self._image_renderer = ImageRenderer(width="", height="100%",
                                                         placeholder="")
                renderers[str(name) if isinstance(name, tuple) else name] = \
                    self._image_renderer
        return renderers

    def _height(self, rows, images):
        """The grid's height: its rows, up to `MAX_HEIGHT` (then it scrolls)."""
        depth = max((len(f) for f in self._fields if isinstance(f, tuple)), default=1)
        row = IMAGE_ROW_SIZE if images else ROW_SIZE
        return f"{min(MAX_HEIGHT, depth * 20 + 18 + max(rows, 3) * row)}px"

    def _selections_for(self, runs):
        if not self._keys:
            return []
        rows = sorted(self._row_of[r] for r in runs if r in self._row_of)
        out, c2 = [], len(self._keys) - 1
        for row in rows:
            if out and out[-1]["r2"] == row - 1:
                out[-1]["r2"] = row
            else:
                out.append({"r1": row, "r2": row, "c1": 0, "c2": c2})
        return out

    # -- traits changed (any thread) ------------------------------------------------------------
    @observe("visible_columns", "hierarchical", "units_in_header")
    def _columns_option_changed(self, change):
        with self._lock:
            self._dirty_columns = True
        self._pump.wake(self)

    @observe("filters")
    def _filters_changed(self, change):
        for spec in change["new"]:
            check_filter(spec)  # a bad filter is refused where it is set
        with self._lock:
            self._dirty_order = True
        self._pump.wake(self)

    @validate("_transforms")
    def _validate_transforms(self, proposal):
        # The browser's transforms name their column (and give its index, which DataGrid's
        # own check warns about): they are applied here by name, see `_compute_order`.
        return proposal["value"]

    @observe("sort_by", "newest_first", "_transforms")
    def _order_option_changed(self, change):
        with self._lock:
            self._dirty_order = True
            if change["name"] == "_transforms":
                self._repaint = True  # the browser draws the header's sort mark on repaint
        self._pump.wake(self)

    @observe("selected_runs")
    def _selected_runs_changed(self, change):
        if self._selecting:
            return
        with self._lock:
            selections = self._selections_for(change["new"])
        self._selecting = True
        try:
            self.selections = selections
        finally:
            self._selecting = False

    @observe("selections")
    def _browser_selected(self, change):
        if self._selecting:
            return
        with self._lock:
            runs = []
            for sel in change["new"]:
                for row in range(sel.get("r1", 0), sel.get("r2", -1) + 1):
                    run = self._sent.get(row)
                    if run is None and 0 <= row < len(self._order):
                        run = self._order[row]
                    if run is not None and run not in runs:
                        runs.append(run)
        self._selecting = True
        try:
            self.selected_runs = runs
        finally:
            self._selecting = False

    # -- messages from the browser (the comm thread) --------------------------------------------
    def _handle_custom_msg(self, content, buffers):
        kind = content.get("type") or content.get("event_type")
        try:
            if kind == "data-request":
                self._reply_data(content)
            elif kind == "unique-values-request":
                self._reply_unique(content.get("column"))
            elif kind == "cell-click":
                self._clicked(content)
        except Exception:  # one bad message must not break the grid
            log.exception("The run grid could not answer %r", kind)

    def _reply_data(self, content):
        r1, r2 = int(content.get("r1", 0)), int(content.get("r2", -1))
        c1, c2 = int(content.get("c1", 0)), int(content.get("c2", -1))
        with self._lock:
            r1, r2 = max(0, r1), min(r2, len(self._order) - 1)
            c1, c2 = max(0, c1), min(c2, len(self._keys) - 1)
            runs = self._order[r1:r2 + 1]
            keys = self._keys[c1:c2 + 1]
            image_cols = [i for i, k in enumerate(keys) if k in self._image_keys]
            fields = self._fields[c1:c2 + 1]
            rows = self._tm.block(runs, keys)
            columns = {str(f): [self._payload(row[i], k) for row in rows]
                       for i, (k, f) in enumerate(zip(keys, fields))}
            images = False  # images the browser has not drawn yet among these
            for i in image_cols:
                for value in columns[str(fields[i])]:
                    if value and value not in self._images_shown:
                        images = True
                        self._images_shown.add(value)
            if len(self._images_shown) > 20_000:
                self._images_shown.clear()
            schema = self._schema_fields
            index, uuid = schema[0], schema[-1]
            fields = [index, *schema[1 + c1:2 + c2 if c2 >= c1 else 1 + c1], uuid]
            # The browser's header menus name a column by its place among the reply's columns
            # (its schema index): every column goes, in the schema's order, the index first;
            # only those asked for carry values.
            body, columns = columns, {str(f["name"]): [] for f in schema}
            columns.update(body)
            columns[str(index["name"])] = list(runs)
            columns[str(uuid["name"])] = list(range(r1, r1 + len(runs)))
            for i, run in enumerate(runs):
                self._sent[r1 + i] = run
            for row in [r for r in self._sent if r >= len(self._order)]:
                del self._sent[row]
            self._viewport = (r1, r2, c1, c2)
        value = {"data": {name: {"type": "raw", "value": v} for name, v in columns.items()},
                 "schema": {"fields": fields,
                            "primaryKey": [index["name"], uuid["name"]],
                            "primaryKeyUuid": "ipydguuid"},
                 "fields": [{str(f["name"]): None} for f in fields]}
        self.send({"event_type": "data-reply", "value": value, "r1": r1, "r2": r2,
                   "c1": c1, "c2": c2})
        if images:
            self._images_sent()


    def _reply_unique(self, name):
        with self._lock:
            key = self._key_of_field(name)
        texts = sorted({short_text(c) for c in self._tm.column(key).values()}) if key else []
        self.send({"event_type": "unique-values-reply", "column": name,
                   "value": {"data": {str(name): {"type": "raw", "value": texts}}}})

    def _clicked(self, content):
        region = content.get("region")
        if region not in ("body", "column-header"):
            return
        row = content.get("row")
        with self._lock:
            run = self._sent.get(row) if region == "body" else None
            col = content.get("column_index")
            key = self._keys[col] if isinstance(col, int) and 0 <= col < len(self._keys) \
                else None
        if key is None or (run is None and region == "body"):
            return
        for callback in list(self._click_callbacks):
            try:
                callback(run, key)
            except Exception:
                log.exception("A run grid click handler failed")

