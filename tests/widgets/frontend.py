"""Playing the browser's part for widget tests: the messages a browser sends to a widget's comm
(`browser_update`, `browser_click`), and a `Recorder` of what the kernel sends back.

ipywidgets logs (rather than raises) an exception in a message handler or a click callback
when there is no IPython; these helpers raise it, so a failing handler fails the test.
"""

import contextlib
import logging

__all__ = ["browser_update", "browser_click", "browser_message", "Recorder"]


class _Errors(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.errors = []

    def emit(self, record):
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])


@contextlib.contextmanager
def _raising(widget):
    handler = _Errors()
    logger = widget.log
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    if handler.errors:
        raise handler.errors[0]


def browser_message(widget, data, buffers=()):
    """Deliver ``data`` (a comm message's ``content.data``) to ``widget`` as the browser
    would."""
    with _raising(widget):
        widget.comm.handle_msg({"content": {"data": data}, "buffers": list(buffers)})


def browser_update(widget, **state):
    """The browser changes ``widget``'s synced state: ``browser_update(select, index=[0, 2])``."""
    browser_message(widget, {"method": "update", "state": state, "buffer_paths": []})


def browser_click(button):
    """The user clicks ``button``."""
    browser_message(button, {"method": "custom", "content": {"event": "click"}})


class Recorder:
    """Records what the kernel sends through ``widget.comm``: ``messages`` (each message's
    data), `updates` (the states sent), `state` (them merged)."""

    def __init__(self, widget):
        self.messages = []
        widget.comm.send = self._send

    def _send(self, data=None, metadata=None, buffers=None):
        self.messages.append(data)

    @property
    def updates(self):
        return [m["state"] for m in self.messages if m.get("method") == "update"]

    @property
    def state(self):
        out = {}
        for update in self.updates:
            out.update(update)
        return out

    def clear(self):
        self.messages.clear()
