"""`RunDataPlot`: the full data of a few runs overlaid, one line (or points, or a histogram)
per run, read from their run files.

Which runs: those given (``runs``), else the table's selected runs (``selected_runs``, linked
to the grid), at most `MAX_RUNS`. Each run's data is read by a `loader.Loader` on its own
thread (``read_data(run, key)``, the table's), kept while the run's cell in the model is the
same object, and read again when the value changes; the update pump only draws what was read
(`series.series_of`, `series.paired`, `series.histograms`). A run whose data cannot be drawn
(not 1-D, not alignable, missing) is named in the note with the reason; the others are drawn.
"""

from __future__ import annotations

import html
import threading

import ipywidgets as widgets
import numpy as np
from traitlets import Enum, Int, List, Unicode, observe, validate

from .loader import Loader
from .pump import Posts, default_pump
from .series import TRAIN_DIM, NotASeriesError, histograms, paired, series_of

__all__ = ["RunDataPlot", "DATA_PLOT_KINDS", "MAX_RUNS"]

DATA_PLOT_KINDS = ("line", "scatter", "histogram")
#: The most runs overlaid at once.
MAX_RUNS = 20
#: The colours of successive runs (matplotlib's tab10).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


class RunDataPlot(widgets.VBox):
    """Runs' full data of variable ``y`` overlaid (along its coordinate, or against variable
    ``x`` of the same run), from the table ``model``; ``read_data(run, key)`` reads one
    variable's data of one run (file I/O: called on the loader's thread)."""

    y = Unicode(help="The key of the variable drawn")
    x = Unicode(None, allow_none=True,
                help="The key of the variable along x (None: y's own coordinate)")
    kind = Enum(DATA_PLOT_KINDS, "line", help="line, scatter or histogram (per run)")
    bins = Int(20, help="The number of bins of the histograms")
    runs = List(Int(), default_value=None, allow_none=True,
                help="The runs drawn (None: the selected runs)")
    selected_runs = List(Int(), help="The runs selected in the table")

    def __init__(self, model, read_data, y, x=None, *, kind="line", bins=20, runs=None,
                 pump=None, **kwargs):
        from bqplot import Axis, Figure, LinearScale

        self._pump = pump or default_pump()
        self._model = model
        self._read = read_data
        self._posts = Posts()
        self._lock = threading.Lock()
        self._data = {}  # (run, key) -> (cell, value, error) read
        self._dirty = True
        self._version = -1
        self._marks = {}  # run -> its mark
        self._mark_kind = None
        self._closed = False
        self._lines = {}  # (run, y, x) -> the Series last drawn, shown while it is read again
        self._loader = Loader(self._loaded, name="damnit_nb-overlay")

        self.x_scale, self.y_scale = LinearScale(), LinearScale()
        self.x_axis = Axis(scale=self.x_scale, label="", grid_lines="dashed")
        self.y_axis = Axis(scale=self.y_scale, side="left", label="", grid_lines="dashed")
        self.figure = Figure(marks=[], axes=[self.x_axis, self.y_axis], animation_duration=0,
                             legend_location="top-right", padding_y=0.05,
                             fig_margin={"top": 20, "bottom": 50, "left": 70, "right": 20},
                             layout=widgets.Layout(width="100%", height="360px"))
        self.note = widgets.HTML()
        super().__init__([self.figure, self.note], **kwargs)
        with self._pump.applying(self):
            self.y, self.x, self.kind, self.bins = y, x, kind, bins
            self.runs = None if runs is None else [int(r) for r in runs]
        self._unsubscribe = model.subscribe(lambda version: self._pump.wake(self))
        self._pump.register(self)
        self._pump.wake(self)

    def close(self):
        """Close the plot and the widgets it is made of; reads waiting are dropped."""
        self._closed = True
        self._unsubscribe()
        self._pump.unregister(self)
        self._loader.close()
        for part in [*self._marks.values(), self.x_axis, self.y_axis, self.x_scale,
                     self.y_scale, self.figure, self.note]:
            part.close()
        super().close()

    @validate("bins")
    def _validate_bins(self, proposal):
        if not 1 <= proposal["value"] <= 1000:
            raise ValueError(f"A histogram has 1 to 1000 bins, not {proposal['value']}")
        return proposal["value"]

    @observe("y", "x", "kind", "bins", "runs", "selected_runs")
    def _changed(self, change):
        with self._lock:
            self._dirty = True
        self._pump.wake(self)

    def shown_runs(self):
        """The runs this plot is for (given, or selected), at most `MAX_RUNS`."""
        runs = self.selected_runs if self.runs is None else self.runs
        return sorted(set(runs))[:MAX_RUNS]

    # -- the loader's thread ------------------------------------------------------------------
    def _loaded(self, key, value, error):
        (run, name), cell = key
        with self._lock:
            self._data[(run, name)] = (cell, value, error)
            self._dirty = True
        self._pump.wake(self)

    # -- the pump's thread --------------------------------------------------------------------
    def pending(self):
        if self._closed:
            return False
        with self._lock:
            dirty = self._dirty or self._model.version != self._version
        return dirty or self._posts.pending() or self._loader.busy()

    def flush(self):
        with self._lock:
            self._dirty = False
        self._version = self._model.version
        with self._pump.applying(self):
            self._posts.apply()
            self._draw()

    def _wanted(self, runs, names):
        """{(run, name): (cell, value, error)} of what was read and is current; the rest is
        asked of the loader. Returns (ready, loading runs)."""
        ready, loading, wanted = {}, set(), set()
        for run in runs:
            for name in names:
                cell = self._model.cell(run, name)
                key = ((run, name), cell)
                with self._lock:  # what was read is stored before the loader is free again
                    have = self._data.get((run, name))
                    if have is not None and have[0] is cell:
                        ready[(run, name)] = have
                        continue
                    self._loader.request(key, lambda r=run, n=name: self._read(r, n))
                wanted.add(key)
                loading.add(run)
        self._loader.cancel(wanted)
        with self._lock:  # what is no longer shown is not kept
            for item in [k for k in self._data if k[0] not in runs or k[1] not in names]:
                del self._data[item]
        return ready, loading

    def _draw(self):
        runs = self.shown_runs()
        if not self.y:
            self._show([], {}, [], ["<i>Choose a variable to plot.</i>"])
            return
        names = [self.y] + ([self.x] if self.x else [])
        ready, loading = self._wanted(runs, names)
        specs = {s.key: s for s in self._model.columns()}
        y_spec, x_spec = specs.get(self.y), specs.get(self.x) if self.x else None
        y_title = y_spec.header if y_spec else self.y
        x_title = (x_spec.header if x_spec else self.x) if self.x else None
        lines, problems, notes = {}, [], []
        for run in runs:
            if run in loading:
                if (run, self.y, self.x) in self._lines:  # until it is read again
                    lines[run] = self._lines[(run, self.y, self.x)]
                continue
            got = [ready[(run, n)] for n in names]
            error = next((g[2] for g in got if g[2] is not None), None)
            if error is not None:
                problems.append((run, _why(error)))
                continue
            try:
                if self.x:
                    line = paired(got[1][1], got[0][1], x_title, y_title,
                                  x_units=x_spec.units if x_spec else None,
                                  y_units=y_spec.units if y_spec else None)
                else:
                    line = series_of(got[0][1], y_title,
                                     units=y_spec.units if y_spec else None)
            except NotASeriesError as e:
                problems.append((run, str(e)))
                continue
            lines[run] = line
            if line.thinned:
                notes.append(f"run {run}: every {-(-line.thinned // len(line.y))}th of "
                             f"{line.thinned} points drawn")
        self._lines = {(run, self.y, self.x): line for run, line in lines.items()}
        text = []
        if not runs:
            text.append("<i>Select runs in the table to overlay their data.</i>"
                        if self.runs is None else "<i>No runs given.</i>")
        if loading:
            text.append(f"<i>Loading run{'s' if len(loading) > 1 else ''} "
                        f"{', '.join(map(str, sorted(loading)))}…</i>")
        for run, why in problems:
            text.append(f"<span style='color:#b00'>Run {run}: {html.escape(why)}</span>")
        wanted = (self.selected_runs if self.runs is None else self.runs)
        if len(set(wanted)) > MAX_RUNS:
            text.append(f"<small>The first {MAX_RUNS} of {len(set(wanted))} runs "
                        "are drawn.</small>")
        text.extend(f"<small>{html.escape(n)}</small>" for n in notes)
        self._show(runs, lines, problems, text)

    def _new_mark(self, run, kind):
        return _mark(run, kind, {"x": self.x_scale, "y": self.y_scale})

    def _show(self, runs, lines, problems, text):
        kind = self.kind
        old = self._marks
        if kind != self._mark_kind:
            self._marks, self._mark_kind = {}, kind
        drawn = [r for r in runs if r in lines]
        if kind == "histogram" and drawn:
            edges, counts = histograms({r: lines[r].y for r in drawn}, bins=self.bins)
            points = {r: (edges, np.append(counts[r], counts[r][-1])) for r in drawn}
        else:
            points = {r: (lines[r].x, lines[r].y) for r in drawn}
        marks = []
        for i, run in enumerate(drawn):
            mark = self._marks.get(run) or self._new_mark(run, kind)
            self._marks[run] = mark
            _set_points(mark, *points[run], PALETTE[i % len(PALETTE)])
            marks.append(mark)
        self._marks = {r: self._marks[r] for r in drawn}
        if list(self.figure.marks) != marks:
            self.figure.marks = marks
        for mark in {*old.values()} - {*marks}:  # no longer shown: closed
            mark.close()
        if drawn:
            first = lines[drawn[0]]
            if kind == "histogram":
                self.x_axis.label, self.y_axis.label = first.y_label, "trains"
            else:
                self.x_axis.label, self.y_axis.label = first.x_label, first.y_label
            train_ids = kind != "histogram" and first.x_label.startswith(TRAIN_DIM)
            tick_format = "d" if train_ids else None  # whole train IDs, not 2.1e+9
            if self.x_axis.tick_format != tick_format:
                self.x_axis.tick_format = tick_format
        value = "<br>".join(text)
        if self.note.value != value:
            self.note.value = value


def _mark(run, kind, scales):
    """A new mark for one run's data: points, a line, or a histogram's steps."""
    from bqplot import Lines, Scatter

    if kind == "scatter":
        return Scatter(scales=scales, default_size=16, stroke_width=0, labels=[f"run {run}"],
                       display_legend=True, display_names=False)
    return Lines(scales=scales, labels=[f"run {run}"], display_legend=True, stroke_width=1.5,
                 interpolation="step-after" if kind == "histogram" else "linear")


def _set_points(mark, x, y, colour):
    """Give a mark these points and colour, sending only what changed."""
    with mark.hold_sync():
        if len(mark.x) != len(x) or not np.array_equal(mark.x, x):
            mark.x = x
        if len(mark.y) != len(y) or not np.array_equal(mark.y, y):
            mark.y = y
        if list(mark.colors) != [colour]:
            mark.colors = [colour]


def _why(error):
    """A read error as the note says it."""
    if isinstance(error, KeyError):
        return error.args[0] if error.args else "no data stored"
    return f"cannot read its data ({type(error).__name__}: {error})"
