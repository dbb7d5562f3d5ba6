"""`LogPane`: the selected run's log, following it as it grows.

A daemon thread (started with the pane, stopped by `close`) looks at the log file of ``run``
every ``interval`` seconds and reads its end again only when its size or time changed; what it
read goes to the widget through the update pump. The thread does the file I/O; the pump only
sets the widget's value.
"""

from __future__ import annotations

import html
import os
import threading

import ipywidgets as widgets
from traitlets import Int, observe

from .pump import default_pump

__all__ = ["LogPane", "read_tail"]


def read_tail(path, lines=60, max_bytes=32768):
    """The last ``lines`` lines of a text file, read from its end ("" if it does not exist)."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - max_bytes))
            text = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""
    if size > max_bytes:
        text = text.partition("\n")[2]  # from the first whole line
    parts = text.rstrip("\n").split("\n")
    if len(parts) > lines or size > max_bytes:
        parts = ["…", *parts[-lines:]]
    return "\n".join(parts) if text else ""


class LogPane(widgets.VBox):
    """The log of ``run`` (None: no run selected), following it. ``log_path(run)``: the
    run's log file."""

    run = Int(None, allow_none=True)

    def __init__(self, log_path, *, pump=None, interval=1.0, lines=60):
        self._log_path = log_path
        self._pump = pump or default_pump()
        self._interval = interval
        self._lines = lines
        self._lock = threading.Lock()
        self._text = None  # read, not shown yet
        self._seen = None  # (run, size, mtime) last read
        self._stop = threading.Event()
        self._poke = threading.Event()
        self.title = widgets.HTML("<small>Select a run to see its log.</small>")
        self.text = widgets.HTML()
        super().__init__([self.title, self.text])
        self._pump.register(self)
        self._thread = threading.Thread(target=self._follow, name="damnit_nb-log",
                                        daemon=True)
        self._thread.start()

    @observe("run")
    def _run_changed(self, change):
        self._poke.set()

    def _follow(self):
        while not self._stop.is_set():
            try:
                self._look()
            except Exception as e:  # a log that cannot be read must not stop the pane
                with self._lock:
                    self._text = (self.run, f"(cannot read the log: {e})")
                self._pump.wake(self)
            self._poke.wait(self._interval)
            self._poke.clear()

    def _look(self):
        run = self.run
        if run is None:
            seen = None
        else:
            path = self._log_path(run)
            try:
                st = os.stat(path)
                seen = (run, st.st_size, st.st_mtime_ns)
            except FileNotFoundError:
                seen = (run, None, None)
        if seen == self._seen:
            return
        self._seen = seen
        text = None if run is None else read_tail(self._log_path(run), self._lines)
        with self._lock:
            self._text = (run, text)
        self._pump.wake(self)

    def pending(self):
        with self._lock:
            return self._text is not None

    def flush(self):
        with self._lock:
            item, self._text = self._text, None
        if item is None:
            return
        run, text = item
        if run is None:
            self.title.value = "<small>Select a run to see its log.</small>"
            self.text.value = ""
            return
        self.title.value = f"<small>Log of run {run} (following)</small>"
        body = html.escape(text) if text else "<i>nothing printed yet</i>"
        self.text.value = (f"<pre style='max-height:240px; overflow:auto; margin:0; "
                           f"font-size:11px'>{body}</pre>")

    def close(self):
        self._stop.set()
        self._poke.set()
        self._thread.join(2)
        self._pump.unregister(self)
        super().close()
