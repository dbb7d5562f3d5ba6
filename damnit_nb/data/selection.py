"""Train selections: ``by_id``, ``by_index`` and the helpers that apply them to train IDs.

The layer below collections, sources and keys (:mod:`.run`, :mod:`.source`, :mod:`.key`),
which all select and split trains the same way, as EXtra-data does.
"""

from __future__ import annotations

import math
import operator

import numpy as np

__all__ = ["by_id", "by_index", "select_train_ids", "split_slices"]


class _Indexer:
    def __init__(self, kind, value):
        self.kind = kind
        self.value = value

    def __repr__(self):
        return f"{self.kind}[{self.value!r}]"


class _IndexerFactory:
    def __init__(self, kind):
        self.kind = kind

    def __getitem__(self, value):
        return _Indexer(self.kind, value)


#: Select trains by train ID: ``run.select_trains(by_id[10000:10100])`` or ``by_id[[...]]``.
by_id = _IndexerFactory("by_id")
#: Select trains by position: ``run.select_trains(by_index[:10])``.
by_index = _IndexerFactory("by_index")


def select_train_ids(train_ids, sel):
    """Apply a train selection to a sorted uint64 array of train IDs; return a sorted array.

    As in EXtra-data: ``by_id[...]`` (a train ID, a slice of IDs or a list of IDs),
    ``by_index[...]`` or a bare slice / int / list of positions, a boolean array of the
    same length, or a boolean ``xarray.DataArray`` with a ``trainId`` coordinate.
    """
    if isinstance(sel, _Indexer):
        kind, value = sel.kind, sel.value
    else:
        kind, value = "by_index", sel
    if kind == "by_id":
        if isinstance(value, slice):
            start = value.start if value.start is not None else 0
            stop = value.stop if value.stop is not None else np.iinfo(np.uint64).max
            res = train_ids[(train_ids >= start) & (train_ids < stop)]
            if value.step not in (None, 1):
                res = res[(res - np.uint64(start)) % np.uint64(value.step) == 0]
            return res
        wanted = np.atleast_1d(np.asarray(value, dtype=np.uint64))
        return train_ids[np.isin(train_ids, wanted)]

    # Positions in this selection
    if isinstance(value, slice):
        return train_ids[value]
    if isinstance(value, (int, np.integer)):
        return train_ids[[int(value)]]
    if type(value).__name__ == "DataArray" and "trainId" in getattr(value, "coords", {}):
        if value.dtype != bool:
            raise TypeError(f"an xarray train selection must be boolean, not {value.dtype}")
        keep = value["trainId"].values[value.values.astype(bool)]
        return train_ids[np.isin(train_ids, keep.astype(np.uint64))]
    arr = np.asarray(value)
    if arr.dtype == bool:
        if len(arr) != len(train_ids):
            raise ValueError(
                f"a boolean train selection needs {len(train_ids)} values, not {len(arr)}"
            )
        return train_ids[arr]
    if arr.dtype.kind in "iu":
        return np.unique(train_ids[arr.astype(np.intp)])
    raise TypeError(
        f"cannot select trains with {type(value).__name__}; use by_id[...], by_index[...], "
        "a slice, or a list of positions"
    )


def split_slices(n_trains, parts=None, trains_per_part=None):
    """Slices of positions dividing *n_trains* trains into parts of similar size.

    As EXtra-data's ``split_trains``: *trains_per_part* is a maximum per part; *parts* alone
    is the number of parts (fewer if there are fewer trains), and with *trains_per_part* a
    minimum number of parts. Part sizes differ by at most one train (11 trains with
    ``trains_per_part=8`` give 5 and 6, not 8 and 3). No trains give no parts.
    """

    def count(name, value):
        try:
            value = operator.index(value)
        except TypeError:
            raise TypeError(f"{name} must be an integer, not {value!r}") from None
        if value < 1:
            raise ValueError(f"{name} must be at least 1, not {value}")
        return value

    if parts is None and trains_per_part is None:
        raise ValueError("split_trains needs parts= or trains_per_part= (or both)")
    if parts is not None:
        parts = count("parts", parts)
    if trains_per_part is not None:
        trains_per_part = count("trains_per_part", trains_per_part)
        n_parts = math.ceil(n_trains / trains_per_part)
        if parts is not None:
            n_parts = max(n_parts, min(parts, n_trains))
    else:
        n_parts = min(parts, n_trains)
    return [slice(i * n_trains // n_parts, (i + 1) * n_trains // n_parts)
            for i in range(n_parts)]
