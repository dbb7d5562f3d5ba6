"""Turning what a variable returned into what is stored, summarised as DAMNIT does.

`prepare_result` decides what goes in the per-run HDF5 file (`data`), what the table shows
(`summary`, `summary_type`) and the display attributes. It never raises for a bad value:
a value that cannot be saved becomes a TypeError recorded as the variable's error.
"""

from __future__ import annotations

import io
import logging
import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np

__all__ = ["PreparedResult", "prepare_result", "prepare_error", "TRENDLINE_POINTS",
           "THUMBNAIL_SIZE"]

log = logging.getLogger(__name__)

TRENDLINE_POINTS = 150  # about this many points are kept for a 1-D sparkline
THUMBNAIL_SIZE = 300  # px, the larger side of a 2-D thumbnail

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class ErrorFlags:
    """``is_error`` and ``skipped`` for anything with an ``error_cls`` field."""

    @property
    def is_error(self):
        """True for a failed or skipped variable."""
        return self.error_cls is not None

    @property
    def skipped(self):
        """True for a variable that raised Skip (not applicable to this run)."""
        return self.error_cls == "Skip"


@dataclass(frozen=True)
class PreparedResult(ErrorFlags):
    """One variable's result for one run, ready to store.

    data: what goes in the HDF5 file as `/<name>/data` (numpy array or str) or as a NetCDF4
    group (xarray DataArray/Dataset); None for errors.
    summary: what the table shows: a Python number, str, complex, PNG bytes, or a numpy array
    (a 2 x N trendline or another array); None for errors.
    summary_type: "trendline", "numpy", "complex" or None (DAMNIT marks only what the value
    itself does not tell). summary_method: the numpy function name used, or "".
    attributes: display attributes (units, bold, background as [r, g, b]).
    max_diff: max - min of numeric array data (DAMNIT stores it), else None.
    error, error_cls: the message and exception class name of a failed or skipped variable.
    preview: what to show on double click (1-D/2-D array, DataArray, or RGBA image array).
    data_type, preview_type: "image" for a rendered matplotlib figure (DAMNIT's
    `_damnit_objtype`); xarray objects are recognised by their type.
    """

    name: str
    data: object = None
    summary: object = None
    summary_type: str | None = None
    summary_method: str = ""
    attributes: dict = field(default_factory=dict)
    max_diff: float | None = None
    error: str | None = None
    error_cls: str | None = None
    preview: object = None
    data_type: str | None = None
    preview_type: str | None = None



def prepare_error(name, exc: BaseException) -> PreparedResult:
    """Record an exception raised by a variable: its message and class name.

    `Skip` (from damnit_nb.context or DAMNIT's damnit_ctx) is recognised by its class name and
    stored as DAMNIT stores it, error_cls "Skip".
    """
    return PreparedResult(name=name, error=str(exc), error_cls=type(exc).__name__)


def _unsaveable(name, value, detail=""):
    kind = type(value).__module__ + "." + type(value).__qualname__
    if type(value).__module__ == "builtins":
        kind = type(value).__qualname__
    msg = (
        f"Variable {name!r} returned a value of type {kind}{detail}, which cannot be saved. "
        "Return a number, "
        "a string, a numpy array of numbers or an xarray DataArray instead, or declare the "
        "variable with transient=True if its result is only passed to other variables."
    )
    return prepare_error(name, TypeError(msg))


def _is_dataarray(value):
    import sys

    xr = sys.modules.get("xarray")
    return xr is not None and isinstance(value, xr.DataArray)


def _is_dataset(value):
    import sys

    xr = sys.modules.get("xarray")
    return xr is not None and isinstance(value, xr.Dataset)


def _h5_can_store(dtype):
    if np.issubdtype(dtype, np.number) or dtype == np.bool_:
        return True
    import h5py

    try:
        h5py.h5t.py_create(dtype, logical=True)
    except TypeError:
        return False
    return True


