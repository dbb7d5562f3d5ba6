"""A run described in text: trains, duration, detectors, sources and (optionally) keys.

:func:`run_summary` is what ``python -m damnit_nb ls`` prints and what
``DataCollection.info()`` shows. It uses only the public reading API (``train_ids``,
``train_timestamps()``, ``run[source]``, ``data_counts()``, ``dtype``, ``entry_shape``), so it
describes EXtra-data's collections as well as ours.

Detectors, whose modules are numbered instrument sources under ``/DET/`` or ``/CORR/``
(``SPB_DET_AGIPD1M-1/DET/{n}CH0:xtdf``, ``SPB_IRDA_JF4M/DET/JNGFR{n}:daqOutput``, corrected
``SPB_DET_AGIPD1M-1/CORR/{n}CH0:output``), are shown as one entry each.
"""

from __future__ import annotations

import fnmatch
import re
from datetime import timedelta

import numpy as np

from .._text import number_ranges

__all__ = ["run_summary", "TRAIN_SECONDS"]

#: Time between trains (10 Hz), for durations when the files record no train timestamps.
TRAIN_SECONDS = 0.1

# A detector module: <domain>/DET|CORR/<letters><module number><rest>, e.g.
# SPB_DET_AGIPD1M-1/DET/0CH0:xtdf, FXE_XAD_JF1M/DET/JNGFR01:daqOutput.
_MODULE_RE = re.compile(
    r"(?P<head>[^/]+/(?:DET|CORR)/[A-Za-z_-]*?)(?P<num>\d+)(?P<tail>[^/\d][^/]*)"
)


def run_summary(run, keys=False):
    """A run's summary as text (lines without a final newline).

    *run* is a collection from :func:`~damnit_nb.data.RunDirectory`,
    :func:`~damnit_nb.data.open_run` (or EXtra-data's). The summary gives the number of
    trains, duration (from train timestamps, last minus first plus 0.1 s, else trains x
    0.1 s), first and last train ID; each detector as one entry (modules, frames or
    entries per train, dtype and entry shape of its biggest key); then the other instrument
    sources and the control sources. *keys*: True to list every source's keys with dtype and entry shape (a
    detector's keys are those of its first matching module), or a glob of source names to list the
    keys of those sources only.
    """
    lines = _train_lines(run)
    detectors, instrument = _group_detectors(run.instrument_sources)
    want_keys = _key_filter(keys)

    if detectors:
        lines += ["", _plural(len(detectors), "detector") + ":"]
        for pattern, modules in detectors:
            lines += _detector_lines(run, pattern, modules, want_keys)

    other = " (other than detectors)" if detectors else ""
    lines += ["", _plural(len(instrument), "instrument source", other) + ":"]
    for source in instrument:
        lines.append(f"  {source}")
        if want_keys(source):
            lines += _instrument_key_lines(run[source], "    ")

    control = sorted(run.control_sources)
    lines += ["", _plural(len(control), "control source") + ":"]
    for source in control:
        lines.append(f"  {source}")
        if want_keys(source):
            lines += _control_key_lines(run[source], "    ")
    return "\n".join(lines)


# --- trains -------------------------------------------------------------------------------


def _train_lines(run):
    tids = run.train_ids
    lines = []
    meta = _run_metadata(run)
    if meta.get("proposalNumber") is not None and meta.get("runNumber") is not None:
        lines.append(f"Proposal {int(meta['proposalNumber'])}, run {int(meta['runNumber'])}")
    lines.append(f"# of trains:    {len(tids)}")
    if not len(tids):
        return lines
    start, seconds = _time_span(run, len(tids))
    lines.append(f"Duration:       {_format_duration(seconds)}")
    if start is not None:
        lines.append(f"Start:          {start} UTC")
    lines.append(f"First train ID: {tids[0]}")
    lines.append(f"Last train ID:  {tids[-1]}")
    return lines


def _run_metadata(run):
    try:
        return run.run_metadata()
    except (AttributeError, KeyError, OSError, ValueError):
        return {}


def _time_span(run, n_trains):
    """(start as text or None, seconds): from train timestamps if known, else trains x 0.1 s."""
    try:
        ts = np.asarray(run.train_timestamps(), dtype="datetime64[ns]")
    except (AttributeError, OSError, ValueError):
        ts = None
    if ts is not None and len(ts) and not np.isnat(ts[0]) and not np.isnat(ts[-1]):
        # The last train lasts one train period too, as in the fallback.
        seconds = (ts[-1] - ts[0]) / np.timedelta64(1, "s") + TRAIN_SECONDS
        start = np.datetime_as_string(ts[0], unit="s").replace("T", " ")
        return start, seconds
    return None, n_trains * TRAIN_SECONDS


