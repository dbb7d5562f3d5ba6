"""Test-only fault injection: a process kills itself (SIGKILL) at a named point of a write.

Crash-safety tests set ``DAMNIT_NB_KILL_AT=<point>`` (or ``<point>:<n>``, the n-th time the
point is reached; the first by default) in the environment of a process they start; the
variable is read once, when this module is imported. Never set it outside tests: the process
dies without cleaning up, on purpose. Unset, `reached` is one comparison.

Points, in the order a `Database.write_results` reaches them:

- ``run-file-write``: right after one write that overwrote bytes the run file held before
  (their old bytes are in the journal), in the middle of changing the file in place.
- ``run-file-written``: the run file's new contents are complete (changed in place, or the
  replacement file written), nothing recorded in SQLite yet.
- ``before-commit``: the SQLite rows are written, their transaction not yet committed.
- ``after-commit``: the transaction is committed; the run file's journal is still there (or
  the replacement file not yet renamed into place).
- ``finished``: the journal is deleted (or the replacement renamed): the write is complete.
"""

import os
import signal
import threading

__all__ = ["POINTS", "ENV_VAR", "reached"]

ENV_VAR = "DAMNIT_NB_KILL_AT"
POINTS = ("run-file-write", "run-file-written", "before-commit", "after-commit", "finished")


def _parse(spec):
    if not spec:
        return None, 0
    point, _, count = spec.partition(":")
    if point not in POINTS:
        raise ValueError(f"{ENV_VAR}={spec!r} names no fault point: use one of "
                         f"{', '.join(POINTS)}, optionally followed by ':<n>'.")
    return point, int(count or 1)


_point, _remaining = _parse(os.environ.get(ENV_VAR))
_count_lock = threading.Lock()


def reached(point):
    """Kill this process if it was told to die at `point` (and this is the n-th time)."""
    global _remaining
    if point != _point:
        return
    with _count_lock:
        _remaining -= 1
        if _remaining > 0:
            return
    os.kill(os.getpid(), signal.SIGKILL)
