"""What one run file holds, read from its METADATA and INDEX groups only.

A :class:`FileCatalogue` is an immutable, picklable description of one HDF5 file in the
European XFEL format: its train IDs, its sources and, per source and index group, the
``first``/``count`` arrays that locate each train's data. Building it reads three small
datasets (train IDs, format version, source list) and no data; a source's INDEX arrays, the
validity flags and the timestamps are read when first needed, and kept. Everything else in
:mod:`damnit_nb.data` works from catalogues and opens the file again only to read data or
list keys.

:meth:`FileCatalogue.to_dict` / :meth:`FileCatalogue.from_dict` turn a catalogue into plain
lists and numbers (JSON-ready) and back; :meth:`FileCatalogue.state` gives it as the
constructor's arguments (arrays as they are, :data:`NOT_LOADED` for what was not read), so a
cache can store it in its own format and build it again; :meth:`FileCatalogue.is_current`
tells whether a stored catalogue still describes the file (same size and mtime). A cache keeps
track of its catalogues with ``attach``/``cache``, ``unsaved``/``mark_saved`` (what was read
since it was stored) and ``absorb`` (take over what another catalogue of the file read).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

import numpy as np

from .exceptions import FileFormatError

__all__ = ["FileCatalogue", "read_catalogue", "read_auxiliary_index", "FrozenMap", "NOT_LOADED",
           "AUXILIARY_SECTIONS"]

#: Run metadata datasets under METADATA (format >= 1.0), in the order EXtra-data lists them.
RUN_METADATA_KEYS = (
    "creationDate",
    "daqLibrary",
    "dataFormatVersion",
    "karaboFramework",
    "proposalNumber",
    "runNumber",
    "runType",
    "sample",
    "sequenceNumber",
    "updateDate",
)

_EMPTY_U8 = np.zeros(0, dtype=np.uint64)


class FrozenMap(Mapping):
    """A read-only, picklable mapping."""

    __slots__ = ("_d",)

    def __init__(self, d=()):
        self._d = dict(d)

    def __getitem__(self, key):
        return self._d[key]

    def __iter__(self):
        return iter(self._d)

    def __len__(self):
        return len(self._d)

    def __repr__(self):
        return f"FrozenMap({self._d!r})"

    def __getstate__(self):
        return self._d

    def __setstate__(self, state):
        self._d = state


def _readonly(arr, dtype=np.uint64):
    if (isinstance(arr, np.ndarray) and arr.dtype == dtype and not arr.flags.writeable
            and arr.flags.c_contiguous):
        return arr  # e.g. a view of a cache file's buffer
    arr = np.ascontiguousarray(arr, dtype=dtype)
    arr.setflags(write=False)
    return arr


def _decode(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value


#: Stands for a lazily read part not read yet (``flag``, ``timestamps``) in
#: :meth:`FileCatalogue.state` and in the constructor's arguments.
NOT_LOADED = object()

#: Serialises lazy loading (HDF5 calls are serialised by h5py anyway).
_load_lock = threading.RLock()


class FileCatalogue:
    """Immutable description of one run file (no data, only where the data is).

    Attributes read when the catalogue is built (a few small datasets):

    - ``path`` (absolute path), ``size`` (bytes), ``mtime`` (seconds since the epoch)
    - ``train_ids``: uint64 array, the file's trains in file order (padding removed)
    - ``control_sources``, ``instrument_sources``: frozensets of source names
    - ``legacy_sources``: mapping of legacy (alias) instrument name -> real name
    - ``groups``: mapping of (real) source name -> tuple of its index groups. Control
      sources have the one group ``''``; instrument sources one group per first key
      component (``'data'``, ``'image'``...).

    Attributes read from the file the first time they are asked for, then kept (opening a
    run reads only what every run needs; most files' indexes are never asked for):

    - ``format_version``: e.g. ``'0.5'``, ``'1.0'``, ``'1.2'``
    - ``index``: mapping source -> index group -> ``(first, count)`` uint64 arrays, one entry
      per train. A source's groups are read together when it is first looked up.
    - ``flag``: bool array, True for trains the DAQ marked valid (all True when the file
      has no ``INDEX/flag``; guessed from downward steps in 0.5 files)
    - ``timestamps``: uint64 array (ns since the epoch, UTC), or None when absent
    - ``metadata``: mapping of run metadata (``creationDate``, ``runNumber``...)

    Index arrays read later are cut to the trains of the catalogue, so a file still growing
    gives a consistent picture of the moment the catalogue was built.
    """

    __slots__ = (
        "path",
        "size",
        "mtime",
        "_format_version",
        "train_ids",
        "control_sources",
        "instrument_sources",
        "legacy_sources",
        "groups",
        "_keep",
        "_n_raw",
        "_flag",
        "_timestamps",
        "_index",
        "_index_pending",
        "_metadata",
        "_unsaved",
        "_store",
        "_first",
    )

    def __init__(
        self,
        path,
        *,
        size,
        mtime,
        format_version,
        train_ids,
        flag=NOT_LOADED,
        timestamps=NOT_LOADED,
        control_sources=(),
        instrument_sources=(),
        legacy_sources=(),
        groups=None,
        index=(),
        metadata=None,
        keep=None,
        n_raw=None,
        index_loader=None,
        first_train=None,
    ):
        set_ = object.__setattr__
        set_(self, "path", os.fspath(path))
        set_(self, "size", int(size))
        set_(self, "mtime", float(mtime))
        set_(self, "_format_version", None if format_version is None else str(format_version))
        tids = _readonly(train_ids)
        set_(self, "train_ids", tids)
        set_(self, "control_sources", frozenset(control_sources))
        set_(self, "instrument_sources", frozenset(instrument_sources))
        # (Frozen maps are shared as they are: a cache gives one to all files alike.)
        set_(self, "legacy_sources", legacy_sources if isinstance(legacy_sources, FrozenMap)
             else FrozenMap(legacy_sources))
        if groups is None:  # every source's index given
            index = {src: dict(g) for src, g in dict(index).items()}
            groups = {src: tuple(g) for src, g in index.items()}
            for src in self.control_sources:
                groups.setdefault(src, ("",))
        if not isinstance(groups, FrozenMap):
            groups = FrozenMap({s: tuple(g) for s, g in dict(groups).items()})
        set_(self, "groups", groups)
        # Which rows of the file's INDEX arrays are the catalogue's trains: None for the
        # first len(train_ids) rows, else a bool mask over the first n_raw rows.
        set_(self, "_keep", None if keep is None else _readonly(keep, bool))
        set_(self, "_n_raw", len(tids) if n_raw is None else int(n_raw))
        set_(self, "_flag", NOT_LOADED if flag is NOT_LOADED else _readonly(flag, bool))
        set_(self, "_timestamps", timestamps if timestamps is None or timestamps is NOT_LOADED
             else _readonly(timestamps))
        set_(self, "_index", _freeze_index(index) if index else {})
        # A function giving more (already loaded) index entries when first needed, so a
        # cache can hand over catalogues without building every source's arrays.
        set_(self, "_index_pending", index_loader)
        set_(self, "_metadata", None if metadata is None else FrozenMap(metadata))
        set_(self, "_unsaved", False)
        set_(self, "_store", None)
        # The smallest train ID (None: none), computed on first use unless given.
        set_(self, "_first", NOT_LOADED if first_train is None and len(tids) else first_train)

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __getstate__(self):
        self._idx()
        state = {name: getattr(self, name) for name in self.__slots__}
        for name in ("_flag", "_timestamps", "_first"):
            if state[name] is NOT_LOADED:
                state[name] = "not loaded"
        state["_index"] = dict(state["_index"])
        state["_index_pending"] = None
        state["_store"] = None  # a cache belongs to one process
        return state

    def __setstate__(self, state):
        state.setdefault("_first", NOT_LOADED)
        for name in self.__slots__:
            value = state[name]
            if name in ("_flag", "_timestamps", "_first") and isinstance(value, str):
                value = NOT_LOADED
            object.__setattr__(self, name, value)

    def __repr__(self):
        return (
            f"<FileCatalogue {os.path.basename(self.path)}: {len(self.train_ids)} trains, "
            f"{len(self.control_sources)} control + {len(self.instrument_sources)} "
            f"instrument sources, format {self.format_version}>"
        )

    # --- read on first use -------------------------------------------------
    def _memo(self, name, value):
        # One-time memos of data fixed for this catalogue (same file, same trains).
        object.__setattr__(self, name, value)
        object.__setattr__(self, "_unsaved", True)

    def _load(self, what):
        """Read a lazily loaded part from the file: 'flag', 'timestamps' or a source name."""
        from .files import open_file

        with _load_lock:
            try:
                with open_file(self.path) as f:
                    fid = f.id
                    if what == "format_version":
                        if self._format_version is None:
                            v = _read(fid, "METADATA/dataFormatVersion")
                            v = "0.5" if v is None else (
                                _decode(np.atleast_1d(v)[0]) if v.size else "1.0")
                            self._memo("_format_version", str(v))
                    elif what == "flag":
                        if self._flag is NOT_LOADED:
                            flag = _read(fid, "INDEX/flag")
                            if flag is None:
                                flag = _guess_flag(self.train_ids)
                            else:
                                flag = self._fit(flag).astype(bool)
                                if self.format_version == "1.1":
                                    flag = ~flag  # 1.1 stores 0 for trains from the time server
                            self._memo("_flag", _readonly(flag, bool))
                    elif what == "timestamps":
                        if self._timestamps is NOT_LOADED:
                            ts = _read(fid, "INDEX/timestamp", np.uint64)
                            self._memo("_timestamps", None if ts is None else _readonly(self._fit(ts)))
                    elif what not in self._idx():
                        index = dict(self._index)
                        index[what] = FrozenMap({
                            g: self._read_first_count(fid, f"INDEX/{what}/{g}" if g else f"INDEX/{what}")
                            for g in self.groups[what]
                        })
                        self._memo("_index", index)
            except FileFormatError:
                raise
            except (KeyError, ValueError, TypeError, OSError) as e:
                raise FileFormatError(self.path, f"unreadable INDEX ({e})") from e

    def _fit(self, arr):
        if self._keep is None:
            return _fit(arr, self._n_raw, slice(0, len(self.train_ids)))
        return _fit(arr, self._n_raw, self._keep)

    def _read_first_count(self, fid, grp_path):
        first, count = _read_first_count(fid, self.path, grp_path)
        return _readonly(self._fit(first)), _readonly(self._fit(count))

    # --- kept by a catalogue cache ------------------------------------------
    @property
    def cache(self):
        """The catalogue cache keeping this catalogue (see :meth:`attach`), or None."""
        return self._store

    def attach(self, cache):
        """Record *cache* (a :class:`~.cache.CatalogueCache`, or None) as the one keeping
        this catalogue: :func:`~.cache.save_loaded` adds what it reads later to that cache."""
        object.__setattr__(self, "_store", cache)

    @property
    def unsaved(self):
        """True if parts were read from the file since :meth:`mark_saved` (or since the
        catalogue was built)."""
        return self._unsaved

    def mark_saved(self):
        """Note that what was read so far is stored (or queued to be)."""
        object.__setattr__(self, "_unsaved", False)

    def absorb(self, other):
        """Take over what *other*, a catalogue of the same file version, has read and this
        one has not (flags, timestamps, metadata, index entries)."""
        with _load_lock:
            if self._flag is NOT_LOADED and other._flag is not NOT_LOADED:
                object.__setattr__(self, "_flag", other._flag)
            if self._timestamps is NOT_LOADED and other._timestamps is not NOT_LOADED:
                object.__setattr__(self, "_timestamps", other._timestamps)
            if self._metadata is None and other._metadata is not None:
                object.__setattr__(self, "_metadata", other._metadata)
            mine = self._idx()
            missing = {s: g for s, g in other._idx().items() if s not in mine}
            if missing:
                object.__setattr__(self, "_index", {**mine, **missing})

    def state(self):
        """This catalogue as the constructor's keyword arguments, with what it has read so far:
        ``FileCatalogue(**cat.state())`` describes the same file the same way.

        Parts not read yet are :data:`NOT_LOADED` (``flag``, ``timestamps``), None
        (``format_version``, ``metadata``) or left out of ``index``; ``timestamps`` is None
        when the file has none. ``keep`` is None when the catalogue's trains are the first
        ``n_raw`` rows of the file's INDEX arrays, else a bool mask over those rows. The
        arrays are the catalogue's own (read-only).
        """
        return {
            "path": self.path,
            "size": self.size,
            "mtime": self.mtime,
            "format_version": self._format_version,
            "train_ids": self.train_ids,
            "flag": self._flag,
            "timestamps": self._timestamps,
            "control_sources": self.control_sources,
            "instrument_sources": self.instrument_sources,
            "legacy_sources": self.legacy_sources,
            "groups": self.groups,
            "index": dict(self._idx()),
            "metadata": self._metadata,
            "keep": self._keep,
            "n_raw": self._n_raw,
            "first_train": None if self._first is NOT_LOADED else self._first,
        }

    def loaded_index(self):
        """The index entries read so far (``{source: {group: (first, count)}}``)."""
        return dict(self._idx())

    def _idx(self):
        """The loaded index entries, taking over pending ones first."""
        pending = self._index_pending
        if pending is not None:
            with _load_lock:
                if self._index_pending is not None:
                    extra = _freeze_index(pending())
                    object.__setattr__(self, "_index", {**extra, **self._index})
                    object.__setattr__(self, "_index_pending", None)
        return self._index

    @property
    def format_version(self):
        """The file format version, e.g. ``'0.5'``, ``'1.0'``, ``'1.2'``."""
        if self._format_version is None:
            self._load("format_version")
        return self._format_version

    @property
    def flag(self):
        """Per-train validity (see the class docstring)."""
        if self._flag is NOT_LOADED:
            self._load("flag")
        return self._flag

    @property
    def timestamps(self):
        """Per-train timestamps in ns since the epoch, or None when the file has none."""
        if self._timestamps is NOT_LOADED:
            self._load("timestamps")
        return self._timestamps

    @property
    def index(self):
        """Mapping source -> index group -> ``(first, count)``, read per source on first use."""
        return _IndexView(self)

    @property
    def metadata(self):
        """Run metadata recorded in this file (read on first use; see the class docstring)."""
        if self._metadata is None:
            from .files import open_file

            with open_file(self.path) as f:
                meta = FrozenMap(_read_metadata(f.id, self.format_version))
            object.__setattr__(self, "_metadata", meta)  # not cached on disk: rarely needed
        return self._metadata

    # --- convenience -------------------------------------------------------
    @property
    def all_sources(self):
        """Control and instrument sources (instrument ones include legacy names)."""
        return self.control_sources | self.instrument_sources

    @property
    def filename(self):
        """The file's path (EXtra-data's name for it)."""
        return self.path

    @property
    def first_train(self):
        """The smallest train ID in the file, or None for a file without trains."""
        if self._first is NOT_LOADED:
            object.__setattr__(self, "_first", int(self.train_ids.min()))
        return self._first

    def resolve(self, source):
        """The name a source's data is stored under (follows legacy names)."""
        return self.legacy_sources.get(source, source)

    def index_for(self, source, group=""):
        """``(first, count)`` arrays for *source* and index *group*.

        For an instrument source, *group* is the first component of the key (e.g. ``'data'``).
        Raises KeyError when the file has no such index.
        """
        return self.index[self.resolve(source)][group]

    def is_current(self, stat_result=None):
        """True if the file still has the size and mtime recorded here."""
        if stat_result is None:
            try:
                stat_result = os.stat(self.path)
            except OSError:
                return False
        return stat_result.st_size == self.size and stat_result.st_mtime == self.mtime

    # --- serialisation for caches -----------------------------------------
    def to_dict(self):
        """Plain data (lists, numbers, strings) for JSON; inverse of :meth:`from_dict`.

        Lazily loaded parts are included only if already loaded.
        """
        d = {
            "path": self.path,
            "size": self.size,
            "mtime": self.mtime,
            "format_version": self._format_version,
            "train_ids": self.train_ids.tolist(),
            "control_sources": sorted(self.control_sources),
            "instrument_sources": sorted(self.instrument_sources),
            "legacy_sources": dict(self.legacy_sources),
            "groups": {s: list(g) for s, g in self.groups.items()},
            "keep": None if self._keep is None else self._keep.tolist(),
            "n_raw": self._n_raw,
            "index": {
                src: {g: [fc[0].tolist(), fc[1].tolist()] for g, fc in groups.items()}
                for src, groups in self._idx().items()
            },
            "metadata": None if self._metadata is None else {
                k: (v.item() if isinstance(v, np.generic) else v) for k, v in self._metadata.items()
            },
        }
        if self._flag is not NOT_LOADED:
            d["flag"] = self._flag.tolist()
        if self._timestamps is not NOT_LOADED:
            d["timestamps"] = None if self._timestamps is None else self._timestamps.tolist()
        return d

    @classmethod
    def from_dict(cls, d):
        """Rebuild a catalogue from :meth:`to_dict` output."""
        ts = d.get("timestamps", NOT_LOADED)
        return cls(
            d["path"],
            size=d["size"],
            mtime=d["mtime"],
            format_version=d["format_version"],
            train_ids=np.asarray(d["train_ids"], dtype=np.uint64),
            flag=np.asarray(d["flag"], dtype=bool) if "flag" in d else NOT_LOADED,
            timestamps=ts if ts is None or ts is NOT_LOADED else np.asarray(ts, dtype=np.uint64),
            control_sources=d["control_sources"],
            instrument_sources=d["instrument_sources"],
            legacy_sources=d["legacy_sources"],
            groups=d["groups"],
            index=d["index"],
            metadata=d.get("metadata"),
            keep=d.get("keep"),
            n_raw=d.get("n_raw"),
        )


