"""Open h5py handles, shared and limited in number.

Runs can span hundreds of files and the operating system limits open files, so data files
are opened on demand through one :class:`FileHandleCache`: a thread-safe LRU of read-only
``h5py.File`` handles. When more than ``max_open`` files are open, the least recently used
handle that no reader holds is closed; it is reopened transparently next time.
:meth:`FileHandleCache.release` closes the handles of some files (a collection's, see
``DataCollection.close()``) before the limit is reached. A file whose
size or mtime changed since it was opened (a run still being written) is reopened, so reads
see the new content. A forked child process starts with no handles of its own.

Files are opened with HDF5's default locking, like plain ``h5py.File(path, 'r')``, so other
code in the process can open them too; if that fails because the file is already open in
this process with other locking flags (e.g. a writer using ``locking=False``), or locked by a
process writing it, it is opened without locking; :func:`locked_for_writing` then tells that
the file is being written, so its state is not final (it is neither cached nor warned about).
Empty and truncated files raise :class:`~damnit_nb.data.exceptions.IncompleteFileError`.

Use :func:`open_file` (a context manager on the shared cache) around each read::

    with open_file(path) as f:
        data = f[dataset_path][a:b]
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from contextlib import contextmanager

from .exceptions import FileFormatError, IncompleteFileError

__all__ = [
    "FileHandleCache",
    "open_file",
    "open_h5",
    "read_unchanged",
    "locked_for_writing",
    "default_cache",
]


def _default_limit():
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft > 0:
            return max(16, min(512, soft // 2))
    except (ImportError, ValueError, OSError):
        pass
    return 128


_locked_lock = threading.Lock()
_locked = set()  # paths last found locked by another process (a writer holding them)


def locked_for_writing(path):
    """True if the last time *path* was opened, another process held it locked.

    HDF5 writers lock their files (unless they pass ``locking=False``), so such a file is
    being written: it is read anyway, without locking, but its state is not final.
    """
    with _locked_lock:
        return os.fspath(path) in _locked


def _note_locked(path, locked):
    with _locked_lock:
        if locked:
            _locked.add(path)
        else:
            _locked.discard(path)


_fapls = {}  # locking -> file access property list


def _h5file(path, locking=None):
    """``h5py.File(path, "r")`` (or with ``locking=False``), its file access property list
    made once rather than for every file (runs open hundreds)."""
    import h5py

    fapl = _fapls.get(locking)
    if fapl is None:
        # What h5py.File makes for these arguments.
        fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
        fapl.set_libver_bounds(h5py.h5f.LIBVER_EARLIEST, h5py.h5f.LIBVER_LATEST)
        fapl.set_alignment(1, 1)
        if locking is not None:
            fapl.set_file_locking(locking, ignore_when_disabled=False)
        _fapls[locking] = fapl
    return h5py.File(h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDONLY, fapl=fapl))


def open_h5(path):
    """Open *path* read-only as ``h5py.File``.

    A file locked by a writer is opened without locking (see :func:`locked_for_writing`).
    Raises FileNotFoundError for a missing file, :class:`IncompleteFileError` for an empty or
    truncated one and :class:`FileFormatError` for anything else that is not HDF5.
    """
    path = os.fspath(path)
    try:
        f = _h5file(path)
    except OSError as first:
        # Locked by a writer elsewhere, or opened here with other locking flags.
        locked = any(m in str(first) for m in ("unable to lock file", "file locking flag"))
        if os.path.isfile(path):
            try:
                f = _h5file(path, locking=False)
            except OSError as second:
                if locked:
                    _note_locked(path, True)
                    raise IncompleteFileError(
                        path, f"locked by a process writing it, and not readable yet ({second})"
                    ) from second
            else:
                _note_locked(path, locked)
                return f
        if not os.path.exists(path):
            raise FileNotFoundError(f"No such file: {path}") from first
        try:
            size = os.path.getsize(path)
        except OSError:
            size = None
        if size == 0:
            raise IncompleteFileError(path, "empty file (0 bytes)") from first
        if "truncated file" in str(first):
            raise IncompleteFileError(path, f"truncated ({first})") from first
        raise FileFormatError(path, f"cannot open as HDF5 ({first})") from first
    _note_locked(path, False)
    return f


def _signature(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


class FileHandleCache:
    """LRU cache of open read-only HDF5 files, at most *max_open* at once.

    Handles in use (inside :meth:`handle`) are never closed by eviction; if all open files
    are in use, the limit is exceeded temporarily rather than blocking.
    """

    def __init__(self, max_open=None):
        self.max_open = int(max_open) if max_open else _default_limit()
        self._lock = threading.RLock()
        self._files = OrderedDict()  # path -> h5py.File
        self._sigs = {}  # path -> (size, mtime_ns) when opened
        self._pins = {}  # path -> number of readers holding it
        self._closing = set()  # paths to close when their last reader lets go (release())
        self._pid = os.getpid()

    def __len__(self):
        with self._lock:
            return len(self._files)

    def __contains__(self, path):
        with self._lock:
            return os.fspath(path) in self._files

    @contextmanager
    def handle(self, path):
        """Context manager giving an open ``h5py.File`` for *path*, kept open meanwhile."""
        path = os.fspath(path)
        f = self._acquire(path)
        try:
            yield f
        finally:
            with self._lock:
                n = self._pins.get(path, 1) - 1
                if n:
                    self._pins[path] = n
                else:
                    self._pins.pop(path, None)
                    if path in self._closing:
                        self._drop(path)
                self._evict()

    def _acquire(self, path):
        sig = _signature(path)
        with self._lock:
            if self._pid != os.getpid():
                # A forked child: HDF5 handles inherited from the parent are not usable here.
                self._files, self._sigs, self._pins = OrderedDict(), {}, {}
                self._closing = set()
                self._pid = os.getpid()
            f = self._files.get(path)
            if f is not None and not self._pins.get(path) and (
                not f.id.valid or self._sigs.get(path) != sig
            ):
                # Closed behind our back, or changed on disk since opened: reopen.
                self._drop(path)
                f = None
            if f is not None:
                self._files.move_to_end(path)
                self._closing.discard(path)  # wanted again: kept, like any other handle
            else:
                f = open_h5(path)
                self._files[path] = f
                self._sigs[path] = sig
            self._pins[path] = self._pins.get(path, 0) + 1
            self._evict()
            return f

    def _drop(self, path):
        # Called with the lock held.
        f = self._files.pop(path, None)
        self._sigs.pop(path, None)
        self._closing.discard(path)
        if f is not None:
            try:
                f.close()
            except Exception:  # closing a broken handle must not break reading others
                pass

    def _evict(self):
        # Called with the lock held.
        if len(self._files) <= self.max_open:
            return
        for path in list(self._files):
            if len(self._files) <= self.max_open:
                break
            if self._pins.get(path):
                continue
            self._drop(path)

    def signature(self, path):
        """``(size, mtime_ns)`` of *path* when its open handle was (re)opened or last found
        current: what a reader holding the handle sees. None if it is not open."""
        with self._lock:
            return self._sigs.get(os.fspath(path))

    def close(self, path=None):
        """Close one file's handle (if no reader holds it), or all idle handles."""
        with self._lock:
            paths = [os.fspath(path)] if path is not None else list(self._files)
            for p in paths:
                if not self._pins.get(p):
                    self._drop(p)

    def release(self, paths):
        """Close the handles of *paths*: idle ones now, those in use when their last reader
        is done. Other files' handles are left alone; a released file is opened again when
        next read. Safe to call for files that are not open."""
        with self._lock:
            if self._pid != os.getpid():
                return  # a forked child: the handles are the parent's
            for p in paths:
                p = os.fspath(p)
                if p not in self._files:
                    continue
                if self._pins.get(p):
                    self._closing.add(p)
                else:
                    self._drop(p)


