"""Runs: :class:`DataCollection` and the functions that open one.

A :class:`DataCollection` is a set of file catalogues (see :mod:`.catalogue`) plus a
selection of sources, keys and trains. Opening a run reads only METADATA and INDEX of each
file; ``run[source]`` and ``run[source, key]`` are lazy, and data is read by
:class:`~damnit_nb.data.key.KeyData`. Names and semantics follow EXtra-data, so analysis code
written for it runs unchanged.

Runs still being written, and broken files
------------------------------------------
Opening reads what each file's METADATA and INDEX say at that moment. A file that cannot be
read (not HDF5, empty, truncated, no METADATA...) is skipped with a warning naming it
(``on_error='warn'``; quietly if it was modified in the last ``WRITING_SECONDS`` or is locked
by a writer, as files being written often are unreadable), raises (``'raise'``) or is skipped
quietly (``'ignore'``). A file locked by the process writing it is read without locking.

Within a file, INDEX is read as far as it goes: first/count entries beyond ``INDEX/trainId``
are ignored, trains beyond the first/count arrays have no data, and data rows beyond what
INDEX locates are ignored. Where INDEX points past the rows written, reading that key raises
:class:`~damnit_nb.data.exceptions.IncompleteFileError` (a ``FileFormatError``) giving the
file and the first train without data; other keys and sources, and the trains before it
(``select_trains(by_id[:err.train_id])``), read normally. A dataset missing from one file,
or HDF5 failing to read, raises ``FileFormatError`` naming the file. Errors never leave a
half-read state behind: the collection stays usable.

A file written without SWMR is consistent only between its writer's flushes. Reads of a
recently modified file are repeated if it changed meanwhile and fail with
``IncompleteFileError`` if it keeps changing (:func:`~damnit_nb.data.files.read_unchanged`).
The catalogue cache stores only files read successfully, unchanged for a few seconds and not
locked by a writer, and uses an entry only while the file's size and mtime match, so a file
that changed is always read again.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import os.path as osp
import re
import time
import warnings

import numpy as np

from .cache import save_loaded
from .catalogue import read_catalogue
from .exceptions import FileFormatError, NoDataError, SourceNameError
from .files import default_cache as handle_cache
from .files import locked_for_writing, read_unchanged
from .selection import by_id, by_index, select_train_ids, split_slices
from .source import SourceData

__all__ = [
    "DataCollection",
    "RunDirectory",
    "H5File",
    "open_run",
    "find_proposal",
    "by_id",
    "by_index",
    "DATA_ROOT_ENV",
    "DEFAULT_DATA_ROOT",
]

#: Environment variable naming the facility's proposal root directory.
DATA_ROOT_ENV = "DAMNIT_NB_DATA_ROOT"
DEFAULT_DATA_ROOT = "/gpfs/exfel/exp"

_EMPTY_TIDS = np.zeros(0, dtype=np.uint64)

#: Unreadable files modified this recently are taken to be still being written: with
#: ``on_error='warn'`` they are skipped without a warning.
WRITING_SECONDS = 10.0


# --- the collection ---------------------------------------------------------------------


class DataCollection:
    """Data from a set of files: sources, keys and trains, with a selection.

    Don't build one directly; use :func:`RunDirectory`, :func:`open_run` or :func:`H5File`.
    Derived collections (``select``, ``select_trains``, ``union``) share the catalogues.
    """

    def __init__(self, files, *, source_files=None, train_ids=None, keys=None,
                 inc_suspect_trains=True, is_single_run=False):
        self._files = sorted(files, key=_file_order)
        self.inc_suspect_trains = inc_suspect_trains
        self.is_single_run = is_single_run

        if source_files is None:
            found = {}
            for cat in self._files:  # in file order already
                for src in cat.control_sources:
                    found.setdefault(src, []).append(cat)
                for src in cat.instrument_sources:
                    found.setdefault(src, []).append(cat)
            self._source_files = {s: tuple(fs) for s, fs in found.items()}
        else:
            rank = {id(c): i for i, c in enumerate(self._files)}
            self._source_files = {
                s: tuple(sorted(fs, key=lambda c: rank.get(id(c), len(rank))))
                for s, fs in source_files.items()
            }
        self._sections = {}
        for src, fs in self._source_files.items():
            self._sections[src] = "CONTROL" if src in fs[0].control_sources else "INSTRUMENT"
        self._legacy = {}
        for cat in self._files:
            if cat.legacy_sources:
                self._legacy.update(cat.legacy_sources)
        self._keys = dict(keys or {})  # source -> frozenset of selected keys (absent = all)

        if train_ids is None:
            if source_files is None:  # every file with a source
                used = [c for c in self._files if c.control_sources or c.instrument_sources]
            else:
                sources = set(self._source_files)
                used = [c for c in self._files if not sources.isdisjoint(c.all_sources)]
            parts = [c.train_ids if inc_suspect_trains else c.train_ids[c.flag] for c in used]
            train_ids = _sorted_unique(np.concatenate(parts)) if parts else _EMPTY_TIDS
            if not inc_suspect_trains:
                save_loaded(self._files)  # the flags were read
            self._selected = None
        else:
            train_ids = np.unique(np.asarray(train_ids, dtype=np.uint64))
            self._selected = train_ids
        self._train_ids = train_ids
        self._chunk_memo = {}  # see KeyData: valid for this collection's train selection

    def _derive(self, *, source_files=None, train_ids=None, keys=None):
        sf = self._source_files if source_files is None else source_files
        used = {id(c) for fs in sf.values() for c in fs}
        files = [c for c in self._files if id(c) in used]
        keep_trains = train_ids is None
        new = DataCollection(
            files, source_files=sf, train_ids=self._selected if keep_trains else train_ids,
            keys=self._keys if keys is None else keys,
            inc_suspect_trains=self.inc_suspect_trains, is_single_run=self.is_single_run,
        )
        if keep_trains:
            # Selecting sources keeps the train IDs (as EXtra-data does); the files of the
            # remaining sources hold no trains outside them, so no filtering is needed, and
            # the chunks found so far still hold.
            new._train_ids = self._train_ids
            new._chunk_memo = self._chunk_memo
        return new

    # --- basic description ----------------------------------------------------------
    def __repr__(self):
        return (f"<damnit_nb.data.DataCollection for {len(self.all_sources)} sources "
                f"and {len(self._train_ids)} trains>")

    @property
    def files(self):
        """Catalogues (:class:`~damnit_nb.data.catalogue.FileCatalogue`) of the files, in train order."""
        return list(self._files)

    @property
    def train_ids(self):
        """Sorted, unique train IDs of the selection, as a list."""
        return list(self._train_ids)

    @property
    def all_sources(self):
        return frozenset(self._source_files)

    @property
    def control_sources(self):
        return frozenset(s for s, sec in self._sections.items() if sec == "CONTROL")

    @property
    def instrument_sources(self):
        return frozenset(s for s, sec in self._sections.items() if sec == "INSTRUMENT")

    @property
    def auxiliary(self):
        """The auxiliary (REDUCTION and ERRATA) sources, which ``all_sources`` leaves out:
        an :class:`~damnit_nb.data.auxiliary.AuxiliaryIndexer` (``run.auxiliary[name]``,
        ``run.auxiliary[name, key]``). Read from the files on first use."""
        aux = self.__dict__.get("_auxiliary")
        if aux is None:
            from .auxiliary import AuxiliaryIndexer

            aux = AuxiliaryIndexer(self._files, train_ids=self._train_ids,
                                   selected=self._selected,
                                   inc_suspect_trains=self.inc_suspect_trains)
            self._auxiliary = aux  # built twice at worst when threads race: same result
        return aux

    @property
    def legacy_sources(self):
        """Legacy (alias) source names mapped to the names the data is stored under."""
        return {k: v for k, v in self._legacy.items() if k in self._source_files}

    # --- access ------------------------------------------------------------------------
    def _check_source(self, source):
        if source not in self._source_files:
            raise SourceNameError(source, self._source_files)

    def _get_source_data(self, source):
        self._check_source(source)
        return SourceData(
            source, section=self._sections[source], files=self._source_files[source],
            train_ids=self._train_ids, selected=self._selected,
            keys=self._keys.get(source), inc_suspect_trains=self.inc_suspect_trains,
            chunk_memo=self._chunk_memo,
        )

    def __getitem__(self, item):
        if isinstance(item, tuple) and len(item) == 2:
            return self._get_source_data(item[0])[item[1]]
        if isinstance(item, str):
            return self._get_source_data(item)
        raise TypeError(
            f"run[...] takes a source name or a (source, key) pair, not {item!r}"
        )

    def __contains__(self, item):
        if isinstance(item, tuple) and len(item) == 2:
            source, key = item
            return source in self._source_files and key in self._get_source_data(source)
        return item in self._source_files

    def _ipython_key_completions_(self):
        return sorted(self._source_files)

    def keys_for_source(self, source):
        """The keys of *source* (control keys with ``.value`` / ``.timestamp``), as a set."""
        return self._get_source_data(source).keys()

    def get_array(self, source, key, extra_dims=None, roi=(), name=None):
        """``run[source, key].xarray(...)``."""
        return self[source, key].xarray(extra_dims=extra_dims, roi=roi, name=name)

    def get_series(self, source, key):
        """``run[source, key].series()``."""
        return self[source, key].series()

    def get_dataframe(self, fields=None, *, timestamps=False):
        """A pandas DataFrame of 1D keys as columns (``"source/key"``), indexed by train ID.

        *fields* selects sources and keys as :meth:`select` does; control timestamps are left
        out unless *timestamps*. Keys with more than one dimension raise TypeError: select
        only 1D data.
        """
        import pandas as pd

        if fields is not None:
            return self.select(fields).get_dataframe(timestamps=timestamps)
        series = []
        for source in sorted(self.all_sources):
            for key in sorted(self.keys_for_source(source)):
                if not timestamps and key.endswith(".timestamp"):
                    continue
                series.append(self[source, key].series())
        if not series:
            return pd.DataFrame(index=pd.Index(self._train_ids, name="trainId"))
        return pd.concat(series, axis=1)

    def get_data_counts(self, source, key):
        """``run[source, key].data_counts()``."""
        return self[source, key].data_counts()

    def get_run_value(self, source, key):
        """``run[source].run_value(key)``."""
        return self._get_source_data(source).run_value(key)

    def get_run_values(self, source):
        """``run[source].run_values()``."""
        return self._get_source_data(source).run_values()

    def get_entry_shape(self, source, key):
        return self[source, key].entry_shape

    def get_dtype(self, source, key):
        return self[source, key].dtype

    # --- train by train -----------------------------------------------------------------
    def _train_dict(self, tid, key_datas, flat_keys, keep_dims):
        data, present = {}, set()
        for (src, key), kd in key_datas.items():
            if not flat_keys and src not in data:
                data[src] = {"metadata": {"source": src, "timestamp.tid": tid}}
            value = kd.train_data(tid, keep_dims=keep_dims)
            if value is None:
                continue
            present.add(src)
            if flat_keys:
                data[(src, key)] = value
            else:
                data[src][key] = value
        return data, present

    def _key_datas(self):
        return {(src, key): self[src, key]
                for src in sorted(self.all_sources) for key in sorted(self[src].keys())}

    def trains(self, devices=None, train_range=None, *, require_all=False, flat_keys=False,
               keep_dims=False):
        """Iterate over ``(train_id, data)``, data being ``{source: {key: value}}`` (or
        ``{(source, key): value}`` with *flat_keys*) for each selected train.

        *devices* selects sources/keys as :meth:`select`, *train_range* trains as
        :meth:`select_trains`. Keys without data in a train are left out of its dict (each
        source still has its ``'metadata'``); with *require_all*, trains missing any selected
        source are skipped. One entry per
        train is squeezed unless *keep_dims*. Reads train by train: for whole arrays use
        ``run[source, key].ndarray()``.
        """
        coll = self
        if devices is not None:
            coll = coll.select(devices)
        if train_range is not None:
            coll = coll.select_trains(train_range)
        key_datas = coll._key_datas()
        n_sources = len(coll.all_sources)
        for tid in coll._train_ids.tolist():
            data, present = coll._train_dict(tid, key_datas, flat_keys, keep_dims)
            if require_all and len(present) < n_sources:
                continue
            yield np.uint64(tid), data

    def train_from_id(self, train_id, devices=None, *, flat_keys=False, keep_dims=False):
        """``(train_id, data)`` for one train, as yielded by :meth:`trains`."""
        from .exceptions import TrainIDError

        coll = self if devices is None else self.select(devices)
        tid = int(train_id)
        if tid not in set(coll._train_ids.tolist()):
            raise TrainIDError(train_id)
        return np.uint64(tid), coll._train_dict(tid, coll._key_datas(), flat_keys, keep_dims)[0]

    def train_from_index(self, train_index, devices=None, *, flat_keys=False, keep_dims=False):
        """``(train_id, data)`` for the *train_index*-th selected train."""
        return self.train_from_id(self._train_ids[train_index], devices,
                                  flat_keys=flat_keys, keep_dims=keep_dims)

    # --- run-level metadata ------------------------------------------------------------
    def run_metadata(self):
        """Run metadata like EXtra-data's: ``creationDate``, ``runNumber``, ``proposalNumber``,
        ``dataFormatVersion``, ``sequenceNumber``... (whatever the files record).

        Taken from the first file in train order; ``{'dataFormatVersion': '0.5'}`` only for
        files of the oldest format.
        """
        if not self._files:
            return {}
        return dict(self._files[0].metadata)

    def train_timestamps(self, labelled=False):
        """Timestamp of each selected train (``datetime64[ns]``, UTC), NaT where unknown.

        With ``labelled=True``, a pandas Series indexed by train ID.
        """
        res = np.full(len(self._train_ids), np.datetime64("NaT"), dtype="datetime64[ns]")
        todo = np.ones(len(self._train_ids), dtype=bool)
        for cat in self._files:
            if not todo.any():
                break
            if cat.timestamps is None:
                continue
            pos = np.searchsorted(self._train_ids, cat.train_ids)
            ok = pos < len(self._train_ids)
            ok[ok] = self._train_ids[pos[ok]] == cat.train_ids[ok]
            ok &= cat.timestamps != 0
            pos, ts = pos[ok], cat.timestamps[ok]
            fill = todo[pos]
            res[pos[fill]] = ts[fill].astype("datetime64[ns]")
            todo[pos[fill]] = False
        save_loaded(self._files)
        if labelled:
            import pandas as pd

            return pd.Series(res, index=pd.Index(self._train_ids, name="trainId"))
        return res

    # --- selections ----------------------------------------------------------------------
    def select_trains(self, train_range):
        """A new collection restricted to some trains: ``by_id[...]``, ``by_index[...]``,
        a slice or list of positions, or a boolean array (see EXtra-data's ``select_trains``)."""
        return self._derive(train_ids=select_train_ids(self._train_ids, train_range))

    def split_trains(self, parts=None, trains_per_part=None):
        """Split the selected trains into consecutive parts of similar size.

        Returns an iterator of new collections, each with the sources of this one and a
        share of its trains. *parts* is how many parts to make (fewer if there are fewer
        trains); *trains_per_part* a maximum number of trains per part (with *parts*, more
        parts may be made). Sizes differ by at most one train: 11 trains with
        ``trains_per_part=8`` give 5 and 6. Arguments are checked at once: a missing or
        non-positive value raises ValueError, a non-integer TypeError.
        """
        slices = split_slices(len(self._train_ids), parts, trains_per_part)
        return (self.select_trains(by_index[sl]) for sl in slices)

    def _expand(self, selection, key_glob):
        """Normalise a selection to {source: frozenset(keys) or None (all keys)}."""
        if isinstance(selection, str):
            selection = [(selection, key_glob)]
        elif isinstance(selection, DataCollection):
            return {
                s: selection._keys.get(s) for s in selection.all_sources
            }
        elif isinstance(selection, dict):
            selection = [
                (s, k) for s, ks in selection.items()
                for k in (["*"] if not ks else ks)
            ]
        result = {}
        for item in selection:
            src_glob, k_glob = (item, "*") if isinstance(item, str) else item
            matched = [s for s in self._source_files if fnmatch.fnmatchcase(s, src_glob)]
            found_any = False
            for src in matched:
                if k_glob == "*":
                    result[src] = None
                    found_any = True
                    continue
                keys = self._get_source_data(src).keys()
                pats = [k_glob]
                if self._sections[src] == "CONTROL":
                    pats.append(f"{k_glob}.value")  # 'a.b' means 'a.b.value'
                found = {k for k in keys if any(fnmatch.fnmatchcase(k, p) for p in pats)}
                if not found:
                    continue
                found_any = True
                if result.get(src, ()) is None:
                    continue
                result[src] = frozenset(result.get(src, frozenset()) | found)
            if not found_any:
                raise ValueError(
                    f"No matches for pattern ({src_glob!r}, {k_glob!r}). See run.all_sources "
                    "for sources and run[source].keys() for their keys."
                )
        return result

    def select(self, seln_or_source_glob, key_glob="*", require_all=False):
        """A new collection with only some sources (and keys).

        Accepts a source glob and key glob, a list of ``(source_glob, key_glob)`` pairs, a
        dict ``{source: {keys}}`` or another collection. Key globs match whole keys, and for
        control sources also ``<glob>.value``. A pattern matching nothing raises ValueError.
        With ``require_all=True`` only trains where every selected source has data are kept.
        """
        sel = self._expand(seln_or_source_glob, key_glob)
        keys = {s: k for s, k in sel.items() if k is not None}
        for s, k in self._keys.items():
            if s in sel:
                keys[s] = k if sel[s] is None else (k & sel[s])
        sf = {s: self._source_files[s] for s in sel}
        res = self._derive(source_files=sf, keys=keys)
        if require_all:
            tids = res._train_ids
            for src in sf:
                counts = res._get_source_data(src).data_counts(labelled=False)
                tids = np.intersect1d(tids, res._train_ids[counts > 0])
            res = res._derive(train_ids=tids)
        return res

    def deselect(self, seln_or_source_glob, key_glob="*"):
        """A new collection without some sources (or keys); the inverse of :meth:`select`."""
        drop = self._expand(seln_or_source_glob, key_glob)
        sf = dict(self._source_files)
        keys = dict(self._keys)
        for src, ks in drop.items():
            if ks is None:
                sf.pop(src, None)
                keys.pop(src, None)
            else:
                remaining = frozenset(self._get_source_data(src).keys()) - ks
                if remaining:
                    keys[src] = remaining
                else:
                    sf.pop(src, None)
                    keys.pop(src, None)
        return self._derive(source_files=sf, keys=keys)

    def union(self, *others):
        """A collection with the sources and trains of this and *others*."""
        files = list(self._files)
        sf = {s: list(fs) for s, fs in self._source_files.items()}
        keys = dict(self._keys)
        sels = [self._selected]
        for o in others:
            for c in o._files:
                if not any(c is f or c.path == f.path for f in files):
                    files.append(c)
            for s, fs in o._source_files.items():
                cur = sf.setdefault(s, [])
                for c in fs:
                    if not any(c.path == f.path for f in cur):
                        cur.append(c)
            for s in o.all_sources:
                if s in keys and s in o._keys:
                    keys[s] = keys[s] | o._keys[s]
                elif s in o._keys and s not in self._source_files:
                    keys[s] = o._keys[s]
                else:
                    keys.pop(s, None)
            sels.append(o._selected)
        if all(s is None for s in sels):
            tids = None
        else:
            tids = np.unique(np.concatenate([
                o._train_ids for o in (self, *others)
            ]))
        return DataCollection(files, source_files=sf, train_ids=tids, keys=keys,
                              inc_suspect_trains=self.inc_suspect_trains)

    def __or__(self, other):
        return self.union(other)

    # --- summary ---------------------------------------------------------------------
    def info(self, details_for_sources=None):
        """Print a summary of trains, detectors and sources (see :func:`.summary.run_summary`).

        *details_for_sources*: a glob of source names (``'*'`` for all) whose keys are listed
        too, with dtype and entry shape. ``python -m damnit_nb ls`` prints the same.
        """
        from .summary import run_summary

        print(run_summary(self, keys=details_for_sources or False))

    # --- open files ------------------------------------------------------------------
    def close(self):
        """Close the open HDF5 handles of this collection's files.

        Files are opened on demand and kept open in a shared cache of handles (see
        :mod:`.files`) until its open-files limit; ``close()`` releases this collection's
        files at once, for example when a finished run will not be read again soon. Only
        its own files are closed (handles in use by a read in progress once it ends);
        collections sharing them, and this one, still work: a file is opened again when
        next read. Safe to call more than once. ``with RunDirectory(...) as run:`` closes
        the files at the end of the block.
        """
        handle_cache.release(c.path for c in self._files)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _sorted_unique(arr):
    """``np.unique`` for train IDs, faster on the nearly sorted arrays runs give."""
    if len(arr) == 0:
        return arr
    arr = np.sort(arr, kind="stable")  # timsort: near-linear on nearly sorted input
    keep = np.empty(len(arr), dtype=bool)
    keep[0] = True
    np.not_equal(arr[1:], arr[:-1], out=keep[1:])
    return arr[keep]


def _file_order(cat):
    first = cat.first_train
    return (np.iinfo(np.int64).max if first is None else first, cat.path)


# --- opening --------------------------------------------------------------------------


def _read_files(paths, on_error, none_ok=False):
    """Catalogues of *paths*; unreadable files raise, warn or are skipped per *on_error*.

    If no file is readable (and not *none_ok*), the first error is raised. Whatever goes
    wrong reading a file is reported as a :class:`FileFormatError` naming it (or
    FileNotFoundError if it vanished).

    A settled file is closed again after its catalogue is read, unless the shared handle
    cache has it open already: HDF5 compares each file it opens with every open file, so
    opening hundreds of files while holding them all open costs more than opening them
    again when data is read. A file modified recently is read through the handle cache,
    checked not to change during the read (:func:`~.files.read_unchanged`).
    """
    _check_on_error(on_error)
    cats, errors = [], []
    for p in paths:
        try:
            try:
                if p in handle_cache or _being_written(p):
                    cats.append(read_unchanged(p, lambda f, p=p: read_catalogue(p, f)))
                else:
                    cats.append(read_catalogue(p))
            except (FileFormatError, FileNotFoundError):
                raise
            except _READ_ERRORS as e:  # anything h5py raises on a damaged file
                raise FileFormatError(p, f"unreadable ({type(e).__name__}: {e})") from e
        except (FileFormatError, FileNotFoundError) as e:
            if on_error == "raise":
                raise
            errors.append(e)
            if on_error == "warn" and not _being_written(p):
                from damnit_nb import DamnitNbWarning

                warnings.warn(f"Skipping unreadable file: {e}", DamnitNbWarning, stacklevel=3)
    if errors and not cats and not none_ok:
        raise errors[0]
    return cats


_READ_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError)


