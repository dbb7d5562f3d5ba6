"""`UpdatePump`: the one thread per kernel that applies changes to widgets, coalesced.

Any thread (the engine, a database watcher, a cell) may say that a component has something to
show with `UpdatePump.wake`; it is cheap (a lock, a flag), touches no widget, and may be called
any number of times. The pump's daemon thread then calls the component's ``flush()``, which
takes what changed since its last flush and sends it to the widgets in one go.

Coalescing has a real deadline, per component: a component woken after being idle is flushed
``latency`` seconds later (so a burst of wakes is one flush); after a flush, its next flush
comes no sooner than ``min_interval`` seconds later, however many wakes arrive meanwhile (a
wake never ends that pause early). So a component flushes at most once per ``min_interval``
(a few syncs per second), whatever its writers do.

A flush runs on the pump's thread and must do no database or file I/O (read what it needs from
a model that writers have already filled): every component waits behind the one flushing. A
flush that raises is logged and the component keeps being served; the others are unaffected.

Echoes. Some widgets call their own change handlers synchronously when the kernel changes
them (ipydatagrid's ``set_cell_value`` calls the ``on_cell_change`` handlers before it
returns). A flush runs inside ``pump.applying(component)``, so a handler tells the kernel's own
writes from the browser's with ``pump.is_applying(component)``::

    def _cell_changed(self, change):
        if self._pump.is_applying(self):
            return  # our own write, made by flush() on this thread
        ...  # a user's edit

The mark is per thread: an edit that arrives from the browser (on the kernel's comm thread)
while a flush runs on the pump's thread is not taken for an echo. A component that writes its
widgets outside a flush (when it is first built, say) wraps the writes in ``applying`` too. The
browser may also send a change back later, on the comm thread: recognise that one by value
(it equals what the model holds).

`default_pump()` is the pump components share; tests make their own `UpdatePump`, with a fake
``clock`` and ``autostart=False``, and drive it with `run_once`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

__all__ = ["UpdatePump", "Posts", "default_pump"]

log = logging.getLogger(__name__)

#: Seconds between two flushes of one component, at the least.
MIN_INTERVAL = 0.3
#: Seconds from the first wake of an idle component to its flush, to gather a burst.
LATENCY = 0.03


class _Entry:
    """What the pump knows of one registered component."""

    __slots__ = ("component", "flush", "pending", "woken_at", "last", "flushing", "failing")

    def __init__(self, component, flush, pending):
        self.component = component
        self.flush = flush
        self.pending = pending
        self.woken_at = None  # clock time of the first wake since the last flush; None: idle
        self.last = None  # clock time at which the last flush ended
        self.flushing = False
        self.failing = None  # repr of the error of the last flush, if it raised

    def due(self, min_interval, latency):
        if self.woken_at is None or self.flushing:
            return None
        due = self.woken_at + latency
        if self.last is not None:
            due = max(due, self.last + min_interval)
        return due


class UpdatePump:
    """Flushes registered components on one daemon thread, each at most once per
    ``min_interval`` seconds and ``latency`` seconds after it was woken from idle.

    ``clock`` gives the time in seconds (default `time.monotonic`). With ``autostart`` (the
    default) the thread starts at the first `register` or `wake`; without it, no thread is
    started unless `start` is called, and `run_once` does the work (for tests).
    """

    def __init__(self, *, min_interval=MIN_INTERVAL, latency=LATENCY, clock=time.monotonic,
                 autostart=True, name="damnit_nb-updates"):
        if min_interval < 0 or latency < 0:
            raise ValueError(f"min_interval ({min_interval!r}) and latency ({latency!r}) must "
                             "be zero or more seconds")
        self.min_interval = min_interval
        self.latency = latency
        self._clock = clock
        self._autostart = autostart
        self._name = name
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a wake, a flush ended, a stop
        self._entries = {}  # component -> _Entry
        self._thread = None  # the running thread; it stops when this is no longer itself
        self._local = threading.local()

    # -- components ---------------------------------------------------------------------------
    def register(self, component):
        """Serve ``component``: an object with a ``flush()`` method (and optionally
        ``pending()``, true while it has something to flush), or a function, called as its
        flush. Returns ``component``, so this can decorate a function. Registering again is a
        no-op. Components are held until `unregister`: a closed view must unregister."""
        flush = getattr(component, "flush", None)
        if not callable(flush):
            if not callable(component):
                raise TypeError(f"Cannot register {component!r}: give an object with a flush() "
                                "method, or a function")
            flush = component
        pending = getattr(component, "pending", None)
        with self._lock:
            if component not in self._entries:
                self._entries[component] = _Entry(component, flush,
                                                  pending if callable(pending) else None)
            self._start_locked()
        return component

    def unregister(self, component, timeout=5.0):
        """Stop serving ``component``. A flush of it already under way on the pump's thread is
        waited for (up to ``timeout`` seconds), unless this is called from that flush, so none
        runs once this returns. Unknown components are ignored."""
        deadline = time.monotonic() + timeout
        with self._lock:
            entry = self._entries.pop(component, None)
            if entry is None or self.is_applying(component):
                return  # not known, or called from inside its own flush
            while entry.flushing:
                left = deadline - time.monotonic()
                if left <= 0 or not self._changed.wait(left):
                    break

    def wake(self, component):
        """Say that ``component`` has something to flush. Any thread, any number of times; a
        component not (or no longer) registered is ignored."""
        with self._lock:
            entry = self._entries.get(component)
            if entry is None:
                return
            if entry.woken_at is None:
                entry.woken_at = self._clock()
                self._changed.notify_all()
            self._start_locked()

    # -- echoes -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def applying(self, component):
        """Marks, on this thread, the writes ``component`` makes to its widgets as the
        kernel's own (see `is_applying`). Flushes run inside it; nests."""
        stack = self._local.__dict__.setdefault("stack", [])
        stack.append(component)
        try:
            yield
        finally:
            stack.pop()

    def is_applying(self, component=None):
        """True if this thread is inside ``applying(component)`` (any component, if None):
        a change handler called now sees the kernel's own write, not the browser's."""
        stack = getattr(self._local, "stack", None)
        if not stack:
            return False
        return component is None or any(c is component or c == component for c in stack)

    # -- the work -----------------------------------------------------------------------------
    def run_once(self, now=None):
        """Flush every component that is due at ``now`` (default: the clock's time); return
        how many were flushed. The thread calls this; tests may call it themselves."""
        with self._lock:
            if now is None:
                now = self._clock()
            due = []
            for entry in self._entries.values():
                when = entry.due(self.min_interval, self.latency)
                if when is not None and when <= now:
                    entry.woken_at = None
                    entry.flushing = True
                    due.append(entry)
        flushed = 0
        for entry in due:
            flushed += self._flush(entry, now)
        return flushed

    def next_due(self):
        """Seconds until the next flush is due (0 if one is due now), None if nothing waits."""
        with self._lock:
            return self._next_due_locked(self._clock())

    def _next_due_locked(self, now):
        times = [t for t in (e.due(self.min_interval, self.latency)
                             for e in self._entries.values()) if t is not None]
        return max(0.0, min(times) - now) if times else None

    def _flush(self, entry, now):
        """One flush of ``entry``'s component, outside the lock; 1 if it flushed."""
        flushed = 0
        error = None
        try:
            with self.applying(entry.component):
                if entry.pending is None or entry.pending():
                    flushed = 1
                    entry.flush()
                again = entry.pending is not None and entry.pending()
        except Exception as e:  # one component's failure must not stop the others
            again = False
            error = repr(e)
            if error != entry.failing:  # logged once, not at every change while it lasts
                log.exception("damnit_nb: updating %s failed; it is tried again at its next "
                              "change", _describe(entry.component))
            else:
                log.debug("damnit_nb: updating %s failed again: %s",
                          _describe(entry.component), error)
        with self._lock:
            entry.failing = error
            entry.flushing = False
            if flushed:  # the pause counts from the end of the flush
                entry.last = max(now, self._clock())
            if again and entry.woken_at is None:
                entry.woken_at = entry.last if entry.last is not None else now
            self._changed.notify_all()
        return flushed

    # -- the thread ---------------------------------------------------------------------------
    def start(self):
        """Start the thread if it is not running (`register` and `wake` do, by default)."""
        with self._lock:
            self._start_locked(force=True)

    def _start_locked(self, force=False):
        if self._thread is None and (self._autostart or force):
            self._thread = threading.Thread(target=self._main, name=self._name, daemon=True)
            self._thread.start()

    def _main(self):
        me = threading.current_thread()
        while True:
            with self._lock:
                while True:
                    if self._thread is not me:
                        return
                    wait = self._next_due_locked(self._clock())
                    if wait == 0:
                        break
                    self._changed.wait(wait)
            try:
                self.run_once()
            except Exception:  # the thread never dies (run_once itself should not raise)
                log.exception("damnit_nb: the update thread hit an error; it carries on")

    def close(self, timeout=5.0):
        """Stop the thread, waiting up to ``timeout`` seconds for a flush under way. Safe to
        call twice; components stay registered, and a later `wake` starts a new thread."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._changed.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self):
        """Whether the thread is running."""
        with self._lock:
            return self._thread is not None and self._thread.is_alive()


class Posts:
    """Widget trait changes asked for by any thread, kept (the latest value of each) until
    the component's ``flush()`` applies them on the pump's thread.

    ``post(widget, value=..., disabled=...)`` records; ``apply()`` sets them, one
    ``hold_sync`` per widget (so each widget's changes travel as one message). The name
    ``display`` sets ``widget.layout.display``.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._posts = {}  # (widget, trait) -> value

    def post(self, widget, **traits):
        with self._lock:
            for name, value in traits.items():
                self._posts[(widget, name)] = value

    def pending(self):
        with self._lock:
            return bool(self._posts)

    def apply(self):
        with self._lock:
            posts, self._posts = self._posts, {}
        by_widget = {}
        for (widget, name), value in posts.items():
            by_widget.setdefault(widget, {})[name] = value
        for widget, traits in by_widget.items():
            with widget.hold_sync():
                for name, value in traits.items():
                    if name == "display":
                        widget.layout.display = value
                    else:
                        setattr(widget, name, value)


def _describe(component):
    """A short name for ``component`` in messages (a widget's repr can be long)."""
    name = getattr(component, "__qualname__", None)
    return name if isinstance(name, str) else f"a {type(component).__qualname__}"


_default = None
_default_lock = threading.Lock()


def default_pump():
    """The pump the components of this process share, made at first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = UpdatePump()
        return _default
