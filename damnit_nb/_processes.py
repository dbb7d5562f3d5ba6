"""Finding a process's descendants, to stop everything a command started (psutil).

psutil comes with the ``demo`` and ``test`` extras only, so it is imported when first
needed: the rest of the command line (``simulate``, ``ls``) works without it.
"""

__all__ = ["descendants", "start_time", "require_psutil"]


def require_psutil():
    """The psutil module, or ImportError saying how to install it."""
    try:
        import psutil
    except ImportError as e:
        raise ImportError(
            "psutil is needed to stop the processes the demo starts; install it with "
            "pip install 'damnit_nb[demo]'",
            name="psutil",
        ) from e
    return psutil


def descendants(pid):
    """PIDs of the living (not zombie) descendants of process ``pid``; empty if it is gone."""
    psutil = require_psutil()
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    return [c.pid for c in children if _alive(psutil, c)]


def start_time(pid):
    """When process ``pid`` started, or None if it is gone or a zombie.

    Compare it with an earlier reading before signalling a PID, so a reused PID is never hit.
    """
    psutil = require_psutil()
    try:
        proc = psutil.Process(pid)
        return proc.create_time() if _alive(psutil, proc) else None
    except psutil.Error:
        return None


def _alive(psutil, proc):
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