def _normalize_background(colour):
    """'#rrggbb' or (r, g, b) 0-255 -> [r, g, b] (as DAMNIT stores it), None stays None."""
    if colour is None:
        return None
    if isinstance(colour, str):
        text = colour.strip()
        if len(text) != 7 or text[0] != "#":
            raise ValueError(f"Colour string {colour!r} should be a hex code like '#ffcc00'")
        try:
            return list(bytes.fromhex(text[1:]))
        except ValueError:
            raise ValueError(
                f"Colour string {colour!r} should be a hex code like '#ffcc00'") from None
    values = list(colour)
    if len(values) != 3:
        raise TypeError(f"Colour {colour!r} should have 3 values (r, g, b), not {len(values)}")
    if not all(isinstance(v, numbers.Integral) and 0 <= v <= 255 for v in values):
        raise ValueError(f"Colour values {colour!r} should be integers 0-255")
    return [int(v) for v in values]


def prepare_result(name, value, *, summary=None, units=None, summary_value=None, bold=None,
                   background=None, preview=None) -> PreparedResult | None:
    """Turn a variable's return value into a PreparedResult (None for a None value).

    summary: a numpy function name applied to the data (`np.<summary>(data)`).
    units: the variable's units; a DataArray's `attrs['units']` takes precedence.
    summary_value, bold, background, preview: what a DAMNIT `Cell` carries; summary_value
    overrides the computed summary; units given here are treated as the Variable's.
    A DAMNIT `Cell` (damnit_nb's or damnit_ctx's, recognised by its class name) is unwrapped:
    its own summary, summary_value, bold, background, preview and units take precedence.
    """
    try:
        return _prepare(name, value, summary, units, summary_value, bold, background, preview)
    except Exception as exc:  # e.g. a figure that fails to render: the variable's error
        log.debug("Could not prepare %s", name, exc_info=True)
        return prepare_error(name, exc)


def _prepare(name, value, summary, units, summary_value, bold, background, preview):
    cell_units = None
    if _is_cell(value):
        cell = value
        value = cell.data
        summary = getattr(cell, "summary", None) or summary
        summary_value = _first(getattr(cell, "summary_value", None), summary_value)
        bold = _first(getattr(cell, "bold", None), bold)
        background = _first(getattr(cell, "background", None), background)
        preview = _first(getattr(cell, "preview", None), preview)
        cell_units = getattr(cell, "units", None)
    if value is None:
        return None
    try:
        attributes = {}
        if bold is not None:
            attributes["bold"] = bool(bold)
        if (colour := _normalize_background(background)) is not None:
            attributes["background"] = colour
    except (TypeError, ValueError) as exc:
        return prepare_error(name, exc)

    figure = _as_figure(value)
    data_type = None
    plotly_figure = None
    if figure is not None:
        data = array = _figure_rgba(figure)
        data_type = "image"
    elif _is_plotly(value):
        # As DAMNIT stores it: the figure's JSON as uint8 (so HDF5 can compress it).
        plotly_figure = value
        data = np.frombuffer(value.to_json().encode("utf-8"), dtype=np.uint8)
        array = None
        data_type = "PlotlyFigure"
    elif _is_dataarray(value):
        da_units = value.attrs.get("units")
        if isinstance(da_units, str) and da_units:
            units = da_units
        if value.dtype.hasobject or not _h5_can_store(value.dtype):
            return _unsaveable(name, value, f" of dtype {value.dtype}")
        data = value
        array = value.values
    elif _is_dataset(value):
        bad = [k for k, v in value.variables.items()
               if v.dtype.hasobject or not _h5_can_store(v.dtype)]
        if bad:
            return _unsaveable(name, value, f" with unsaveable variables {bad}")
        data = value
        array = None
    elif isinstance(value, str):
        data = array = value
    elif isinstance(value, (bytes, bytearray)):
        return _unsaveable(name, value, " (raw bytes)")
    elif isinstance(value, (numbers.Number, np.generic, np.ndarray, list, tuple)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                array = np.asarray(value)
        except Exception:
            return _unsaveable(name, value, " (a ragged sequence)")
        if array.dtype.hasobject:
            return _unsaveable(name, value, " holding Python objects")
        if not _h5_can_store(array.dtype):
            return _unsaveable(name, value, f" of dtype {array.dtype}")
        data = array
    elif type(value).__module__.startswith("pandas"):
        return _unsaveable(name, value, " (convert it with .to_xarray() or .to_numpy())")
    else:
        return _unsaveable(name, value)

    if cell_units is not None:
        units = cell_units
    if units is not None:
        attributes["units"] = str(units)

    method = ""
    max_diff = _max_diff(array) if figure is None and isinstance(array, np.ndarray) else None

    try:
        preview, preview_figure = _check_preview(preview)
        if summary_value is not None:
            summary_obj = _check_summary_value(summary_value)
        else:
            summary_obj = None
            if summary is not None and isinstance(array, np.ndarray) and figure is None:
                summary_obj = _apply_reduction(summary, data)
                if summary_obj is not None:
                    method = summary
            if summary_obj is None and plotly_figure is not None:
                summary_obj = _or_fallback(_plotly_png, plotly_figure, "<plotly figure>")
            if summary_obj is None:
                if preview_figure is not None or figure is not None:
                    summary_obj = _or_fallback(figure_png, preview_figure or figure,
                                               "<thumbnail error>")
                else:
                    shown = preview if preview is not None else data
                    summary_obj = _default_summary(shown, value)
    except (TypeError, ValueError) as exc:
        return prepare_error(name, exc)

    summary_out, summary_type = _summary_for_db(summary_obj)
    return PreparedResult(
        name=name, data=data, summary=summary_out, summary_type=summary_type,
        summary_method=method, attributes=attributes, max_diff=max_diff, preview=preview,
        data_type=data_type, preview_type="image" if preview_figure is not None else None,
    )


def _is_plotly(value):
    """A plotly Figure (recognised by its class; plotly is not imported)."""
    cls = type(value)
    return cls.__name__ == "Figure" and cls.__module__.startswith("plotly.")


def _plotly_png(figure):
    """PNG bytes of a plotly figure's thumbnail (needs plotly's image export, kaleido)."""
    return figure.to_image(format="png", width=THUMBNAIL_SIZE, height=THUMBNAIL_SIZE)


def _as_figure(value):
    """A matplotlib Figure for a Figure or Axes, else None (matplotlib is not imported)."""
    import sys

    if "matplotlib" not in sys.modules:
        return None
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    if isinstance(value, Axes):
        return value.get_figure()
    if isinstance(value, Figure):
        return value
    return None


def _figure_rgba(fig):
    """The figure rendered as an (h, w, 4) uint8 RGBA array."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.array(canvas.buffer_rgba(), dtype=np.uint8)


def figure_png(fig, size=THUMBNAIL_SIZE):
    """PNG bytes of a figure, at most `size` px on the larger side."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    width, height = fig.get_size_inches() * fig.dpi
    dpi = fig.dpi * min(1.0, size / max(width, height, 1))
    FigureCanvasAgg(fig)  # figures from pyplot may have another canvas attached
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=dpi, format="png")
    return buffer.getvalue()