def _freeze_index(index):
    return {
        src: FrozenMap({g: (_readonly(fc[0]), _readonly(fc[1])) for g, fc in dict(gs).items()})
        for src, gs in dict(index).items()
    }


class _IndexView(Mapping):
    """A catalogue's index as a read-only mapping, reading each source on first access."""

    __slots__ = ("_cat",)

    def __init__(self, cat):
        self._cat = cat

    def __getitem__(self, source):
        cat = self._cat
        found = cat._idx().get(source)
        if found is None:
            if source not in cat.groups:
                raise KeyError(source)
            cat._load(source)
            found = cat._index[source]
        return found

    def __contains__(self, source):
        return source in self._cat.groups

    def __iter__(self):
        return iter(self._cat.groups)

    def __len__(self):
        return len(self._cat.groups)


# --- reading -----------------------------------------------------------------


def _guess_flag(train_ids):
    """Validity for files without INDEX/flag: drop the fewest trains that break monotonicity.

    At each downward step the side needing fewer trains marked invalid is marked.
    """
    flag = np.ones(len(train_ids), dtype=bool)
    for ix in np.nonzero(train_ids[1:] <= train_ids[:-1])[0]:
        before = train_ids[: ix + 1] >= train_ids[ix + 1]
        after = train_ids[ix + 1 :] <= train_ids[ix]
        if np.count_nonzero(before) < np.count_nonzero(after):
            flag[: ix + 1] &= ~before
        else:
            flag[ix + 1 :] &= ~after
    return flag


