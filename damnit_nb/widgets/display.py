"""How a stored value is shown in a table cell: a short value, and a longer detail text."""

import math

import numpy as np

from .runtable import ERROR_MARK, SKIP_MARK

__all__ = ["display_value", "sparkline"]

_BARS = "▁▂▃▄▅▆▇█"


def display_value(stored):
    """``(shown, detail)`` for a ``store.StoredValue`` (or None): what the cell shows, and what
    clicking it shows under the table (None when the cell says it all)."""
    if stored is None:
        return None, None
    if stored.is_error:
        if stored.skipped:
            return f"{SKIP_MARK} skipped", f"Skipped: {stored.error}"
        return f"{ERROR_MARK} {stored.error_cls}", f"{stored.error_cls}: {stored.error}"
    return _display_plain(stored.value, stored.summary_type)


def _display_plain(value, summary_type):
    if isinstance(value, (bool, np.bool_)):
        return bool(value), None
    if isinstance(value, (int, np.integer)):
        return int(value), None
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            return str(value), None
        return float(f"{value:.6g}"), None
    if isinstance(value, (complex, np.complexfloating)):
        return f"{complex(value):.4g}", None
    if isinstance(value, str):
        return value, (value if len(value) > 40 else None)
    if isinstance(value, bytes):
        return "🖼 image", "An image: the plots and previews of a later version show it."
    if isinstance(value, np.ndarray):
        if summary_type == "trendline" and value.ndim == 2 and value.shape[0] == 2:
            return sparkline(value[1]), f"Trend of {value.shape[1]} points"
        if value.size == 1:
            return _display_plain(value.reshape(()).item(), None)
        return f"{value.dtype}: {value.shape}", None
    return str(value), None


def sparkline(values, width=24):
    """A line of block characters drawing ``values`` (NaNs skipped), ``width`` wide at most."""
    y = np.asarray(values, dtype=float)
    y = y[np.isfinite(y)]
    if y.size == 0:
        return ""
    if y.size > width:  # mean of equal chunks
        y = np.array([c.mean() for c in np.array_split(y, width)])
    lo, hi = y.min(), y.max()
    if hi == lo:
        return _BARS[3] * y.size
    idx = np.round((y - lo) / (hi - lo) * (len(_BARS) - 1)).astype(int)
    return "".join(_BARS[i] for i in idx)
