"""Reading inside one run file, below :class:`~.key.KeyData` and :class:`~.source.SourceData`.

The keys a source's group lists (:func:`list_keys`, memoised per file), its RUN values
(:func:`run_keys`, :func:`run_value`, :func:`run_values`), HDF5 strings decoded
(:func:`decode_strings`), attributes (:func:`read_attributes`), and read errors reported
naming the file (:func:`reading`).
"""

from __future__ import annotations

import codecs
import threading
from contextlib import contextmanager

import numpy as np

from .catalogue import FrozenMap
from .exceptions import FileFormatError, PropertyNameError
from .files import open_file

__all__ = [
    "reading",
    "decode_strings",
    "read_attributes",
    "list_keys",
    "forget_key_lists",
    "run_keys",
    "run_value",
    "run_values",
]

# h5py decodes HDF5 string types as ASCII: look the codec up (an import) with this module
# rather than at the first attribute read.
codecs.lookup("ascii")

_keys_lock = threading.Lock()
_keys_cache = {}  # (path, size, mtime, section, stored source) -> {key: dataset path}
_KEYS_CACHE_MAX = 4096


@contextmanager
def reading(cat, dataset):
    """Report problems reading *dataset* of the file *cat* as errors naming the file."""
    try:
        yield
    except FileFormatError:
        raise
    except KeyError as e:
        raise FileFormatError(
            cat.path,
            f"no dataset {dataset} ({e})",
            "The key may be missing from this file only (select the trains of other files), "
            "or the file is still being written (try again later).",
        ) from e
    except (OSError, RuntimeError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise FileFormatError(
            cat.path,
            f"cannot read {dataset} ({e})",
            "The file may be incomplete or damaged: if it is still being written, try again "
            "later; otherwise move it out of the run directory.",
        ) from e


def decode_strings(arr):
    """Object arrays of bytes (HDF5 variable-length strings) -> object arrays of str."""
    if arr.dtype.hasobject and arr.dtype.names is None:
        flat = [x.decode("utf-8", "surrogateescape") if isinstance(x, bytes) else x for x in arr.flat]
        out = np.empty(arr.shape, dtype=object)
        out.flat[:] = flat
        return out
    return arr


def read_attributes(f, path, names=None, *, parent=False):
    """``{name: value}`` of the attributes of the object *path* in the open file *f*, as
    ``h5py`` reads them (``dict(f[path].attrs)``); with *names*, only those of them that exist
    (the others are not read). With *parent*, the parent group's attributes override the
    object's (Karabo keeps most of a control key's attributes on its group, as EXtra-data
    reads them)."""
    obj = f[path]
    objs = [obj, obj.parent] if parent else [obj]
    attrs = {}
    for o in objs:
        if names is None:
            attrs.update(o.attrs)
        else:
            found = o.attrs
            attrs.update((n, found[n]) for n in names if n in found)
    return attrs


def list_keys(cat, section, source):
    """Keys of *source* in *section* of the file *cat* describes: ``{key: dataset path}``.

    Keys are the dataset paths relative to the source group with ``/`` replaced by ``.``.
    Empty when the file has no such group. Lists are memoised per file (path, size, mtime).
    """
    import h5py

    stored = cat.resolve(source)
    ck = (cat.path, cat.size, cat.mtime, section, stored)
    with _keys_lock:
        hit = _keys_cache.get(ck)
    if hit is not None:
        return hit

    names = []

    def visit(name, info):
        if info.type == h5py.h5o.TYPE_DATASET:
            names.append(name.decode() if isinstance(name, bytes) else name)

    with open_file(cat.path) as f, reading(cat, f"{section}/{stored}"):
        grp = f.get(f"{section}/{stored}")
        if isinstance(grp, h5py.Group):
            h5py.h5o.visit(grp.id, visit, info=True)
    keys = FrozenMap({n.replace("/", "."): n for n in names})
    if cat.is_current():  # a file changing meanwhile may have shown only some keys
        with _keys_lock:
            if len(_keys_cache) >= _KEYS_CACHE_MAX:
                _keys_cache.clear()
            _keys_cache[ck] = keys
    return keys


def forget_key_lists():
    """Drop the memoised key lists (they are listed from the files again when asked)."""
    with _keys_lock:
        _keys_cache.clear()


def run_keys(cat, source):
    """``{key: dataset path}`` of *source* in the RUN section of the file *cat* (or None:
    no file). Raises ValueError if the file has no RUN values for *source*."""
    keys = list_keys(cat, "RUN", source) if cat is not None else {}
    if not keys:
        exists = False
        if cat is not None:
            with open_file(cat.path) as f:
                exists = f"RUN/{cat.resolve(source)}" in f
        if not exists:
            raise ValueError(
                f"{source} has no RUN values (only control sources have them); "
                "read its data with run[source, key] instead."
            )
    return keys


def run_value(cat, source, key):
    """The RUN value of a control *key* (with or without ``.value``) of *source* in *cat*.

    Raises ValueError for a source with nothing in RUN, :class:`PropertyNameError` for a key
    RUN lacks.
    """
    keys = run_keys(cat, source)
    full = key
    if full not in keys:
        full = f"{key}.value"
        if full not in keys:
            available = {k[: -len(".value")] for k in keys if k.endswith(".value")}
            raise PropertyNameError(key, source, available, hint=(
                "See run[source].run_keys() for the keys recorded in RUN."))
    path = f"RUN/{cat.resolve(source)}/{keys[full]}"
    with open_file(cat.path) as f, reading(cat, path):
        value = f[path][0]
    return _scalar(value)


def run_values(cat, source, inc_timestamps=True):
    """All RUN values of *source* in *cat* as a dict (key -> value); ``.value`` stripped and
    timestamps left out with ``inc_timestamps=False``."""
    paths = run_keys(cat, source)
    keys = set(paths)
    if not inc_timestamps:
        keys = {k for k in keys if k.endswith(".value")}
    out = {}
    with open_file(cat.path) as f, reading(cat, f"RUN/{cat.resolve(source)}"):
        grp = f[f"RUN/{cat.resolve(source)}"]
        for k in sorted(keys):
            value = _scalar(grp[paths[k]][0])
            if not inc_timestamps:
                k = k[: -len(".value")]
            out[k] = value
    return out


def _scalar(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, np.ndarray):
        return decode_strings(value)
    return value