def _read(loc, name, dtype=None):
    """Read a whole dataset with h5py's low-level API (much faster for small datasets).

    *loc* is a FileID/GroupID; returns None when there is no dataset *name*.
    """
    import h5py

    try:
        dsid = h5py.h5d.open(loc, name.encode())
    except (KeyError, ValueError):
        return None
    arr = np.empty(dsid.shape, dtype=dsid.dtype if dtype is None else dtype)
    if arr.size:
        dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, arr)
    return arr


def _read_sources(fid, path):
    """Return (control, instrument {source: [groups]}, is_0_5) from METADATA.

    The source list's place tells the format: ``METADATA/dataSourceId`` in the first
    format (0.5), ``METADATA/dataSources/dataSourceId`` from 1.0 on.
    """
    # (A link lookup first: failing to open a dataset costs HDF5 an error stack.)
    is_0_5 = _exists(fid, "METADATA/dataSourceId")
    list_path = "METADATA/dataSourceId" if is_0_5 else "METADATA/dataSources/dataSourceId"
    raw = _read(fid, list_path)
    if raw is None:
        if not _exists(fid, "METADATA"):
            raise FileFormatError(path, "no METADATA group")
        raise FileFormatError(path, f"no {list_path} dataset")
    control = set()
    instrument = {}
    for entry in np.atleast_1d(raw).tolist():
        if not entry:
            continue  # padding
        entry = _decode(entry)
        category, _, name = entry.partition("/")
        if category == "CONTROL":
            control.add(name)
        elif category == "INSTRUMENT":
            device, _, chan_group = name.partition(":")
            chan, _, group = chan_group.partition("/")
            instrument.setdefault(f"{device}:{chan}", []).append(group)
        elif category == "Karabo_TimerServer" or not category:
            continue  # virtual source listed by some 1.1 files
        else:
            raise FileFormatError(path, f"unknown data category {category!r} in {list_path}")
    return control, instrument, is_0_5


