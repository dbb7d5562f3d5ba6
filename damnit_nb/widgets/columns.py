"""`ColumnChooser`: the widget where a user picks which columns of the run table are shown, in
which order, and how headers look; the choice is remembered per database (`settings`).

The chooser owns the choice: the keys it hides and their order, including keys the model does
not have (now): a variable removed from the context file and added back later comes back as
the user left it. A column the user never hid is shown, so new variables appear by themselves.
``visible_columns`` is what follows from the choice and the model's columns; link it (and
``hierarchical``, ``units_in_header``) to the grid's traits of the same names.

Threads: the model's writers only wake the update pump; the pump's ``flush()`` brings the list
and ``visible_columns`` up to date with the model and the choice. The buttons, the list and the
tag menu (the kernel's comm thread) and Python code change the choice and save it, then wake
the pump: what they change shows at its next flush.
"""

from __future__ import annotations

import threading
import warnings

import ipywidgets as widgets
from traitlets import Bool, List, Unicode, observe, validate

from .model import RUN_KEY
from .pump import default_pump

__all__ = ["ColumnChooser"]

#: Where the choice is kept in `settings.ViewSettings`.
SETTING = "columns"
#: What the list shows before a shown column's title, and before a hidden one's.
SHOWN_MARK = "\u2713 "
HIDDEN_MARK = "\u2002\u2002 "
_ALL_TAGS = ""

_BUTTONS = (
    ("Show", "Show the selected columns"),
    ("Hide", "Hide the selected columns"),
    ("Up", "Move the selected columns up (to the left in the table)"),
    ("Down", "Move the selected columns down (to the right in the table)"),
    ("Show all", "Show every column listed"),
    ("Only these", "Show the selected columns and hide all others"),
)


def _moved(items, selected, step):
    """``items`` with each selected item moved one place (step -1: up, +1: down), past an
    unselected neighbour; a selected block at an end stays."""
    items = list(items)
    indices = range(len(items)) if step < 0 else range(len(items) - 1, -1, -1)
    for i in indices:
        j = i + step
        if items[i] in selected and 0 <= j < len(items) and items[j] not in selected:
            items[i], items[j] = items[j], items[i]
    return items


def _refilled(order, keys):
    """``order`` with the places of ``keys`` (which it holds) filled by ``keys`` in their
    given order; the other items stay where they are."""
    wanted = set(keys)
    new = iter(keys)
    return [next(new) if k in wanted else k for k in order]


