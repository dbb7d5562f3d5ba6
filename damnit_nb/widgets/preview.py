"""`Preview`: one run's variable drawn, as DAMNIT's double-click preview shows it.

`show(fetch)` calls ``fetch()`` on a worker thread (it reads the run's file) and turns what it
gives into a `previewdata.Drawing` there too (downsampling, colour limits, PNG encoding);
meanwhile the widget says it is loading. The update pump's thread then makes the picture's
widgets: a bqplot line (or lines) with the coordinate and units on the axes, a bqplot image
of the colour-mapped PNG with a colour bar and the data's aspect, an image of PNG bytes, a
plotly ``FigureWidget``, or text. What cannot be read or drawn is said in the widget; nothing
raises out of a callback. A newer `show` wins over one still loading.
"""

from __future__ import annotations

import html
import itertools
import logging
import threading

import ipywidgets as widgets
from traitlets import Bool, Enum, Unicode, observe

from .loader import Loader
from .previewdata import COLOR_SCHEME, prepare
from .pump import Posts, default_pump

__all__ = ["Preview", "PREVIEW_STATES"]

log = logging.getLogger(__name__)

#: What a preview is doing: nothing asked yet, loading, showing a picture, or an error.
PREVIEW_STATES = ("empty", "loading", "shown", "error")
_NOTE = "<small style='color:#666'>{}</small>"