def _check_on_error(on_error):
    if on_error not in ("raise", "warn", "ignore"):
        raise ValueError(f"on_error must be 'raise', 'warn' or 'ignore', not {on_error!r}")


def _being_written(path):
    """True for a file that looks still being written: modified in the last
    ``WRITING_SECONDS``, or locked by a writer when last opened."""
    try:
        recent = time.time() - os.stat(path).st_mtime < WRITING_SECONDS
    except OSError:
        return True  # vanished: it was a temporary file
    return recent or locked_for_writing(path)


def H5File(path, *, inc_suspect_trains=True):
    """Open one HDF5 file in the European XFEL format as a :class:`DataCollection`.

    Raises :class:`FileFormatError` naming the file if it is not readable as such.
    """
    path = osp.abspath(os.fspath(path))
    if not osp.isfile(path):
        raise FileNotFoundError(f"No such file: {path}")
    cats = _read_files([path], "raise")
    return DataCollection(cats, inc_suspect_trains=inc_suspect_trains)


def RunDirectory(path, include="*", *, inc_suspect_trains=True, on_error="warn",
                 cache=True, parallelize=None):
    """Open a run directory: every ``*.h5`` file in *path* matching *include*.

    Files are ordered by their train IDs, not their names. With *inc_suspect_trains* (the
    default, as in EXtra-data) trains the DAQ flagged invalid are included: ``INDEX/flag``
    0 (non-zero in format 1.1, which stores an index there), or, in format 0.5 files without
    flags, the fewest trains that make train IDs step down; with False they are left out.
    A train with data twice for one source (in two files, or twice in one) keeps its first
    data, with a warning (EXtra-data refuses such runs). Unreadable files are skipped
    with a warning (``on_error='warn'``; silently if modified in the last
    ``WRITING_SECONDS``, as files still being written are often unreadable), or raise
    (``'raise'``) or are skipped silently (``'ignore'``). If no file is readable, the first
    file's error is raised; a directory without ``*.h5`` files raises :class:`NoDataError`.

    *cache*: True to use the user's catalogue cache (see :mod:`damnit_nb.data.cache`),
    False to read every file, or a :class:`~damnit_nb.data.cache.CatalogueCache`.
    *parallelize* is accepted for compatibility with EXtra-data and ignored.
    """
    _check_on_error(on_error)
    path = osp.abspath(os.fspath(path))
    if not osp.isdir(path):
        raise NoDataError(path, f"Run directory {path} does not exist. Check the path.")
    try:
        entries = {e.name: e for e in os.scandir(path) if e.name.endswith(".h5") and e.is_file()}
    except OSError as e:
        raise NoDataError(path, f"Cannot list run directory {path}: {e.strerror}.") from e
    names = sorted(entries if include == "*" else
                   (n for n in entries if fnmatch.fnmatch(n, include)))
    if not names:
        raise NoDataError(path)

    store = None
    if cache is True:
        from .cache import default_cache as store
    elif cache:
        store = cache
    cached = store.load(path) if store is not None else {}

    cats, to_read = [], []
    for name in names:
        c = cached.get(name)
        try:
            st = entries[name].stat()
        except OSError:
            to_read.append(name)
            continue
        if c is not None and c.is_current(st):
            cats.append(c)
        else:
            to_read.append(name)
    if to_read:
        fresh = _read_files([osp.join(path, n) for n in to_read], on_error, none_ok=bool(cats))
        cats.extend(fresh)
        if store is not None:
            # Entries of files not read again (current, or left out by *include*) and what
            # was read just now; never files that failed to read, nor files a writer holds
            # (their state is not final).
            reread = set(to_read)
            keep = [c for n, c in cached.items() if n in entries and n not in reread]
            keep += [c for c in fresh if not locked_for_writing(c.path)]
            store.update(path, keep, cached.values())
    return DataCollection(cats, inc_suspect_trains=inc_suspect_trains, is_single_run=True)


