"""What a table cell holds: a stored value turned into a typed `Cell` (a number stays a number),
with its marks (error, skipped, missing, provenance, bold, background, varied within the run)
kept out of the value; the HTML a clicked cell shows; a selection as Markdown. Imports no
widgets.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, fields
from datetime import datetime
from typing import NamedTuple

import numpy as np

__all__ = [
    "Cell", "Trend", "MISSING", "CONTEXT_PROVENANCE", "from_stored", "column_kind",
    "short_text", "number_text", "detail_html", "as_markdown", "trend_svg",
]

#: Provenances of values the context file computed (DAMNIT marks the others).
CONTEXT_PROVENANCE = (None, "", "context.py")
#: DAMNIT's GUI bolds a value whose data varied by more than this within the run.
_VARIED = 1e-9


class Trend(NamedTuple):
    """A trendline's points (read-only float arrays), for a sparkline and its detail."""

    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True, eq=False)
class Cell:
    """One cell. ``kind``: "number", "text", "image" (``value`` is PNG bytes), "trend"
    (``value`` is a `Trend`), "state", "time" (seconds since the epoch), or "empty" for a
    cell with a ``mark`` and no value: "error" (``error_cls``, ``message``), "skipped"
    (``message``) or "missing".

    Marks beside a value: ``provenance`` (None for the context file, else e.g.
    "manual-input"), ``bold`` (the value's own setting, None if unset), ``background``
    ((r, g, b) or None), ``varied`` (the data varied within the run); ``units``.
    """

    kind: str
    value: object = None
    mark: str | None = None
    error_cls: str | None = None
    message: str | None = None
    provenance: str | None = None
    bold: bool | None = None
    background: tuple | None = None
    varied: bool = False
    units: str | None = None

    @classmethod
    def number(cls, value, **marks):
        return cls("number", value, **marks)

    @classmethod
    def text(cls, value, **marks):
        return cls("text", str(value), **marks)

    @classmethod
    def error(cls, error_cls, message="", **marks):
        return cls("empty", None, "error", error_cls, message, **marks)

    @classmethod
    def skipped(cls, message="", **marks):
        return cls("empty", None, "skipped", "Skip", message, **marks)

    @property
    def shown_bold(self):
        """Whether the value is drawn bold: its own setting, else whether it varied."""
        return self.varied if self.bold is None else self.bold

    def _key(self):
        out = []
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Trend):
                v = (v.x.shape, v.x.tobytes(), v.y.shape, v.y.tobytes())
            elif isinstance(v, float) and math.isnan(v):
                v = "nan"
            out.append(v)
        return tuple(out)

    def __eq__(self, other):
        if not isinstance(other, Cell):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())


MISSING = Cell("empty", mark="missing")


def _readonly(a):
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


def _typed(value, summary_type):
    """``(kind, value)`` for a stored (decoded) value."""
    if isinstance(value, (bool, np.bool_)):
        return "number", bool(value)
    if isinstance(value, (int, np.integer)):
        return "number", int(value)
    if isinstance(value, (float, np.floating)):
        return "number", float(value)
    if isinstance(value, (complex, np.complexfloating)):
        return "text", format(complex(value), ".6g")
    if isinstance(value, str):
        return "text", value
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value)
        if value.startswith(b"\x89PNG"):
            return "image", value
        return "text", f"{len(value)} bytes"
    if isinstance(value, np.ndarray):
        if summary_type == "trendline" and value.ndim == 2 and value.shape[0] == 2:
            return "trend", Trend(_readonly(value[0]), _readonly(value[1]))
        if value.size == 1:
            return _typed(value.reshape(()).item(), None)
        return "text", f"{value.dtype}: {value.shape}"
    if value is None:
        return "empty", None
    return "text", str(value)


def from_stored(stored, *, max_diff=None):
    """The `Cell` for a ``store.StoredValue`` (None: `MISSING`). ``max_diff``: how much the
    value's data varied within the run, as DAMNIT stores it (None: unknown), which makes the
    value bold unless it sets ``bold`` itself."""
    if stored is None:
        return MISSING
    attrs = stored.attributes or {}
    provenance = None if stored.provenance in CONTEXT_PROVENANCE else stored.provenance
    if stored.is_error:
        if stored.skipped:
            return Cell.skipped(stored.error or "", provenance=provenance)
        return Cell.error(stored.error_cls, stored.error or "", provenance=provenance)
    kind, value = _typed(stored.value, stored.summary_type)
    if kind == "empty":
        return MISSING
    background = attrs.get("background")
    if background is not None:
        background = tuple(int(c) for c in background)
    bold = attrs.get("bold")
    return Cell(kind, value, provenance=provenance,
                bold=None if bold is None else bool(bold), background=background,
                varied=max_diff is not None and bool(max_diff > _VARIED),
                units=attrs.get("units"))


