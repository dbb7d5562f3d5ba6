"""A browser's side of widgets, for tests: the comm messages a front end sends, and what the
kernel sends back, without a browser.

`GridClient` speaks ipydatagrid's streaming protocol to a `RunGrid` as the browser's grid
does: it asks for the rows in view (``data-request``), applies ``cell-changed`` and ``tick``
messages, sorts and filters through the ``_transforms`` state, selects rows through
``selections`` and clicks cells (``cell-click``), each as the message the browser sends.
"""

import json

from tests.widgets.frontend import browser_message, browser_update


def browser_custom(widget, content):
    """A custom message from the browser's side of ``widget``."""
    browser_message(widget, {"method": "custom", "content": content})


class Recorder:  # the grid's: with sizes and custom contents
    """Records what the kernel sends on ``widget``'s comm (JSON-encoded sizes too)."""

    def __init__(self, widget):
        self.messages = []
        original = widget.comm.send

        def send(data=None, metadata=None, buffers=None, **kw):
            self.messages.append(data)
            return original(data=data, metadata=metadata, buffers=buffers, **kw)

        widget.comm.send = send

    def custom(self, event_type=None):
        out = [m["content"] for m in self.messages if m and m.get("method") == "custom"]
        return [c for c in out if event_type is None or c.get("event_type") == event_type]

    def states(self):
        return [m["state"] for m in self.messages if m and m.get("method") == "update"]

    def bytes(self):
        return sum(len(json.dumps(m, default=str)) for m in self.messages)

    def clear(self):
        self.messages.clear()


def text(value):
    """The text a payload shows (its "t" when it has marks)."""
    return value.get("t") if isinstance(value, dict) else value


class GridClient:
    """The browser's grid for one `RunGrid`: ``rows()`` asks for every row, as the browser
    asks for those in view, and returns them as [(run, {field: payload})]."""

    def __init__(self, grid):
        self.grid = grid
        self.recorder = Recorder(grid)

    def request(self, r1=0, r2=None, c1=0, c2=None):
        nrows, ncols = self.grid._row_count, len(self.grid.view_keys())
        r2 = nrows - 1 if r2 is None else r2
        c2 = ncols - 1 if c2 is None else c2
        self.recorder.clear()
        browser_custom(self.grid, {"type": "data-request", "r1": r1, "r2": r2, "c1": c1,
                                   "c2": c2})
        replies = self.recorder.custom("data-reply")
        assert replies, f"no data-reply to a data-request; sent: {self.recorder.messages}"
        return replies[-1]

    def rows(self, **kw):
        reply = self.request(**kw)
        fields = [f["name"] for f in reply["value"]["schema"]["fields"]]
        data = reply["value"]["data"]
        index, body = str(fields[0]), [str(f) for f in fields[1:-1]]
        out = []
        for i, run in enumerate(data[index]["value"]):
            out.append((run, {name: data[name]["value"][i] for name in body}))
        return out

    def texts(self, title, **kw):
        """{run: shown text} of the column whose field name ends with ``title``."""
        out = {}
        for run, cells in self.rows(**kw):
            for name, value in cells.items():
                if name == title or name.endswith(f"'{title}')"):
                    out[run] = text(value)
        return out

    def sort(self, field, desc=False):
        browser_update(self.grid, _transforms=[{"type": "sort", "column": field,
                                                "desc": desc}])

    def menu_sort(self, column_index, desc=False, **request):
        """Sort as the browser's header menu of body column ``column_index`` does: it names
        the column by its schema index among the columns of its last data reply (asked for
        with ``request``, e.g. ``c1=2`` for a grid scrolled right)."""
        reply = self.request(**request)
        index = column_index + 1  # the index column comes first
        name = list(reply["value"]["data"])[index]
        browser_update(self.grid, _transforms=[{"type": "sort", "column": name,
                                                "columnIndex": index, "desc": desc}])

    def filter(self, field, operator, value):
        browser_update(self.grid, _transforms=[{"type": "filter", "column": field,
                                                "operator": operator, "value": value}])

    def select_rows(self, *rows):
        ncols = len(self.grid.view_keys())
        browser_update(self.grid, selections=[{"r1": r, "r2": r, "c1": 0, "c2": ncols - 1}
                                              for r in rows])

    def click(self, row, column_index, region="body"):
        browser_custom(self.grid, {"event_type": "cell-click", "region": region,
                                   "column": None, "column_index": column_index, "row": row,
                                   "primary_key_row": None, "cell_value": None})


def click_cell(app, run, key):
    """Click the cell of ``run`` and column ``key`` in a `TableApp`'s grid, as a user does
    (the browser holds the rows it asked for); returns the detail pane's HTML once shown."""
    from tests.helpers import eventually

    import html

    title = next(s.header for s in app.model.columns() if s.key == key)
    assert eventually(lambda: run in app.grid.view_runs()), app.grid.view_runs()
    client = GridClient(app.grid)
    client.request()
    client.click(app.grid.view_runs().index(run), app.grid.view_keys().index(key))
    shown = f"<b>Run {run} · {html.escape(title)}</b>"
    assert eventually(lambda: shown in app.detail.value), app.detail.value
    return app.detail.value
