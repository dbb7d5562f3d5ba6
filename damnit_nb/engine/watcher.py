"""Finding runs under ``raw/`` whose files have settled (stopped changing)."""

import os
import re
import time
from pathlib import Path

__all__ = ["RunFinder", "run_number_from_dirname"]

_RUN_DIR = re.compile(r"^r(\d{4,})$")


def run_number_from_dirname(name):
    """``"r0042"`` -> 42; None for anything else."""
    m = _RUN_DIR.match(name)
    return int(m.group(1)) if m else None


class RunFinder:
    """Polls a ``raw/`` directory; :meth:`poll` returns runs that are ready to process.

    A run is ready when it has at least one ``.h5`` file and none of its files changed for
    ``settle`` seconds. A run is reported again if its files change after it was reported
    (a late sequence file, re-migrated data). Runs that were already there when polling began
    are ready at once if they settled long ago. Not thread-safe: one poller.
    """

    def __init__(self, raw_dir, settle=5.0):
        self.raw_dir = Path(raw_dir)
        self.settle = float(settle)
        self._reported = {}  # run -> files signature when reported
        self.unsettled = frozenset()  # runs seen at the last poll whose files are still changing

    def poll(self, now=None):
        """Runs ready since the last poll: a list of ``(run_number, path)``, newest first."""
        now = time.time() if now is None else now
        ready, unsettled = [], set()
        try:
            entries = list(os.scandir(self.raw_dir))
        except FileNotFoundError:
            self.unsettled = frozenset()
            return ready
        for entry in entries:
            run = run_number_from_dirname(entry.name)
            if run is None or not entry.is_dir():
                continue
            signature, newest = _signature(entry.path)
            if not signature or self._reported.get(run) == signature:
                continue
            if now - newest < self.settle:
                unsettled.add(run)
                continue
            self._reported[run] = signature
            ready.append((run, Path(entry.path)))
        ready.sort(reverse=True)
        self.unsettled = frozenset(unsettled)
        return ready


def _signature(path):
    """((name, size, mtime_ns), ...) of the run's HDF5 files, and the newest mtime in seconds."""
    sig = []
    newest = 0.0
    try:
        with os.scandir(path) as it:
            for e in it:
                if e.name.endswith(".h5"):
                    try:
                        st = e.stat()
                    except FileNotFoundError:
                        continue
                    sig.append((e.name, st.st_size, st.st_mtime_ns))
                    newest = max(newest, st.st_mtime)
    except FileNotFoundError:
        return (), 0.0
    return tuple(sorted(sig)), newest
