"""Finding runs under ``raw/`` (or ``proc/``) whose files have settled (stopped changing)."""

import logging
import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["RunFinder", "run_number_from_dirname"]

log = logging.getLogger(__name__)

_RUN_DIR = re.compile(r"^r(\d{4,})$")


def run_number_from_dirname(name):
    """``"r0042"`` -> 42; None for anything else."""
    m = _RUN_DIR.match(name)
    return int(m.group(1)) if m else None


class _Seen:
    """What the finder knows of one run directory."""

    __slots__ = ("dir_mtime_ns", "signature", "newest")

    def __init__(self, dir_mtime_ns, signature, newest):
        self.dir_mtime_ns = dir_mtime_ns
        self.signature = signature
        self.newest = newest


class RunFinder:
    """Polls a ``raw/`` directory; :meth:`poll` returns runs that are ready to process.

    A run is ready when it has at least one ``.h5`` file and none of its files changed for
    ``settle`` seconds. A run is reported again if its files change after it was reported
    (a late sequence file, re-migrated data). Runs that were already there when polling began
    are ready at once if they settled long ago. Not thread-safe: one poller.

    Cost: a poll lists ``raw/`` and stats each run directory; it stats a run's files only
    when they may have changed: the directory's mtime moved (a file added, removed or
    renamed), the run is recent (files changed in the last ``recent`` seconds) or still
    settling, or it is the run's turn in a round of ``recheck`` older runs per poll, which
    catches files rewritten in place without touching their directory.
    """

    def __init__(self, raw_dir, settle=5.0, *, recent=600.0, recheck=16):
        self.raw_dir = Path(raw_dir)
        self.settle = float(settle)
        self.recent = float(recent)
        self.recheck = int(recheck)
        self._reported = {}  # run -> files signature when reported
        self._seen = {}  # run -> _Seen
        self._round = []  # older runs still to recheck in this round
        self.unsettled = frozenset()  # runs seen at the last poll whose files are still changing
        self.next_settle = None  # time.time() at which the first of those settles, if unchanged
        self.vanished = frozenset()  # runs reported earlier whose directory is gone

    def signature(self, run):
        """What ``run``'s files looked like at the last look (names, sizes, mtimes), or None."""
        seen = self._seen.get(run)
        return seen.signature if seen is not None and seen.signature else None

    def newest(self, run):
        """The newest mtime (seconds) among ``run``'s files at the last look, or None."""
        seen = self._seen.get(run)
        return seen.newest if seen is not None and seen.signature else None

    def start_time(self, path):
        """When the run in ``path`` started, in seconds since the epoch: its METADATA's
        creation date, else its oldest file's mtime (None if it has no files)."""
        try:
            from ..data import RunDirectory

            with RunDirectory(path) as run:  # its files closed again
                created = run.run_metadata().get("creationDate")
            if created:
                text = created.decode() if isinstance(created, bytes) else str(created)
                return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(
                    tzinfo=timezone.utc).timestamp()
        except Exception as e:
            log.warning("%s: cannot read the run's start time: %s", path, e)
        mtimes = []
        for p in Path(path).glob("*.h5"):
            try:
                mtimes.append(p.stat().st_mtime)
            except OSError:
                pass
        return min(mtimes) if mtimes else None

    def poll(self, now=None):
        """Runs ready since the last poll: a list of ``(run_number, path)``, newest first."""
        now = time.time() if now is None else now
        ready, unsettled, next_settle = [], set(), None
        try:
            entries = list(os.scandir(self.raw_dir))
        except FileNotFoundError:
            entries = []
        if not self._round:
            self._round = sorted(self._seen)
        turn = set(self._round[-self.recheck:]) if self.recheck > 0 else set()
        del self._round[-self.recheck:]
        present = set()
        for entry in entries:
            run = run_number_from_dirname(entry.name)
            if run is None or not entry.is_dir():
                continue
            try:
                dir_mtime_ns = entry.stat().st_mtime_ns
            except FileNotFoundError:
                continue
            present.add(run)
            seen = self._seen.get(run)
            if (seen is None or seen.dir_mtime_ns != dir_mtime_ns or run in turn
                    or run in self.unsettled or now - seen.newest < self.recent
                    or now - dir_mtime_ns / 1e9 < self.recent):
                signature, newest = _signature(entry.path)
                seen = self._seen[run] = _Seen(dir_mtime_ns, signature, newest)
            if not seen.signature or self._reported.get(run) == seen.signature:
                continue
            if now - seen.newest < self.settle:
                unsettled.add(run)
                due = seen.newest + self.settle
                next_settle = due if next_settle is None else min(next_settle, due)
                continue
            self._reported[run] = seen.signature
            ready.append((run, Path(entry.path)))
        for run in set(self._seen) - present:
            del self._seen[run]
        ready.sort(reverse=True)
        self.unsettled = frozenset(unsettled)
        self.next_settle = next_settle
        self.vanished = frozenset(set(self._reported) - present)
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
