"""How the engine opens a run directory: with damnit_nb's reader or with EXtra-data's.

Variables receive what the chosen reader's ``RunDirectory(path)`` returns: a
``damnit_nb.data.DataCollection`` (``"damnit_nb"``, the default) or an
``extra_data.DataCollection`` (``"extra_data"``). Both have EXtra-data's API, so the same
variable code runs with either; choose ``"extra_data"`` for code that needs parts of EXtra-data
we do not have (components, ``extra_data.stack_detector_data``...).
"""

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
    """A function ``open(path)`` giving the run in directory *path*, read by *reader*.

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


def _open_with_damnit_nb(path):
    from ..data import RunDirectory

    return RunDirectory(path)


def _open_with_extra_data(path):
    from extra_data import RunDirectory

    # One run at a time, in the engine's thread: no pool of processes to open files with.
    return RunDirectory(path, parallelize=False)
