"""`RunPlot`: one variable against another across runs, a bqplot figure fed by a `TableModel`.

The figure is made once. What changes afterwards is its marks' data: when the model changes,
the update pump calls `flush`, which reads the plotted columns from the model (no I/O) and, if
the points differ from those shown, sends the marks' new arrays in one message per mark. Kinds
are a scatter (points), a line (the points joined in x order) and a histogram (bars counted
here with numpy); a third variable may colour the points.

Selection is by run: points selected in the browser (a click, a brush, a lasso) set
``selected_runs``, which the table links to its grid; runs selected elsewhere are marked among
the points, wherever new runs put them. Runs in ``excluded_runs`` are left out.

Browser changes (pickers, selections) arrive on the kernel's comm thread; every widget change
is posted and applied by the pump (`pump.Posts`).
"""

from __future__ import annotations

import logging
import math
import threading

import ipywidgets as widgets
import numpy as np
from traitlets import Enum, Int, List, Unicode, observe, validate

from .model import RUN_KEY
from .pump import Posts, default_pump

__all__ = ["RunPlot", "PLOT_KINDS", "numeric_columns", "points"]

log = logging.getLogger(__name__)

PLOT_KINDS = ("scatter", "line", "histogram")
#: The most bins a histogram has.
MAX_BINS = 1000
#: Above this many points a scatter is drawn on a canvas (`cloud.PointCloud`): bqplot's SVG
#: takes seconds to draw thousands of points; a line is drawn without its points.
MANY_POINTS = 2000
_SELECT_MODES = ("click", "brush", "lasso")


def numeric_columns(model):
    """The columns that can be plotted: the run number and every column whose values are
    numbers, as ``[(key, label)]`` in the table's order; labels are unique (a title shared
    by two variables gets the variable's name)."""
    specs = [s for s in model.columns()
             if s.key == RUN_KEY or (not s.fixed and (
                 s.kind == "number" or (s.kind is None
                                        and model.column_kind(s.key) == "number")))]
    labels = [_label(s) for s in specs]
    return [(s.key, label if labels.count(label) == 1 else f"{label} ({s.key})")
            for s, label in zip(specs, labels)]


def _label(spec):
    return f"{spec.header} [{spec.units}]" if spec.units else spec.header


