"""The per-run HDF5 file `extracted_data/p{proposal}_r{run}.h5`, in DAMNIT's layout.

- `/.reduced/<name>`: the summary, attrs summary_method, summary_type, max_diff, units, bold,
  background; `/.errors/<name>`: the error message, attr `type` (the exception class name);
  `/.preview/<name>`: preview data.
- `/<name>/data` for plain values; xarray objects as NetCDF4 groups (via h5netcdf) with the
  group attr `_damnit_objtype` = "dataarray" | "dataset".

A write builds a new file under a temporary name next to the final one, copying what the old
file holds for the other variables, and renames it into place: readers never see half a file,
and recomputing one variable keeps all the others.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from secrets import token_hex

import numpy as np

__all__ = ["run_file_path", "write_run_file", "read_data", "share", "OBJTYPE_ATTR"]

OBJTYPE_ATTR = "_damnit_objtype"
SPECIAL_GROUPS = (".reduced", ".preview", ".errors")
_NETCDF_TYPES = ("dataarray", "dataset")


def _open(path, mode):
    """h5py.File with HDF5 file locking where the file system supports it.

    Locks keep us from copying a file another program (DAMNIT's combiner) is changing in
    place; "best-effort" still works on network file systems without lock support.
    """
    import h5py

    try:
        return h5py.File(path, mode, locking="best-effort")
    except ValueError:  # HDF5 built without the locking options
        return h5py.File(path, mode)


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


def write_run_file(path, results):
    """Write PreparedResults into the run file at `path`, keeping other variables' data.

    Everything stored for a name in `results` (data, summary, preview, error) is replaced.
    Returns the results as stored: one that HDF5/NetCDF cannot hold is replaced by its
    error (the others are still written). Raises only if the file itself cannot be written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    replaced = {r.name for r in results}
    stored = {r.name: r for r in results}
    # Not matching DAMNIT's fragment pattern (*.ready.h5), so its combiner ignores it.
    tmp = path.with_name(f"{path.name}.{token_hex(6)}.writing.h5")
    kept = []  # other variables' NetCDF groups (group path, object, objtype), rewritten
    netcdf = []  # (name, group path, object, objtype) of new results
    try:
        with _open(tmp, "w-") as new:
            for group in SPECIAL_GROUPS:
                new.require_group(group)
            if path.exists():
                with _open(path, "r") as old:
                    new.attrs.update(old.attrs)
                    kept += _copy_others(old, new, replaced, path)
            for result in results:
                try:
                    netcdf += [(result.name, *item) for item in _write_result(new, result)]
                except Exception as exc:
                    stored[result.name] = _record_failure(new, result, exc)
        for group_path, obj, objtype in kept:
            _write_netcdf(tmp, group_path, obj, objtype)
        for name, group_path, obj, objtype in netcdf:
            if stored[name].is_error:
                continue
            try:
                _write_netcdf(tmp, group_path, obj, objtype)
            except Exception as exc:
                with _open(tmp, "r+") as f:
                    stored[name] = _record_failure(f, stored[name], exc)
        share(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return [stored[r.name] for r in results]


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


def _copy_others(old, new, replaced, old_path):
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
            pending.append((obj_path, _load_netcdf(old_path, obj_path, objtype), objtype))
        else:
            old.copy(obj_path, new, obj_path)
    return pending


def _load_netcdf(path, group, objtype):
    import xarray as xr

    if objtype == "dataarray":
        return xr.load_dataarray(path, group=group, engine="h5netcdf")
    return xr.load_dataset(path, group=group, engine="h5netcdf")


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


def _write_netcdf(path, group, obj, objtype):
    obj = _netcdf_safe(obj)
    obj.to_netcdf(path, mode="a", group=group, engine="h5netcdf")
    with _open(path, "r+") as f:
        f[group].attrs[OBJTYPE_ATTR] = objtype


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

    with _open(path, "r") as f:
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
    obj = _load_netcdf(path, name, objtype)
    obj.attrs = {k: v for k, v in obj.attrs.items() if not k.startswith("_damnit_")}
    return obj
