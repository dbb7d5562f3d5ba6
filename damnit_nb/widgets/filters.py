"""Run filters: which runs the table shows. The filters themselves are plain dicts (so a trait
can hold them and a widget edit them), checked and applied to a `TableModel` here
(`filterbar.FilterBar` is the widget that makes them and shows the active ones, each
clearable). Imports no widgets.

A filter is one of:

- ``{"kind": "runs", "runs": "17, 20-32"}``: run numbers and ranges;
- ``{"kind": "state", "states": ["failed"]}``: runs in one of these states ("failed" also
  matches runs with any error value);
- ``{"kind": "range", "key": name, "min": a, "max": b}``: a numeric column within
  [min, max] (either may be None);
- ``{"kind": "pick", "key": name, "values": [...]}``: a column's shown text is one of these;
- ``{"kind": "contains", "key": name, "text": "..."}``: a column's shown text contains this
  (case-insensitive);
- ``{"kind": "errors", "key": name}``: the column holds an error or a skip.

All filters must match (AND). Runs without a value in a filtered column do not match a
range, pick or contains filter.
"""

from __future__ import annotations

import math
import numbers
import re

from .._text import number_ranges
from .cells import MISSING, short_text
from .model import STATE_KEY

__all__ = ["FILTER_KINDS", "parse_runs", "check_filter", "describe", "matching_runs"]

FILTER_KINDS = ("runs", "state", "range", "pick", "contains", "errors")


def parse_runs(text):
    """Run numbers from ``"17, 20-32"`` (commas or spaces between items; "a-b" inclusive,
    spaces around the dash allowed), as a sorted list. Raises ValueError saying what is
    wrong."""
    runs = set()
    text = re.sub(r"\s*([-:])\s*", r"\1", str(text).strip())
    for item in filter(None, re.split(r"[,\s]+", text)):
        m = re.fullmatch(r"(\d+)(?:\s*[-:]\s*(\d+))?", item)
        if not m:
            raise ValueError(f"{item!r} is not a run or a range of runs: write e.g. "
                             "'17, 20-32'")
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) else a
        if b < a:
            raise ValueError(f"the range {item!r} ends before it starts: write {b}-{a}")
        if b - a > 1_000_000:
            raise ValueError(f"the range {item!r} is too large")
        runs.update(range(a, b + 1))
    if not runs:
        raise ValueError("no runs given: write e.g. '17, 20-32'")
    return sorted(runs)


def check_filter(spec):
    """``spec`` checked and normalised (a new dict); ValueError if it is not a filter."""
    if not isinstance(spec, dict) or spec.get("kind") not in FILTER_KINDS:
        raise ValueError(f"{spec!r} is not a filter: give a dict with 'kind' one of "
                         f"{', '.join(FILTER_KINDS)}")
    kind = spec["kind"]
    out = {"kind": kind}
    if kind == "runs":
        runs = spec.get("runs", "")
        if isinstance(runs, (list, tuple, range, set, frozenset)):
            runs = ", ".join(str(r) for r in runs)
        out["runs"] = number_ranges(parse_runs(runs))
        return out
    if kind == "state":
        states = spec.get("states")
        if isinstance(states, str):
            states = [states]
        if not isinstance(states, (list, tuple, set, frozenset, type(None))):
            raise ValueError(f"a state filter's 'states' must be a list of states, e.g. "
                             f"['failed'], not {states!r}")
        if not states:
            raise ValueError("a state filter needs 'states', e.g. ['failed']")
        out["states"] = [str(s) for s in states]
        return out
    key = spec.get("key")
    if not isinstance(key, str) or not key:
        raise ValueError(f"a {kind!r} filter needs the column's 'key' (a variable name)")
    out["key"] = key
    if kind == "range":
        lo, hi = spec.get("min"), spec.get("max")
        lo, hi = _bound("min", lo), _bound("max", hi)
        if lo is None and hi is None:
            raise ValueError("a range filter needs 'min', 'max' or both")
        if lo is not None and hi is not None and hi < lo:
            lo, hi = hi, lo
        out["min"], out["max"] = lo, hi
    elif kind == "pick":
        values = spec.get("values")
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError("a pick filter needs 'values', a list of the texts to keep "
                             "(one at least)")
        out["values"] = [str(v) for v in values]
    elif kind == "contains":
        text = spec.get("text")
        if not isinstance(text, str) or not text:
            raise ValueError("a contains filter needs 'text', the text to look for")
        out["text"] = text
    return out


