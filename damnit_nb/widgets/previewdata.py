"""What a preview draws: a variable's data (as `VariableData.preview_data()` or ``read()``
give it) turned into a `Drawing`, the kind of picture and the arrays it needs, downsampled
for display. Imports no widgets: `preview.Preview` draws what `prepare` returns.

Kinds: "line" (1-D data along its coordinate), "lines" (2-D data as a family of lines, one
per row), "image" (2-D data as a colour-mapped PNG, with its colour limits at the 1st and
99th percentiles), "png" (RGB(A) arrays, matplotlib figures, PNG bytes), "plotly" (a plotly
figure), "text" (scalars, strings, tables) and "message" (what cannot be previewed, said why).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from io import BytesIO

import numpy as np

__all__ = ["Drawing", "prepare", "MAX_POINTS", "MAX_PIXELS", "MAX_LINES", "COLOR_SCHEME"]

#: The most points a line is drawn with (longer data is reduced to each stretch's min and max).
MAX_POINTS = 10_000
#: The most pixels on each side of an image (larger data is averaged in blocks).
MAX_PIXELS = 1_000
#: The most lines drawn for 2-D data shown as lines (rows are then taken at a stride).
MAX_LINES = 50
#: The colour map of images (the same in matplotlib, which paints them, and bqplot, whose
#: colour bar shows it).
COLOR_SCHEME = "viridis"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_TEXT_LIMIT = 5000


@dataclass
class Drawing:
    """What to draw. ``kind`` says which of the other fields are set (see the module).

    - line: ``x``, ``y`` (1-D); lines: ``x`` (1-D), ``y`` (2-D, a row per line);
    - image: ``png``, ``x_range`` and ``y_range`` (the data's extent, pixel edges, the first
      row's at ``y_range[0]``), ``limits`` (colour limits), ``aspect`` (width / height);
    - png: ``png``; plotly: ``figure``; text and message: ``text``.

    ``x_label``, ``y_label``, ``value_label``: the axes' and colour bar's labels (coordinate
    or dimension names, with units); ``note``: said beside the picture (e.g. downsampled);
    ``shape``: the data's shape, None if not an array; ``extra``: for lines, ``rows`` (the
    rows drawn) and ``rows_label``.
    """

    kind: str
    text: str = ""
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    png: bytes | None = None
    figure: object = None
    x_range: tuple | None = None
    y_range: tuple | None = None
    limits: tuple | None = None
    aspect: float | None = None
    x_label: str = ""
    y_label: str = ""
    value_label: str = ""
    note: str = ""
    shape: tuple | None = None
    extra: dict = field(default_factory=dict)

    @property
    def two_d(self):
        """Whether this is 2-D data, which can be shown as an image or as lines."""
        return self.kind in ("image", "lines")


def prepare(value, *, name="", units=None, lines=False):
    """The `Drawing` of ``value``: what `VariableData.preview_data()` (or ``read()``) gave.

    ``name``: the variable's name or title (the value axis's label when the data has none);
    ``units``: the variable's units, if the data does not carry its own; ``lines``: 2-D data
    as a family of lines rather than an image.
    """
    if value is None:
        return Drawing("message", text="This variable has no preview for this run.")
    if _is_plotly(value):
        return Drawing("plotly", figure=value)
    figure = _as_matplotlib(value)
    if figure is not None:
        return Drawing("png", png=_figure_png(figure))
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value)
        if value.startswith(_PNG_MAGIC):
            return Drawing("png", png=value)
        return Drawing("text", text=_limited(repr(value)))
    if isinstance(value, str):
        return Drawing("text", text=_limited(value))
    kind = type(value).__name__
    if kind in ("DataFrame", "Dataset"):
        return Drawing("text", text=_limited(str(value)))
    if kind == "Series":
        return _series(value, name, units)
    if _is_dataarray(value):
        data = np.asarray(value.values)
        units = value.attrs.get("units", units)
        name = value.name or name
    else:
        data, value = np.asarray(value), None
    if data.ndim == 0:
        return Drawing("text", text=_with_units(_scalar_text(data[()]), units))
    if not (np.issubdtype(data.dtype, np.number) or data.dtype == np.bool_):
        return Drawing("text", text=_limited(np.array2string(data, threshold=200)),
                       shape=data.shape)
    if np.iscomplexobj(data):
        data = np.abs(data)
        name = f"|{name}|" if name else "magnitude"
    value_label = _with_units(str(name or "value"), units, brackets=True)
    if data.ndim == 1:
        return _line(data, value, value_label)
    if data.ndim == 3 and data.shape[-1] in (3, 4):
        return _rgb(data)
    if data.ndim == 2:
        if lines:
            return _lines(data, value, value_label)
        return _image(data, value, value_label)
    return Drawing("message", shape=data.shape, text=(
        f"{data.ndim}-D data of shape {data.shape}: previews show 1-D and 2-D data. Give the "
        "variable a preview (return Cell(data, preview=...)) to see one."))


# -- kinds --------------------------------------------------------------------------------------

def _line(y, array, value_label, index=None, index_label=None):
    n = len(y)
    x, x_label = _coordinate(array, 0, n) if index is None else (index, index_label)
    x, y, note = _decimate(x, y.astype(float, copy=False))
    return Drawing("line", x=x, y=y, x_label=x_label, y_label=value_label, note=note,
                   shape=(n,))


def _series(series, name, units):
    index = np.asarray(series.index)
    if not (np.issubdtype(index.dtype, np.number) or np.issubdtype(index.dtype, np.datetime64)):
        index = np.arange(len(series))
    label = _with_units(str(series.name or name or "value"), units, brackets=True)
    values = np.asarray(series.values)
    if not np.issubdtype(values.dtype, np.number):
        return Drawing("text", text=_limited(str(series)))
    return _line(values, None, label, index=index, index_label=str(series.index.name or ""))


def _image(data, array, value_label):
    rows, cols = data.shape
    shown, factor = _block_mean(data.astype(np.float32, copy=False))
    limits = _limits(shown)
    x_range, x_label = _edges(array, 1, cols)
    y_range, y_label = _edges(array, 0, rows)
    note = ""
    if factor > 1:
        note = (f"{rows:,} x {cols:,} pixels shown as {shown.shape[0]:,} x {shown.shape[1]:,} "
                f"(means of {factor} x {factor} blocks)")
    return Drawing("image", png=_colour_png(shown, limits), x_range=x_range, y_range=y_range,
                   limits=limits, aspect=_clamp(cols / rows), x_label=x_label,
                   y_label=y_label, value_label=value_label, note=note, shape=data.shape)


def _lines(data, array, value_label):
    rows, cols = data.shape
    step = max(1, math.ceil(rows / MAX_LINES))
    picked = data[::step].astype(float, copy=False)
    x, x_label = _coordinate(array, 1, cols)
    out_x, out_y, note = x, picked, ""
    if cols > MAX_POINTS // 2:
        reduced = [_decimate(x, row) for row in picked]
        out_x, out_y = reduced[0][0], np.array([r[1] for r in reduced])
        note = f"{cols:,} points a line shown as their {len(out_x):,} extremes"
    if step > 1:
        note = "; ".join(filter(None, [f"every {step} rows of {rows:,} drawn", note]))
    rows_label = _coordinate(array, 0, rows)[1] or "row"
    return Drawing("lines", x=out_x, y=out_y, x_label=x_label, y_label=value_label,
                   note=note, shape=data.shape,
                   extra={"rows": np.arange(rows)[::step], "rows_label": rows_label})


def _rgb(data):
    rows, cols, _ = data.shape
    step = max(1, math.ceil(max(rows, cols) / MAX_PIXELS))
    shown = data[::step, ::step]
    if shown.dtype != np.uint8:
        top = 255 if np.issubdtype(shown.dtype, np.integer) or np.nanmax(shown) > 1 else 1
        shown = (np.clip(np.nan_to_num(shown.astype(float)), 0, top) * (255 / top)).astype(
            np.uint8)
    note = (f"{rows:,} x {cols:,} pixels shown as {shown.shape[0]:,} x {shown.shape[1]:,}"
            if step > 1 else "")
    return Drawing("png", png=_png(shown), note=note, shape=data.shape)


# -- helpers ------------------------------------------------------------------------------------

def _is_dataarray(value):
    return type(value).__name__ == "DataArray" and hasattr(value, "dims")


def _is_plotly(value):
    cls = type(value)
    return cls.__name__ in ("Figure", "FigureWidget") and cls.__module__.startswith("plotly.")


def _as_matplotlib(value):
    cls = type(value)
    if not cls.__module__.startswith("matplotlib."):
        return None
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    if isinstance(value, Axes):
        return value.get_figure()
    return value if isinstance(value, Figure) else None


def _figure_png(figure):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def _png(rgba):
    from PIL import Image

    buffer = BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba)).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def _colour_lut():
    from matplotlib import colormaps

    table = colormaps[COLOR_SCHEME](np.linspace(0, 1, 256))
    return (table * 255).round().astype(np.uint8)


def _colour_png(shown, limits):
    """The image coloured with `COLOR_SCHEME` between ``limits``, NaNs transparent."""
    lo, hi = limits
    with np.errstate(invalid="ignore"):
        scaled = (shown - lo) * (255 / (hi - lo))
    finite = np.isfinite(scaled)
    index = np.clip(np.where(finite, scaled, 0), 0, 255).astype(np.uint8)
    rgba = _colour_lut()[index]
    rgba[..., 3] = np.where(finite, 255, 0)
    return _png(rgba)


def _limits(shown):
    """The colour limits: the 1st and 99th percentiles of the finite values (a range
    around them if they are equal)."""
    finite = shown[np.isfinite(shown)]
    if finite.size == 0:
        return (0.0, 1.0)
    lo, hi = (float(v) for v in np.percentile(finite, [1, 99]))
    if hi <= lo:
        spread = abs(lo) * 0.5 or 0.5
        lo, hi = lo - spread, lo + spread
    return (lo, hi)


def _block_mean(data):
    """``data`` averaged over square blocks so that no side exceeds `MAX_PIXELS`: (the
    result, the block's side)."""
    factor = max(1, math.ceil(max(data.shape) / MAX_PIXELS))
    if factor == 1:
        return data, 1
    rows, cols = data.shape
    padded_rows, padded_cols = -(-rows // factor) * factor, -(-cols // factor) * factor
    if (padded_rows, padded_cols) != data.shape:
        padded = np.full((padded_rows, padded_cols), np.nan, dtype=data.dtype)
        padded[:rows, :cols] = data
        data = padded
    blocks = data.reshape(padded_rows // factor, factor, padded_cols // factor, factor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # blocks of NaNs only
        return np.nanmean(blocks, axis=(1, 3)), factor


def _decimate(x, y):
    """At most `MAX_POINTS` points of a line: each stretch's minimum and maximum, in order
    (so peaks stay). Returns (x, y, note)."""
    n = len(y)
    if n <= MAX_POINTS:
        return np.asarray(x), y, ""
    buckets = MAX_POINTS // 2
    size = math.ceil(n / buckets)
    buckets = math.ceil(n / size)
    padded = np.full(buckets * size, np.nan)
    padded[:n] = y
    blocks = padded.reshape(buckets, size)
    filled = np.where(np.isnan(blocks), np.inf, blocks)
    low = np.argmin(filled, axis=1)
    high = np.argmax(np.where(np.isnan(blocks), -np.inf, blocks), axis=1)
    first = np.minimum(low, high)
    second = np.maximum(low, high)
    starts = np.arange(buckets) * size
    index = np.clip(np.stack([starts + first, starts + second], axis=1).ravel(), 0, n - 1)
    index = index[np.r_[True, np.diff(index) != 0]]
    return (np.asarray(x)[index], y[index],
            f"{n:,} points shown as {len(index):,} (each stretch's minimum and maximum)")


def _coordinate(array, axis, n):
    """(values, label) of an axis: its coordinate (with units) if it has a numeric or time
    one, else the index (labelled by the dimension's name)."""
    if array is None:
        return np.arange(n), ""
    dim = array.dims[axis]
    label = str(dim)
    if dim in array.coords:
        coord = array.coords[dim]
        values = np.asarray(coord.values)
        units = coord.attrs.get("units")
        if values.ndim == 1 and len(values) == n and (
                np.issubdtype(values.dtype, np.number)
                or np.issubdtype(values.dtype, np.datetime64)):
            return values, _with_units(label, units, brackets=True)
    return np.arange(n), label


def _edges(array, axis, n):
    """(first pixel's outer edge, last pixel's outer edge) along an axis, and its label."""
    values, label = _coordinate(array, axis, n)
    if not np.issubdtype(values.dtype, np.number):
        values = np.arange(n)  # time coordinates on an image: pixel indices
    values = values.astype(float)
    half = (values[-1] - values[0]) / (n - 1) / 2 if n > 1 else 0.5
    if not math.isfinite(half) or half == 0:
        return (-0.5, n - 0.5), label
    return (float(values[0] - half), float(values[-1] + half)), label


def _clamp(aspect, lo=0.1, hi=10.0):
    return float(min(max(aspect, lo), hi))


def _scalar_text(value):
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", "replace")
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return str(value)


def _with_units(text, units, brackets=False):
    if not units:
        return text
    return f"{text} [{units}]" if brackets else f"{text} {units}"


def _limited(text):
    return text if len(text) <= _TEXT_LIMIT else text[:_TEXT_LIMIT] + "\n…"