default_cache = FileHandleCache()


def open_file(path):
    """Context manager: an open ``h5py.File`` for *path* from the shared cache."""
    return default_cache.handle(path)


#: A file modified less than this long ago (ns) may be being written.
_RECENT_NS = 10 * 10**9
#: Reads of a file that keeps changing meanwhile are tried this many times.
READ_ATTEMPTS = 3


def read_unchanged(path, read):
    """``read(f)`` on the open file *path*, checked not to overlap a change of the file.

    A file written by another process without SWMR is only consistent between the writer's
    flushes; a read overlapping a write may see part of it, or fail. For a file modified
    recently, the read is repeated (up to ``READ_ATTEMPTS`` times) until size and mtime are
    the same after it as when the handle was (re)opened; otherwise (or if it keeps failing
    while the file changes) :class:`IncompleteFileError`. Errors of a read during which the
    file did not change are raised as they are. Files not modified recently cost no extra
    ``stat``.
    """
    import time

    path = os.fspath(path)
    for attempt in range(READ_ATTEMPTS):
        if attempt:
            time.sleep(0.01 * 4**attempt)  # let a flush in progress finish
        sig = None
        try:
            with default_cache.handle(path) as f:
                sig = default_cache.signature(path)
                result = read(f)
        except (FileFormatError, OSError, KeyError, RuntimeError, ValueError):
            # A read overlapping a write may fail as well as see part of it: try again.
            if sig is None or time.time_ns() - sig[1] > _RECENT_NS or _signature(path) == sig:
                raise
            continue
        if sig is None or time.time_ns() - sig[1] > _RECENT_NS or _signature(path) == sig:
            return result
    raise IncompleteFileError(
        path,
        f"the file changed while it was read ({READ_ATTEMPTS} attempts)",
        "It is being written: try again later, or once it is complete.",
    )
