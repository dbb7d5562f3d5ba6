"""A run's full data as the 1-D series an overlay plot draws: one variable along its
coordinate, or two variables paired (aligned on their common train IDs when both have a
``trainId`` dimension), and histograms of several runs on common bins. Imports no widgets.

What cannot be drawn so raises `NotASeriesError` (a ValueError) saying why and what to use
instead.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Series", "NotASeriesError", "series_of", "paired", "histograms", "thin",
           "MAX_POINTS", "TRAIN_DIM"]

#: The most points of one run's line drawn; longer series are thinned by a stride.
MAX_POINTS = 10_000
#: The dimension two variables are aligned on.
TRAIN_DIM = "trainId"


class NotASeriesError(ValueError):
    """A run's data that cannot be drawn as a line (a number, 2-D data, text, series of
    different lengths with nothing to align them on)."""


class Series(NamedTuple):
    """What one run's line is: ``x`` and ``y`` (float arrays of one length), their axis
    labels, and ``thinned`` (how many points the data had, if it was thinned; else None)."""

    x: np.ndarray
    y: np.ndarray
    x_label: str
    y_label: str
    thinned: int | None = None


def _units(attrs):
    units = attrs.get("units", "") if attrs is not None else ""
    return units.decode() if isinstance(units, bytes) else str(units or "")


def _label(name, units):
    return f"{name} [{units}]" if units else name


def _is_xarray(data):
    return hasattr(data, "dims") and hasattr(data, "coords")


def _one_d(data, what):
    """``data`` as (values, coordinate values or None, dim name, coordinate units, units)."""
    if isinstance(data, (str, bytes)):
        raise NotASeriesError(f"{what} is text, not a series of numbers")
    if _is_xarray(data):
        if hasattr(data, "data_vars"):  # a Dataset
            names = ", ".join(map(str, data.data_vars))
            raise NotASeriesError(f"{what} is an xarray Dataset (of {names}): return one "
                                  "DataArray from the variable to plot it")
        if data.ndim != 1:
            raise NotASeriesError(_not_1d(what, data.shape))
        dim = str(data.dims[0])
        coord = data.coords[dim] if dim in data.coords else None
        return (np.asarray(data.values), None if coord is None else np.asarray(coord.values),
                dim, _units(coord.attrs) if coord is not None else "", _units(data.attrs))
    values = np.asarray(data)
    if values.ndim != 1:
        raise NotASeriesError(_not_1d(what, values.shape))
    return values, None, "index", "", ""


def _not_1d(what, shape):
    if len(shape) == 0:
        return (f"{what} is a single number per run: plot it across runs with "
                "table.plot(name) instead")
    return (f"{what} has {len(shape)} dimensions {tuple(shape)}: overlays draw 1-D data; "
            "see it with table.preview(run, name)")


def _floats(values, what):
    if values.dtype.kind == "M":  # datetimes: seconds
        return values.astype("datetime64[ns]").astype(np.int64) / 1e9
    if values.dtype.kind not in "biuf":
        raise NotASeriesError(f"{what} holds {values.dtype} values, not numbers")
    return values.astype(float)


def thin(x, y, limit=MAX_POINTS):
    """``x`` and ``y`` with at most ``limit`` points (every k-th), and the original length
    if they were thinned (else None)."""
    n = len(y)
    if n <= limit:
        return x, y, None
    step = -(-n // limit)
    return x[::step], y[::step], n


def series_of(data, name="y", units=None):
    """One variable's data of one run as a `Series` along its coordinate (the index if it
    has none). ``units`` are the variable's, used where the data has none."""
    values, coord, dim, coord_units, data_units = _one_d(data, name)
    y = _floats(values, name)
    x = np.arange(len(y), dtype=float) if coord is None else _floats(coord, f"{name}'s {dim}")
    x, y, thinned = thin(x, y)
    return Series(x, y, _label(dim, coord_units), _label(name, data_units or units or ""),
                  thinned)


def paired(x_data, y_data, x_name="x", y_name="y", x_units=None, y_units=None):
    """Two variables of one run as a `Series` of y against x: aligned on their common train
    IDs when both have a ``trainId`` dimension, else paired in order when they have the same
    length; `NotASeriesError` otherwise (or when no train is common)."""
    xv, xc, xdim, _, xu = _one_d(x_data, x_name)
    yv, yc, ydim, _, yu = _one_d(y_data, y_name)
    x_label = _label(x_name, xu or x_units or "")
    y_label = _label(y_name, yu or y_units or "")
    if xdim == TRAIN_DIM and ydim == TRAIN_DIM and xc is not None and yc is not None:
        common, xi, yi = np.intersect1d(xc, yc, assume_unique=False, return_indices=True)
        if len(common) == 0:
            raise NotASeriesError(f"{x_name} and {y_name} have no train ID in common "
                                  f"({len(xc)} and {len(yc)} trains)")
        xv, yv = xv[xi], yv[yi]
    elif len(xv) != len(yv):
        dims = [d for d, c in ((xdim, xc), (ydim, yc)) if d != TRAIN_DIM or c is None]
        why = (f"{' and '.join(sorted(set(dims)))} is not a {TRAIN_DIM} dimension"
               if dims else "")
        raise NotASeriesError(
            f"{x_name} has {len(xv)} values and {y_name} {len(yv)}, and they cannot be "
            f"aligned ({why}): return both with a {TRAIN_DIM!r} dimension (as xarray "
            "DataArrays) to align them on their common trains")
    x, y, thinned = thin(_floats(xv, x_name), _floats(yv, y_name))
    return Series(x, y, x_label, y_label, thinned)


def histograms(values_by_run, bins=20):
    """Histograms of several runs' values on common bins: ``(edges, {run: counts})``, the
    edges spanning every run's finite values."""
    finite = {run: v[np.isfinite(v)] for run, v in values_by_run.items()}
    everything = [v for v in finite.values() if len(v)]
    if not everything:
        return np.array([0.0, 1.0]), {run: np.zeros(1) for run in finite}
    lo = min(float(v.min()) for v in everything)
    hi = max(float(v.max()) for v in everything)
    edges = np.histogram_bin_edges([lo, hi], bins=bins)
    return edges, {run: np.histogram(v, bins=edges)[0].astype(float)
                   for run, v in finite.items()}
