"""The status line above the table, as HTML: what the engine does, errors, unsaved results,
the context file's problems and warnings, time comments, cell variables overriding the file's.
Imports no widgets."""

from __future__ import annotations

import html
from datetime import datetime

__all__ = ["status_html", "format_time"]


def format_time(timestamp):
    """Epoch seconds as local "YYYY-mm-dd HH:MM:SS" (None stays None)."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def status_html(status, *, where, context_error=None, warnings=(), time_comments=(),
                overridden=(), following=None):
    """The status line for an engine ``status`` (an ``EngineStatus``) of a table on
    ``where`` (the proposal directory). ``following``: why the table only shows the
    database (None: it processes runs)."""
    where = html.escape(str(where))
    parts = []
    if following:
        parts.append(f"Showing {where} · {html.escape(following)}")
    elif status.state == "crashed":
        parts.append(f"<b style='color:#b00'>Stopped by an internal error</b>: "
                     f"{html.escape(str(status.error))}")
    elif status.state == "read-only":
        parts.append(f"Showing {where}")
    elif status.state == "stopped":
        parts.append("Stopped")
    elif status.state == "processing":
        running = list(status.running)
        total = status.done + status.queued + max(1, len(running))
        what = ("run " + str(running[0]) if len(running) == 1
                else "runs " + ", ".join(map(str, running)) if running else "runs")
        parts.append(f"Watching {where} · processing {what} "
                     f"({status.done + max(1, len(running))} of {total})")
    else:
        parts.append(f"Watching {where}")
    if status.errors:
        parts.append(f"<span style='color:#b00'>{status.errors} "
                     f"error{'s' if status.errors != 1 else ''}</span>")
    if status.unsaved:
        parts.append(f"<span style='color:#b00'>{status.unsaved} run(s) not stored yet</span>")
    lines = [" · ".join(parts)]
    if status.problem:
        lines.append(f"<span style='color:#b00'>{html.escape(status.problem)}</span>")
    if context_error:
        lines.append("<span style='color:#b00'>The context file has errors; the last good "
                     "version is in use:</span><pre style='margin:2px 0'>"
                     f"{html.escape(context_error)}</pre>")
    if warnings:
        lines.append(f"<details><summary>{len(warnings)} warning(s) in the context file"
                     "</summary><pre style='margin:2px 0'>"
                     + html.escape("\n".join(warnings)) + "</pre></details>")
    if time_comments:
        items = "".join(f"<li>{html.escape(format_time(t) or '')}: {html.escape(c)}</li>"
                        for _, t, c in list(time_comments)[-20:])
        lines.append(f"<details><summary>{len(time_comments)} time comment(s)</summary>"
                     f"<ul style='margin:2px 0'>{items}</ul></details>")
    if overridden:
        lines.append("Defined in a cell, replacing the context file's: "
                     + html.escape(", ".join(overridden)))
    return "<br>".join(lines)
