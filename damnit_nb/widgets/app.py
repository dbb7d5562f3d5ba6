"""`TableApp`: what ``RunTable.widget`` shows, composed of components linked by traits: the
status line, a toolbar (jump to a run, newest first, copy as Markdown, reprocess, cancel,
export), the column chooser, the filters and a plot (`plot.RunPlot`, made when its panel is
first opened), the grid, and a detail pane under it (a clicked cell's detail, the editor of
editable cells, a clicked variable's preview (`preview.Preview`), the selected run's log,
following it). Plots made by `new_plot` share the
grid's selection and the runs left out of plots (kept in the view settings).

The app does not know `RunTable`: it is given ``actions``, an object with the methods it calls
(on the kernel's comm thread, where button clicks arrive): ``cell_detail(run, key)`` (HTML),
``edit(run, key, text)`` (returns the text to show, raises ValueError to refuse),
``reprocess(runs, match)``, ``cancel(runs)``, ``export(path)``, ``to_markdown(runs)``,
``log_tail(run)``, ``export_name(suffix)``, ``read_data(run, key)`` (a variable's full
data, from its run file; called on a loader's thread) and ``preview_data(run, key)`` (what a
preview draws, from the run's file; called on the preview's worker thread). Every widget
change goes through the update pump (`post`), whatever thread asks for it.
"""

from __future__ import annotations

import html
import logging

import threading

import ipywidgets as widgets
from traitlets import Int, List, dlink, link, observe

from .columns import ColumnChooser
from .filterbar import FilterBar
from .filters import parse_runs
from .grid import RunGrid
from .logs import LogPane
from .model import RUN_KEY
from .pump import Posts, default_pump
from .scroll import GridScroller

__all__ = ["TableApp"]

log = logging.getLogger(__name__)

_EXPORTS = {"CSV": ".csv", "Excel": ".xlsx", "Markdown": ".md"}
#: Where the runs left out of plots are kept in the view settings.
EXCLUDED_SETTING = "excluded_runs"
_PLOT_PANEL = 2  # the options' panel holding the app's plot


