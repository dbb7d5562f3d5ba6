"""Finding runs and computing their variables, in a thread of the kernel."""

from .engine import Engine, EngineStatus
from .processor import RunMeta, RunOutcome, compute_run
from .readers import READERS, UnknownReaderError, run_opener
from .watcher import RunFinder

__all__ = ["Engine", "EngineStatus", "RunFinder", "RunMeta", "RunOutcome", "compute_run",
           "READERS", "UnknownReaderError", "run_opener"]
