"""What one run file holds, read from its METADATA and INDEX groups only.

A :class:`FileCatalogue` is an immutable, picklable description of one HDF5 file in the
European XFEL format: its train IDs, its sources and, per source and index group, the
``first``/``count`` arrays that locate each train's data. Building it reads a few small
datasets and no data; everything else in :mod:`damnit_nb.data` works from catalogues and
opens the file again only to read data or list keys.

:meth:`FileCatalogue.to_dict` / :meth:`FileCatalogue.from_dict` turn a catalogue into plain
lists and numbers (JSON-ready) and back, so a cache can store it; :meth:`FileCatalogue.is_current`
tells whether a stored catalogue still describes the file (same size and mtime).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from .exceptions import FileFormatError

__all__ = ["FileCatalogue", "read_catalogue"]

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
    arr = np.ascontiguousarray(arr, dtype=dtype)
    arr.setflags(write=False)
    return arr


def _decode(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value


class FileCatalogue:
    """Immutable description of one run file (no data, only where the data is).

    Attributes:

    - ``path`` (absolute path), ``size`` (bytes), ``mtime`` (seconds since the epoch)
    - ``format_version``: e.g. ``'0.5'``, ``'1.0'``, ``'1.2'``
    - ``train_ids``: uint64 array, the file's trains in file order (padding removed)
    - ``flag``: bool array, True for trains the DAQ marked valid (all True when the file
      has no ``INDEX/flag``; guessed from downward steps in 0.5 files)
    - ``timestamps``: uint64 array (ns since the epoch, UTC), or None when absent
    - ``control_sources``, ``instrument_sources``: frozensets of source names
    - ``legacy_sources``: mapping of legacy (alias) instrument name -> real name
    - ``index``: mapping source -> index group -> ``(first, count)`` uint64 arrays, one
      entry per train. Control sources use the group ``''``; instrument sources one group
      per first key component (``'data'``, ``'image'``...).
    - ``metadata``: mapping of run metadata (``creationDate``, ``runNumber``...). Read from
      the file the first time it is asked for (most files of a run are never asked), then kept.
    """

    __slots__ = (
        "path",
        "size",
        "mtime",
        "format_version",
        "train_ids",
        "flag",
        "timestamps",
        "control_sources",
        "instrument_sources",
        "legacy_sources",
        "index",
        "_metadata",
    )

    def __init__(
        self,
        path,
        *,
        size,
        mtime,
        format_version,
        train_ids,
        flag=None,
        timestamps=None,
        control_sources=(),
        instrument_sources=(),
        legacy_sources=(),
        index=(),
        metadata=None,
    ):
        set_ = object.__setattr__
        set_(self, "path", os.fspath(path))
        set_(self, "size", int(size))
        set_(self, "mtime", float(mtime))
        set_(self, "format_version", str(format_version))
        tids = _readonly(train_ids)
        set_(self, "train_ids", tids)
        if flag is None:
            flag = np.ones(len(tids), dtype=bool)
        set_(self, "flag", _readonly(flag, bool))
        set_(self, "timestamps", None if timestamps is None else _readonly(timestamps))
        set_(self, "control_sources", frozenset(control_sources))
        set_(self, "instrument_sources", frozenset(instrument_sources))
        set_(self, "legacy_sources", FrozenMap(legacy_sources))
        idx = {}
        for src, groups in dict(index).items():
            idx[src] = FrozenMap(
                {g: (_readonly(fc[0]), _readonly(fc[1])) for g, fc in dict(groups).items()}
            )
        set_(self, "index", FrozenMap(idx))
        set_(self, "_metadata", None if metadata is None else FrozenMap(metadata))

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __getstate__(self):
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state):
        for name in self.__slots__:
            object.__setattr__(self, name, state[name])

    def __repr__(self):
        return (
            f"<FileCatalogue {os.path.basename(self.path)}: {len(self.train_ids)} trains, "
            f"{len(self.control_sources)} control + {len(self.instrument_sources)} "
            f"instrument sources, format {self.format_version}>"
        )

    @property
    def metadata(self):
        """Run metadata recorded in this file (read on first use; see the class docstring)."""
        if self._metadata is None:
            from .files import open_file

            with open_file(self.path) as f:
                meta = FrozenMap(_read_metadata(f.id, self.format_version))
            object.__setattr__(self, "_metadata", meta)  # a one-time memo of fixed data
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
        return int(self.train_ids.min()) if len(self.train_ids) else None

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
        """Plain data (lists, numbers, strings) for JSON; inverse of :meth:`from_dict`."""
        return {
            "path": self.path,
            "size": self.size,
            "mtime": self.mtime,
            "format_version": self.format_version,
            "train_ids": self.train_ids.tolist(),
            "flag": self.flag.tolist(),
            "timestamps": None if self.timestamps is None else self.timestamps.tolist(),
            "control_sources": sorted(self.control_sources),
            "instrument_sources": sorted(self.instrument_sources),
            "legacy_sources": dict(self.legacy_sources),
            "index": {
                src: {g: [fc[0].tolist(), fc[1].tolist()] for g, fc in groups.items()}
                for src, groups in self.index.items()
            },
            "metadata": None if self._metadata is None else {
                k: (v.item() if isinstance(v, np.generic) else v) for k, v in self._metadata.items()
            },
        }

    @classmethod
    def from_dict(cls, d):
        """Rebuild a catalogue from :meth:`to_dict` output."""
        d = dict(d)
        path = d.pop("path")
        ts = d.pop("timestamps")
        return cls(
            path,
            size=d["size"],
            mtime=d["mtime"],
            format_version=d["format_version"],
            train_ids=np.asarray(d["train_ids"], dtype=np.uint64),
            flag=np.asarray(d["flag"], dtype=bool),
            timestamps=None if ts is None else np.asarray(ts, dtype=np.uint64),
            control_sources=d["control_sources"],
            instrument_sources=d["instrument_sources"],
            legacy_sources=d["legacy_sources"],
            index=d["index"],
            metadata=d.get("metadata"),
        )


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


def _read_sources(fid, path, version):
    """Return (control, instrument {source: [groups]}) from METADATA."""
    list_path = "METADATA/dataSourceId" if version == "0.5" else "METADATA/dataSources/dataSourceId"
    raw = _read(fid, list_path)
    if raw is None:
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
    return control, instrument


def _read_first_count(fid, path, grp_path, ntrains_raw, keep):
    """Read one index group's (first, count), truncated/masked to the file's trains."""
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
    return _fit(first, ntrains_raw, keep), _fit(count, ntrains_raw, keep)


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
    if not _exists(fid, "METADATA"):
        raise FileFormatError(path, "no METADATA group")
    tid_raw = _read(fid, "INDEX/trainId", np.uint64)
    if tid_raw is None:
        raise FileFormatError(path, "no INDEX/trainId dataset")

    v = _read(fid, "METADATA/dataFormatVersion")
    if v is None:
        version = "0.5"
    else:
        version = _decode(np.atleast_1d(v)[0]) if v.size else "1.0"

    control, instrument = _read_sources(fid, path, version)

    nonzero = tid_raw != 0
    n_valid = int(np.count_nonzero(nonzero))
    if n_valid == 0 or nonzero[:n_valid].all():
        keep = slice(0, n_valid)  # the usual case: zero padding at the end only
    else:
        keep = nonzero
    train_ids = tid_raw[keep]
    ntrains_raw = len(tid_raw)

    flag = _read(fid, "INDEX/flag")
    if flag is not None:
        flag = _fit(flag, ntrains_raw, keep).astype(bool)
        if version == "1.1":
            flag = ~flag  # 1.1 stores an index there, 0 for trains from the time server
    else:
        flag = _guess_flag(train_ids)
    timestamps = _read(fid, "INDEX/timestamp", np.uint64)
    if timestamps is not None:
        timestamps = _fit(timestamps, ntrains_raw, keep)

    index = {}
    for src in control:
        index[src] = {"": _read_first_count(fid, path, f"INDEX/{src}", ntrains_raw, keep)}

    legacy = {}
    instrument_sources = set(instrument)
    inst_gid = h5py.h5g.open(fid, b"INSTRUMENT") if instrument else None
    for src, groups in instrument.items():
        target = src
        try:
            info = inst_gid.links.get_info(src.encode())
        except (KeyError, ValueError):
            info = None
        if info is not None and info.type == h5py.h5l.TYPE_SOFT:
            # A legacy name: the link points at /INSTRUMENT/<real source>
            target = _decode(inst_gid.links.get_val(src.encode())).lstrip("/").partition("/")[2]
            legacy[src] = target
        if target in index:
            continue
        index[target] = {
            g: _read_first_count(fid, path, f"INDEX/{target}/{g}", ntrains_raw, keep)
            for g in dict.fromkeys(groups)
        }
    # Real sources behind legacy names are sources too (EXtra-data lists both names).
    instrument_sources.update(legacy.values())

    return FileCatalogue(
        path,
        size=st.st_size,
        mtime=st.st_mtime,
        format_version=version,
        train_ids=train_ids,
        flag=flag,
        timestamps=timestamps,
        control_sources=control,
        instrument_sources=instrument_sources,
        legacy_sources=legacy,
        index=index,
    )


def _exists(loc, name):
    try:
        return loc.links.exists(name.encode())
    except (KeyError, ValueError):
        return False