class Preview(widgets.VBox):
    """A preview of data that ``fetch()`` (called on a worker thread) returns; ``title``
    heads it, ``name`` and ``units`` label the values when the data carries none."""

    state = Enum(PREVIEW_STATES, "empty", help="empty, loading, shown or error")
    title = Unicode("", help="What is previewed (e.g. 'Run 3 · Detector image')")
    as_lines = Bool(False, help="Show 2-D data as a family of lines (one per row), not "
                                "as an image")

    def __init__(self, fetch=None, *, title="", name="", units=None, as_lines=False,
                 pump=None, **kwargs):
        self._pump = pump or default_pump()
        self._posts = Posts()
        self._lock = threading.Lock()
        self._generation = 0  # of the latest show(): older loads are dropped
        self._drawn = None  # (generation, Drawing) waiting for the pump to draw it
        self._value = None  # (generation, value, name, units) last fetched
        self._loader = Loader(lambda key, value, error: None, name="damnit_nb-preview")
        self._requests = itertools.count()  # each request is a key of its own

        self.heading = widgets.HTML()
        self.message = widgets.HTML()
        self.mode_buttons = widgets.ToggleButtons(
            options=["image", "lines"], value="lines" if as_lines else "image",
            tooltips=["2-D data as an image", "2-D data as a family of lines, one per row"],
            style={"button_width": "72px"}, layout=widgets.Layout(display="none"))
        self.content = widgets.Box(layout=widgets.Layout(width="100%"))
        super().__init__([self.heading, self.mode_buttons, self.message, self.content],
                         **kwargs)
        with self._pump.applying(self):
            self.as_lines = as_lines
            self.title = title
        self.heading.value = _heading(title)
        self.mode_buttons.observe(self._mode_picked, names="value")
        self._pump.register(self)
        if fetch is not None:
            self.show(fetch, title=title, name=name, units=units)

    # -- public -------------------------------------------------------------------------------
    def show(self, fetch, *, title=None, name="", units=None):
        """Load and draw what ``fetch()`` returns (called on a worker thread), replacing
        what is shown; says it is loading meanwhile. Any thread."""
        with self._lock:
            self._generation += 1
            generation = self._generation
            self._drawn = None
        if title is not None:
            self.title = title
        self._post(self.message, value=_NOTE.format("Loading…"))
        self._post(self.content, children=())
        self._post(self.mode_buttons, display="none")
        self._post(self, state="loading")
        self._start(self._load, generation, fetch, name, units)

    def wait(self, timeout=30.0):
        """Wait until what was asked is loaded and prepared (drawn at the pump's next
        flush); False if ``timeout`` seconds passed first."""
        import time

        deadline = time.monotonic() + timeout
        while self._loader.busy():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self):
        self._pump.unregister(self)
        self._loader.close()
        with self._lock:
            self._generation += 1  # a load under way is dropped
        _close_all(self.content.children)
        super().close()

    @observe("title")
    def _title_changed(self, change):
        if not self._pump.is_applying(self):
            self._post(self.heading, value=_heading(change["new"]))

    @observe("as_lines")
    def _as_lines_changed(self, change):
        if self._pump.is_applying(self):
            return
        self._post(self.mode_buttons, value="lines" if change["new"] else "image")
        with self._lock:
            fetched = self._value
        if fetched is not None:
            generation, value, name, units = fetched
            self._start(self._draw_again, generation, value, name, units)

    def _mode_picked(self, change):
        if not self._pump.is_applying(self):
            self.as_lines = change["new"] == "lines"

    # -- the loader's thread ------------------------------------------------------------------
    def _start(self, target, *args):
        """Run ``target(*args)`` on the loader's thread; what an older request waits to do
        is dropped (a newer show or toggle replaces it)."""
        key = (target.__name__, args[0], next(self._requests))
        self._loader.cancel(keep={key})
        self._loader.request(key, lambda: target(*args))

    def _load(self, generation, fetch, name, units):
        try:
            value = fetch()
        except Exception as e:  # a missing file, variable or unreadable data: said
            self._finish(generation, None, error=_error_text(e))
            return
        with self._lock:
            if generation == self._generation:
                self._value = (generation, value, name, units)
        self._draw_again(generation, value, name, units)

    def _draw_again(self, generation, value, name, units):
        try:
            drawing = prepare(value, name=name, units=units, lines=self.as_lines)
        except Exception as e:
            log.debug("preview cannot be drawn", exc_info=True)
            self._finish(generation, None, error=f"Cannot draw this data: {_error_text(e)}")
            return
        self._finish(generation, drawing)

    def _finish(self, generation, drawing, error=None):
        with self._lock:
            if generation != self._generation:
                return  # a newer show() replaced it
            self._drawn = (drawing, error)
        self._pump.wake(self)

    # -- the pump's thread --------------------------------------------------------------------
    def _post(self, widget, **traits):
        self._posts.post(widget, **traits)
        self._pump.wake(self)

    def pending(self):
        with self._lock:
            return self._drawn is not None or self._posts.pending()

    def flush(self):
        with self._lock:
            drawn, self._drawn = self._drawn, None
        before = self.content.children
        with self._pump.applying(self):
            self._posts.apply()
            if drawn is not None:
                self._draw(*drawn)
        _close_all([w for w in before if w not in self.content.children])

    def _draw(self, drawing, error):
        if error is not None:
            self.message.value = f"<span style='color:#b00'>{html.escape(error)}</span>"
            self.content.children = ()
            self.mode_buttons.layout.display = "none"
            self.state = "error"
        else:
            try:
                shown = _widgets_for(drawing)
            except Exception as e:  # e.g. plotly not installed
                log.debug("preview cannot be shown", exc_info=True)
                self.message.value = (f"<span style='color:#b00'>Cannot show this data: "
                                      f"{html.escape(_error_text(e))}</span>")
                self.content.children = ()
                self.state = "error"
            else:
                self.message.value = (_NOTE.format(html.escape(drawing.note))
                                      if drawing.note else "")
                self.mode_buttons.layout.display = "flex" if drawing.two_d else "none"
                self.content.children = (shown,)
                self.state = "shown"


def _heading(title):
    return f"<b>{html.escape(title)}</b>" if title else ""


def _error_text(error):
    if isinstance(error, KeyError) and error.args:
        return str(error.args[0])
    if isinstance(error, FileNotFoundError):
        return f"The run's data file is missing ({error.filename or error}): has it been " \
               "processed?"
    return f"{type(error).__name__}: {error}"


def _close_all(children):
    for child in children:
        for part in getattr(child, "_preview_parts", ()):
            part.close()
        child.close()


