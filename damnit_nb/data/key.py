"""One key of one source: :class:`KeyData`, the level of the chain that reads data.

``run[source, key]`` gives a :class:`KeyData`; nothing is read until ``.ndarray()``,
``.xarray()`` or ``.series()``. Reading works from the catalogue's INDEX arrays: for each file
the selected trains are grouped into contiguous slices of the dataset, and each slice is read
with one HDF5 call straight into the output array.
"""

from __future__ import annotations

import numpy as np

from .cache import save_loaded
from .exceptions import IncompleteFileError
from .files import open_file, read_unchanged
from .h5access import decode_strings, read_attributes, reading, run_value
from .sections import SectionFlags
from .selection import by_index, select_train_ids, split_slices

__all__ = ["KeyData"]

#: Largest block of :meth:`KeyData.dask_array`, in bytes (bigger runs of rows are split).
DASK_BLOCK_BYTES = 1 << 30

#: The attributes ``units`` and ``units_name`` are made of (read with the data's type).
_UNITS_ATTRS = ("unitSymbol", "metricPrefixSymbol", "unitName", "metricPrefixName")


class _Chunk:
    """Contiguous data for consecutive trains of one file: rows [start, start + total)."""

    __slots__ = ("cat", "start", "train_ids", "counts", "total")

    def __init__(self, cat, start, train_ids, counts):
        self.cat = cat
        self.start = int(start)
        self.train_ids = train_ids
        self.counts = counts
        self.total = int(counts.sum())


def _file_chunks(cat, source, group, selected, inc_suspect_trains):
    """Chunks of one file for *source*/*group*, restricted to *selected* train IDs."""
    try:
        first, count = cat.index_for(source, group)
    except KeyError:
        return []
    tids = cat.train_ids
    if len(tids) == 0:
        return []
    if selected is None:
        include = None
    else:
        include = np.isin(tids, selected)
    if not inc_suspect_trains:
        include = cat.flag if include is None else (include & cat.flag)
    if include is None:
        idx = np.arange(len(tids))
    else:
        idx = np.flatnonzero(include)
        if len(idx) == 0:
            return []
    f = first[idx]
    c = count[idx]

    # Break where the selection skips trains or the data is not contiguous.
    breaks = np.zeros(len(idx), dtype=bool)
    breaks[0] = True
    breaks[1:] = np.diff(idx) != 1
    nz = np.flatnonzero(c)
    if len(nz) > 1:
        disc = f[nz[1:]] != f[nz[:-1]] + c[nz[:-1]]
        breaks[nz[1:][disc]] = True
    starts = np.flatnonzero(breaks)
    ends = np.append(starts[1:], len(idx))

    sel_tids = tids[idx]
    chunks = []
    for s, e in zip(starts.tolist(), ends.tolist()):
        cc = c[s:e]
        nzc = np.flatnonzero(cc)
        start = f[s + nzc[0]] if len(nzc) else 0
        chunks.append(_Chunk(cat, start, sel_tids[s:e], cc))
    return chunks


def _missing_rows(cat, dataset, nrows, chunks):
    """:class:`IncompleteFileError` if *chunks* need rows beyond the *nrows* of *dataset*."""
    needed = max((c.start + c.total for c in chunks if c.total), default=0)
    if needed <= nrows:
        return None
    train_id = None
    for c in chunks:
        if not hasattr(c, "counts"):
            continue  # rows without their trains (a dask block)
        ends = c.start + np.cumsum(c.counts.astype(np.int64))
        late = np.flatnonzero((ends > nrows) & (c.counts > 0))
        if len(late):
            tid = int(c.train_ids[late[0]])
            train_id = tid if train_id is None else min(train_id, tid)
    return IncompleteFileError(
        cat.path,
        f"{dataset} holds {nrows} rows but INDEX locates data up to row {needed}"
        + (f" (trains from {train_id} on)" if train_id is not None else ""),
        dataset=dataset, rows=nrows, needed=needed, train_id=train_id,
    )