def _read_first_count(fid, path, grp_path):
    """Read one index group's (first, count) arrays as stored (not cut to the trains)."""
    first = _read(fid, f"{grp_path}/first", np.uint64)
    if first is None:
        raise FileFormatError(path, f"missing index dataset {grp_path}/first")
    count = _read(fid, f"{grp_path}/count", np.uint64)
    if count is None:
        # Old index format: count = (last - first + 1) where status != 0.
        last = _read(fid, f"{grp_path}/last", np.int64)
        status = _read(fid, f"{grp_path}/status")
        if last is None or status is None:
            raise FileFormatError(
                path, f"index group {grp_path} has neither count nor last/status"
            )
        n = min(len(first), len(last), len(status))
        first = first[:n]
        count = np.where(status[:n] != 0, last[:n] - first.astype(np.int64) + 1, 0)
        count = count.clip(0).astype(np.uint64)
    return first, count


def _fit(arr, ntrains_raw, keep):
    """Cut an index array to the trains kept from INDEX/trainId (*keep* is a slice or mask)."""
    arr = arr[:ntrains_raw]
    if isinstance(keep, slice):
        arr = arr[keep]
        n = keep.stop
    else:
        if len(arr) < len(keep):
            arr = np.concatenate([arr, np.zeros(len(keep) - len(arr), arr.dtype)])
        arr = arr[keep]
        n = int(np.count_nonzero(keep))
    if len(arr) < n:
        arr = np.concatenate([arr, np.zeros(n - len(arr), arr.dtype)])
    return arr


