"""`db[run]` and `db[run, name]`: one run's variables, read as DAMNIT's Python API reads them.

`RunVariables` lists what a run has (by name or title); `VariableData` reads one variable:
`read()` (the full data, from the run's HDF5 file), `summary()` (what the table shows, from
the database), `preview_data()`, `units`, `type_hint()`. The values and types returned are
those of `damnit.Damnit(...)[run, name]` in DAMNIT 0.4.
"""

from __future__ import annotations

import json
from enum import Enum
from io import BytesIO

import numpy as np

from .h5file import OBJTYPE_ATTR, load_netcdf, open_run_file, run_file_path
from .values import decode_value

__all__ = ["RunVariables", "VariableData", "DataType"]

SPECIAL_TITLES = {"start_time": "Timestamp", "comment": "Comment"}


class DataType(Enum):
    """What a variable's HDF5 group holds (its `_damnit_objtype` attribute)."""

    DataArray = "dataarray"
    DataFrame = "dataframe"
    Dataset = "dataset"
    Image = "image"
    PlotlyFigure = "PlotlyFigure"
    Series = "series"
    Timestamp = "timestamp"


def _type_hint(obj):
    hint = obj.attrs.get(OBJTYPE_ATTR, "")
    if isinstance(hint, bytes):
        hint = hint.decode()
    return DataType(hint) if hint else None


def _is_numeric(dtype):
    return np.issubdtype(dtype, np.number) or dtype == np.bool_


def _plotly(raw: bytes, deserialize):
    if not deserialize:
        return raw.decode()
    import plotly.io as pio

    return pio.from_json(raw)


def _parquet(dset):
    import pandas as pd

    return pd.read_parquet(BytesIO(dset[()].tobytes()))


class _OfOneRun:
    """`proposal`, `run` and `file` for what belongs to one run of a database."""

    @property
    def proposal(self) -> int:
        return self._proposal

    @property
    def run(self) -> int:
        return self._run

    @property
    def file(self):
        """The run's HDF5 file (user-editable variables and comments are in the database only)."""
        return run_file_path(self._db.path, self._proposal, self._run)

    def _readable_file(self):
        return self._db.run_file(self._run, self._proposal)


class VariableData(_OfOneRun):
    """One variable of one run. Get it as `db[run, name]` (name or title)."""

    def __init__(self, db, proposal, run, name, title, db_only):
        self._db = db
        self._proposal = proposal
        self._run = run
        self._name = name
        self._title = title
        self._db_only = db_only  # a user-editable variable or comment: no HDF5 data

    @property
    def name(self) -> str:
        """The variable's name."""
        return self._name

    @property
    def title(self) -> str:
        """The variable's title (its name if it has none)."""
        return self._title

    def _row(self):
        rows = self._db.query(
            "SELECT value, summary_type, attributes FROM run_variables"
            " WHERE proposal=? AND run=? AND name=? ORDER BY version DESC LIMIT 1",
            (self._proposal, self._run, self._name))
        return rows[0] if rows else (None, None, None)

    @property
    def units(self) -> str | None:
        """The variable's units for this run, if any."""
        attrs = self._row()[2]
        return json.loads(attrs).get("units") if attrs else None

    def type_hint(self) -> DataType | None:
        """What kind of object the data is (a DataType), or None for plain arrays/values."""
        if self._db_only:
            return None
        with open_run_file(self._readable_file()) as f:
            group = f.get(self._name)
            return None if group is None else _type_hint(group)

    def summary(self):
        """What the table shows: a number, string, complex, PNG bytes or numpy array.

        For user-editable variables and comments this is the value itself.
        """
        value, summary_type, _ = self._row()
        return decode_value(value, summary_type)

    def read(self, deserialize_plotly=True):
        """The full data: a numpy scalar or array, str, xarray object, pandas object, or a
        plotly figure (its JSON string with deserialize_plotly=False)."""
        if self._db_only:
            return self.summary()
        with open_run_file(self._readable_file()) as f:
            if self._name not in f:
                raise KeyError(f"No data for {self._name!r} in {self.file}: its summary() "
                               "may still be there.")
            group = f[self._name]
            hint = _type_hint(group)
            if hint in (DataType.DataArray, DataType.Dataset):
                pass  # read below, once the file is closed
            else:
                dset = group["data"]
                if hint is DataType.Series:
                    return _parquet(dset).iloc[:, 0]
                if hint is DataType.DataFrame:
                    return _parquet(dset)
                if hint is DataType.PlotlyFigure:
                    return _plotly(dset[()].tobytes(), deserialize_plotly)
                import h5py

                if h5py.check_string_dtype(dset.dtype) is not None:
                    if dset.ndim == 0:
                        return dset[()].decode("utf-8", "surrogateescape")
                    # As DAMNIT's API: a string array holds one string.
                    return dset.asstr("utf-8", "surrogateescape")[0]
                return dset[()]
        return self._read_xarray(self._name, hint is DataType.DataArray)

    def _read_xarray(self, group, one_array):
        with open_run_file(self._readable_file()) as f:
            return load_netcdf(f, group, "dataarray" if one_array else "dataset")

    def preview_data(self, *, data_fallback=True, deserialize_plotly=True):
        """What a double click shows: a 1-D or 2-D array (numpy or DataArray), an RGB(A)
        image, a plotly figure (or its JSON), a pandas Series, or None.

        The variable's explicit preview if it has one, else (unless data_fallback=False) its
        data when that is suitable.
        """
        if self._db_only:
            return None
        import h5py

        with open_run_file(self._readable_file()) as f:
            obj = f.get(f".preview/{self._name}")
            if obj is not None:
                hint = _type_hint(obj)
            else:
                if not data_fallback or self._name not in f:
                    return None
                obj = f[self._name]
                hint = _type_hint(obj)  # of the group, not of its data
                if hint in (DataType.Dataset, DataType.DataFrame):
                    return None
                if hint is not DataType.DataArray:
                    obj = obj["data"]
            if isinstance(obj, h5py.Group):  # a DataArray
                for item in obj.values():
                    if isinstance(item, h5py.Dataset) and (
                            item.ndim > 3 or (item.ndim == 3 and item.shape[-1] not in (3, 4))):
                        return None
                group = obj.name
            elif hint is DataType.Series:
                return _parquet(obj).iloc[:, 0]
            else:
                if not _is_numeric(obj.dtype) or not (
                        obj.ndim in (1, 2) or (obj.ndim == 3 and obj.shape[-1] in (3, 4))):
                    return None
                value = obj[()]
                if hint is DataType.PlotlyFigure:
                    return _plotly(value.tobytes(), deserialize_plotly)
                return value
        arr = self._read_xarray(group, True)
        return arr if arr.ndim != 0 and _is_numeric(arr.dtype) else None

    def __repr__(self):
        return f"<VariableData {self._name!r} of p{self._proposal}, r{self._run}>"


