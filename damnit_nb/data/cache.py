"""A persistent cache of file catalogues, one file per run directory.

Opening a run reads a few small datasets from every file; for a run opened again (the
engine re-reads runs, users reopen them) this cache gives the catalogues from one small file
in the user's cache directory instead. An entry is used only while its file keeps the size
and mtime recorded with it, so changed or new files are read again.

Catalogues read their INDEX arrays, flags and timestamps lazily (see
:mod:`.catalogue`); what they read is added to the cache afterwards (:func:`save_loaded`,
called by the readers), so a source read once is located without opening files next time.

Cache location: ``$DAMNIT_NB_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/damnit_nb`` or
``~/.cache/damnit_nb``; inside it ``catalogues/<hash of the run directory>.cat``. Each file
holds a magic string, the length of a JSON manifest, the manifest, and one uint64 array with
all arrays concatenated (padded to 8 bytes): a table with a row of numbers per file, the
train IDs and what was read lazily. What files have in common (sources, index groups, format
version) is stored once in the manifest. Loading is one read, no copy, few objects. Run metadata
is not stored: catalogues read it from their file when asked. Writing goes to a temporary
file renamed into place, so readers never see a partial cache; a cache that cannot be read
or written is ignored. Raw data is never written: the cache lives outside run directories.

What is queued is written before the process exits, so the next process opens warm: at
interpreter exit (``atexit``) and at the end of a ``multiprocessing`` child (which leaves
through ``os._exit``), waiting at most ``EXIT_FLUSH_SECONDS``, so an exit never hangs on a
slow or broken cache directory. A process that ends otherwise (killed, or ``os._exit``
elsewhere) should call :func:`flush` first, e.g. when a worker finishes a task.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import os.path as osp
import sys
import tempfile
import threading
import time
from functools import partial

import numpy as np

from .catalogue import NOT_LOADED, FileCatalogue, FrozenMap

__all__ = ["CatalogueCache", "cache_dir", "save_loaded", "flush", "CACHE_DIR_ENV",
           "EXIT_FLUSH_SECONDS"]

CACHE_DIR_ENV = "DAMNIT_NB_CACHE_DIR"
_FORMAT = 4
_MAGIC = b"DNBCAT02"
#: Files modified this recently may still be written to: their entries are not stored.
SETTLE_SECONDS = 2.0
#: At exit, queued writes are waited for at most this long (seconds).
EXIT_FLUSH_SECONDS = 5.0


def cache_dir():
    """The damnit_nb cache directory (see the module docstring)."""
    d = os.environ.get(CACHE_DIR_ENV)
    if d:
        return d
    base = os.environ.get("XDG_CACHE_HOME") or osp.join(osp.expanduser("~"), ".cache")
    return osp.join(base, "damnit_nb")


#: Columns of the per-file table (uint64; ``_NONE`` where a part is not stored).
_COLUMNS = ("size", "layout", "n_raw", "train_ids", "n_trains", "keep", "flag", "timestamps",
            "first_train")
_NONE = 2**64 - 1  # not loaded (flag, timestamps) or not needed (keep)
_ABSENT = 2**64 - 2  # timestamps: the file has none


def _pack(cats):
    """(manifest dict, blob array) for a list of catalogues (their loaded parts only).

    What files share (format version, sources, index groups: a run's files of one aggregator
    have the same) is stored once, as a layout each file refers to; each file's numbers are
    one row of a table in the blob, so loading builds few objects.
    """
    parts = []
    offset = 0

    def put(arr, dtype=np.uint64):
        nonlocal offset
        arr = np.ascontiguousarray(arr).astype(dtype, copy=False).view(np.uint64)
        parts.append(arr)
        start = offset
        offset += len(arr)
        return start

    layouts, layout_ids = [], {}
    names, rows, mtimes, index = [], [], [], {}
    for pos, cat in enumerate(cats):
        st = cat.state()
        groups = {s: list(g) for s, g in st["groups"].items()}
        layout = [st["format_version"], sorted(st["control_sources"]),
                  sorted(st["instrument_sources"]), dict(sorted(st["legacy_sources"].items())),
                  dict(sorted(groups.items()))]
        key = json.dumps(layout)
        if key not in layout_ids:
            layout_ids[key] = len(layouts)
            layouts.append(layout)
        tids = st["train_ids"]
        if st["timestamps"] is NOT_LOADED:
            ts = _NONE
        elif st["timestamps"] is None:
            ts = _ABSENT
        else:
            ts = put(st["timestamps"])
        rows.append((
            st["size"], layout_ids[key], st["n_raw"], put(tids), len(tids),
            _NONE if st["keep"] is None else put(st["keep"]),
            _NONE if st["flag"] is NOT_LOADED else put(st["flag"]),
            ts,
            _NONE if not len(tids) else cat.first_train,
        ))
        names.append(osp.basename(st["path"]))
        mtimes.append(st["mtime"])
        loaded = st["index"]
        if loaded:
            index[str(pos)] = {
                src: {g: [put(f), len(f), put(c), len(c)] for g, (f, c) in groups.items()}
                for src, groups in loaded.items()
            }
    table = put(np.array(rows, dtype=np.uint64).reshape(len(rows), len(_COLUMNS)).ravel())
    mtime_ref = put(np.array(mtimes, dtype=np.float64), np.float64)
    blob = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
    manifest = {"format": _FORMAT, "names": names, "layouts": layouts, "table": table,
                "mtimes": mtime_ref, "index": index}
    return manifest, blob


def _unpack(run_dir, manifest, blob):
    """{file name: FileCatalogue} from a manifest and blob."""
    names = manifest["names"]
    n = len(names)
    start = manifest["table"]
    table = blob[start:start + n * len(_COLUMNS)].reshape(n, len(_COLUMNS)).tolist()
    start = manifest["mtimes"]
    mtimes = blob[start:start + n].view(np.float64).tolist()
    layouts = [
        (fv, frozenset(control), frozenset(instrument), FrozenMap(legacy),
         FrozenMap({s: tuple(g) for s, g in groups.items()}))
        for fv, control, instrument, legacy, groups in manifest["layouts"]
    ]
    index = manifest["index"]
    out = {}
    prefix = osp.join(run_dir, "")
    for pos, (name, row, mtime) in enumerate(zip(names, table, mtimes)):
        size, layout, n_raw, tids, n_tids, keep, flag, ts, first = row
        fv, control, instrument, legacy, groups = layouts[layout]
        refs = index.get(str(pos))
        out[name] = FileCatalogue(
            prefix + name,
            size=size,
            mtime=mtime,
            format_version=fv,
            train_ids=blob[tids:tids + n_tids],
            flag=NOT_LOADED if flag == _NONE else blob[flag:flag + n_tids].astype(bool),
            timestamps=(NOT_LOADED if ts == _NONE else None if ts == _ABSENT
                        else blob[ts:ts + n_tids]),
            control_sources=control,
            instrument_sources=instrument,
            legacy_sources=legacy,
            groups=groups,
            n_raw=n_raw,
            keep=None if keep == _NONE else blob[keep:keep + n_raw].astype(bool),
            index_loader=partial(_unpack_index, refs, blob) if refs else None,
            first_train=None if first == _NONE else first,
        )
    return out


def _unpack_index(refs, blob):
    return {
        src: {g: (blob[fo:fo + fn], blob[co:co + cn]) for g, (fo, fn, co, cn) in groups.items()}
        for src, groups in refs.items()
    }


class CatalogueCache:
    """Stored catalogues per run directory, under *directory* (default :func:`cache_dir`)."""

    def __init__(self, directory=None):
        self._directory = directory
        self._lock = threading.Lock()

    @property
    def directory(self):
        return osp.join(self._directory or cache_dir(), "catalogues")

    def path_for(self, run_dir):
        """The cache file for *run_dir*."""
        digest = hashlib.sha1(osp.abspath(run_dir).encode("utf-8", "surrogateescape")).hexdigest()
        return osp.join(self.directory, f"{digest[:24]}.cat")

    def load(self, run_dir):
        """Stored catalogues of *run_dir* as ``{file name: FileCatalogue}`` (maybe stale:
        check each with :meth:`FileCatalogue.is_current`). Empty if nothing usable."""
        _writer.flush(run_dir=osp.abspath(run_dir))
        return self._load(run_dir)

    def _load(self, run_dir):
        path = self.path_for(run_dir)
        try:
            with open(path, "rb") as f:
                data = f.read()
            if data[:8] != _MAGIC:
                return {}
            n = int(np.frombuffer(data, np.uint64, count=1, offset=8)[0])
            manifest = json.loads(data[16:16 + n].decode("utf-8"))
            if manifest.get("format") != _FORMAT or manifest.get("run_dir") != osp.abspath(run_dir):
                return {}
            start = 16 + n + (-n % 8)
            blob = np.frombuffer(data, np.uint64, offset=start)
            cats = _unpack(osp.abspath(run_dir), manifest, blob)
        except (OSError, ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError):
            return {}
        for c in cats.values():
            c.attach(self)
        return cats

    def store(self, run_dir, cats):
        """Store the catalogues of *run_dir* (files still settling are left out).

        The catalogues are attached to this cache: what they read later is added to it by
        :func:`save_loaded`.
        """
        now = time.time()
        for c in cats:
            c.attach(self)
            c.mark_saved()
        cats = [c for c in cats if now - c.mtime > SETTLE_SECONDS]
        manifest, blob = _pack(cats)
        manifest["run_dir"] = osp.abspath(run_dir)
        raw = json.dumps(manifest).encode("utf-8")
        target = self.path_for(run_dir)
        with self._lock:
            try:
                os.makedirs(osp.dirname(target), exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=osp.dirname(target), suffix=".tmp")
                try:
                    with os.fdopen(fd, "wb") as f:
                        f.write(_MAGIC)
                        f.write(np.uint64(len(raw)).tobytes())
                        f.write(raw)
                        f.write(b"\0" * (-len(raw) % 8))
                        f.write(np.ascontiguousarray(blob, dtype="<u8").tobytes())
                    os.replace(tmp, target)
                except BaseException:
                    try:
                        os.unlink(tmp)
                    except OSError:
                        pass
                    raise
            except OSError:
                return False  # a read-only or full cache directory is not an error
        return True

    def update(self, run_dir, cats, previous):
        """Store *cats* (all of *run_dir*'s) unless they add nothing storable to *previous*
        (what :meth:`load` gave). Returns True if the cache file is to be rewritten (by the
        background writer: opening a run never waits for its cache file)."""
        now = time.time()
        for c in cats:
            c.attach(self)

        def signature(cs):
            return {(osp.basename(c.path), c.size, c.mtime) for c in cs if now - c.mtime > SETTLE_SECONDS}

        if signature(cats) == signature(previous):
            return False
        _writer.add(cats, replace=(self, osp.abspath(run_dir)))
        return True

    def save_loaded(self, run_dir, cats):
        """Add what *cats* (catalogues of files in *run_dir*) read since they were stored."""
        with self._lock:
            stored = self._load(run_dir)  # (not load(): this may run in the writer thread)
        merged = dict(stored)
        for c in cats:
            name = osp.basename(c.path)
            prev = stored.get(name)
            if prev is not None and (prev.size, prev.mtime) == (c.size, c.mtime):
                c.absorb(prev)
            merged[name] = c
        return self.store(run_dir, list(merged.values()))

    def clear(self, run_dir=None):
        """Forget one run directory's catalogues, or all."""
        paths = [self.path_for(run_dir)] if run_dir is not None else [
            osp.join(self.directory, n) for n in (os.listdir(self.directory) if osp.isdir(self.directory) else [])
        ]
        for p in paths:
            try:
                os.unlink(p)
            except OSError:
                pass


default_cache = CatalogueCache()


def save_loaded(cats):
    """Store what any of *cats* read lazily (INDEX arrays, flags, timestamps) since they
    came from or went to a catalogue cache, so the next open of the run has it too.

    Called by readers after an operation that may have loaded parts of many catalogues; costs
    nothing when none did. The cache file is written shortly after, by a background thread,
    so reading data never waits for it; :meth:`CatalogueCache.load` (and :func:`flush`) wait
    for pending writes, so this process always finds what it read.
    """
    todo = []
    for c in cats:
        # (Catalogue-like views, e.g. of auxiliary sources, have no cache state: skipped.)
        if getattr(c, "unsaved", False) and c.cache is not None:
            c.mark_saved()  # queued: later loads of this catalogue queue again
            todo.append(c)
    if todo:
        _writer.add(todo)


def flush(timeout=10.0):
    """Wait until the catalogues queued by :func:`save_loaded` (and by opening runs) are
    written, at most *timeout* seconds. True if nothing is left to write, False if some is
    (the time ran out). Called at exit (see the module docstring)."""
    return _writer.flush(timeout)


def _flush_at_exit():
    _writer.flush(EXIT_FLUSH_SECONDS)


class _Writer:
    """The background thread writing what readers loaded, coalesced per run directory."""

    DELAY = 0.05  # seconds to gather the loads of one read before writing

    def __init__(self):
        self._reset()

    def _reset(self):
        # Also in a forked child: the parent's lock may have been held, its thread is gone,
        # and what it queued is the parent's to write.
        self._cond = threading.Condition()
        self._pending = {}  # (id(store), run_dir) -> _Job
        self._busy = 0
        self._urgent = False  # someone waits in flush(): write at once
        self._thread = None

    def add(self, cats, replace=None):
        """Queue *cats* to be merged into their stores; with ``replace=(store, run_dir)``,
        *cats* become that directory's whole entry."""
        with self._cond:
            if replace is not None:
                store, d = replace
                job = self._pending.setdefault((id(store), d), _Job(store, d))
                job.replace = list(cats)
            else:
                for c in cats:
                    d = osp.dirname(c.path)
                    job = self._pending.setdefault((id(c.cache), d), _Job(c.cache, d))
                    job.merge.append(c)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="damnit_nb-catalogue-cache")
                self._thread.start()
                _exit_hook_for_multiprocessing()
            self._cond.notify_all()

    def flush(self, timeout=10.0, run_dir=None):
        """Wait for the queued writes (of *run_dir*, or all); False if some are left."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._busy or any(run_dir is None or job.run_dir == run_dir
                                    for job in self._pending.values()):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                self._urgent = True
                self._cond.notify_all()
                self._cond.wait(remaining)
        return True

    def _run(self):
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                # Let the rest of this read's loads arrive, unless someone is waiting.
                self._cond.wait_for(lambda: self._urgent, timeout=self.DELAY)
                self._urgent = False
                work, self._pending = list(self._pending.values()), {}
                self._busy += 1
            try:
                for job in work:
                    try:
                        job.run()
                    except Exception:  # a cache is an optimisation: never fail for it
                        pass
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()


class _Job:
    """What to write for one run directory of one cache."""

    def __init__(self, store, run_dir):
        self.store = store
        self.run_dir = run_dir
        self.replace = None  # all the directory's catalogues, or None: merge into the file
        self.merge = []  # catalogues that loaded more since they were stored

    def run(self):
        if self.replace is None:
            self.store.save_loaded(self.run_dir, self.merge)
            return
        cats = {osp.basename(c.path): c for c in self.replace}
        for c in self.merge:
            name = osp.basename(c.path)
            if name in cats and cats[name] is not c and (cats[name].size, cats[name].mtime) == (
                    c.size, c.mtime):
                cats[name].absorb(c)
        self.store.store(self.run_dir, list(cats.values()))


_writer = _Writer()
atexit.register(_flush_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_writer._reset)

_mp_hook_pid = None


def _exit_hook_for_multiprocessing():
    """Flush at the end of a multiprocessing child too: it skips atexit (``os._exit``) but
    runs multiprocessing's finalizers, which each child registers afresh."""
    global _mp_hook_pid
    util = sys.modules.get("multiprocessing.util")  # imported in every such child
    if util is None or _mp_hook_pid == os.getpid():
        return
    _mp_hook_pid = os.getpid()
    util.Finalize(None, _flush_at_exit, exitpriority=100)