def _check_preview(preview):
    """(preview data to store, figure or None); a bad preview raises TypeError."""
    if preview is None:
        return None, None
    figure = _as_figure(preview)
    if figure is not None:
        return _figure_rgba(figure), figure
    if _is_dataarray(preview) or isinstance(preview, np.ndarray):
        if preview.ndim not in (1, 2):
            raise TypeError(f"preview should be a 1-D or 2-D array (shape is {preview.shape})")
        if not (np.issubdtype(preview.dtype, np.number) or preview.dtype == np.bool_):
            raise TypeError(f"preview array should be numeric, not {preview.dtype}")
        return preview, None
    raise TypeError("preview should be a 1-D or 2-D array or a matplotlib figure, "
                    f"not {type(preview).__name__}")


def _is_cell(value):
    return type(value).__name__ == "Cell" and hasattr(value, "data")


def _first(*values):
    return next((v for v in values if v is not None), None)


def _check_summary_value(summary_value):
    if isinstance(summary_value, str):
        return summary_value
    arr = np.asarray(summary_value)
    if arr.dtype.hasobject or not _h5_can_store(arr.dtype):
        raise TypeError(
            f"summary_value should be a number or a string, not {type(summary_value).__name__}")
    return arr


def _apply_reduction(summary, data):
    """np.<summary>(data), or None if that fails (DAMNIT then uses the default summary)."""
    func = getattr(np, summary, None)
    if not callable(func):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = func(data)
        if _is_dataarray(result):
            result = result.values
        return np.asarray(result)
    except Exception:
        return None


def _max_diff(array):
    if array.size <= 1 or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        return None
    if array.dtype == np.bool_:
        return 1.0 if (array.any() and not array.all()) else 0.0
    if np.issubdtype(array.dtype, np.complexfloating):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.abs(np.subtract(np.nanmax(array), np.nanmin(array), dtype=np.float64)))