def _bound(name, v):
    """A range filter's bound as a plain int or float (None stays None)."""
    if v is None:
        return None
    if isinstance(v, (bool, complex)) or not isinstance(v, numbers.Real):
        raise ValueError(f"a range filter's {name!r} must be a number or None, not {v!r}")
    v = int(v) if isinstance(v, numbers.Integral) else float(v)
    if isinstance(v, float) and math.isnan(v):
        raise ValueError(f"a range filter's {name!r} is NaN, which no value is within: give "
                         "a number or None")
    return v


def describe(spec, titles=None):
    """A filter in a few words, for its chip: "Runs 17, 20-32", "XGM: 1 to 5". ``titles``:
    {key: title} for the columns (else keys are shown)."""
    titles = titles or {}
    spec = check_filter(spec)
    kind = spec["kind"]
    if kind == "runs":
        return f"Runs {spec['runs']}"
    if kind == "state":
        return "State: " + " or ".join(spec["states"])
    title = titles.get(spec["key"], spec["key"])
    if kind == "range":
        lo, hi = spec["min"], spec["max"]
        if lo is None:
            return f"{title} ≤ {hi:g}"
        if hi is None:
            return f"{title} ≥ {lo:g}"
        return f"{title}: {lo:g} to {hi:g}"
    if kind == "pick":
        shown = ", ".join(spec["values"][:3]) + ("…" if len(spec["values"]) > 3 else "")
        return f"{title} is {shown}"
    if kind == "contains":
        return f"{title} contains {spec['text']!r}"
    return f"{title}: errors"


def matching_runs(filters, model, runs=None):
    """The runs of ``model`` (or of ``runs``) that every filter matches, as a set."""
    runs = set(model.runs() if runs is None else runs)
    for spec in filters:
        spec = check_filter(spec)
        kind = spec["kind"]
        if kind == "runs":
            runs &= set(parse_runs(spec["runs"]))
            continue
        key = STATE_KEY if kind == "state" else spec["key"]
        column = model.column(key)
        if kind == "state":
            wanted = set(spec["states"])
            keep = {r for r in runs if column.get(r, MISSING).value in wanted}
            if "failed" in wanted:  # and runs holding an error value
                keep |= runs & _runs_with_errors(model)
            runs = keep
        elif kind == "range":
            lo, hi = spec["min"], spec["max"]
            runs = {r for r in runs if _in_range(column.get(r, MISSING), lo, hi)}
        elif kind == "pick":
            wanted = set(spec["values"])
            runs = {r for r in runs if r in column and short_text(column[r]) in wanted}
        elif kind == "contains":
            text = spec["text"].casefold()
            runs = {r for r in runs
                    if r in column and text in short_text(column[r]).casefold()}
        else:  # errors
            runs = {r for r in runs if column.get(r, MISSING).mark in ("error", "skipped")}
    return runs


def _in_range(cell, lo, hi):
    if cell.mark is not None or cell.kind != "number" or isinstance(cell.value, bool):
        return False
    v = cell.value
    return (lo is None or v >= lo) and (hi is None or v <= hi)


def _runs_with_errors(model):
    out = set()
    for spec in model.columns():
        if not spec.fixed:
            out.update(r for r, c in model.column(spec.key).items() if c.mark == "error")
    return out

