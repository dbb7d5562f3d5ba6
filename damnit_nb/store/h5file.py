"""The per-run HDF5 file `extracted_data/p{proposal}_r{run}.h5`, in DAMNIT's layout.

- `/.reduced/<name>`: the summary, attrs summary_method, summary_type, max_diff, units, bold,
  background; `/.errors/<name>`: the error message, attr `type` (the exception class name);
  `/.preview/<name>`: preview data.
- `/<name>/data` for plain values; xarray objects as NetCDF4 groups (via h5netcdf) with the
  group attr `_damnit_objtype` = "dataarray" | "dataset".
- Ours, ignored by DAMNIT: the root attribute `damnit_nb_used_bytes`, the bytes the file's
  objects take (the rest of the file is space that replaced variables left unused).

Writing: `begin_write`, then `RunFileWrite.commit()` or `.abort()`, all under
`run_file_lock`; everything stored for a name being written (data, summary, preview, error)
is replaced, other variables are kept.

- An existing file is changed in place, through h5py's file-object driver and a
  `journal.JournaledFile`: before bytes the file held are overwritten they are saved in the
  journal `.p{proposal}_r{run}.h5.journal` next to it (new objects are appended at its end
  and need no saving), so storing one value costs the same in a file of 1 MB or 100 MB.
  Replaced variables' objects are deleted first; HDF5 does not reuse their space in later
  writes, so the file counts what its objects take (`damnit_nb_used_bytes`), and once the
  rest is over half the file (and over `COMPACT_MIN` bytes) a commit rewrites the file
  compactly. While changed, the file is held with an exclusive flock, the lock HDF5 takes
  (shared) to read a file: readers using HDF5's file locking wait instead of reading half a
  change (ours, `open_run_file`, take a shared flock of their own, so they wait even where
  HDF5's locking is turned off).
- A new file, or one that another program keeps open for over `LOCK_WAIT` seconds, is written
  whole under a temporary name (`p..._r....h5.<token>.writing.h5`, not matching DAMNIT's
  fragment pattern `*.ready.h5`), copying what the old file holds for other variables, with a
  journal of kind "replace" naming it; commit renames it into place.
- commit deletes the journal (after the rename); abort rolls the file back (or deletes the
  temporary file) and deletes the journal: a write that fails changes nothing. A writer
  killed in between leaves its journal: `recover_run_file`, called by the next writer and by
  readers before they read, asks whether the write's token was committed (`Database`
  records it in the SQLite transaction that stores the values) and rolls the write forward
  if so, back if not; so the run file and the database agree after any crash.
"""

from __future__ import annotations

import errno
import logging
import numbers
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from secrets import token_hex

import numpy as np

from . import faults
from .journal import JOURNAL_SUFFIX, JournaledFile, recover, write_replace_journal

__all__ = [
    "run_file_path", "journal_path", "run_file_lock", "recover_run_file", "open_run_file",
    "begin_write", "RunFileWrite", "write_run_file", "read_data", "load_netcdf", "share",
    "OBJTYPE_ATTR", "USED_ATTR",
]

log = logging.getLogger(__name__)

OBJTYPE_ATTR = "_damnit_objtype"
USED_ATTR = "damnit_nb_used_bytes"
SPECIAL_GROUPS = (".reduced", ".preview", ".errors")
_NETCDF_TYPES = ("dataarray", "dataset")
LOCK_WAIT = 1.0  # seconds an in-place write waits for readers to close the file
READ_WAIT = 30.0  # seconds a reader waits for a writer changing the file in place
COMPACT_MIN = 1 << 20  # bytes of unused space below which a file is never rewritten


def _open(path, mode):
    """h5py.File with HDF5 file locking where the file system supports it.

    Locks keep us from reading a file another program (DAMNIT's combiner, our own writer)
    is changing in place; "best-effort" still works on network file systems without lock
    support.
    """
    import h5py

    try:
        return h5py.File(path, mode, locking="best-effort")
    except ValueError:  # HDF5 built without the locking options
        return h5py.File(path, mode)