def data_root():
    """The facility's proposal root (``$DAMNIT_NB_DATA_ROOT``, default ``/gpfs/exfel/exp``)."""
    return os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT


def find_proposal(proposal):
    """The directory of *proposal* (a number, ``'p001234'``, or a directory path)."""
    if isinstance(proposal, os.PathLike) or (
        isinstance(proposal, str) and ("/" in proposal or osp.isdir(proposal))
    ):
        d = osp.abspath(os.fspath(proposal))
        if not osp.isdir(d):
            raise NoDataError(d, f"Proposal directory {d} does not exist.")
        return d
    m = re.fullmatch(r"p?(\d+)", str(proposal).strip())
    if not m:
        raise ValueError(
            f"proposal must be a number, 'p<number>' or a directory path, not {proposal!r}"
        )
    root = data_root()
    pattern = osp.join(root, "*", "*", f"p{int(m.group(1)):06d}")
    found = sorted(glob.glob(pattern))
    if not found:
        raise NoDataError(
            pattern,
            f"Proposal {int(m.group(1))} not found ({pattern} matches nothing). Set "
            f"{DATA_ROOT_ENV} to the directory holding <instrument>/<cycle>/p<proposal> "
            "folders, or pass the proposal directory itself.",
        )
    return found[0]


def open_run(proposal, run, data="raw", include="*", *, inc_suspect_trains=True,
             on_error="warn", cache=True, parallelize=None):
    """Open run *run* of *proposal* (a number or a proposal directory).

    *data* is ``'raw'``, ``'proc'`` (calibrated) or ``'all'`` (raw and proc; proc's files
    serve sources present in both; raw alone if the run has no proc data). The other
    arguments are as for :func:`RunDirectory`.
    """
    if data not in ("raw", "proc", "all"):
        raise ValueError(f"data must be 'raw', 'proc' or 'all', not {data!r}")
    prop_dir = find_proposal(proposal)
    run = int(run)

    def run_dir(kind):
        return osp.join(prop_dir, kind, f"r{run:04d}")

    kw = dict(include=include, inc_suspect_trains=inc_suspect_trains, on_error=on_error,
              cache=cache)
    if data != "all":
        return RunDirectory(run_dir(data), **kw)
    raw = RunDirectory(run_dir("raw"), **kw)
    try:
        proc = RunDirectory(run_dir("proc"), **kw)
    except NoDataError:
        return raw
    sf = dict(raw._source_files)
    sf.update(proc._source_files)
    return DataCollection(raw._files + proc._files, source_files=sf,
                          inc_suspect_trains=inc_suspect_trains, is_single_run=True)