def _numbers(model, key):
    """{run: float} of a column's finite numbers (the run numbers for `RUN_KEY`)."""
    if key == RUN_KEY:
        return {run: float(run) for run in model.runs()}
    out = {}
    for run, cell in model.column(key).items():
        if cell.kind == "number" and cell.mark is None:
            try:
                value = float(cell.value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(value):
                out[run] = value
    return out


def points(model, x, y, color=None, *, runs=None, excluded=()):
    """The points of a plot of ``y`` against ``x`` (keys), as ``(runs, xs, ys, colours)``
    arrays sorted by x then run: the runs with finite numbers in both (and in ``color``,
    if given; else ``colours`` is None), among ``runs`` if given, without ``excluded``."""
    xv, yv = _numbers(model, x), _numbers(model, y)
    cv = _numbers(model, color) if color else None
    keep = set(xv).intersection(yv)
    if cv is not None:
        keep.intersection_update(cv)
    if runs is not None:
        keep.intersection_update(runs)
    keep.difference_update(excluded)
    chosen = sorted(keep, key=lambda r: (xv[r], r))
    run_arr = np.array(chosen, dtype=np.int64)
    xs = np.array([xv[r] for r in chosen], dtype=float)
    ys = np.array([yv[r] for r in chosen], dtype=float)
    cs = np.array([cv[r] for r in chosen], dtype=float) if cv is not None else None
    return run_arr, xs, ys, cs


class RunPlot(widgets.VBox):
    """A plot across runs of the table ``model``: ``y`` against ``x`` (column keys; `RUN_KEY`
    for the run number), drawn as ``kind``, optionally coloured by ``color``.

    Pickers above the figure choose the variables (type to search), swap the axes, the kind,
    the number of bins, the colour and how points are selected."""

    x = Unicode(RUN_KEY, help="The key of the column along x")
    y = Unicode("", help="The key of the column along y ('' until one is chosen)")
    kind = Enum(PLOT_KINDS, "scatter", help="How runs are drawn: scatter, line or histogram")
    bins = Int(20, help="The number of bins of a histogram")
    color = Unicode(None, allow_none=True, help="The key of the column colouring the points")
    runs = List(Int(), default_value=None, allow_none=True,
                help="Only these runs (None: every run)")
    selected_runs = List(Int(), help="The runs selected (in this plot or elsewhere)")
    excluded_runs = List(Int(), help="Runs left out of the plot")
    select_mode = Enum(_SELECT_MODES, "click",
                       help="How points are selected: click, brush or lasso")

    def __init__(self, model, y="", x=RUN_KEY, *, kind="scatter", color=None, bins=20,
                 runs=None, pump=None, **kwargs):
        from bqplot import Axis, ColorAxis, ColorScale, Figure, LinearScale, Tooltip
        from bqplot import Bars, Lines, Scatter

        self._pump = pump or default_pump()
        self._model = model
        self._posts = Posts()
        self._lock = threading.Lock()
        self._version = -1  # the model's version last drawn
        self._shown = None  # ("points" or "bars", runs, xs, ys, colours) last sent
        self._line_shown = None  # the line's ("line", xs, ys) last sent
        self._point_runs = np.array([], dtype=np.int64)  # the run of each point shown
        self._bin_runs = []  # the runs of each histogram bar shown
        self._columns = []  # [(key, label)] offered by the pickers
        self._dirty = True
        self._closed = False

        self.x_scale, self.y_scale = LinearScale(), LinearScale()
        self.color_scale = ColorScale(scheme="viridis")
        self.scatter = Scatter(
            x=np.array([]), y=np.array([]), names=[], display_names=False,
            scales={"x": self.x_scale, "y": self.y_scale, "color": self.color_scale},
            default_size=36, stroke="#333", stroke_width=0.5,
            tooltip=Tooltip(fields=["name", "x", "y"], labels=["Run", "x", "y"],
                            formats=["", ".6~g", ".6~g"]),
            interactions={"click": "select", "hover": "tooltip"},
            selected_style={"opacity": 1.0, "stroke": "#d62728", "stroke-width": 2.5},
            unselected_style={"opacity": 0.35})
        self.line = Lines(x=np.array([]), y=np.array([]),
                          scales={"x": self.x_scale, "y": self.y_scale},
                          colors=["#1f77b4"], stroke_width=1.5)
        self.bars = Bars(x=np.array([]), y=np.array([]),
                         scales={"x": self.x_scale, "y": self.y_scale}, padding=0.05,
                         colors=["#1f77b4"], interactions={"click": "select"},
                         tooltip=Tooltip(fields=["x", "y"], labels=["bin centre", "runs"],
                                         formats=[".6~g", "d"]),
                         selected_style={"fill": "#d62728"})
        self.x_axis = Axis(scale=self.x_scale, label="", grid_lines="dashed")
        self.y_axis = Axis(scale=self.y_scale, side="left", label="",
                           grid_lines="dashed")
        self.color_axis = ColorAxis(scale=self.color_scale, side="right", label="",
                                    visible=False)
        self.figure = Figure(marks=[self.scatter], axes=[self.x_axis, self.y_axis,
                                                          self.color_axis],
                             animation_duration=0, padding_y=0.05,
                             fig_margin={"top": 20, "bottom": 50, "left": 70, "right": 80},
                             layout=widgets.Layout(width="100%", height="360px"))
        self._selectors = {}

        small = widgets.Layout(width="auto")
        self.y_picker = widgets.Combobox(placeholder="y: type to search", ensure_option=True,
                                         layout=widgets.Layout(width="220px"))
        self.swap_button = widgets.Button(description="⇄", tooltip="Swap x and y",
                                          layout=widgets.Layout(width="36px"))
        self.x_picker = widgets.Combobox(placeholder="x: type to search", ensure_option=True,
                                         layout=widgets.Layout(width="220px"))
        self.kind_buttons = widgets.ToggleButtons(options=list(PLOT_KINDS), value=kind,
                                                  style={"button_width": "90px"})
        self.bins_box = widgets.BoundedIntText(value=bins, min=1, max=MAX_BINS,
                                               description="bins", layout=widgets.Layout(
                                                   width="130px", display="none"))
        self.color_picker = widgets.Combobox(placeholder="colour by (none)",
                                             ensure_option=True,
                                             layout=widgets.Layout(width="180px"))
        self.select_buttons = widgets.ToggleButtons(
            options=list(_SELECT_MODES), value="click", tooltips=[
                "Click points to select them (shift-click adds)",
                "Drag a rectangle to select the runs inside", "Draw around the runs to select"],
            style={"button_width": "60px"})
        self.leave_out_button = widgets.Button(description="Leave out selected", layout=small,
                                               tooltip="Leave the selected runs out of plots")
        self.put_back_button = widgets.Button(description="Put back all", layout=small,
                                              tooltip="Plot the runs left out again",
                                              disabled=True)
        self.note = widgets.HTML()
        controls = widgets.HBox(
            [widgets.Label("y"), self.y_picker, self.swap_button, widgets.Label("x"),
             self.x_picker, self.kind_buttons, self.bins_box, self.color_picker],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
        selecting = widgets.HBox(
            [widgets.Label("select by"), self.select_buttons, self.leave_out_button,
             self.put_back_button, self.note],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
        self.cloud = None  # the canvas drawing many points, made when first needed
        self._controls, self._selecting = controls, selecting
        super().__init__([controls, self.figure, selecting], **kwargs)

        with self._pump.applying(self):  # the traits as asked, before anything is shown
            self.x, self.y, self.kind, self.bins, self.color = x, y or "", kind, bins, color
            self.runs = None if runs is None else [int(r) for r in runs]
        self.y_picker.observe(self._picked, names="value")
        self.x_picker.observe(self._picked, names="value")
        self.color_picker.observe(self._picked, names="value")
        self.kind_buttons.observe(self._kind_picked, names="value")
        self.bins_box.observe(self._bins_picked, names="value")
        self.select_buttons.observe(self._select_mode_picked, names="value")
        self.swap_button.on_click(lambda _: self.swap())
        self.leave_out_button.on_click(lambda _: self._leave_out())
        self.put_back_button.on_click(lambda _: self._put_back())
        self.scatter.observe(self._points_selected, names="selected")
        self.bars.observe(self._bars_selected, names="selected")
        self._unsubscribe = model.subscribe(lambda version: self._pump.wake(self))
        self._pump.register(self)
        self.flush()  # drawn at once: the first view shows the data

    # -- public -------------------------------------------------------------------------------
    def swap(self):
        """Swap the x and y variables."""
        if self.y:
            self.x, self.y = self.y, self.x

    def close(self):
        """Close the plot and every widget it is made of (nothing is left in the page)."""
        self._closed = True
        self._unsubscribe()
        self._pump.unregister(self)
        parts = [*self._selectors.values(), self.scatter.tooltip, self.bars.tooltip,
                 self.scatter, self.line, self.cloud, self.bars, self.x_axis, self.y_axis,
                 self.color_axis, self.x_scale, self.y_scale, self.color_scale,
                 self.figure.scale_x, self.figure.scale_y, self.figure]
        parts += _descendants(self)
        for part in parts:
            if part is not None:
                _close(part)
        for extra in (getattr(self, "layout", None), getattr(self, "style", None)):
            if extra is not None:
                extra.close()
        super().close()

    @validate("bins")
    def _validate_bins(self, proposal):
        bins = proposal["value"]
        if not 1 <= bins <= MAX_BINS:
            raise ValueError(f"A histogram has 1 to {MAX_BINS} bins, not {bins}")
        return bins

    @validate("x", "y", "color")
    def _validate_key(self, proposal):
        key = proposal["value"]
        if key and key != RUN_KEY and key not in {s.key for s in self._model.columns()}:
            raise ValueError(f"No column {key!r} in the table: choose one of "
                             f"{', '.join(k for k, _ in numeric_columns(self._model))}")
        return key

    @observe("x", "y", "kind", "bins", "color", "runs", "excluded_runs", "selected_runs")
    def _plot_changed(self, change):
        with self._lock:
            self._dirty = True  # drawn again (selected points marked) in the next flush
        self._pump.wake(self)

    @observe("select_mode")
    def _select_mode_changed(self, change):
        mode = change["new"]
        self._posts.post(self.select_buttons, value=mode)
        self._posts.post(self.figure, interaction=self._selector(mode))
        if self.cloud is not None:
            self._posts.post(self.cloud, mode=mode)
        self._pump.wake(self)

    # -- the pump's thread --------------------------------------------------------------------
    def pending(self):
        if self._closed:
            return False
        with self._lock:
            return self._dirty or self._posts.pending() or self._model.version != self._version

    def flush(self):
        version = self._model.version
        with self._lock:
            dirty, self._dirty = self._dirty, False
        with self._pump.applying(self):
            self._posts.apply()
            if dirty or version != self._version:
                self._version = version
                self._refresh_pickers()
                self._draw()

    def _refresh_pickers(self):
        columns = numeric_columns(self._model)
        labels = {key: label for key, label in columns}
        if columns != self._columns:
            self._columns = columns
            options = [label for _, label in columns]
            for picker in (self.x_picker, self.y_picker, self.color_picker):
                picker.options = options
        self.x_picker.value = labels.get(self.x, "")
        self.y_picker.value = labels.get(self.y, "")
        self.color_picker.value = labels.get(self.color, "") if self.color else ""
        self.kind_buttons.value = self.kind
        self.bins_box.value = self.bins
        self.bins_box.layout.display = "" if self.kind == "histogram" else "none"

    def _draw(self):
        labels = dict(self._columns)
        x_label, y_label = labels.get(self.x, self.x), labels.get(self.y, self.y)
        if not self.y:
            runs = np.array([], dtype=np.int64)
            xs = ys = np.array([])
            colours = None
            self.note.value = "<i>Choose a variable to plot (y).</i>"
        else:
            runs, xs, ys, colours = points(self._model, self.x, self.y, self.color or None,
                                           runs=self.runs, excluded=self.excluded_runs)
            self.note.value = self._note(len(runs))
        with self._lock:
            self._point_runs = runs
        if self.kind == "histogram":
            self._draw_histogram(runs, ys, y_label)
        else:
            self._draw_points(runs, xs, ys, colours, x_label, y_label)
        self.put_back_button.disabled = not self.excluded_runs
        self.put_back_button.description = (f"Put back {len(self.excluded_runs)} left out"
                                            if self.excluded_runs else "Put back all")

    def _note(self, shown):
        if shown == 0:
            return "<i>No run has values of both variables yet.</i>"
        parts = [f"{shown} run{'s' if shown != 1 else ''}"]
        if shown > MANY_POINTS and self.kind == "line":
            parts.append(f"points not drawn over {MANY_POINTS:,} (scatter draws them)")
        if self.excluded_runs:
            parts.append(f"{len(self.excluded_runs)} left out")
        return "<small>" + " · ".join(parts) + "</small>"

    def _show_view(self, view):
        """Show the bqplot figure or the point cloud between the controls."""
        if self.children[1] is not view:
            self.children = (self._controls, view, self._selecting)

    def _draw_cloud(self, runs, xs, ys, colours, x_label, y_label):
        from .cloud import PointCloud

        if self.cloud is None:
            self.cloud = PointCloud(mode=self.select_mode)
            self.cloud.observe(self._points_selected, names="selected")
        cloud = self.cloud
        self._show_view(cloud)
        shown = ("cloud", runs, xs, ys, colours)
        with cloud.hold_sync():
            if not _same(shown, self._shown):
                self._shown = shown
                cloud.set_points(xs, ys, runs, colours)
            cloud.x_label, cloud.y_label = x_label, y_label
            cloud.x_is_run = self.x == RUN_KEY
            cloud.colour_label = dict(self._columns).get(self.color, "") if self.color else ""
            selected = np.flatnonzero(np.isin(runs, self.selected_runs)).tolist()
            if cloud.selected != selected:
                cloud.selected = selected

    def _draw_points(self, runs, xs, ys, colours, x_label, y_label):
        if self.kind == "scatter" and len(runs) > MANY_POINTS:
            self._draw_cloud(runs, xs, ys, colours, x_label, y_label)
            return
        self._show_view(self.figure)
        mark = self.scatter
        if self.kind == "line" and len(runs) > MANY_POINTS:
            marks = [self.line]  # its points would take seconds to draw
        else:
            marks = [self.line, mark] if self.kind == "line" else [mark]
        if list(self.figure.marks) != marks:
            self.figure.marks = marks
        shown = ("points", runs, xs, ys, colours)
        if not _same(shown, self._shown):
            self._shown = shown
            with mark.hold_sync():
                mark.x, mark.y = xs, ys
                mark.names = [str(r) for r in runs]  # the tooltips' run
                mark.color = colours
        line = ("line", xs, ys)
        if self.kind == "line" and not _same(line, self._line_shown):
            self._line_shown = line
            with self.line.hold_sync():
                self.line.x, self.line.y = xs, ys
        selected = np.flatnonzero(np.isin(runs, self.selected_runs)).tolist()
        if _indices(mark.selected) != selected:
            mark.selected = selected or None
        tooltip = self.scatter.tooltip
        with tooltip.hold_sync():  # the run is the point's name: not twice when it is x
            if self.x == RUN_KEY:
                tooltip.fields, tooltip.labels, tooltip.formats = (
                    ["name", "y"], ["Run", y_label], ["", ".6~g"])
            else:
                tooltip.fields, tooltip.labels, tooltip.formats = (
                    ["name", "x", "y"], ["Run", x_label, y_label], ["", ".6~g", ".6~g"])
        self.x_axis.label, self.y_axis.label = x_label, y_label
        self.color_axis.visible = colours is not None
        self.color_axis.label = dict(self._columns).get(self.color, "") if self.color else ""

    def _draw_histogram(self, runs, ys, y_label):
        self._show_view(self.figure)
        if list(self.figure.marks) != [self.bars]:
            self.figure.marks = [self.bars]
        if len(ys):
            counts, edges = np.histogram(ys, bins=self.bins)
            which = np.clip(np.searchsorted(edges, ys, side="right") - 1, 0, len(counts) - 1)
            bin_runs = [runs[which == i].tolist() for i in range(len(counts))]
            centres = (edges[:-1] + edges[1:]) / 2
        else:
            counts, centres, bin_runs = np.array([]), np.array([]), []
        shown = ("bars", runs, centres, counts.astype(float), None)
        with self._lock:
            self._bin_runs = bin_runs
        if not _same(shown, self._shown):
            self._shown = shown
            with self.bars.hold_sync():
                self.bars.x, self.bars.y = centres, counts
                self.bars.selected = None
        self.x_axis.label, self.y_axis.label = y_label, "runs"
        self.color_axis.visible = False

    # -- the browser (comm thread) ------------------------------------------------------------
    def _key_of(self, label):
        for key, text in self._columns:
            if text == label:
                return key
        return None

    def _picked(self, change):
        if self._pump.is_applying(self):
            return
        key = self._key_of(change["new"]) if change["new"] else ""
        if key is None:
            return  # typing: not an option yet
        picker = change["owner"]
        if picker is self.y_picker:
            self.y = key
        elif picker is self.x_picker and key:
            self.x = key
        elif picker is self.color_picker:
            self.color = key or None

    def _kind_picked(self, change):
        if not self._pump.is_applying(self):
            self.kind = change["new"]

    def _bins_picked(self, change):
        if not self._pump.is_applying(self):
            self.bins = change["new"]

    def _select_mode_picked(self, change):
        if not self._pump.is_applying(self):
            self.select_mode = change["new"]

    def _selector(self, mode):
        if mode == "click":
            return None
        if mode not in self._selectors:
            from bqplot.interacts import BrushSelector, LassoSelector

            if mode == "brush":
                selector = BrushSelector(x_scale=self.x_scale, y_scale=self.y_scale,
                                         marks=[self.scatter], color="#d62728")
            else:
                selector = LassoSelector(x_scale=self.x_scale, y_scale=self.y_scale,
                                         marks=[self.scatter], color="#d62728")
            self._selectors[mode] = selector
        return self._selectors[mode]

    def _points_selected(self, change):
        if self._pump.is_applying(self):
            return
        with self._lock:
            runs = self._point_runs
        indices = [i for i in _indices(change["new"]) if 0 <= i < len(runs)]
        self.selected_runs = sorted(int(runs[i]) for i in indices)

    def _bars_selected(self, change):
        if self._pump.is_applying(self):
            return
        with self._lock:
            bins = self._bin_runs
        chosen = set()
        for i in _indices(change["new"]):
            if 0 <= i < len(bins):
                chosen.update(bins[i])
        self.selected_runs = sorted(chosen)

    def _leave_out(self):
        if self.selected_runs:
            self.excluded_runs = sorted(set(self.excluded_runs) | set(self.selected_runs))

    def _put_back(self):
        self.excluded_runs = []


def _close(widget):
    """Close a widget, its layout and its style."""
    for extra in (getattr(widget, "layout", None), getattr(widget, "style", None)):
        if extra is not None and hasattr(extra, "close"):
            extra.close()
    widget.close()


def _descendants(box):
    """The widgets inside a box, at any depth."""
    out = []
    for child in getattr(box, "children", ()):
        out.append(child)
        out.extend(_descendants(child))
    return out


def _indices(selected):
    """A mark's ``selected`` (None or an array) as a list of ints."""
    return [] if selected is None else [int(i) for i in np.asarray(selected).ravel()]


def _same(a, b):
    """Whether two drawn states (tuples of a tag and arrays or None) are equal."""
    if a is None or b is None or a[0] != b[0]:
        return False
    for u, v in zip(a[1:], b[1:]):
        if (u is None) != (v is None):
            return False
        if u is not None and not np.array_equal(u, v):
            return False
    return True