def _default_summary(shown, original):
    """DAMNIT's fallback summaries: value, trendline, thumbnail or a shape string."""
    if isinstance(shown, str):
        return shown
    if _is_dataset(shown):
        return f"Dataset ({shown.nbytes / 1e6:.2f}MB)"
    arr = shown.values if _is_dataarray(shown) else np.asarray(shown)
    full = original.values if _is_dataarray(original) else np.asarray(original)
    shape_text = f"{full.dtype}: {full.shape}"
    if arr.ndim == 0:
        return arr
    if arr.ndim == 1:
        return _or_fallback(trendline, shown, shape_text)
    if arr.ndim == 2:
        return _or_fallback(thumbnail_png, arr, shape_text)
    return shape_text


def _or_fallback(make_summary, data, fallback):
    """A summary that fails to draw is no reason to lose the data: use a shape string."""
    try:
        return make_summary(data)
    except Exception:
        log.warning("Could not make a %s summary; showing %r instead",
                    make_summary.__name__, fallback, exc_info=True)
        return fallback


def _summary_for_db(obj):
    """(summary, summary_type) as DAMNIT puts them in its database."""
    if isinstance(obj, (str, bytes)):
        return obj, None
    if isinstance(obj, np.ndarray) and obj.ndim == 0:
        obj = obj.item()
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, complex):
        return obj, "complex"
    if isinstance(obj, (bool, int, float)):
        return obj, None
    if isinstance(obj, np.ndarray):
        if obj.ndim == 2 and obj.shape[0] == 2:
            return obj, "trendline"
        return obj, "numpy"
    return obj, None


# ---------------------------------------------------------------- trendline (sparkline) ----

def trendline(data, points=TRENDLINE_POINTS):
    """A (2, N) float64 array of x and y, N about `points`, keeping each window's extremes.

    x is the coordinate of a DataArray's dimension when numeric (datetimes in seconds), else
    the index. Points are sorted by x. Each window of the data contributes its minimum and
    maximum (in x order), so spikes survive downsampling.
    """
    if _is_dataarray(data):
        y = np.asarray(data.values)
        x = None
        if data.dims and data.dims[0] in data.coords:
            x = np.asarray(data.coords[data.dims[0]].values)
    else:
        y = np.asarray(data)
        x = None
    y = y.reshape(-1)
    if x is None or x.shape != y.shape:
        x = np.arange(y.size)
    if np.issubdtype(x.dtype, np.datetime64):
        x = x.astype("datetime64[ns]").astype(np.int64) / 1e9
    elif not np.issubdtype(x.dtype, np.number):
        x = np.arange(y.size)
    if np.issubdtype(y.dtype, np.complexfloating):
        y = np.abs(y)
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    if x.size > 1 and np.any(np.diff(x) < 0):
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
    if y.size <= points:
        return np.vstack((x, y))

    n_windows = max(1, points // 2)
    edges = np.linspace(0, y.size, n_windows + 1).astype(int)
    keep = []
    for start, stop in zip(edges[:-1], edges[1:]):
        window = y[start:stop]
        if window.size == 0:
            continue
        if np.all(np.isnan(window)):
            keep.append(start)
            continue
        lo = start + int(np.nanargmin(window))
        hi = start + int(np.nanargmax(window))
        keep.extend(sorted({lo, hi}))
    keep = np.asarray(keep)
    return np.vstack((x[keep], y[keep]))


# ----------------------------------------------------------------------- thumbnails -------

def thumbnail_png(image, size=THUMBNAIL_SIZE):
    """PNG bytes of a 2-D array: NaN as 0, colour limits at the 1st-99th percentiles,
    at most `size` px on the larger side."""
    from matplotlib.figure import Figure

    image = np.nan_to_num(np.asarray(image, dtype=np.float64) if not np.issubdtype(
        np.asarray(image).dtype, np.complexfloating) else np.abs(image))
    height, width = image.shape
    scale = 1.0 / max(height, width, 1)
    fig = Figure(figsize=(max(width * scale, 0.05), max(height * scale, 0.05)))
    ax = fig.add_axes((0, 0, 1, 1))
    if image.size:
        vmin, vmax = np.quantile(image, 0.01), np.quantile(image, 0.99)
        ax.imshow(image, vmin=vmin, vmax=vmax, aspect="auto", interpolation="antialiased")
    ax.axis("off")
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=size, format="png")
    return buffer.getvalue()
