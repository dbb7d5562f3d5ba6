"""`FilterBar`: the widget that makes run filters (the dicts of `filters`) and shows the
active ones as chips, each removable.

One row chooses what to filter (the runs, the state, or a column of the model) and shows the
input that fits it: run numbers and ranges; a state; a minimum and a maximum for a column of
numbers; the values to keep for a column of few texts, else a text to look for; and for a
variable's column, "errors only". "Add filter" appends the filter to ``filters``; a bad input
is explained beside the row and adds nothing. Below, the active filters, each a button that
removes it, and "Clear all". Link ``filters`` to a `grid.RunGrid`'s::

    bar = FilterBar(model)
    traitlets.dlink((bar, "filters"), (grid, "filters"))

The columns offered follow the model: its changes wake the update pump (`pump`), whose
``flush()`` rebuilds the choices (keeping the current one while it is there). Clicks and edits
arrive on the kernel's comm thread; they read the model, which is thread-safe.
"""

from __future__ import annotations

import html
import threading

from ipywidgets import (
    HTML, Button, Checkbox, Dropdown, HBox, Layout, SelectMultiple, Text, VBox,
)
from traitlets import List, observe, validate

from .cells import column_kind, short_text
from .filters import check_filter, describe
from .model import COMMENT_KEY, RUN_KEY, STATE_KEY
from .pump import default_pump

__all__ = ["FilterBar", "PICK_LIMIT"]

#: A text column with at most this many distinct shown values is filtered by picking them.
PICK_LIMIT = 30
#: What "State" always offers, whether or not a run is in it.
_ALWAYS_STATES = ("failed",)
_HIDDEN = "none"