def _format_duration(seconds):
    """``H:MM:SS.s``, e.g. ``0:00:06.4``."""
    tenths = int(round(seconds * 10))
    whole = str(timedelta(seconds=tenths // 10))
    return f"{whole}.{tenths % 10}"


# --- detectors ----------------------------------------------------------------------------


def _group_detectors(instrument_sources):
    """([(pattern, {module number: source})], other instrument sources), both sorted."""
    groups, others = {}, []
    for source in sorted(instrument_sources):
        m = _MODULE_RE.fullmatch(source)
        if m is None:
            others.append(source)
            continue
        pattern = f"{m['head']}{{n}}{m['tail']}"
        groups.setdefault(pattern, {})[int(m["num"])] = source
    detectors = [(pattern, dict(sorted(modules.items())))
                 for pattern, modules in sorted(groups.items())]
    return detectors, others


def _detector_lines(run, pattern, modules, want_keys):
    first = run[next(iter(modules.values()))]
    main = _main_key(first)
    lines = [f"  {pattern}"]
    parts = [f"{_plural(len(modules), 'module')} ({number_ranges(modules)})"]
    if main is not None:
        name, dtype, shape = main
        group = name.partition(".")[0]
        counts = np.stack([
            np.asarray(run[src].data_counts(labelled=False, index_group=group))
            for src in modules.values()
        ])
        nouns = ("frame", "frames") if group == "image" else ("entry", "entries")
        parts.append(_counts_text(counts, *nouns))
        parts.append(f"{name}: {dtype} {_shape(shape)}")
    lines.append("    " + ", ".join(parts))
    shown = [s for s in modules.values() if want_keys(s)]
    if shown:
        lines.append(f"    keys of {shown[0]}:")
        lines += _instrument_key_lines(run[shown[0]], "      ")
    return lines


def _main_key(source_data):
    """(key, dtype, entry shape) of a detector module's biggest key, or None if it has none.

    Biggest: most dimensions per entry, then most elements; ties go to the first name.
    """
    best = None
    for key in sorted(source_data.keys()):
        kd = source_data[key]
        shape = tuple(kd.entry_shape)
        rank = (-len(shape), -int(np.prod(shape, dtype=np.int64)), key)
        if best is None or rank < best[0]:
            best = (rank, key, kd.dtype, shape)
    return None if best is None else best[1:]


# --- keys ---------------------------------------------------------------------------------


def _key_filter(keys):
    if keys is True:
        return lambda source: True
    if not keys:
        return lambda source: False
    if isinstance(keys, str):
        return lambda source: fnmatch.fnmatchcase(source, keys)
    raise TypeError(f"keys must be True, False or a glob of source names, not {keys!r}")


def _index_groups(source_data):
    groups = source_data.index_groups  # a property in EXtra-data
    return sorted(groups() if callable(groups) else groups)


def _instrument_key_lines(source_data, indent):
    """Keys by index group, each group headed by its entries per train."""
    keys = sorted(source_data.keys())
    sections = []
    for group in _index_groups(source_data):
        counts = np.asarray(source_data.data_counts(labelled=False, index_group=group))
        head = f"{indent}{group}: {_counts_text(counts[np.newaxis], 'entry', 'entries')}"
        in_group = [k for k in keys if k.partition(".")[0] == group]
        sections.append((head, _key_rows(source_data, [(k, k) for k in in_group])))
    widths = _widths([r for _, rows in sections for r in rows])
    lines = []
    for head, rows in sections:
        lines.append(head)
        lines += _format_rows(rows, widths, indent + "  ")
    return lines


def _control_key_lines(source_data, indent):
    """A control source's keys: ``x`` for ``x.value``, timestamps left out."""
    names = [(k[: -len(".value")], k) for k in sorted(source_data.keys()) if k.endswith(".value")]
    rows = _key_rows(source_data, names)
    return _format_rows(rows, _widths(rows), indent)


def _key_rows(source_data, names):
    """(name shown, dtype, entry shape) for each ``(name shown, key)`` of *names*."""
    rows = []
    for shown, key in names:
        kd = source_data[key]
        rows.append((shown, str(kd.dtype), _shape(kd.entry_shape)))
    return rows


def _widths(rows):
    return (max((len(r[0]) for r in rows), default=0), max((len(r[1]) for r in rows), default=0))


def _format_rows(rows, widths, indent):
    w_name, w_dtype = widths
    return [f"{indent}{n:<{w_name}}  {d:<{w_dtype}}  {s}" for n, d, s in rows]


# --- text helpers -------------------------------------------------------------------------


def _counts_text(counts, noun, nouns):
    """Entries per train across modules (rows) and trains (columns) of a 2D count array.

    ``64 frames per train`` (*noun* for one, else *nouns*), ``0-64 frames per train`` when
    it varies, with
    ``in 60 of 64 trains`` when some trains have no data at all.
    """
    n_trains = counts.shape[1]
    has = (counts > 0).any(axis=0)
    with_data = int(has.sum())
    if with_data == 0:
        return "no data"
    present = counts[:, has]  # some modules may miss trains that others have
    lo, hi = int(present.min()), int(present.max())
    if lo == hi:
        text = f"{hi} {noun if hi == 1 else nouns} per train"
    else:
        text = f"{lo}-{hi} {nouns} per train"
    if with_data < n_trains:
        text += f", in {with_data} of {n_trains} trains"
    return text


def _shape(shape):
    return "(" + ", ".join(str(int(n)) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _plural(n, noun, suffix=""):
    return f"{n} {noun}{'' if n == 1 else 's'}{suffix}"