class ColumnChooser(widgets.VBox):
    """Which of a `model.TableModel`'s columns are shown, and in which order.

    Traits:

    - ``visible_columns``: the keys shown, in order; the run number ("#run") is always shown,
      first. Settable: the keys given are shown in that order, the others hidden (an empty
      list shows every column); a key the model does not have is refused (ValueError).
    - ``hierarchical``: headers in levels from "/" in titles.
    - ``units_in_header``: units with the header rather than with each value.

    ``settings``: a `settings.ViewSettings` (or any object with ``get(name, default)`` and
    ``set(name, value)``) where the choice is restored from and saved to, under "columns";
    None keeps it for the widget's life only. ``pump``: the `pump.UpdatePump` that brings the
    list up to date (default: `pump.default_pump`).

    Its parts, for layouts and tests: ``tag_filter`` (Dropdown: list only the columns with a
    tag), ``column_list`` (SelectMultiple, values are column keys), ``buttons`` ({label:
    Button}: "Show", "Hide", "Up", "Down", "Show all", "Only these"), ``hierarchical_box``,
    ``units_box`` (Checkboxes).
    """

    visible_columns = List(Unicode(), help="The keys of the columns shown, in order; '#run' "
                                           "is always first")
    hierarchical = Bool(True, help="Headers in levels from '/' in titles")
    units_in_header = Bool(True, help="Units shown with the header, not with each value")

    def __init__(self, model, settings=None, *, pump=None, **kwargs):
        self._lock = threading.Lock()  # guards the choice and what the last flush saw
        self._tm = model
        self._settings = settings
        self._pump = pump or default_pump()
        self._order = []  # every key the choice knows, in order (absent ones too)
        self._hidden = set()  # keys hidden, absent ones too
        self._tag = _ALL_TAGS
        self._saved = None  # the choice last saved
        self._ready = False  # until the end of __init__, trait changes are not choices
        self._closed = False
        self._unsubscribe = lambda: None
        self._links = []

        self.tag_filter = widgets.Dropdown(options=[("All tags", _ALL_TAGS)], value=_ALL_TAGS,
                                           description="Tags",
                                           layout=widgets.Layout(width="auto"))
        self.column_list = widgets.SelectMultiple(options=[], rows=12,
                                                  layout=widgets.Layout(width="100%"))
        self.buttons = {label: widgets.Button(description=label, tooltip=tip,
                                              layout=widgets.Layout(width="auto"))
                        for label, tip in _BUTTONS}
        self.hierarchical_box = widgets.Checkbox(description="Hierarchical headers",
                                                 indent=False)
        self.units_box = widgets.Checkbox(description="Units in header", indent=False)
        super().__init__([self.tag_filter, self.column_list,
                          widgets.HBox(list(self.buttons.values())),
                          widgets.HBox([self.hierarchical_box, self.units_box])], **kwargs)

        self._restore()
        self._links = [widgets.link((self, "hierarchical"), (self.hierarchical_box, "value")),
                       widgets.link((self, "units_in_header"), (self.units_box, "value"))]
        actions = {"Show": self._show, "Hide": self._hide, "Up": self._up, "Down": self._down,
                   "Show all": self._show_all, "Only these": self._only_these}
        for label, action in actions.items():
            self.buttons[label].on_click(lambda _button, action=action: action())
        self.tag_filter.observe(self._tag_chosen, names="value")
        with self._pump.applying(self):
            self.flush()  # complete from the start, without waiting for the pump
        self._ready = True
        self._unsubscribe = model.subscribe(lambda version: self._pump.wake(self))
        self._pump.register(self)
        self._pump.wake(self)  # for a change made since that first flush

    def close(self):
        """Stop following the model and close the widgets; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._unsubscribe()
        self._pump.unregister(self)
        for link in self._links:
            link.unlink()
        for child in (self.tag_filter, self.column_list, self.hierarchical_box,
                      self.units_box, *self.buttons.values(), *self.children):
            child.close()
        super().close()

    # -- the choice, saved and restored ---------------------------------------------------------
    def _restore(self):
        saved = self._settings.get(SETTING) if self._settings is not None else None
        if saved is None:
            return
        ok = isinstance(saved, dict)
        order = saved.get("order", []) if ok else []
        hidden = saved.get("hidden", []) if ok else []
        flags = {name: saved.get(name, True) if ok else True
                 for name in ("hierarchical", "units_in_header")}
        ok = (ok and all(isinstance(x, list) and all(isinstance(k, str) for k in x)
                         for x in (order, hidden))
              and all(isinstance(v, bool) for v in flags.values()))
        if not ok:
            warnings.warn(f"damnit_nb: the saved column choice ({saved!r:.200}) is not "
                          "understood; every column is shown", RuntimeWarning, stacklevel=3)
            return
        self._order = list(dict.fromkeys(order))
        self._hidden = set(hidden) - {RUN_KEY}
        self.hierarchical = flags["hierarchical"]
        self.units_in_header = flags["units_in_header"]

    def _choice_locked(self):
        return {"order": [k for k in self._order if k != RUN_KEY],
                "hidden": sorted(self._hidden),
                "hierarchical": bool(self.hierarchical),
                "units_in_header": bool(self.units_in_header)}

    def _changed(self):
        """The choice changed (not on the pump's thread): save it and show it."""
        with self._lock:
            choice = self._choice_locked()
            save = choice != self._saved and self._settings is not None
            self._saved = choice
        if save:
            self._settings.set(SETTING, choice)
        self._pump.wake(self)

    @observe("hierarchical", "units_in_header")
    def _header_option_changed(self, change):
        if self._ready:
            self._changed()

    # -- what the model has ---------------------------------------------------------------------
    def _merge_locked(self, model_keys):
        """Add the model's keys the choice does not know to the order, each after the key
        before it in the model (new columns show where the model puts them)."""
        known = set(self._order)
        for i, key in enumerate(model_keys):
            if key in known:
                continue
            before = next((k for k in reversed(model_keys[:i]) if k in known), None)
            at = 0 if before is None else self._order.index(before) + 1
            self._order.insert(at, key)
            known.add(key)
        if self._order[0] != RUN_KEY:
            self._order.remove(RUN_KEY)
            self._order.insert(0, RUN_KEY)

    def _present_locked(self, specs):
        """The model's keys in the chosen order."""
        self._merge_locked([s.key for s in specs])
        present = {s.key for s in specs}
        return [k for k in self._order if k in present]

    # -- the pump's thread ----------------------------------------------------------------------
    def flush(self):
        """Bring the list, the tag menu and ``visible_columns`` up to date with the model and
        the choice (the update pump calls this)."""
        specs = self._tm.columns()
        by_key = {s.key: s for s in specs}
        tags = sorted({t for s in specs for t in s.tags if isinstance(t, str) and t})
        with self._lock:
            keys = self._present_locked(specs)
            if self._tag not in tags:
                self._tag = _ALL_TAGS
            tag = self._tag
            visible = [k for k in keys if k not in self._hidden]
            listed = [k for k in keys if k != RUN_KEY and (tag == _ALL_TAGS
                                                           or tag in by_key[k].tags)]
            hidden = set(self._hidden)
        headers = [by_key[k].header for k in listed]
        twice = {h for h in headers if headers.count(h) > 1}
        options = [((HIDDEN_MARK if k in hidden else SHOWN_MARK)
                    + (f"{h} ({k})" if h in twice else h), k) for k, h in zip(listed, headers)]
        tag_options = [("All tags", _ALL_TAGS)] + [(t, t) for t in tags]

        if list(self.tag_filter.options) != tag_options or self.tag_filter.value != tag:
            with self.tag_filter.hold_sync():
                self.tag_filter.options = tag_options
                self.tag_filter.value = tag
        if list(self.column_list.options) != options:
            selected = [k for k in self.column_list.value if k in set(listed)]
            with self.column_list.hold_sync():
                self.column_list.options = options
                self.column_list.value = selected
        if self.visible_columns != visible:
            self.visible_columns = visible

    # -- what users do (comm thread, or Python) -------------------------------------------------
    def _selected(self):
        return [k for k in self.column_list.value if k != RUN_KEY]

    def _listed(self):
        return [k for _label, k in self.column_list.options]

    def _show(self):
        with self._lock:
            self._hidden.difference_update(self._selected())
        self._changed()

    def _hide(self):
        with self._lock:
            self._hidden.update(self._selected())
        self._changed()

    def _move(self, step):
        listed, selected = self._listed(), set(self._selected())
        with self._lock:
            known = set(self._order)
            listed = [k for k in listed if k in known]
            self._order = _refilled(self._order, _moved(listed, selected, step))
        self._changed()

    def _up(self):
        self._move(-1)

    def _down(self):
        self._move(+1)

    def _show_all(self):
        with self._lock:
            self._hidden.difference_update(self._listed())
        self._changed()

    def _only_these(self):
        selected = set(self._selected())
        keys = [s.key for s in self._tm.columns() if s.key != RUN_KEY]
        with self._lock:
            self._hidden.update(k for k in keys if k not in selected)
            self._hidden.difference_update(selected)
        self._changed()

    def _tag_chosen(self, change):
        if self._pump.is_applying(self):
            return  # the flush's own write
        with self._lock:
            self._tag = change["new"]
        self._pump.wake(self)

    @validate("visible_columns")
    def _check_visible(self, proposal):
        keys = list(dict.fromkeys(proposal.value))
        if self._pump.is_applying(self):
            return keys  # the flush's own write
        specs = self._tm.columns()
        present = [s.key for s in specs]
        if not keys:
            with self._lock:
                keys = self._present_locked(specs)
        unknown = [k for k in keys if k not in set(present)]
        if unknown:
            shown = ", ".join(map(repr, present[:30])) + (", ..." if len(present) > 30 else "")
            raise ValueError(f"Not columns of the table: {', '.join(map(repr, unknown))}; the "
                             f"columns are {shown}")
        return [RUN_KEY] + [k for k in keys if k != RUN_KEY]

    @observe("visible_columns")
    def _visible_set(self, change):
        if self._pump.is_applying(self):
            return  # the flush's own write
        keys = change["new"]
        specs = self._tm.columns()
        with self._lock:
            present = self._present_locked(specs)
            shown = set(keys)
            self._hidden.update(k for k in present if k not in shown)
            self._hidden.difference_update(shown)
            self._order = _refilled(self._order, [k for k in keys if k != RUN_KEY])
        self._changed()
