"""How a stored value is shown in a table cell: a short value, and a longer detail text."""

import base64
import io
import math

import numpy as np

from .cells import trend_svg
from .runtable import ERROR_MARK, IMAGE_ROW_SIZE, SKIP_MARK, HtmlDetail, ImageCell

__all__ = ["display_value", "sparkline", "trend_svg"]

_BARS = "▁▂▃▄▅▆▇█"
#: The largest image (width, height in pixels) a cell gets: a thumbnail filling a row on a
#: screen of two pixels per point. Every image of a column is in each new table sent to the
#: browser, so the full thumbnail is kept for the detail, read when it is clicked.
CELL_IMAGE_SIZE = (4 * IMAGE_ROW_SIZE, 2 * IMAGE_ROW_SIZE)


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
        if value.startswith(b"\x89PNG"):
            cell = base64.b64encode(_fit_png(value, CELL_IMAGE_SIZE)).decode("ascii")
            data = base64.b64encode(value).decode("ascii")
            return ImageCell(f"data:image/png;base64,{cell}"), HtmlDetail(
                f'<img src="data:image/png;base64,{data}" alt="thumbnail" '
                'style="max-height:300px; image-rendering:pixelated">')
        return "🖼 image", None
    if isinstance(value, np.ndarray):
        if summary_type == "trendline" and value.ndim == 2 and value.shape[0] == 2:
            return sparkline(value[1]), HtmlDetail(trend_svg(value[0], value[1]))
        if value.size == 1:
            return _display_plain(value.reshape(()).item(), None)
        return f"{value.dtype}: {value.shape}", None
    return str(value), None


def _fit_png(png, size):
    """``png`` scaled down to fit in ``size`` (width, height) with at most 256 colours (a
    colour map has no more), or as it is if it fits already (or cannot be read: the browser
    may still draw it)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(png)) as im:
            if im.width <= size[0] and im.height <= size[1]:
                return png
            im.thumbnail(size)
            if im.mode not in ("RGB", "RGBA"):
                im = im.convert("RGBA")
            small = im.quantize(256, method=Image.Quantize.FASTOCTREE)
            out = io.BytesIO()
            small.save(out, format="PNG")
    except (UnidentifiedImageError, OSError, ValueError):
        return png
    return out.getvalue()


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