def _read_hyperslabs(f, cat, path, chunks, out, pos):
    """Read *chunks* (rows of one dataset of the open file *f*) into ``out[pos:...]``."""
    import h5py

    dsid = h5py.h5d.open(f.id, path.encode())
    fspace = dsid.get_space()
    err = _missing_rows(cat, path, fspace.shape[0], chunks)
    if err is not None:
        raise err
    eshape = out.shape[1:]
    zeros = (0,) * len(eshape)
    for c in chunks:
        n = c.total
        fspace.select_hyperslab((c.start,) + zeros, (n,) + eshape)
        mspace = h5py.h5s.create_simple((n,) + eshape)
        dsid.read(mspace, fspace, out[pos:pos + n])
        pos += n


class _File:
    """Stands in for a catalogue where only the file's path is needed (error messages)."""

    __slots__ = ("path",)

    def __init__(self, path):
        self.path = path


class _Rows:
    __slots__ = ("start", "total")

    def __init__(self, start, total):
        self.start = start
        self.total = total


def _read_block(path, dataset_path, start, n, dtype, entry_shape):
    """Rows ``[start, start + n)`` of one dataset: one block of :meth:`KeyData.dask_array`.

    Runs in dask's workers, possibly several at once: the file comes from the shared,
    thread-safe handle cache.
    """
    out = np.empty((n,) + tuple(entry_shape), dtype=dtype)
    where = _File(path)
    with open_file(path) as f, reading(where, dataset_path):
        if dtype.hasobject:
            out[...] = f[dataset_path][start:start + n]
        else:
            _read_hyperslabs(f, where, dataset_path, [_Rows(start, n)], out, 0)
    return decode_strings(out)


def _roi_shape(entry_shape, roi):
    if not roi:
        return tuple(entry_shape)
    return np.broadcast_to(np.zeros((), dtype=np.uint8), entry_shape)[roi].shape


def _roi_coordinates(entry_shape, roi):
    """Index coordinates of each entry dimension after applying *roi* (ints stay scalars)."""
    roi = roi if isinstance(roi, tuple) else (roi,)
    if any(r is Ellipsis for r in roi):
        i = roi.index(Ellipsis)
        fill = len(entry_shape) - (len(roi) - 1)
        roi = roi[:i] + (slice(None),) * fill + roi[i + 1:]
    roi = roi + (slice(None),) * (len(entry_shape) - len(roi))
    return [np.arange(n)[r] if not isinstance(r, (int, np.integer)) else int(np.arange(n)[r])
            for n, r in zip(entry_shape, roi)]