class RunVariables(_OfOneRun):
    """The variables of one run. Get it as `db[run]`; index it by name or title."""

    def __init__(self, db, proposal, run):
        self._db = db
        self._proposal = proposal
        self._run = run

    def _locations(self):
        """{name: True if only in the database (user-editable, comment)} of what has data."""
        found = {}
        path = self._readable_file()
        if path.is_file():
            with open_run_file(path) as f:
                found.update((n, False) for n in f if not n.startswith("."))
                if ".reduced" in f:
                    found.update((n, False) for n in f[".reduced"] if n not in found)
        db_only = [n for n, v in self._db.variables().items() if v.type is not None]
        db_only.append("comment")
        rows = self._db.query(
            f"SELECT DISTINCT name FROM run_variables WHERE proposal=? AND run=?"
            f" AND value IS NOT NULL AND name IN ({', '.join('?' * len(db_only))})",
            (self._proposal, self._run, *db_only))
        found.update((name, True) for (name,) in rows)
        return found

    def keys(self) -> list[str]:
        """Names of the variables with data for this run, sorted."""
        return sorted(self._locations())

    def _titles(self, names):
        stored = {n: v.title or n for n, v in self._db.variables().items()}
        return {n: SPECIAL_TITLES.get(n) or stored.get(n, n) for n in names}

    def titles(self) -> list[str]:
        """Titles of the variables with data for this run, sorted."""
        return sorted(self._titles(self._locations()).values())

    def __getitem__(self, key) -> VariableData:
        locations = self._locations()
        titles = self._titles(locations)
        if key not in locations:
            by_title = {t: n for n, t in titles.items()}
            if key not in by_title:
                raise KeyError(
                    f"No variable {key!r} with data for p{self._proposal}, r{self._run}: "
                    f"see .keys() or .titles() for those it has.")
            key = by_title[key]
        return VariableData(self._db, self._proposal, self._run, key, titles[key],
                            locations[key])

    def __contains__(self, key):
        locations = self._locations()
        return key in locations or key in self._titles(locations).values()

    def _ipython_key_completions_(self):
        return self.keys()

    def __repr__(self):
        return (f"<RunVariables of p{self._proposal}, r{self._run}: "
                f"{len(self._locations())} variables>")
