"""Persistence in DAMNIT's own format: SQLite (data format v4) + one HDF5 file per run."""

from . import errors
from .database import Database, RunInfo, StoredValue, VariableInfo
from .results import PreparedResult, prepare_error, prepare_result

__all__ = [
    "Database",
    "PreparedResult",
    "prepare_result",
    "prepare_error",
    "StoredValue",
    "RunInfo",
    "VariableInfo",
    "errors",
]