class KeyData(SectionFlags):
    """Data for one key of one source, across all files and selected trains.

    Get it from ``run[source, key]`` or ``run[source][key]``. For control sources, ``key`` is
    normalised to end with ``.value`` (or ``.timestamp``).

    Attributes: ``source``, ``key``, ``section`` (``'CONTROL'`` or ``'INSTRUMENT'``),
    ``train_ids`` (the selected train IDs, a list like EXtra-data's), ``files`` (catalogues of
    the files holding this source).
    """

    def __init__(self, source, key, *, section, files, train_ids, selected=None,
                 inc_suspect_trains=True, h5path=None, chunk_memo=None):
        self.source = source
        self.key = key
        self._h5path = key.replace(".", "/") if h5path is None else h5path
        self.section = section
        self.files = list(files)
        self._train_ids = train_ids  # sorted uint64 array
        self._selected = selected  # None (all trains of the files) or sorted uint64 array
        self.inc_suspect_trains = inc_suspect_trains
        self._chunks = None
        # Shared by the keys of one collection (same trains selected): per (file, source,
        # index group), the chunks found, so new KeyData objects need no recomputation.
        self._memo = chunk_memo
        self._meta = None

    # --- description ---------------------------------------------------------
    def __repr__(self):
        return (
            f"<damnit_nb.data.KeyData source={self.source!r} key={self.key!r} "
            f"for {len(self._train_ids)} trains>"
        )

    @property
    def train_ids(self):
        """Selected train IDs (each once, including trains without data), as a list."""
        return list(self._train_ids)






    @property
    def index_group(self):
        """The INDEX group locating this key's data ('' for control sources)."""
        return "" if self.is_control else self.key.partition(".")[0]

    def _stored_source(self, cat):
        return cat.resolve(self.source)

    def _dataset_path(self, cat):
        return f"{self.section}/{self._stored_source(cat)}/{self._h5path}"

    @property
    def hdf5_data_path(self):
        """Path of the dataset inside each file."""
        return self._dataset_path(self.files[0])

    def _read_meta(self):
        """(dtype, entry shape, units attributes), from the first file."""
        if self._meta is None:
            import h5py

            cat = self.files[0]
            path = self._dataset_path(cat)
            with open_file(cat.path) as f, reading(cat, path):
                dsid = h5py.h5d.open(f.id, path.encode())
                units = read_attributes(f, path, _UNITS_ATTRS, parent=self._attrs_on_parent)
                self._meta = (dsid.dtype, tuple(dsid.shape[1:]), units)
        return self._meta

    @property
    def _attrs_on_parent(self):
        # Karabo attributes of control keys sit mostly on the parent group.
        return self.is_control and self.key.endswith(".value")

    @property
    def dtype(self):
        """NumPy dtype of the stored data."""
        return self._read_meta()[0]

    @property
    def entry_shape(self):
        """Shape of one entry (the dimensions after the first)."""
        return self._read_meta()[1]

    @property
    def ndim(self):
        return len(self.entry_shape) + 1

    @property
    def shape(self):
        """Shape of the full array ``.ndarray()`` would return (no data is read)."""
        return (sum(c.total for c in self._data_chunks),) + self.entry_shape

    @property
    def nbytes(self):
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def attributes(self):
        """All HDF5 attributes stored with this key (from the first file)."""
        cat = self.files[0]
        path = self._dataset_path(cat)
        with open_file(cat.path) as f, reading(cat, path):
            return read_attributes(f, path, parent=self._attrs_on_parent)

    @property
    def units(self):
        """Units symbol, e.g. ``'μJ'``, or None when the file records none."""
        attrs = self._read_meta()[2]
        unit = attrs.get("unitSymbol")
        if unit is None:
            return None
        prefix = _as_str(attrs.get("metricPrefixSymbol", ""))
        if prefix == "u":
            prefix = "μ"
        return prefix + _as_str(unit)

    @property
    def units_name(self):
        """Units name, e.g. ``'microjoule'``, or None."""
        attrs = self._read_meta()[2]
        unit = attrs.get("unitName")
        if unit is None:
            return None
        return _as_str(attrs.get("metricPrefixName", "")) + _as_str(unit)

    # --- where the data is ----------------------------------------------------
    @property
    def _data_chunks(self):
        if self._chunks is None:
            chunks = []
            group = self.index_group
            memo = self._memo
            for cat in self.files:
                if memo is None:
                    found = _file_chunks(cat, self.source, group, self._selected,
                                         self.inc_suspect_trains)
                else:
                    mk = (cat.path, self.source, group)
                    found = memo.get(mk)
                    if found is None:
                        found = memo[mk] = _file_chunks(cat, self.source, group, self._selected,
                                                        self.inc_suspect_trains)
                chunks.extend(found)
            save_loaded(self.files)
            chunks.sort(key=lambda c: c.train_ids[0])
            if chunks:
                chunks = self._drop_duplicate_trains(chunks)
            self._chunks = chunks
        return self._chunks

    def _drop_duplicate_trains(self, chunks):
        """Keep the first data of trains that appear more than once, with a warning.

        The same train twice for one source (in two files, e.g. a copied file left in the
        run directory, or repeated within a file) is a broken run; keeping both would
        duplicate entries silently. EXtra-data refuses such runs unless the repeats are
        flagged invalid and ``inc_suspect_trains=False``; we read the first occurrence.
        """
        all_tids = np.concatenate([c.train_ids[c.counts > 0] for c in chunks])
        if len(np.unique(all_tids)) == len(all_tids):
            return chunks
        import warnings

        from damnit_nb import DamnitNbWarning

        seen = np.zeros(0, dtype=np.uint64)
        out, dropped_from = [], set()
        for c in chunks:
            has_data = c.counts > 0
            dup = np.isin(c.train_ids, seen) & has_data
            nz = np.flatnonzero(has_data)
            _, first = np.unique(c.train_ids[nz], return_index=True)
            repeat = np.ones(len(nz), dtype=bool)
            repeat[first] = False
            dup[nz[repeat]] = True  # repeated within this chunk
            if not dup.any():
                out.append(c)
            else:
                dropped_from.add(c.cat.path)
                rows = c.start + np.concatenate(([0], np.cumsum(c.counts)[:-1])).astype(np.int64)
                # Split the kept trains into runs of consecutive positions: each is contiguous.
                idx = np.flatnonzero(~dup)
                if len(idx):
                    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
                    for part in np.split(idx, breaks):
                        cnt = c.counts[part]
                        nzp = np.flatnonzero(cnt)
                        start = rows[part[nzp[0]]] if len(nzp) else 0
                        out.append(_Chunk(c.cat, start, c.train_ids[part], cnt))
            seen = np.union1d(seen, c.train_ids[has_data])
        warnings.warn(
            f"{self.source} has data for the same trains more than once (in several files, "
            "or repeated within a file); using the first data of each train and ignoring the "
            f"repeats in: {', '.join(sorted(dropped_from))}. Remove duplicate files from the "
            "run directory, or open the run with inc_suspect_trains=False to leave out "
            "trains the DAQ marked invalid.",
            DamnitNbWarning,
            stacklevel=4,
        )
        return out

    def train_id_coordinates(self):
        """Train ID of each entry of ``.ndarray()`` (repeated for several entries per train)."""
        chunks = [c for c in self._data_chunks if c.total]
        if not chunks:
            return np.zeros(0, dtype=np.uint64)
        return np.concatenate([np.repeat(c.train_ids, c.counts.astype(np.intp)) for c in chunks])

    def data_counts(self, labelled=True):
        """Number of entries per selected train: a pandas Series indexed by train ID, or
        (``labelled=False``) an array matching ``.train_ids``."""
        chunks = self._data_chunks
        all_tids = self._train_ids
        counts = np.zeros(len(all_tids), dtype=np.uint64)
        if chunks:
            tids = np.concatenate([c.train_ids for c in chunks])
            cnts = np.concatenate([c.counts for c in chunks])
            pos = np.searchsorted(all_tids, tids)
            ok = (pos < len(all_tids))
            ok[ok] = all_tids[pos[ok]] == tids[ok]
            np.add.at(counts, pos[ok], cnts[ok])  # a train may sit in two files, once empty
        if not labelled:
            return counts
        import pandas as pd

        return pd.Series(counts.astype(np.int64), index=pd.Index(all_tids))

    # --- selection -------------------------------------------------------------
    def select_trains(self, trains):
        """A new KeyData restricted to *trains* (see :func:`damnit_nb.data.selection.select_train_ids`)."""
        tids = select_train_ids(self._train_ids, trains)
        return KeyData(self.source, self.key, section=self.section, files=self.files,
                       train_ids=tids, selected=tids, inc_suspect_trains=self.inc_suspect_trains,
                       h5path=self._h5path)

    def __getitem__(self, item):
        return self.select_trains(item)

    def split_trains(self, parts=None, trains_per_part=None):
        """Split the selected trains into consecutive parts: an iterator of KeyData.

        Trains without data for this key count too, so different keys of a run split into
        matching parts. See :meth:`DataCollection.split_trains
        <damnit_nb.data.run.DataCollection.split_trains>` for the arguments.
        """
        slices = split_slices(len(self._train_ids), parts, trains_per_part)
        return (self.select_trains(by_index[sl]) for sl in slices)

    def drop_empty_trains(self):
        """A new KeyData with only the trains that have data for this key."""
        tids = np.unique(self.train_id_coordinates())
        return KeyData(self.source, self.key, section=self.section, files=self.files,
                       train_ids=tids, selected=tids, inc_suspect_trains=self.inc_suspect_trains,
                       h5path=self._h5path)

    # --- one train at a time ------------------------------------------------------
    def _train_lookup(self):
        """{train ID: (catalogue, first row, count)} for the selected trains with a chunk."""
        lookup = getattr(self, "_lookup", None)
        if lookup is None:
            lookup = {}
            for c in self._data_chunks:
                rows = c.start + np.concatenate(([0], np.cumsum(c.counts)[:-1])).astype(np.int64)
                for tid, row, n in zip(c.train_ids.tolist(), rows.tolist(), c.counts.tolist()):
                    lookup.setdefault(tid, (c.cat, row, n))
            self._lookup = lookup
        return lookup

    def _read_rows(self, cat, row, n, keep_dims):
        path = self._dataset_path(cat)

        def read(f):
            with reading(cat, path):
                ds = f[path]
                if row + n > ds.shape[0]:
                    tid = next((t for t, hit in self._train_lookup().items()
                                if hit == (cat, row, n)), None)
                    raise IncompleteFileError(
                        cat.path,
                        f"{path} holds {ds.shape[0]} rows but INDEX locates data for train "
                        f"{tid} at rows {row}-{row + n - 1}",
                        "The file is incomplete: if it is still being written, try again later.",
                        dataset=path, rows=ds.shape[0], needed=row + n, train_id=tid,
                    )
                return ds[row:row + n]

        data = decode_strings(np.asarray(read_unchanged(cat.path, read)))
        if n == 1 and not keep_dims:
            data = data[0]
        return data

    def train_data(self, tid, keep_dims=False):
        """The entries of train *tid* (squeezed when there is one, unless *keep_dims*), or
        None when the train has no data for this key or is not selected. A collection's
        train-by-train reading asks each key this."""
        hit = self._train_lookup().get(int(tid))
        if hit is None or hit[2] == 0:
            return None
        return self._read_rows(*hit, keep_dims=keep_dims)

    def train_from_id(self, tid, keep_dims=False):
        """``(train_id, data)`` for one train; entries of a train with one entry are
        squeezed unless *keep_dims*. Raises :class:`TrainIDError` for an unselected train."""
        from .exceptions import TrainIDError

        tid = int(tid)
        hit = self._train_lookup().get(tid)
        if hit is None:
            if tid not in set(self._train_ids.tolist()):
                raise TrainIDError(tid)
            return np.uint64(tid), np.empty((0,) + self.entry_shape, dtype=self.dtype)
        return np.uint64(tid), self._read_rows(*hit, keep_dims=keep_dims)

    def train_from_index(self, i, keep_dims=False):
        """``(train_id, data)`` for the *i*-th selected train."""
        return self.train_from_id(self._train_ids[i], keep_dims=keep_dims)

    def trains(self, keep_dims=False, include_empty=False):
        """Iterate over ``(train_id, data)`` for the selected trains (with data, unless
        *include_empty*)."""
        lookup = self._train_lookup()
        for tid in self._train_ids.tolist():
            hit = lookup.get(tid)
            if hit is not None and hit[2] > 0:
                yield np.uint64(tid), self._read_rows(*hit, keep_dims=keep_dims)
            elif include_empty:
                yield np.uint64(tid), np.empty((0,) + self.entry_shape, dtype=self.dtype)

    # --- reading ---------------------------------------------------------------
    def ndarray(self, roi=(), out=None):
        """Read the data as a NumPy array, entries of all selected trains in train order.

        *roi* (e.g. ``np.s_[:10, 5:]``) selects part of each entry. Strings come back as
        ``str`` objects.
        """
        if not isinstance(roi, tuple):
            roi = (roi,)
        chunks = [c for c in self._data_chunks if c.total]
        dtype, eshape, _ = self._read_meta()
        total = sum(c.total for c in chunks)
        req_shape = (total,) + _roi_shape(eshape, roi)
        if out is None:
            out = np.empty(req_shape, dtype=dtype)
        elif out.shape != req_shape:
            raise ValueError(f"ndarray(out=...) needs an array of shape {req_shape}, not {out.shape}")

        # Whole entries of plain dtypes go through h5py's low-level API straight into the
        # output (one hyperslab read per chunk); anything else through h5py's slicing.
        fast = not roi and not dtype.hasobject and out.flags.c_contiguous and out.dtype == dtype
        pos = 0
        for cat, group in _group_by_file(chunks):
            path = self._dataset_path(cat)

            def read(f, cat=cat, group=group, path=path, pos=pos):
                with reading(cat, path):
                    if fast:
                        _read_hyperslabs(f, cat, path, group, out, pos)
                        return
                    ds = f[path]
                    err = _missing_rows(cat, path, ds.shape[0], group)
                    if err is not None:
                        raise err
                    for c in group:
                        src_sel = (slice(c.start, c.start + c.total),) + roi
                        if dtype.hasobject:
                            out[pos:pos + c.total] = ds[src_sel]
                        else:
                            ds.read_direct(out, source_sel=src_sel,
                                           dest_sel=np.s_[pos:pos + c.total])
                        pos += c.total

            read_unchanged(cat.path, read)
            pos += sum(c.total for c in group)
        return decode_strings(out)

    def xarray(self, extra_dims=None, roi=(), name=None):
        """Read the data as an ``xarray.DataArray`` labelled with train IDs.

        Dimensions are ``trainId`` then ``dim_0``, ``dim_1``... (or *extra_dims*); the name is
        ``"source.key"`` (without ``.value`` for control keys); ``attrs['units']`` is set when
        the file records units. Structured dtypes give an ``xarray.Dataset``.
        """
        import xarray as xr

        arr = self.ndarray(roi=roi)
        coords = {"trainId": self.train_id_coordinates()}
        dims = ["trainId"]
        if extra_dims is None:
            dims += [f"dim_{i}" for i in range(arr.ndim - 1)]
        else:
            # Named dimensions get index coordinates (as EXtra-data gives them): positions
            # in the stored entry, after the region of interest.
            for dim, coord in zip(extra_dims, _roi_coordinates(self.entry_shape, roi)):
                coords[dim] = coord
                if not np.isscalar(coord):
                    dims.append(dim)
        attrs = {}
        units = self.units
        if units:
            attrs["units"] = units
        if arr.dtype.names is not None:
            return xr.Dataset({fld: (dims, arr[fld]) for fld in arr.dtype.names},
                              coords=coords, attrs=attrs)
        if name is None:
            name = self._default_name()
        return xr.DataArray(arr, dims=dims, coords=coords, name=name, attrs=attrs)

    def dask_array(self, labelled=False):
        """The data as a lazy ``dask.array.Array``: nothing is read until it is computed.

        One block per contiguous run of rows in a file (split further so no block exceeds
        ``DASK_BLOCK_BYTES``), so blocks follow the files along the train axis. Blocks are
        read through the shared handle cache (:func:`damnit_nb.data.files.open_file`), so
        any dask scheduler (threads, processes, distributed) can compute them; strings come
        back as ``str`` as from :meth:`ndarray`. With ``labelled=True``, an
        ``xarray.DataArray`` wrapping the dask array, labelled as :meth:`xarray` labels
        (``trainId`` coordinates, ``dim_0``..., name and units); a structured dtype gives
        an ``xarray.Dataset`` with one dask-backed variable per field.

        Needs dask: ``pip install dask[array]``.
        """
        try:
            import dask.array as da
            from dask.base import tokenize
        except ImportError as e:
            raise ImportError(
                "KeyData.dask_array() needs dask; install it with: pip install dask[array]",
                name="dask",
            ) from e

        dtype, eshape, _ = self._read_meta()
        row_bytes = max(1, int(np.prod(eshape, dtype=np.int64)) * dtype.itemsize)
        max_rows = max(1, DASK_BLOCK_BYTES // row_bytes)
        blocks = []  # (path, dataset path, first row, number of rows)
        for c in self._data_chunks:
            if not c.total:
                continue
            path = self._dataset_path(c.cat)
            for start in range(c.start, c.start + c.total, max_rows):
                blocks.append((c.cat.path, path, start, min(max_rows, c.start + c.total - start)))

        if blocks:
            # Same files (unchanged), rows and type: same name, so dask can share results.
            stamps = sorted((cat.path, cat.size, cat.mtime) for cat in self.files)
            name = "damnit_nb-" + tokenize(stamps, blocks, str(dtype), eshape)
            ndim = 1 + len(eshape)
            graph = {
                (name, i) + (0,) * len(eshape): (_read_block, p, dp, start, n, dtype, eshape)
                for i, (p, dp, start, n) in enumerate(blocks)
            }
            chunks = (tuple(b[3] for b in blocks),) + tuple((d,) for d in eshape)
            meta = np.empty((0,) * ndim, dtype=dtype)
            arr = da.Array(graph, name, chunks, meta=meta)
        else:
            empty = np.empty((0,) + eshape, dtype=dtype)
            arr = da.from_array(empty, chunks=empty.shape)

        if not labelled:
            return arr
        import xarray as xr

        dims = ["trainId"] + [f"dim_{i}" for i in range(arr.ndim - 1)]
        coords = {"trainId": self.train_id_coordinates()}
        attrs = {"units": self.units} if self.units else {}
        if dtype.names is not None:
            return xr.Dataset({fld: (dims, arr[fld]) for fld in dtype.names},
                              coords=coords, attrs=attrs)
        return xr.DataArray(arr, dims=dims, coords=coords, name=self._default_name(),
                            attrs=attrs)

    def _default_name(self):
        name = f"{self.source}.{self.key}"
        if self.is_control and name.endswith(".value"):
            name = name[: -len(".value")]
        return name

    def series(self):
        """Read 1D data as a ``pandas.Series`` indexed by ``trainId``."""
        import pandas as pd

        if self.ndim > 1:
            raise TypeError(
                f"{self.source} {self.key} has entries of shape {self.entry_shape}; "
                "pandas Series are only for 1D data. Use .xarray() instead."
            )
        name = f"{self.source}/{self.key}"
        if self.is_control and name.endswith(".value"):
            name = name[: -len(".value")]
        index = pd.Index(self.train_id_coordinates(), name="trainId")
        return pd.Series(self.ndarray(), name=name, index=index)

    def as_single_value(self, rtol=1e-5, atol=0.0, reduce_by=None):
        """One value standing for all entries, if they agree within tolerances.

        Numeric data is reduced by *reduce_by* (default ``'median'``; a NumPy function name
        applied along the first axis, ``'first'``, or a callable taking the array) and every
        entry must satisfy ``numpy.allclose(entry, value, rtol, atol)``. Other data (strings)
        must have a single unique value. Raises ValueError otherwise, or when there is no data.
        """
        data = self.ndarray()
        if len(data) == 0:
            raise ValueError(
                f"No data for {self.source} {self.key} in the selected trains; check "
                ".data_counts() or select other trains."
            )
        if not np.issubdtype(data.dtype, np.number):
            if reduce_by is not None:
                raise TypeError("reduce_by is only supported for numeric data")
            unique = np.unique(data, axis=None)
            if len(unique) > 1:
                raise ValueError(
                    f"{self.source} {self.key} has several values: {unique[:10]}"
                )
            return unique[0]
        if reduce_by is None:
            reduce_by = "median"
        if callable(reduce_by):
            value = reduce_by(data)
        elif reduce_by == "first":
            value = data[0]
        elif isinstance(reduce_by, str) and callable(getattr(np, reduce_by, None)):
            value = getattr(np, reduce_by)(data, axis=0)
        else:
            raise ValueError(
                f"reduce_by must be a callable, a NumPy function name or 'first', not {reduce_by!r}"
            )
        if not np.allclose(data, value, rtol=rtol, atol=atol):
            adev = float(np.max(np.abs(data - value)))
            with np.errstate(divide="ignore", invalid="ignore"):
                rdev = float(np.max(np.abs(adev / value)))
            raise ValueError(
                f"{self.source} {self.key} values are not within tolerance (absolute "
                f"deviation {adev:.3g}, relative {rdev:.3g}); pass larger rtol/atol or read "
                "the data with .ndarray()."
            )
        return value

    def run_value(self):
        """The value of this control key at the start of the run (RUN section)."""
        return run_value(self.files[0] if self.files else None, self.source, self.key)

def _as_str(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "surrogateescape")
    if isinstance(v, np.ndarray):
        return _as_str(v.flat[0]) if v.size else ""
    return str(v)


def _group_by_file(chunks):
    """Group chunks by file, keeping output order (consecutive chunks of one file together)."""
    groups = []
    for c in chunks:
        if groups and groups[-1][0] is c.cat:
            groups[-1][1].append(c)
        else:
            groups.append((c.cat, [c]))
    return groups