@contextmanager
def open_run_file(path):
    """The run file opened for reading (an h5py.File, in a with statement), waiting while
    a writer changes it in place.

    Holds a shared flock of its own while open, so it waits for our writers even where
    HDF5's file locking is turned off (HDF5_USE_FILE_LOCKING=FALSE, as often on GPFS).
    Raises BlockingIOError if the file stays locked for READ_WAIT seconds.
    """
    deadline = time.monotonic() + READ_WAIT
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            import fcntl

            _poll_lock(lambda: fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB), deadline,
                       f"{path} stayed locked by a writer for {READ_WAIT} s.")
        except ImportError:
            pass
        except TimeoutError as exc:
            raise BlockingIOError(errno.EAGAIN, str(exc)) from None
        except OSError as exc:  # a file system without flock: as HDF5's "best-effort"
            if exc.errno not in (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
        delay = 0.001
        while True:  # another program may hold HDF5's own lock (DAMNIT's combiner)
            try:
                f = _open(path, "r")
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(2 * delay, 0.05)
        with f:
            yield f
    finally:
        os.close(fd)


def share(path, directory=False):
    """Make a file (or directory) we created writable by the proposal's other users.

    As DAMNIT does (0o666 files, 0o777 directories): its backend, its GUIs and notebooks run
    as different users of one proposal, whose directory is protected as a whole. Only done
    for what we own; failures (e.g. file systems without modes) are ignored.
    """
    try:
        if Path(path).stat().st_uid == os.getuid():
            os.chmod(path, 0o777 if directory else 0o666)
    except OSError:
        pass


def run_file_path(db_dir, proposal, run) -> Path:
    """Where DAMNIT keeps the HDF5 file of one run."""
    return Path(db_dir, "extracted_data", f"p{proposal}_r{run}.h5")


def journal_path(path) -> Path:
    """The journal of a write to the run file at `path` (there while one is under way)."""
    path = Path(path)
    return path.with_name(f".{path.name}{JOURNAL_SUFFIX}")


_FILE_LOCKS = {}  # run file path -> [threading.Lock, users], while some thread uses it
_FILE_LOCKS_GUARD = threading.Lock()


@contextmanager
def run_file_lock(path, timeout=None):
    """Hold a run file against other writers while its data is written and recorded.

    Threads of this process queue on a lock per file; other processes (another kernel, on
    this host or another) on a POSIX record lock of a hidden sidecar file next to it
    (``.p{proposal}_r{run}.h5.lock``; record locks work across hosts on GPFS and NFS). So
    two writers of one run never lose each other's variables, and the HDF5 file and the
    database agree on whose value is the last. Raises TimeoutError if the lock is not had
    within `timeout` seconds (None: wait as long as it takes).
    """
    path = Path(path)
    key = str(path.resolve())
    deadline = None if timeout is None else time.monotonic() + timeout
    with _FILE_LOCKS_GUARD:  # an entry lives while threads use it: a beamtime's runs
        entry = _FILE_LOCKS.setdefault(key, [threading.Lock(), 0])  # leave none behind
        entry[1] += 1
    try:
        with _held(entry[0], timeout, path):
            yield from _record_locked(path, deadline)
    finally:
        with _FILE_LOCKS_GUARD:
            entry[1] -= 1
            if not entry[1]:
                del _FILE_LOCKS[key]


@contextmanager
def _held(lock, timeout, path):
    if not lock.acquire(timeout=-1 if timeout is None else timeout):
        raise TimeoutError(f"{path} is being written by another thread of this process.")
    try:
        yield
    finally:
        lock.release()


def _record_locked(path, deadline):
    """(A generator for ``run_file_lock``.) Hold the record lock of ``path``'s sidecar
    file, trying until ``deadline`` (monotonic seconds; None: as long as it takes)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the in-process lock is all there is
        yield
        return
    lock_path = path.with_name(f".{path.name}.lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:  # a read-only directory: writing the run file fails anyway
        yield
        return
    try:
        if deadline is None:
            fcntl.lockf(fd, fcntl.LOCK_EX)
        else:
            _poll_lock(lambda: fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB), deadline,
                       f"{path} is being written by another process ({lock_path} is "
                       "locked).")
        yield
    finally:
        os.close(fd)  # releases the record lock


def _poll_lock(try_lock, deadline, message):
    delay = 0.001
    while True:
        try:
            try_lock()
            return
        except (BlockingIOError, PermissionError):  # lockf: EAGAIN or EACCES when held
            if time.monotonic() >= deadline:
                raise TimeoutError(message) from None
            time.sleep(delay)
            delay = min(2 * delay, 0.05)


def _flock(fd, timeout):
    """Take the exclusive flock HDF5 readers respect; False if not had in time."""
    try:
        import fcntl
    except ImportError:
        return True
    try:
        _poll_lock(lambda: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB),
                   time.monotonic() + timeout, "")
    except TimeoutError:
        return False
    except OSError:  # a file system without flock: as HDF5's "best-effort"
        return True
    return True


def recover_run_file(path, committed, timeout=None):
    """Finish or undo a write to the run file that its writer did not (killed midway).

    Call it holding `run_file_lock`. committed(token) -> bool says whether the write of that
    token was committed (its values are in the database): then it is kept (a replacement
    renamed into place), otherwise rolled back. True if there was such a write.
    """
    path = Path(path)
    journal = journal_path(path)
    if not journal.exists():
        return False
    return recover(journal, path, committed,
                   lock=lambda fd: _flock(fd, READ_WAIT if timeout is None else timeout))


class RunFileWrite:
    """A write to a run file, done but not yet committed: `commit()` keeps it, `abort()`
    undoes it. `stored`: the results as stored (one HDF5 could not hold became its error);
    `token`: names the write (for `recover_run_file`'s committed); `in_place`: whether the
    file was changed in place (else a new file replaces it)."""

    def __init__(self, path, token, stored, file=None, replacement=None, used=0):
        self.path = path
        self.token = token
        self.stored = stored
        self.in_place = file is not None
        self._file = file
        self._replacement = replacement
        self._used = used
        self._done = False

    def commit(self):
        """Keep the write: the journal is deleted (a replacement renamed into place first).

        A file left with much unused space is then rewritten compactly; if that fails
        (e.g. no space for a second copy) it stays as it is, with a warning in the log.
        """
        if self._done:
            return
        self._done = True
        journal = journal_path(self.path)
        if self._file is not None:
            try:
                journal.unlink()
                size = os.fstat(self._file.fileno()).st_size
            finally:
                self._file.close()  # releases the flock
            faults.reached("finished")
            unused = size - self._used
            if unused > COMPACT_MIN and unused > size / 2:
                try:
                    begin_write(self.path, [], in_place=False).commit()
                except Exception:
                    log.warning("Could not rewrite %s to free its %d unused bytes; it is "
                                "kept as it is", self.path, unused, exc_info=True)
        else:
            os.replace(self._replacement, self.path)
            journal.unlink()
            faults.reached("finished")

    def abort(self):
        """Undo the write: the file is as it was before `begin_write`. If undoing fails
        (an I/O error), the journal stays and the next `recover_run_file` undoes it."""
        if self._done:
            return
        self._done = True
        try:
            if self._file is not None:
                self._file.roll_back()
            else:
                Path(self._replacement).unlink(missing_ok=True)
                journal_path(self.path).unlink(missing_ok=True)
        except OSError:
            log.warning("Could not undo a write to %s; the next write or read undoes it",
                        self.path, exc_info=True)


def begin_write(path, results, *, in_place=True) -> RunFileWrite:
    """Write PreparedResults into the run file at `path`, keeping other variables' data;
    returns the write, to be committed or aborted.

    Call it holding `run_file_lock`, after `recover_run_file`. A result that HDF5/NetCDF
    cannot hold is stored as its error instead (the others are still written). Raises only
    if the file itself cannot be written (then nothing changed); an OSError of the file
    system is raised as itself, whatever h5py made of it. in_place=False writes the file
    whole even if it exists (leaving no unused space).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = token_hex(8)
    if in_place and path.exists():
        write = _write_in_place(path, results, token)
        if write is not None:
            return write
    return _rewrite(path, results, token)


def write_run_file(path, results, *, in_place=True):
    """Write PreparedResults into the run file at `path` and commit at once; returns the
    results as stored. For a run file of no database: a write left unfinished is undone.
    in_place as for `begin_write`."""
    path = Path(path)
    with run_file_lock(path):
        recover_run_file(path, lambda token: False)
        write = begin_write(path, results, in_place=in_place)
        write.commit()
    return write.stored


def _write_in_place(path, results, token):
    """The write done in the file itself, or None if another program holds the file."""
    jfile = JournaledFile(path, journal_path(path), token)
    try:
        if not _flock(jfile.fileno(), LOCK_WAIT):
            jfile.close()
            journal_path(path).unlink()
            return None
        stored, used = _write_into(jfile, results, in_place=True)
        if jfile.failure is not None:
            raise jfile.failure
    except BaseException as exc:
        try:
            jfile.roll_back()
        except OSError:
            log.warning("Could not undo a failed write to %s; the next write or read "
                        "undoes it", path, exc_info=True)
        if jfile.failure is not None and exc is not jfile.failure:
            raise jfile.failure from exc
        raise
    faults.reached("run-file-written")
    return RunFileWrite(path, token, stored, file=jfile, used=used)


def _rewrite(path, results, token):
    """The write done as a new file under a temporary name, copying the old one's other
    variables (all of them, to compact it, when results is empty)."""
    # Not matching DAMNIT's fragment pattern (*.ready.h5), so its combiner ignores it.
    tmp = path.with_name(f"{path.name}.{token}.writing.h5")
    journal = journal_path(path)
    write_replace_journal(journal, token, tmp)
    jfile = None
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        jfile = JournaledFile(tmp, None, token)
        stored, _ = _write_into(jfile, results, old_path=path if path.exists() else None)
        if jfile.failure is not None:
            raise jfile.failure
        jfile.close()
        share(tmp)
    except BaseException as exc:
        if jfile is not None:
            jfile.close()
        tmp.unlink(missing_ok=True)
        journal.unlink(missing_ok=True)
        if jfile is not None and jfile.failure is not None and exc is not jfile.failure:
            raise jfile.failure from exc
        raise
    faults.reached("run-file-written")
    return RunFileWrite(path, token, stored, replacement=tmp)


def _write_into(target, results, in_place=False, old_path=None):
    """Write results into the HDF5 file object `target` (a new, empty file unless
    in_place; then old_path's other variables are copied into it). Returns the results as
    stored and, in place, the bytes the file's objects now take (USED_ATTR)."""
    import h5py

    replaced = {r.name for r in results}
    stored = {r.name: r for r in results}
    kept = []  # other variables' NetCDF groups (group path, object, objtype), rewritten
    netcdf = []  # (name, group path, object, objtype) of new results
    used = None
    with h5py.File(target, "r+" if in_place else "w") as f:
        for group in SPECIAL_GROUPS:
            f.require_group(group)
        if in_place:
            # A file without the count (new, compacted, or DAMNIT's) is taken as all used.
            used = int(f.attrs.get(USED_ATTR, target.original_size))
            for name in replaced:
                for obj_path, size in _objects_of(f, name):
                    used -= size
                    f.id.unlink(obj_path.encode())
        elif old_path is not None:
            with open_run_file(old_path) as old:
                f.attrs.update({k: v for k, v in old.attrs.items() if k != USED_ATTR})
                kept += _copy_others(old, f, replaced)
        for result in results:
            try:
                netcdf += [(result.name, *item) for item in _write_result(f, result)]
            except Exception as exc:
                if target.failure is not None:
                    raise
                stored[result.name] = _record_failure(f, result, exc)
        if in_place:
            used += sum(size for name in replaced for _, size in _objects_of(f, name))
            f.attrs[USED_ATTR] = used
    objtypes = {}
    for group_path, obj, objtype in kept:
        _write_netcdf(target, group_path, obj)
        objtypes[group_path] = objtype
    added = set()  # NetCDF groups of the results
    for name, group_path, obj, objtype in netcdf:
        if stored[name].is_error:
            continue
        try:
            _write_netcdf(target, group_path, obj)
            objtypes[group_path] = objtype
            added.add(group_path)
        except Exception as exc:
            if target.failure is not None:
                raise
            for path in (name, f".preview/{name}"):
                objtypes.pop(path, None)
                added.discard(path)
            with h5py.File(target, "r+") as f:
                stored[name] = _record_failure(f, stored[name], exc)
    if objtypes:
        with h5py.File(target, "r+") as f:
            for group_path, objtype in objtypes.items():
                f[group_path].attrs[OBJTYPE_ATTR] = objtype
            if in_place and added:
                used += sum(_bytes_at(f, p) for p in added)
                f.attrs[USED_ATTR] = used
    return [stored[r.name] for r in results], used


def _objects_of(f, name):
    """(path, bytes in the file) of what the file holds for a variable (data group,
    summary, preview, error): see `_bytes_at`."""
    found = []
    for path in (name, *(f"{g}/{name}" for g in SPECIAL_GROUPS)):
        size = _bytes_at(f, path)
        if size is not None:
            found.append((path, size))
    return found


def _bytes_at(f, path):
    """Bytes the object at `path` and everything under it take in the file (object headers,
    group indexes and heaps, attributes, dataset storage), or None if there is none.
    Low-level calls: this runs for every object a write replaces."""
    from h5py import h5d, h5o

    def size(info, name):
        meta = info.meta_size
        total = (info.hdr.space.total + meta.obj.index_size + meta.obj.heap_size
                 + meta.attr.index_size + meta.attr.heap_size)
        if info.type == h5o.TYPE_DATASET:
            total += h5d.open(f.id, name).get_storage_size()
        return total

    name = path.encode()
    if not f.id.links.exists(name):  # the special groups are always there
        return None
    info = h5o.get_info(f.id, name)
    total = size(info, name)
    if info.type == h5o.TYPE_GROUP:
        def add(member, member_info):
            nonlocal total
            total += size(member_info, name + b"/" + member)

        h5o.visit(f.id, add, obj_name=name, info=True)
    return total


def _record_failure(f, result, exc):
    """Remove what was written for result and store the error instead; return it."""
    from .results import PreparedResult

    _delete(f, result.name)
    failed = PreparedResult(
        name=result.name, error=f"The result could not be saved: {exc}",
        error_cls=type(exc).__name__)
    _write_result(f, failed)
    return failed


def _delete(f, name):
    f.pop(name, None)
    for group in SPECIAL_GROUPS:
        f.pop(f"{group}/{name}", None)


def _copy_others(old, new, replaced):
    """Copy everything for names not being replaced; return the NetCDF groups to rewrite."""
    import h5py

    pending = []
    items = [(name, name) for name in old if not name.startswith(".")]
    for group in SPECIAL_GROUPS:
        if group in old:
            items += [(name, f"{group}/{name}") for name in old[group]]
    for name, obj_path in items:
        if name in replaced:
            continue
        obj = old[obj_path]
        objtype = obj.attrs.get(OBJTYPE_ATTR, "")
        if isinstance(objtype, bytes):
            objtype = objtype.decode()
        if isinstance(obj, h5py.Group) and objtype in _NETCDF_TYPES:
            # HDF5's object copy breaks NetCDF dimension scales across files: reload instead.
            pending.append((obj_path, load_netcdf(old, obj_path, objtype), objtype))
        else:
            old.copy(obj_path, new, obj_path)
    return pending


def load_netcdf(f, group, objtype):
    """An xarray object ("dataarray" or "dataset") loaded from a NetCDF4 group of the open
    h5py file `f`, without our `_damnit_*` attributes."""
    import xarray as xr

    load = xr.load_dataarray if objtype == "dataarray" else xr.load_dataset
    obj = load(f, group=group, engine="h5netcdf")
    obj.attrs = {k: v for k, v in obj.attrs.items() if not k.startswith("_damnit_")}
    return obj


def _netcdf_safe(obj):
    """A copy that NetCDF4 can hold: no '/' in names (as DAMNIT: '/' -> '_'), attribute
    values as strings, numbers or arrays (None dropped, bools as ints, others as str)."""
    import xarray as xr

    def fix_attrs(attrs):
        fixed = {}
        for key, value in attrs.items():
            if value is None:
                continue
            if isinstance(value, (bool, np.bool_)):
                value = int(value)
            elif isinstance(value, (str, bytes, numbers.Number, np.generic)):
                pass
            elif isinstance(value, (list, tuple, np.ndarray)):
                arr = np.asarray(value)
                value = arr if arr.dtype.kind in "iufcSU" and arr.ndim == 1 else str(value)
            else:
                value = str(value)
            fixed[str(key).replace("/", "_")] = value
        return fixed

    if isinstance(obj, xr.DataArray):
        if isinstance(obj.name, str) and "/" in obj.name:
            obj = obj.rename(obj.name.replace("/", "_"))
    renames = {n: n.replace("/", "_") for n in [*obj.coords, *obj.dims]
               if isinstance(n, str) and "/" in n}
    if isinstance(obj, xr.Dataset):
        renames.update({n: n.replace("/", "_") for n in obj.data_vars
                        if isinstance(n, str) and "/" in n})
    obj = obj.rename(renames) if renames else obj.copy(deep=False)
    obj.attrs = fix_attrs(obj.attrs)
    for var in obj.coords.values():
        var.attrs = fix_attrs(var.attrs)
    if isinstance(obj, xr.Dataset):
        for var in obj.data_vars.values():
            var.attrs = fix_attrs(var.attrs)
    return obj


def _write_netcdf(target, group, obj):
    """Write an xarray object as a NetCDF4 group into the HDF5 file object `target`."""
    _netcdf_safe(obj).to_netcdf(target, mode="a", group=group, engine="h5netcdf")


def _is_xarray(obj):
    import sys

    xr = sys.modules.get("xarray")
    if xr is None:
        return None
    if isinstance(obj, xr.DataArray):
        return "dataarray"
    if isinstance(obj, xr.Dataset):
        return "dataset"
    return None


def _write_result(f, result):
    pending = []
    if result.is_error:
        ds = f.create_dataset(f".errors/{result.name}", data=result.error)
        ds.attrs["type"] = result.error_cls
        return pending

    summary = result.summary
    if isinstance(summary, bytes):  # PNG thumbnail: stored as uint8 bytes
        summary = np.frombuffer(summary, dtype=np.uint8)
    ds = f.create_dataset(f".reduced/{result.name}", data=summary)
    attrs = {"summary_method": result.summary_method or ""}
    if result.summary_type:
        attrs["summary_type"] = result.summary_type
    if result.max_diff is not None:
        attrs["max_diff"] = result.max_diff
    for key, value in result.attributes.items():
        if key == "background":
            value = np.asarray(value, dtype=np.uint8)
        attrs[key] = value
    ds.attrs.update(attrs)

    if result.preview is not None:
        objtype = _is_xarray(result.preview)
        if objtype:
            pending.append((f".preview/{result.name}", result.preview, objtype))
        else:
            f[f".preview/{result.name}"] = np.asarray(result.preview)
            if result.preview_type:
                f[f".preview/{result.name}"].attrs[OBJTYPE_ATTR] = result.preview_type

    if result.data is not None:
        objtype = _is_xarray(result.data)
        if objtype:
            pending.append((result.name, result.data, objtype))
        else:
            group = f.create_group(result.name)
            group["data"] = result.data
            if result.data_type:
                group.attrs[OBJTYPE_ATTR] = result.data_type
    return pending


def read_data(path, name):
    """Read one variable's full data back: str, number, numpy array or xarray object.

    Raises KeyError if the file holds no data for the name.
    """
    import h5py

    with open_run_file(path) as f:
        if name not in f:
            raise KeyError(f"No data for {name!r} in {path}: see the table for its error, "
                           "if any.")
        group = f[name]
        objtype = group.attrs.get(OBJTYPE_ATTR, "")
        if isinstance(objtype, bytes):
            objtype = objtype.decode()
        if objtype not in _NETCDF_TYPES:
            dset = group["data"]
            if h5py.check_string_dtype(dset.dtype) is not None:
                if dset.ndim == 0:
                    return dset[()].decode("utf-8", "surrogateescape")
                return dset.asstr("utf-8", "surrogateescape")[()]
            return dset[()]
        return load_netcdf(f, name, objtype)