def _read_metadata(fid, version):
    if version == "0.5":
        return {"dataFormatVersion": "0.5"}
    meta = {}
    for key in RUN_METADATA_KEYS:
        value = _read(fid, f"METADATA/{key}")
        if value is None:
            continue
        if value.ndim > 0:
            if value.size == 0:
                continue
            value = value.flat[0]
        elif value.dtype.hasobject:
            value = value[()]
        meta[key] = _decode(value)
    meta["dataFormatVersion"] = version
    return meta


def read_catalogue(path, h5file=None):
    """Build the :class:`FileCatalogue` of the file at *path* from METADATA and INDEX.

    *h5file*, if given, is an already open ``h5py.File`` for *path*. Raises
    :class:`FileFormatError` (naming the file) when the file is not readable HDF5 or lacks
    the groups of the format.
    """
    path = os.path.abspath(os.fspath(path))
    try:
        st = os.stat(path)
    except OSError as e:
        raise FileFormatError(path, f"cannot read file ({e.strerror})") from e
    if h5file is None:
        from .files import open_h5

        f = open_h5(path)
        close = True
    else:
        f, close = h5file, False
    try:
        return _read_open(f, path, st)
    except FileFormatError:
        raise
    except (KeyError, ValueError, TypeError, OSError) as e:
        raise FileFormatError(path, f"unreadable METADATA/INDEX ({e})") from e
    finally:
        if close:
            f.close()


