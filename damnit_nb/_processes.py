"""Finding a process's descendants, to stop everything a command started (psutil)."""

import psutil

__all__ = ["descendants", "start_time"]


def descendants(pid):
    """PIDs of the living (not zombie) descendants of process ``pid``; empty if it is gone."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    return [c.pid for c in children if _alive(c)]


def start_time(pid):
    """When process ``pid`` started, or None if it is gone or a zombie.

    Compare it with an earlier reading before signalling a PID, so a reused PID is never hit.
    """
    try:
        proc = psutil.Process(pid)
        return proc.create_time() if _alive(proc) else None
    except psutil.Error:
        return None


def _alive(proc):
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