def column_kind(cells):
    """What a column of ``cells`` holds, ignoring marks: "number" if all its values are
    numbers, "image" or "trend" if any value is one, else "text"; None if it has no value."""
    return kind_of_kinds({c.kind for c in cells if c.mark is None})


def kind_of_kinds(kinds):
    """What a column holds (as `column_kind` says) from the set of its values' kinds."""
    kinds = set(kinds)
    if not kinds:
        return None
    for kind in ("image", "trend"):
        if kind in kinds:
            return kind
    if len(kinds) == 1:
        return kinds.pop()
    return "text"


def number_text(value):
    """A number as a cell shows it: integers whole, others to 6 significant digits."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return format(value, ".6g")


def short_text(cell):
    """The cell as a short line of text: numbers to 6 significant digits, marks as words
    ("error: ValueError", "skipped", ""), images and trends described."""
    if cell.mark == "error":
        return f"error: {cell.error_cls}"
    if cell.mark == "skipped":
        return "skipped"
    if cell.mark == "missing":
        return ""
    if cell.kind == "number":
        text = number_text(cell.value)
    elif cell.kind == "time":
        text = datetime.fromtimestamp(cell.value).strftime("%Y-%m-%d %H:%M:%S")
    elif cell.kind == "image":
        text = "image"
    elif cell.kind == "trend":
        y = cell.value.y[np.isfinite(cell.value.y)]
        text = (f"trend: {y.size} points, {y.min():.4g} to {y.max():.4g}" if y.size
                else "trend: no finite values")
    else:
        text = str(cell.value)
    if cell.units and cell.kind == "number":
        text = f"{text} {cell.units}"
    return text


def trend_svg(x, y, width=480, height=120):
    """An SVG line plot of a trend (x, y), for a cell's detail."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size == 0:
        return "<i>no finite values</i>"
    pad = 6

    def scale(v, lo, hi, size):
        return np.full_like(v, size / 2) if hi == lo else pad + (v - lo) / (hi - lo) * (size - 2 * pad)

    px = scale(x, x.min(), x.max(), width)
    py = height - scale(y, y.min(), y.max(), height)
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py))
    return (f'<svg width="{width}" height="{height}" style="border:1px solid #ddd">'
            f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{points}"/>'
            f'<text x="{pad}" y="12" font-size="10">{y.max():.4g}</text>'
            f'<text x="{pad}" y="{height - 2}" font-size="10">{y.min():.4g}</text></svg>'
            f"<br><small>{x.size} points, x from {x.min():.4g} to {x.max():.4g}</small>")


def detail_html(cell):
    """What clicking the cell shows, as HTML: the error's class and message, a skip's reason,
    the full value (image, trend plot, long text, the number unrounded), and its provenance
    when not the context file."""
    esc = html.escape
    if cell.mark == "error":
        body = f"<b>{esc(cell.error_cls or 'Error')}</b>: <pre>{esc(cell.message or '')}</pre>"
    elif cell.mark == "skipped":
        body = f"Skipped: {esc(cell.message or '')}"
    elif cell.mark == "missing":
        body = "<i>no value</i>"
    elif cell.kind == "image":
        data = base64.b64encode(cell.value).decode("ascii")
        body = (f'<img src="data:image/png;base64,{data}" alt="thumbnail" '
                'style="max-height:300px; image-rendering:pixelated">')
    elif cell.kind == "trend":
        body = trend_svg(*cell.value)
    elif cell.kind == "number":
        body = esc(repr(cell.value) if isinstance(cell.value, float) else str(cell.value))
        if cell.units:
            body += f" {esc(cell.units)}"
    elif cell.kind == "time":
        body = esc(short_text(cell))
    else:
        body = f'<pre style="white-space:pre-wrap">{esc(str(cell.value))}</pre>'
    if cell.provenance is not None:
        body += f"<br><small>Provenance: {esc(cell.provenance)}</small>"
    return body


def _markdown_escape(text):
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return " ".join(text.splitlines()) if "\n" in text or "\r" in text else text


def as_markdown(rows, columns):
    """A Markdown table: ``columns`` are `model.ColumnSpec`s (headers: their titles, with
    units), ``rows`` a list of {key: Cell} (a missing key is an empty cell). Pipes and
    backslashes are escaped, line breaks become spaces."""
    columns = list(columns)
    headers = []
    for col in columns:
        header = col.header if not col.units else f"{col.header} [{col.units}]"
        headers.append(_markdown_escape(header))
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if c.kind == "number" else "---" for c in columns) + "|"]
    for row in rows:
        texts = []
        for col in columns:
            cell = row.get(col.key, MISSING)
            if cell.kind == "number" and col.units and cell.units == col.units:
                text = number_text(cell.value)  # the header has the units
            else:
                text = short_text(cell)
            texts.append(_markdown_escape(text))
        lines.append("| " + " | ".join(texts) + " |")
    return "\n".join(lines) + "\n"