def _read_open(f, path, st):
    import h5py

    fid = f.id
    tid_raw = _read(fid, "INDEX/trainId", np.uint64)
    if tid_raw is None:
        raise FileFormatError(path, "no INDEX/trainId dataset")

    control, instrument, is_0_5 = _read_sources(fid, path)

    nonzero = tid_raw != 0
    n_valid = int(np.count_nonzero(nonzero))
    if n_valid == 0 or nonzero[:n_valid].all():
        keep = None  # the usual case: zero padding at the end only
        train_ids = tid_raw[:n_valid]
    else:
        keep = nonzero
        train_ids = tid_raw[keep]

    groups = {src: ("",) for src in control}
    legacy = {}
    instrument_sources = set(instrument)
    for src, grps in instrument.items():
        target = src
        try:
            info = fid.links.get_info(f"INSTRUMENT/{src}".encode())
        except (KeyError, ValueError, RuntimeError):
            info = None
        if info is not None and info.type == h5py.h5l.TYPE_SOFT:
            # A legacy name: the link points at /INSTRUMENT/<real source>
            link = fid.links.get_val(f"INSTRUMENT/{src}".encode())
            target = _decode(link).lstrip("/").partition("/")[2]
            legacy[src] = target
        if target not in groups:
            groups[target] = tuple(dict.fromkeys(grps))
    # Real sources behind legacy names are sources too (EXtra-data lists both names).
    instrument_sources.update(legacy.values())

    return FileCatalogue(
        path,
        size=st.st_size,
        mtime=st.st_mtime,
        format_version="0.5" if is_0_5 else None,
        train_ids=train_ids,
        control_sources=control,
        instrument_sources=instrument_sources,
        legacy_sources=legacy,
        groups=groups,
        keep=keep,
        n_raw=len(tid_raw),
    )