class TableApp(widgets.VBox):
    """The run table's app over a `TableModel` ``model``. ``settings``: a
    `settings.ViewSettings` keeping the column choice per user and database (None: not kept);
    ``log_path(run)``: the file of a run's log (None: no log pane)."""

    excluded_runs = List(Int(), help="Runs left out of every plot of this table (kept in "
                                      "the view settings)")

    def __init__(self, model, actions, *, settings=None, log_path=None, pump=None,
                 processing=True):
        self._pump = pump or default_pump()
        self._posts = Posts()  # applied by flush()
        self._settings = settings
        self._plots = []
        self._plots_lock = threading.Lock()
        self.plot = None  # the plot panel's plot, made when the panel is first opened
        self._actions = actions
        self._editing = None  # (run, key) the editor is for
        self.model = model

        self.status = widgets.HTML(layout=widgets.Layout(margin="0 0 4px 0"))
        self.columns = ColumnChooser(model, settings=settings, pump=self._pump)
        self.grid = RunGrid(model, pump=self._pump,  # shown as chosen from the start
                            visible_columns=self.columns.visible_columns,
                            hierarchical=self.columns.hierarchical,
                            units_in_header=self.columns.units_in_header)
        self.filters = FilterBar(model, pump=self._pump)
        self.scroller = GridScroller(grid=self.grid)
        link((self.columns, "visible_columns"), (self.grid, "visible_columns"))
        dlink((self.columns, "hierarchical"), (self.grid, "hierarchical"))
        dlink((self.columns, "units_in_header"), (self.grid, "units_in_header"))
        link((self.filters, "filters"), (self.grid, "filters"))

        small = widgets.Layout(width="auto")
        self.jump = widgets.Text(placeholder="jump to run", continuous_update=False,
                                 layout=widgets.Layout(width="110px"))
        self.newest_first = widgets.Checkbox(value=False, description="Newest first",
                                             indent=False, layout=small)
        link((self.newest_first, "value"), (self.grid, "newest_first"))
        self.count = widgets.HTML()
        self.copy_button = widgets.Button(description="Copy as Markdown", layout=small,
                                          tooltip="The selected runs (or all shown) as a "
                                                  "Markdown table, to copy")
        self.match = widgets.Text(placeholder="variables (all)", layout=widgets.Layout(
            width="140px"), tooltip="Names or titles to reprocess, globs allowed")
        self.reprocess_button = widgets.Button(description="Reprocess", layout=small,
                                               disabled=not processing,
                                               tooltip="Compute the selected runs again")
        self.cancel_button = widgets.Button(description="Cancel", layout=small,
                                            disabled=not processing,
                                            tooltip="Stop processing the selected runs")
        self.export_kind = widgets.Dropdown(options=list(_EXPORTS), value="CSV",
                                            layout=widgets.Layout(width="100px"))
        self.export_button = widgets.Button(description="Export", layout=small,
                                            tooltip="Write the table to a file beside the "
                                                    "notebook")
        self.toolbar = widgets.HBox(
            [self.jump, self.newest_first, self.copy_button, self.match,
             self.reprocess_button, self.cancel_button, self.export_kind, self.export_button,
             self.count], layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
        self.plot_panel = widgets.VBox()
        self.options = widgets.Accordion([self.columns, self.filters, self.plot_panel],
                                         titles=("Columns", "Filters", "Plot"),
                                         selected_index=None)

        self.detail = widgets.HTML()
        self.editor = widgets.Text(continuous_update=False,
                                   layout=widgets.Layout(width="60%"))
        self.save_button = widgets.Button(description="Save", button_style="primary",
                                          layout=small)
        self.editor_label = widgets.HTML()
        self.editor_box = widgets.HBox([self.editor_label, self.editor, self.save_button],
                                       layout=widgets.Layout(display="none"))
        self.markdown = widgets.Textarea(layout=widgets.Layout(display="none", width="100%",
                                                               height="120px"))
        self.log_pane = LogPane(log_path, pump=self._pump) if log_path else None
        self.preview = None  # the clicked variable's preview, made at the first such click
        self.preview_box = widgets.VBox()
        below = [self.detail, self.editor_box, self.preview_box, self.markdown]
        if self.log_pane is not None:
            below.append(self.log_pane)
        super().__init__([self.status, self.toolbar, self.options, self.grid, *below])

        self.grid.on_click(self._clicked)
        self.grid.observe(self._selection_changed, names="selected_runs")
        self.grid.observe(self._count_changed, names="shown_count")
        self.jump.observe(self._jump, names="value")
        self.options.observe(self._panel_opened, names="selected_index")
        self.copy_button.on_click(lambda _: self._copy())
        self.reprocess_button.on_click(lambda _: self._reprocess())
        self.cancel_button.on_click(lambda _: self._cancel())
        self.export_button.on_click(lambda _: self._export())
        self.save_button.on_click(lambda _: self._save())
        self.editor.observe(lambda change: self._save(), names="value")
        saved = settings.get(EXCLUDED_SETTING, []) if settings is not None else []
        self.excluded_runs = sorted({int(r) for r in saved if isinstance(r, int)})
        self._pump.register(self)
        self._count_changed({"new": self.grid.shown_count})

    def new_plot(self, y="", x=RUN_KEY, **options):
        """A `plot.RunPlot` of this table's model, linked to the grid (selected runs) and
        to the runs left out of plots; closed with the app."""
        from .plot import RunPlot

        plot = RunPlot(self.model, y, x, pump=self._pump, **options)
        plot.selected_runs = list(self.grid.selected_runs)
        plot.excluded_runs = list(self.excluded_runs)
        link((self.grid, "selected_runs"), (plot, "selected_runs"))
        link((self, "excluded_runs"), (plot, "excluded_runs"))
        with self._plots_lock:
            self._plots.append(plot)
        return plot

    def new_data_plot(self, y, x=None, **options):
        """An `overlay.RunDataPlot` of runs' full data (read with the ``read_data`` action),
        drawing the grid's selected runs unless given ``runs``; closed with the app."""
        from .overlay import RunDataPlot

        plot = RunDataPlot(self.model, self._actions.read_data, y, x, pump=self._pump,
                           **options)
        plot.selected_runs = list(self.grid.selected_runs)
        dlink((self.grid, "selected_runs"), (plot, "selected_runs"))
        with self._plots_lock:
            self._plots.append(plot)
        return plot

    @observe("excluded_runs")
    def _excluded_changed(self, change):
        runs = list(change["new"])
        if self._settings is not None and runs != self._settings.get(EXCLUDED_SETTING, []):
            self._settings.set(EXCLUDED_SETTING, runs)

    def _panel_opened(self, change):
        if change["new"] != _PLOT_PANEL or self.plot is not None:
            return
        self.plot = self.new_plot()
        self.post(self.plot_panel, children=(self.plot,))

    # -- posting widget changes (any thread) ----------------------------------------------------
    def post(self, widget, **traits):
        """Set ``traits`` of ``widget`` from the update pump's thread, soon."""
        self._posts.post(widget, **traits)
        self._pump.wake(self)

    def set_status(self, html_text):
        self.post(self.status, value=html_text)

    def set_processing(self, processing):
        """Whether the table processes runs (Reprocess and Cancel are offered)."""
        self.post(self.reprocess_button, disabled=not processing)
        self.post(self.cancel_button, disabled=not processing)

    def sync(self, timeout=10.0):
        """Wait until every change of the model is shown (the update pump has flushed the
        grid and the app); False if ``timeout`` seconds passed first."""
        import time

        deadline = time.monotonic() + timeout
        with self._plots_lock:
            plots = list(self._plots)
        parts = [self.grid, self.columns, self.filters, self, *plots]
        while any(p.pending() for p in parts if hasattr(p, "pending")):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def pending(self):
        return self._posts.pending()

    def flush(self):
        self._posts.apply()

    def close(self):
        self._pump.unregister(self)
        with self._plots_lock:
            plots, self._plots = self._plots, []
        for plot in plots:
            plot.close()
        for part in (self.scroller, self.grid, self.columns, self.filters, self.log_pane,
                     self.preview):
            if part is not None:
                part.close()
        super().close()

    # -- what users do (the comm thread) --------------------------------------------------------
    def _say(self, text, error=False):
        colour = "#b00" if error else "#333"
        self.post(self.detail, value=f"<span style='color:{colour}'>{text}</span>")

    def _clicked(self, run, key):
        spec = next((s for s in self.model.columns() if s.key == key), None)
        title = html.escape(spec.header if spec else key)
        if run is None:  # a header: what the column is
            self._editing = None
            self.post(self.detail, value=_column_html(spec or key))
            self.post(self.editor_box, display="none")
            return
        try:
            detail = self._actions.cell_detail(run, key)
        except Exception as e:  # a detail that cannot be read must not break clicking
            detail = html.escape(f"(cannot show the detail: {type(e).__name__}: {e})")
        self.post(self.detail, value=f"<b>Run {run} · {title}</b><br>{detail}")
        if spec is not None and spec.editable:
            from .cells import short_text

            self._editing = (run, key)
            current = short_text(self.model.cell(run, key))
            self.post(self.editor_label, value=f"Run {run} · {title}:")
            self.post(self.editor, value=current, placeholder=f"{spec.header} of run {run}")
            self.post(self.editor_box, display="flex")
        else:
            self._editing = None
            self.post(self.editor_box, display="none")
            if spec is not None and not spec.fixed:
                self._show_preview(run, spec)

    def _show_preview(self, run, spec):
        """The clicked variable's preview under the grid, replacing the one shown."""
        from .preview import Preview

        if self.preview is None:
            self.preview = Preview(pump=self._pump)
            self.post(self.preview_box, children=(self.preview,))
        key = spec.key
        self.preview.show(lambda: self._actions.preview_data(run, key),
                          title=f"Run {run} · {spec.header}", name=spec.header,
                          units=spec.units)

    def _save(self):
        target = self._editing
        if target is None or self._pump.is_applying(self):
            return  # nothing being edited, or our own write of the editor's value
        run, key = target
        text = self.editor.value
        from .cells import short_text

        if text == short_text(self.model.cell(run, key)):
            return
        try:
            self._actions.edit(run, key, text)
        except ValueError as e:
            self._say(f"Run {run}: {html.escape(str(e))}", error=True)
            return
        self._say(f"Saved for run {run}.")

    def _selection_changed(self, change):
        runs = change["new"]
        if self.log_pane is not None:
            self.log_pane.run = runs[-1] if runs else None

    def _count_changed(self, change):
        total = len(self.model.runs())
        shown = change["new"]
        text = f"{shown} runs" if shown == total else f"{shown} of {total} runs shown"
        self.post(self.count, value=f"<small>{text}</small>")

    def _jump(self, change):
        text = change["new"].strip()
        if not text or self._pump.is_applying(self):
            return
        try:
            run = parse_runs(text)[0]
        except ValueError as e:
            self._say(html.escape(str(e)), error=True)
            return
        runs = self.grid.view_runs()
        if run not in runs:
            self._say(f"Run {run} is not in the table"
                      + (" as filtered" if run in self.model.runs() else ""), error=True)
            return
        row = runs.index(run)
        self.grid.selected_runs = [run]
        self.scroller.scroll_to(row)
        self._clicked(run, "#run")
        self._say(f"Run {run}: row {row + 1} of {len(runs)} (selected)")

    def _chosen_runs(self):
        return list(self.grid.selected_runs) or None

    def _copy(self):
        runs = self._chosen_runs() or self.grid.view_runs()
        text = self._actions.to_markdown(runs)
        self.post(self.markdown, value=text, display="block")
        self._say(f"{len(runs)} run(s) as Markdown below: select it and copy.")

    def _reprocess(self):
        runs = self._chosen_runs()
        if not runs:
            self._say("Select the runs to reprocess first (click or drag on rows).",
                      error=True)
            return
        match = self.match.value.strip() or None
        try:
            names = self._actions.reprocess(runs, match)
        except ValueError as e:
            self._say(html.escape(str(e)), error=True)
            return
        self._say(f"Reprocessing {len(names)} variable(s) of run(s) "
                  f"{html.escape(', '.join(map(str, runs)))}.")

    def _cancel(self):
        runs = self._chosen_runs()
        if not runs:
            self._say("Select the runs to cancel first.", error=True)
            return
        self._actions.cancel(runs)
        self._say(f"Cancelled run(s) {html.escape(', '.join(map(str, runs)))}.")

    def _export(self):
        suffix = _EXPORTS[self.export_kind.value]
        path = self._actions.export_name(suffix)
        try:
            written = self._actions.export(path)
        except (OSError, ValueError) as e:
            self._say(f"Could not export to {html.escape(str(path))}: "
                      f"{html.escape(str(e))}", error=True)
            return
        self._say(f"Exported to {html.escape(str(written))}")


def _column_html(spec):
    """A column described: its title, variable name, units, tags and description."""
    if isinstance(spec, str):
        return f"<b>{html.escape(spec)}</b>"
    parts = [f"<b>{html.escape(spec.header)}</b>"]
    if not spec.fixed:
        parts.append(f"variable <code>{html.escape(spec.key)}</code>")
    if spec.units:
        parts.append(f"in {html.escape(spec.units)}")
    if spec.tags:
        parts.append("tags: " + html.escape(", ".join(spec.tags)))
    if spec.editable:
        parts.append("typed by hand: click a cell to edit it")
    text = " · ".join(parts)
    if spec.description:
        text += f"<br>{html.escape(spec.description)}"
    return text
