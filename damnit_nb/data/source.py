"""One source of a run: :class:`SourceData` (keys, counts, run values).

``run[source]`` gives a :class:`SourceData`; ``run[source][key]`` a
:class:`~damnit_nb.data.key.KeyData`. Key lists come from the first file holding the source
and are cached per file (by path, size and mtime), as all files of a source share its keys.
"""

from __future__ import annotations

import os.path
import re

import numpy as np

from .exceptions import PropertyNameError
from .files import open_file
from .h5access import list_keys, run_keys, run_value, run_values
from .key import KeyData
from .sections import SectionFlags
from .selection import by_index, select_train_ids, split_slices

__all__ = ["SourceData", "aggregator_of"]

# European XFEL file names: <category>-R<run>-<aggregator>[-S<sequence>].h5
_FILE_NAME = re.compile(r"([A-Z]+)-R(\d{4})-(\w+?)(?:-S(\d{5}))?\.h5$")


def aggregator_of(path):
    """The aggregator named in a run file's name (``'DA01'``, ``'AGIPD03'``), or None."""
    m = _FILE_NAME.match(os.path.basename(path))
    return m.group(3) if m else None


class SourceData(SectionFlags):
    """Data of one source across the files and trains of a run (or selection).

    Attributes: ``source``, ``section`` (``'CONTROL'`` / ``'INSTRUMENT'``), ``files``
    (catalogues of files holding the source, in train order).
    """

    def __init__(self, source, *, section, files, train_ids, selected=None, keys=None,
                 inc_suspect_trains=True, chunk_memo=None):
        self.source = source
        self.section = section
        self.files = list(files)
        self._train_ids = train_ids
        self._selected = selected
        self._sel_keys = keys  # None = all keys, else a frozenset
        self.inc_suspect_trains = inc_suspect_trains
        self._memo = chunk_memo

    def __repr__(self):
        section = f" section={self.section}" if self.is_auxiliary else ""
        return (f"<damnit_nb.data.SourceData{section} source={self.source!r} "
                f"for {len(self._train_ids)} trains>")

    @property
    def train_ids(self):
        """Selected train IDs, as a list (like EXtra-data)."""
        return list(self._train_ids)






    @property
    def is_run_only(self):
        """A control source with no CONTROL keys (its values are only in RUN)."""
        return self.is_control and not self._all_keys()

    @property
    def aggregator(self):
        """The aggregator (file name part, e.g. ``'DA01'``) of the first file, or None."""
        return aggregator_of(self.files[0].path) if self.files else None

    # --- keys --------------------------------------------------------------------
    def _key_paths(self):
        return list_keys(self.files[0], self.section, self.source) if self.files else {}

    def _all_keys(self):
        keys = self._key_paths().keys()
        if self._sel_keys is not None:
            keys = keys & self._sel_keys
        return frozenset(keys)

    def keys(self, inc_timestamps=True):
        """The source's keys as a set.

        For control sources keys end in ``.value`` and ``.timestamp``; with
        ``inc_timestamps=False`` the timestamps are left out and ``.value`` is stripped.
        """
        keys = self._all_keys()
        if self.is_control and not inc_timestamps:
            return {k[: -len(".value")] for k in keys if k.endswith(".value")}
        return set(keys)

    def _normalise_key(self, key):
        """Full key name (``x`` -> ``x.value`` for control) or raise PropertyNameError."""
        keys = self._all_keys()
        if key in keys:
            return key
        if self.is_control and f"{key}.value" in keys:
            return f"{key}.value"
        available = keys
        if self.is_control:
            available = {k[: -len(".value")] for k in keys if k.endswith(".value")}
        raise PropertyNameError(key, self.source, available)

    def __contains__(self, key):
        try:
            self._normalise_key(key)
        except KeyError:
            return False
        return True

    def _direct_key(self, key):
        """``(key, dataset path)`` if *key* is stored under the path its name spells (dots as
        groups) in the first file, found without listing every key; else None."""
        if self._sel_keys is not None or not self.files or key.startswith("."):
            return None
        import h5py

        cat = self.files[0]
        stored = cat.resolve(self.source)
        names = [key, f"{key}.value"] if self.is_control and not key.endswith(
            (".value", ".timestamp")) else [key]
        try:
            with open_file(cat.path) as f:
                for name in names:
                    path = name.replace(".", "/")
                    link = f.get(f"{self.section}/{stored}/{path}", getclass=True)
                    if link is h5py.Dataset:
                        return name, path
        except (OSError, KeyError, ValueError, RuntimeError):
            return None
        return None

    def __getitem__(self, key):
        direct = self._direct_key(key) if isinstance(key, str) else None
        if direct is not None:
            key, h5path = direct
        else:
            key = self._normalise_key(key)
            h5path = self._key_paths()[key]
        return KeyData(self.source, key, section=self.section, files=self.files,
                       h5path=h5path, chunk_memo=self._memo,
                       train_ids=self._train_ids, selected=self._selected,
                       inc_suspect_trains=self.inc_suspect_trains)

    def _ipython_key_completions_(self):
        return sorted(self.keys(inc_timestamps=False))

    # --- counts -------------------------------------------------------------------
    @property
    def index_groups(self):
        """The INDEX groups of this source ('' for control sources), a set (as in EXtra-data).

        When some keys are selected, only the groups of those keys.
        """
        if self._sel_keys is not None and not self.is_control:
            return {k.partition(".")[0] for k in self._sel_keys}
        groups = set()
        for cat in self.files:
            groups.update(cat.groups.get(cat.resolve(self.source), ()))
        return groups

    def _key_for_group(self, group):
        # A KeyData stand-in to reuse its chunking; the key's first component picks the group.
        key = "" if self.is_control else f"{group}."
        return KeyData(self.source, key, section=self.section, files=self.files,
                       train_ids=self._train_ids, selected=self._selected,
                       inc_suspect_trains=self.inc_suspect_trains, chunk_memo=self._memo)

    def data_counts(self, labelled=True, index_group=None):
        """Entries per selected train (largest over index groups unless *index_group*)."""
        groups = [index_group] if index_group is not None else sorted(self.index_groups)
        if not groups:
            groups = [""]
        counts = None
        for g in groups:
            c = self._key_for_group(g).data_counts(labelled=False)
            counts = c if counts is None else np.maximum(counts, c)
        if not labelled:
            return counts
        import pandas as pd

        return pd.Series(counts.astype(np.int64), index=pd.Index(self._train_ids))

    def train_id_coordinates(self, index_group=None):
        """Train IDs of the entries (for control sources: the trains with data)."""
        if index_group is None:
            groups = sorted(self.index_groups)
            if len(groups) > 1:
                raise ValueError(
                    f"{self.source} has several index groups ({', '.join(groups)}); "
                    "pass index_group= to choose one."
                )
            index_group = groups[0] if groups else ""
        return self._key_for_group(index_group).train_id_coordinates()

    def select_keys(self, keys):
        """A new SourceData with a subset of the keys: a glob (``"beamPosition.*"``), one key
        name, or a set of names (control keys with or without ``.value``). None or an empty
        set keeps the current keys. Raises PropertyNameError for a name that is not a key,
        and ValueError for a glob matching none."""
        import fnmatch

        if isinstance(keys, str):
            pats = [keys] + ([f"{keys}.value"] if self.is_control else [])
            new = frozenset(k for k in self._all_keys()
                            if any(fnmatch.fnmatchcase(k, p) for p in pats))
            if not new:
                raise ValueError(f"no key of {self.source} matches {keys!r}: see "
                                 f"run[{self.source!r}].keys()")
        elif keys:
            new = frozenset(self._normalise_key(k) for k in keys)
        else:
            new = None
        if self._sel_keys is not None:
            new = self._sel_keys if new is None else self._sel_keys & new
        return SourceData(self.source, section=self.section, files=self.files,
                          train_ids=self._train_ids, selected=self._selected, keys=new,
                          inc_suspect_trains=self.inc_suspect_trains, chunk_memo=self._memo)

    def select_trains(self, trains):
        """A new SourceData restricted to *trains* (train IDs, ``by_id``/``by_index``, slice)."""
        tids = select_train_ids(self._train_ids, trains)
        return SourceData(self.source, section=self.section, files=self.files,
                          train_ids=tids, selected=tids, keys=self._sel_keys,
                          inc_suspect_trains=self.inc_suspect_trains)

    def split_trains(self, parts=None, trains_per_part=None):
        """Split the selected trains into consecutive parts: an iterator of SourceData.

        Trains without data for this source count too, so different sources and keys of
        a run split into matching parts. See :meth:`DataCollection.split_trains
        <damnit_nb.data.run.DataCollection.split_trains>` for the arguments.
        """
        slices = split_slices(len(self._train_ids), parts, trains_per_part)
        return (self.select_trains(by_index[sl]) for sl in slices)

    # --- run values -------------------------------------------------------------
    def _first_file(self):
        return self.files[0] if self.files else None

    def run_keys(self, inc_timestamps=True):
        """The keys of this source in RUN, as a set (not limited by a key selection).

        RUN may hold keys CONTROL lacks (e.g. ``classId``). With ``inc_timestamps=False``
        timestamps are left out and ``.value`` is stripped.
        """
        keys = set(run_keys(self._first_file(), self.source))
        if not inc_timestamps:
            return {k[: -len(".value")] for k in keys if k.endswith(".value")}
        return keys

    def run_value(self, key):
        """The value of a control *key* at the start of the run (from the RUN section).

        RUN may hold keys that CONTROL lacks (e.g. ``classId``), and a control source may
        have only RUN values (see :attr:`is_run_only`). Raises ValueError for a source with
        nothing in RUN, :class:`PropertyNameError` for a key RUN lacks.
        """
        return run_value(self._first_file(), self.source, key)

    def run_values(self, inc_timestamps=True):
        """All RUN values of a control source as a dict (key -> value), keys CONTROL lacks
        included; ``.value`` stripped and timestamps left out with ``inc_timestamps=False``."""
        return run_values(self._first_file(), self.source, inc_timestamps)

    @property
    def device_class(self):
        """The Karabo class of a control source (from RUN ``classId``), or None."""
        if not self.is_control:
            return None
        try:
            return self.run_value("classId")
        except (KeyError, ValueError):  # no classId, or no RUN values at all
            return None