def _widgets_for(drawing):
    """The widget showing ``drawing`` (its bqplot parts kept to be closed with it)."""
    if drawing.kind in ("text", "message"):
        style = "color:#666" if drawing.kind == "message" else ""
        return widgets.HTML(f"<pre style='white-space:pre-wrap; margin:2px 0; {style}'>"
                            f"{html.escape(drawing.text)}</pre>")
    if drawing.kind == "png":
        return widgets.Image(value=drawing.png, format="png",
                             layout=widgets.Layout(max_width="100%", height="auto"))
    if drawing.kind == "plotly":
        import plotly.graph_objects as go

        return go.FigureWidget(drawing.figure)
    if drawing.kind in ("line", "lines"):
        return _line_figure(drawing)
    if drawing.kind == "image":
        return _image_figure(drawing)
    raise ValueError(f"Unknown kind of drawing {drawing.kind!r}")


def _scale_for(values):
    import numpy as np
    from bqplot import DateScale, LinearScale

    return DateScale() if np.issubdtype(values.dtype, np.datetime64) else LinearScale()


def _line_figure(drawing):
    from bqplot import Axis, Figure, LinearScale, Lines

    x_scale, y_scale = _scale_for(drawing.x), LinearScale()
    if drawing.kind == "lines":
        count = len(drawing.y)
        colours = _palette(count)
        rows = drawing.extra.get("rows", range(count))
        label = drawing.extra.get("rows_label", "row")
        line = Lines(x=drawing.x, y=drawing.y, scales={"x": x_scale, "y": y_scale},
                     colors=colours, stroke_width=1,
                     labels=[f"{label} {r}" for r in rows], display_legend=False)
    else:
        line = Lines(x=drawing.x, y=drawing.y, scales={"x": x_scale, "y": y_scale},
                     colors=["#1f77b4"], stroke_width=1.5)
    axes = [Axis(scale=x_scale, label=drawing.x_label, grid_lines="dashed"),
            Axis(scale=y_scale, side="left", label=drawing.y_label,
                 grid_lines="dashed")]
    figure = Figure(marks=[line], axes=axes, animation_duration=0, padding_y=0.05,
                    fig_margin={"top": 20, "bottom": 50, "left": 70, "right": 20},
                    layout=widgets.Layout(width="100%", height="360px"))
    figure._preview_parts = (line, *axes, x_scale, y_scale)
    return figure


def _image_figure(drawing):
    from bqplot import Axis, ColorAxis, ColorScale, Figure, Image, LinearScale

    picture = widgets.Image(value=drawing.png, format="png")
    x_scale = LinearScale(min=drawing.x_range[0], max=drawing.x_range[1])
    # the first row at the top, as detector images are shown (matplotlib's origin="upper")
    y_scale = LinearScale(min=min(drawing.y_range), max=max(drawing.y_range), reverse=True)
    lo, hi = drawing.limits
    colour_scale = ColorScale(min=lo, max=hi, scheme=COLOR_SCHEME)
    mark = Image(image=picture, x=list(drawing.x_range), y=[drawing.y_range[1],
                                                            drawing.y_range[0]],
                 scales={"x": x_scale, "y": y_scale}, pixelated=True)
    axes = [Axis(scale=x_scale, label=drawing.x_label, num_ticks=5),
            Axis(scale=y_scale, side="left", label=drawing.y_label),
            ColorAxis(scale=colour_scale, side="right",
                      label=drawing.value_label, tick_format=".4~g")]
    height, margin = 460, {"top": 20, "bottom": 50, "left": 70, "right": 110}
    # bqplot keeps the aspect of the whole figure: the one giving the plot the data's
    plot_height = height - margin["top"] - margin["bottom"]
    aspect = (plot_height * drawing.aspect + margin["left"] + margin["right"]) / height
    figure = Figure(marks=[mark], axes=axes, animation_duration=0, padding_x=0, padding_y=0,
                    min_aspect_ratio=aspect, max_aspect_ratio=aspect, fig_margin=margin,
                    layout=widgets.Layout(width="100%", height=f"{height}px"))
    figure._preview_parts = (mark, picture, *axes, x_scale, y_scale, colour_scale)
    return figure


def _palette(count):
    """``count`` colours along `COLOR_SCHEME`, as "#rrggbb"."""
    import numpy as np
    from matplotlib import colormaps

    table = colormaps[COLOR_SCHEME](np.linspace(0, 0.9, max(count, 1)))
    return ["#%02x%02x%02x" % tuple(int(round(c * 255)) for c in rgba[:3]) for rgba in table]
