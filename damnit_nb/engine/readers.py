"""How the engine opens a run directory: with damnit_nb's reader or with EXtra-data's.

Variables receive what the chosen reader's ``RunDirectory(path)`` returns: a
``damnit_nb.data.DataCollection`` (``"damnit_nb"``, the default) or an
``extra_data.DataCollection`` (``"extra_data"``). Both have EXtra-data's API, so the same
variable code runs with either; choose ``"extra_data"`` for code that needs parts of EXtra-data
we do not have (components, ``extra_data.stack_detector_data``...).
"""

from pathlib import Path

__all__ = ["READERS", "DEFAULT_READER", "UnknownReaderError", "run_opener"]

#: The readers to choose from.
READERS = ("damnit_nb", "extra_data")
DEFAULT_READER = "damnit_nb"


class UnknownReaderError(ValueError):
    """A reader name not in :data:`READERS`.

    Attributes: ``reader`` (the name given).
    """

    def __init__(self, reader):
        self.reader = reader
        super().__init__(
            f"unknown reader {reader!r}: choose one of " + ", ".join(repr(r) for r in READERS)
        )


def run_opener(reader=DEFAULT_READER):
    """A function ``open(path, data="raw")`` giving the run in directory *path*, read by
    *reader*. *path* is the run's ``raw/rNNNN`` directory; ``data="all"`` adds the run's
    ``proc/rNNNN`` (calibrated) data, proc's files serving the sources both have.

    Raises :class:`UnknownReaderError` (a ValueError) for a reader not in :data:`READERS`,
    and ImportError, saying what to install, if ``"extra_data"`` is chosen but EXtra-data
    cannot be imported. Checked here, so a table fails when it is made, not run by run.
    """
    if reader == "damnit_nb":
        return _open_with_damnit_nb
    if reader == "extra_data":
        try:
            import extra_data  # noqa: F401
        except ImportError as e:
            raise ImportError(
                "reader='extra_data' needs EXtra-data, which cannot be imported here "
                f"({e}): install it with `pip install extra-data`, or use reader='damnit_nb'.",
                name="extra_data",
            ) from e
        return _open_with_extra_data
    raise UnknownReaderError(reader)


def _proc_dir(path):
    path = Path(path)
    return path.parent.parent / "proc" / path.name


def _open_with_damnit_nb(path, data="raw"):
    from ..data import RunDirectory, open_run

    if data == "all":
        path = Path(path)
        return open_run(path.parent.parent, int(path.name.lstrip("r")), data="all")
    return RunDirectory(path)


def _open_with_extra_data(path, data="raw"):
    from extra_data import RunDirectory

    # One run at a time: no pool of processes to open files with.
    raw = RunDirectory(path, parallelize=False)
    proc_dir = _proc_dir(path)
    if data != "all" or not proc_dir.is_dir():
        return raw
    proc = RunDirectory(proc_dir, parallelize=False)
    raw_only = set(raw.all_sources) - set(proc.all_sources)
    if not raw_only:
        return proc
    return raw.select(sorted(raw_only)).union(proc)
