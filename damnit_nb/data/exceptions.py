"""Errors raised when reading runs.

Each error subclasses the built-in exception it specialises, keeps the offending value as an
attribute and says in its message where to look next.
"""

from __future__ import annotations

import difflib

__all__ = [
    "SourceNameError",
    "PropertyNameError",
    "TrainIDError",
    "FileFormatError",
    "IncompleteFileError",
    "NoDataError",
]


def _close_matches(word, candidates, n=5):
    """Format up to *n* close matches of *word* among *candidates* as a sentence."""
    matches = difflib.get_close_matches(word, sorted(candidates), n=n, cutoff=0.6)
    if not matches:
        return ""
    return " Close matches: " + ", ".join(repr(m) for m in matches) + "."


class SourceNameError(KeyError):
    """A source name that the run (or selection) does not contain.

    Attributes: ``source`` (the name asked for). *hint* replaces the closing advice
    (default: look in ``run.all_sources``).
    """

    def __init__(self, source, available=(), hint=None):
        self.source = source
        super().__init__(source)
        if hint is None:
            hint = "See run.all_sources for available sources."
        self._msg = (
            f"This data has no source named {source!r}."
            + _close_matches(source, available)
            + " " + hint
        )

    def __str__(self):
        return self._msg


class PropertyNameError(KeyError):
    """A key that a source does not have.

    Attributes: ``source``, ``key``. *hint* replaces the closing advice (default: look in
    ``run[source].keys()``).
    """

    def __init__(self, key, source, available=(), hint=None):
        self.key = key
        self.source = source
        super().__init__(key)
        if hint is None:
            hint = "See run[source].keys() (or run.keys_for_source(source)) for available keys."
        self._msg = (
            f"No key {key!r} for source {source!r}."
            + _close_matches(key, available)
            + " " + hint
        )

    def __str__(self):
        return self._msg


class TrainIDError(KeyError):
    """A train ID that the data does not contain.

    Attributes: ``train_id``.
    """

    def __init__(self, train_id):
        self.train_id = train_id
        super().__init__(train_id)

    def __str__(self):
        return (
            f"Train ID {self.train_id} is not in this data. "
            "See run.train_ids for the train IDs present."
        )


class FileFormatError(ValueError):
    """A file that is not readable as a European XFEL data file.

    Attributes: ``path`` (the file), ``reason``.
    """

    #: What to do, unless the error gives a more specific hint.
    default_hint = (
        "Is this a European XFEL run file (HDF5 with METADATA and INDEX groups)? If it is "
        "still being written, open the run again later; otherwise move it out of the run "
        "directory or open the run's files individually with H5File()."
    )

    def __init__(self, path, reason, hint=None):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}. {hint or self.default_hint}")


class IncompleteFileError(FileFormatError):
    """A file that looks incomplete: empty, truncated, or with INDEX entries pointing past
    the data written so far (a file still being written, or an interrupted copy).

    Attributes: ``path``, ``reason``, and for data not written yet ``dataset`` (its path in
    the file), ``rows`` (rows it holds), ``needed`` (rows INDEX locates) and ``train_id``
    (the first train whose data is missing); these are None when not known.
    """

    default_hint = (
        "If the file is still being written or copied, open the run again later; if it "
        "stays like this, move it out of the run directory."
    )

    def __init__(self, path, reason, hint=None, *, dataset=None, rows=None, needed=None,
                 train_id=None):
        self.dataset = dataset
        self.rows = rows
        self.needed = needed
        self.train_id = train_id
        if hint is None and train_id is not None:
            hint = (
                "The file is incomplete: if it is still being written, try again later. To "
                "read the trains written so far, select them first, e.g. "
                f"run.select_trains(by_id[:{train_id}])."
            )
        super().__init__(path, reason, hint)


class NoDataError(FileNotFoundError):
    """A run directory (or proposal) with no data files to read.

    Attributes: ``path``.
    """

    def __init__(self, path, message=None):
        self.path = str(path)
        if message is None:
            message = (
                f"No data files (*.h5) found in {self.path}. Check the path and run "
                "number; if the run is still being written, try again later."
            )
        super().__init__(message)

    def __str__(self):
        return self.args[0]