def _exists(loc, name):
    try:
        return loc.links.exists(name.encode())
    except (KeyError, ValueError, RuntimeError):
        return False


#: Sections of auxiliary sources, listed under METADATA/auxiliarySources.
AUXILIARY_SECTIONS = ("REDUCTION", "ERRATA")


def read_auxiliary_index(path):
    """Auxiliary sources of the file at *path*, with their INDEX arrays.

    ``METADATA/auxiliarySources/{REDUCTION,ERRATA}`` list entries ``<section>/<source>/<group>``
    (data under ``/<section>/<source>``, index under ``INDEX/<source>/<group>``). Returns
    ``{section: {source: {group: (first, count)}}}`` with the arrays fitted to the file's
    trains like :class:`FileCatalogue` ``index``; a group without index arrays is left out.
    Empty for files without auxiliary sources.
    """
    from .files import open_file

    path = os.fspath(path)
    with open_file(path) as f:
        fid = f.id
        lists = {}
        for section in AUXILIARY_SECTIONS:
            raw = _read(fid, f"METADATA/auxiliarySources/{section}")
            if raw is None:
                continue
            for entry in np.atleast_1d(raw).tolist():
                entry = _decode(entry)
                if not entry.startswith(section + "/"):
                    continue  # padding or malformed
                source, _, group = entry[len(section) + 1:].rpartition("/")
                if source:
                    lists.setdefault(section, {}).setdefault(source, []).append(group)
        if not lists:
            return {}
        tid_raw = _read(fid, "INDEX/trainId", np.uint64)
        nonzero = tid_raw != 0
        n_valid = int(np.count_nonzero(nonzero))
        keep = slice(0, n_valid) if n_valid == 0 or nonzero[:n_valid].all() else nonzero
        result = {}
        for section, sources in lists.items():
            for source, groups in sources.items():
                index = {}
                for g in dict.fromkeys(groups):
                    try:
                        first, count = _read_first_count(fid, path, f"INDEX/{source}/{g}")
                        index[g] = (_fit(first, len(tid_raw), keep),
                                    _fit(count, len(tid_raw), keep))
                    except FileFormatError:
                        continue  # listed without an index: no data to locate
                result.setdefault(section, {})[source] = index
        return result
