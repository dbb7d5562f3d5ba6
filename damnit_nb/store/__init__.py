"""Persistence in DAMNIT's own format: SQLite (data format v4) + one HDF5 file per run.

A database directory holds `runs.sqlite` and `extracted_data/p{proposal}_r{run}.h5`; DAMNIT's
tools read what damnit_nb writes and the other way round.

- `schema`: the v4 tables and views, created for a new database, checked for an existing one.
- `results`: `prepare_result`/`prepare_error`, turning a variable's return value into what is
  stored, summarised as DAMNIT does (value, trendline, thumbnail, shape string).
- `h5file`: the per-run HDF5 file, changed in place under an undo journal (or written whole
  and renamed), merged with what it holds.
- `journal`: the undo journal that lets a file be changed in place and rolled back.
- `values`: values in SQLite as DAMNIT encodes them (numbers, strings, complex, .npy blobs).
- `database`: `Database`, the thread-safe entry point (runs, comments, variables, results).
- `changes`: what other writers committed since a cursor (`Database.changes_since`).
- `migrations`: databases of older DAMNIT formats (v0-v3) backed up and upgraded to v4.
- `access`: `db[run]` and `db[run, name]`, reading variables as DAMNIT's API does.
- `tables`: `Database.table()` as DAMNIT's API gives it, and `Database.export()`.
- `errors`: the exceptions raised here.
- `faults`: test-only points at which a writer kills itself (crash-safety tests).
"""

from . import errors
from .access import DataType, RunVariables, VariableData
from .changes import ChangeCursor, Changes
from .database import Database, RunInfo, StoredValue, VariableInfo
from .errors import ReadOnlyDatabaseError, StoreUnavailableError
from .results import PreparedResult, prepare_error, prepare_result

__all__ = [
    "Database",
    "PreparedResult",
    "prepare_result",
    "prepare_error",
    "StoredValue",
    "RunInfo",
    "VariableInfo",
    "Changes",
    "ChangeCursor",
    "RunVariables",
    "VariableData",
    "DataType",
    "StoreUnavailableError",
    "ReadOnlyDatabaseError",
    "errors",
]