class FilterBar(VBox):
    """Makes run filters for ``model`` (a `model.TableModel`) and shows the active ones.

    ``filters``: the active filters, in the order added (each normalised by
    `filters.check_filter`; a bad one is refused with its ValueError; duplicates are dropped).
    Set it from Python to show other filters. ``pump``: the `pump.UpdatePump` that refreshes
    the columns offered (default: `pump.default_pump`). `close` it when done.
    """

    filters = List(help="The active run filters (dicts, see filters.check_filter), in the "
                        "order added; link it to a RunGrid's filters.")

    def __init__(self, model, pump=None, **kwargs):
        filters = kwargs.pop("filters", [])
        self._model = model
        self._pump = pump or default_pump()
        self._lock = threading.Lock()  # guards the state below (comm and pump threads)
        self._version = model.version  # the model's version the choices reflect
        self._titles = {}  # key -> title, for the choices and the chips
        self._mode = "runs"  # the input shown: runs, state, range, pick, contains or none

        self._choice = Dropdown(description="Filter", layout=Layout(width="260px"))
        self._runs = Text(placeholder="17, 20-32", layout=Layout(width="160px"))
        self._state = Dropdown(layout=Layout(width="140px"))
        self._min = Text(placeholder="min", layout=Layout(width="90px"))
        self._max = Text(placeholder="max", layout=Layout(width="90px"))
        self._pick = SelectMultiple(rows=4, layout=Layout(width="200px"))
        self._contains = Text(placeholder="contains", layout=Layout(width="160px"))
        self._errors = Checkbox(description="errors only", indent=False,
                                layout=Layout(width="auto", display=_HIDDEN))
        self._add = Button(description="Add filter", icon="filter",
                           layout=Layout(width="auto"))
        self._message = HTML()
        self._inputs = HBox()
        self._chips = HBox(layout=Layout(flex_flow="row wrap"))
        self._clear = Button(description="Clear all", tooltip="Remove every filter",
                             layout=Layout(width="auto", display=_HIDDEN))
        super().__init__([HBox([self._choice, self._inputs, self._errors, self._add,
                                self._message]), self._chips], **kwargs)

        self._choice.observe(self._chosen, "value")
        self._errors.observe(self._errors_ticked, "value")
        self._add.on_click(self._add_clicked)
        self._clear.on_click(lambda _: self._set_filters([]))
        with self._pump.applying(self):
            self._refresh(columns_changed=True, values_changed=True)
        self.filters = filters
        self._show_chips()
        self._unsubscribe = model.subscribe(lambda version: self._pump.wake(self))
        self._pump.register(self)

    def close(self):
        self._unsubscribe()
        self._pump.unregister(self)
        for chip in self._chips.children:
            chip.close()
        super().close()

    # -- the pump's thread ----------------------------------------------------------------------
    def pending(self):
        with self._lock:
            since = self._version
        return self._model.version != since

    def flush(self):
        """Offer the model's columns as they are now (the update pump calls this)."""
        with self._lock:
            since = self._version
        delta = self._model.changes_since(since)
        key = self._choice.value
        with self._lock:
            self._version = delta.version
        watched = {key} if key != RUN_KEY else set()
        self._refresh(columns_changed=delta.columns is not None,
                      values_changed=bool(delta.rows_removed) or any(
                          k in watched for _, k in delta.cells))

    def _refresh(self, *, columns_changed, values_changed):
        """Rebuild the choices if the columns changed (keeping the current one if it is still
        there), and the input if its column's values changed."""
        if columns_changed:
            options, titles = self._column_choices()
            with self._lock:
                titles_changed = titles != self._titles
                self._titles = titles
            current = self._choice.value
            if list(options) != list(self._choice.options):
                keys = [key for _, key in options]
                with self._choice.hold_sync():
                    self._choice.options = options
                    self._choice.value = current if current in keys else keys[0]
                values_changed = True
            if titles_changed:
                self._show_chips()
        if values_changed:
            self._show_input(self._choice.value)

    def _column_choices(self):
        """``([(label, key)...], {key: title})``: "Runs", "State", then the columns to filter
        (the variables' and the comment) by title, keyed."""
        specs = [s for s in self._model.columns() if not s.fixed or s.key == COMMENT_KEY]
        titles = {s.key: s.header for s in specs}
        counts = {}
        for title in titles.values():
            counts[title] = counts.get(title, 0) + 1
        options = [("Runs", RUN_KEY), ("State", STATE_KEY)]
        for s in specs:  # a title shown twice (or as "Runs"/"State") says its key too
            label = s.header
            if counts[label] > 1 or label in ("Runs", "State"):
                label = f"{label} ({s.key})"
            options.append((label, s.key))
        return options, titles

    # -- the inputs (comm thread, or the pump's) ------------------------------------------------
    def _chosen(self, change):
        if self._pump.is_applying(self):
            return  # the choices rebuilt by the kernel, not the user's choice
        self._message.value = ""
        self._errors.value = False
        self._show_input(change["new"])

    def _show_input(self, key):
        """Show the input fitting the column ``key`` as it is now, keeping what was typed or
        picked that still applies."""
        errors = False
        if key == RUN_KEY:
            mode, inputs = "runs", [self._runs]
        elif key == STATE_KEY:
            states = {c.value for c in self._model.column(STATE_KEY).values()
                      if c.mark is None}
            _set_options(self._state, sorted(states | set(_ALWAYS_STATES)))
            mode, inputs = "state", [self._state]
        else:
            spec = next((s for s in self._model.columns() if s.key == key), None)
            cells = list(self._model.column(key).values())
            kind = (spec.kind if spec is not None else None) or column_kind(cells)
            errors = key != COMMENT_KEY
            if kind == "number":
                mode, inputs = "range", [self._min, self._max]
            elif kind in ("image", "trend"):
                mode, inputs = "none", []
            else:
                shown = sorted({short_text(c) for c in cells if c.mark is None})
                if 0 < len(shown) <= PICK_LIMIT:
                    _set_options(self._pick, shown)
                    mode, inputs = "pick", [self._pick]
                else:
                    mode, inputs = "contains", [self._contains]
        with self._lock:
            self._mode = mode
        if list(self._inputs.children) != inputs:
            self._inputs.children = inputs
        self._errors.layout.display = None if errors else _HIDDEN
        if not errors and self._errors.value:
            self._errors.value = False
        self._errors_ticked(None)

    def _errors_ticked(self, change):
        ticked = self._errors.value
        for w in (self._min, self._max, self._pick, self._contains):
            w.disabled = ticked

    def _add_clicked(self, _button):
        try:
            spec = check_filter(self._spec_from_inputs())
        except ValueError as e:
            self._message.value = (f'<span style="color:#b00020; font-size:small">'
                                   f"{html.escape(str(e), quote=False)}</span>")
            return
        self._message.value = ""
        self._set_filters(list(self.filters) + [spec])
        for w in (self._runs, self._min, self._max, self._contains):
            w.value = ""
        self._pick.value = ()
        self._errors.value = False

    def _spec_from_inputs(self):
        """The filter the inputs describe (unchecked); ValueError saying what to fix."""
        key = self._choice.value
        with self._lock:
            mode = self._mode
        if mode == "runs":
            return {"kind": "runs", "runs": self._runs.value}
        if mode == "state":
            return {"kind": "state", "states": [self._state.value]}
        if self._errors.value and key != COMMENT_KEY:
            return {"kind": "errors", "key": key}
        if mode == "none":
            raise ValueError("this column holds images or trends, which can only be filtered "
                             "for errors: tick 'errors only'")
        if mode == "range":
            lo = _number(self._min.value, "minimum")
            hi = _number(self._max.value, "maximum")
            if lo is None and hi is None:
                raise ValueError("give a minimum, a maximum or both")
            return {"kind": "range", "key": key, "min": lo, "max": hi}
        if mode == "pick":
            if not self._pick.value:
                raise ValueError("choose one or more values (Ctrl- or Shift-click for several)")
            return {"kind": "pick", "key": key, "values": list(self._pick.value)}
        if not self._contains.value:
            raise ValueError("type the text to look for")
        return {"kind": "contains", "key": key, "text": self._contains.value}

    # -- the active filters ---------------------------------------------------------------------
    @validate("filters")
    def _check_filters(self, proposal):
        out = []
        for spec in proposal["value"]:
            spec = check_filter(spec)
            if spec not in out:
                out.append(spec)
        return out

    @observe("filters")
    def _filters_changed(self, change):
        self._show_chips()

    def _set_filters(self, filters):
        self.filters = filters

    def _remove(self, spec):
        filters = list(self.filters)
        if spec in filters:
            filters.remove(spec)
            self._set_filters(filters)

    def _show_chips(self):
        with self._lock:
            titles = dict(self._titles)
        filters = list(self.filters)
        chips = []
        for spec in filters:
            chip = Button(description=describe(spec, titles) + " ×",
                          tooltip="Remove this filter", layout=Layout(width="auto"))
            chip.on_click(lambda _, spec=spec: self._remove(spec))
            chips.append(chip)
        old = self._chips.children
        self._chips.children = chips + [self._clear]
        self._clear.layout.display = None if filters else _HIDDEN
        for chip in old:
            if chip is not self._clear:
                chip.close()


def _set_options(widget, options):
    """Give a Dropdown or SelectMultiple new ``options``, keeping its value where it can."""
    if list(widget.options) == list(options):
        return
    value = widget.value
    with widget.hold_sync():
        widget.options = options
        if isinstance(widget, SelectMultiple):
            widget.value = tuple(v for v in value if v in options)
        elif value in options:
            widget.value = value


def _number(text, name):
    """A bound typed by the user: None if blank, else a float; ValueError saying what to type."""
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number: give the {name} as e.g. 1.5 or 2e-3, "
                         "or leave it blank") from None
