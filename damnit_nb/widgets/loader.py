"""`Loader`: file reads for widgets, on a daemon thread of their own, so that the update pump
(which must do no I/O) only draws what has been read.

A component asks with `request(key, read)`; the loader calls ``read()`` on its thread, in the
order asked (a key asked again while it waits is read once), and then ``done(key, value,
error)`` (``error`` the exception ``read`` raised, else None), outside any lock of the
loader's. ``done`` usually stores the result and wakes the pump. A key is not free to be
asked again until ``done`` returns: a component that stores in ``done``, and checks what it
has and asks under one lock of its own, never has a key read twice.
"""

from __future__ import annotations

import logging
import threading

__all__ = ["Loader"]

log = logging.getLogger(__name__)


class Loader:
    """Calls readers on one daemon thread (named ``name``, started at the first request) and
    hands their results to ``done(key, value, error)``."""

    def __init__(self, done, name="damnit_nb-loader"):
        self._done = done
        self._name = name
        self._cond = threading.Condition()
        self._queue = {}  # key -> read, in the order asked (dicts keep it)
        self._busy = None  # the key being read
        self._thread = None
        self._closed = False

    def request(self, key, read):
        """Read ``key`` with ``read()`` soon (unless it is waiting or being read already)."""
        with self._cond:
            if self._closed or key == self._busy:
                return
            self._queue.setdefault(key, read)
            if self._thread is None:
                self._thread = threading.Thread(target=self._main, name=self._name,
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

    def cancel(self, keep):
        """Forget the waiting requests whose key is not in ``keep`` (no longer wanted)."""
        with self._cond:
            for key in [k for k in self._queue if k not in keep]:
                del self._queue[key]

    def busy(self):
        """Whether a read is waiting or under way."""
        with self._cond:
            return bool(self._queue) or self._busy is not None

    def close(self):
        """Stop after the read under way, if any; waiting requests are dropped."""
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify()

    def _main(self):
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                key = next(iter(self._queue))
                read = self._queue.pop(key)
                self._busy = key
            value = error = None
            try:
                value = read()
            except Exception as e:  # given to done(): one bad read never stops the loader
                error = e
            try:
                self._done(key, value, error)
            except Exception:
                log.exception("Storing what was read for %r failed", key)
            finally:
                with self._cond:
                    self._busy = None
