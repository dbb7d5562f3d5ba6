"""``dashboard(proposal)``: a proposal's runs on a control-room screen: the table, a plot and
the status line, following the database and processing nothing.

A dashboard is a `RunTable` made with ``watch=False``: it reads what the table that processes
the runs (or DAMNIT) writes, so any number of screens can show a proposal without computing
anything twice. It is read-only as a wall screen is: no Reprocess or Cancel, no editing of
comments or of user-typed variables, no Export (which would write beside the dashboard's
notebook, on the server). What it offers is looking: jump to a run, newest first (the
default), column choice and filters, a click's detail, copy as Markdown, and the plot's
pickers. Comments are written where runs are processed (the notebook's table, or DAMNIT), and
appear on every dashboard within a second.

``damnit-nb dashboard PROPOSAL`` serves a notebook calling it with Voila (`serve_dashboard`).
"""

from __future__ import annotations

from pathlib import Path

import ipywidgets as widgets

from .databases import DATABASE_DIRS, database_dir

__all__ = ["dashboard", "Dashboard", "find_database"]


def find_database(proposal_dir):
    """The database directory of the proposal at ``proposal_dir``: the first of
    `DATABASE_DIRS` holding a ``runs.sqlite``. FileNotFoundError if there is none."""
    proposal_dir = Path(proposal_dir)
    found = database_dir(proposal_dir)
    if found is not None:
        return Path(found)
    looked = " and ".join(str(proposal_dir / sub) for sub in DATABASE_DIRS)
    raise FileNotFoundError(
        f"no run database for {proposal_dir} (looked in {looked}): a dashboard shows what the "
        "table processing the runs (RunTable(...) in a notebook) or DAMNIT writes; start that "
        "first, or pass database=")


def dashboard(proposal, y=None, x="run", *, database=None, proposal_number=None,
              newest_first=True):
    """A read-only view of a proposal's runs for a control-room screen (see the module's
    text): the status line, the table and a plot of ``y`` against ``x`` side by side.

    proposal: the proposal's directory, or its number (found under ``$DAMNIT_NB_DATA_ROOT``,
        default ``/gpfs/exfel/exp``).
    y, x: the plotted variables, by name or title (``"run"``: the run number); ``y`` by
        default is the table's first numeric variable. The plot's pickers change them.
    database: the database directory (default: DAMNIT's, else RunTable's, of the proposal).
    proposal_number: needed only if the directory's name is not ``p<number>``.
    newest_first: the newest run on top (and so in view).

    Returns a `Dashboard` widget; ``close()`` stops following the database.
    """
    from .data.run import find_proposal
    from .store.database import DB_NAME
    from .table import RunTable

    proposal_dir = Path(find_proposal(proposal))
    if database is None:
        database = find_database(proposal_dir)
    elif not (Path(database) / DB_NAME).is_file():
        raise FileNotFoundError(f"no run database in {database} (no {DB_NAME}): give the "
                                "directory holding the proposal's runs.sqlite")
    table = RunTable(proposal_dir, database=database, proposal_number=proposal_number,
                     watch=False)
    try:
        return Dashboard(table, y=y, x=x, newest_first=newest_first)
    except BaseException:
        table.close()
        raise


class Dashboard(widgets.VBox):
    """What `dashboard` returns: the parts of ``table``'s app that show, laid out for a
    screen, and a plot (`plot`). ``table`` is a `RunTable` that only follows its database."""

    def __init__(self, table, *, y=None, x="run", newest_first=True):
        from .widgets.model import RUN_KEY
        from .widgets.plot import numeric_columns

        self.table = table
        app = table.widget
        self.app = app
        self._unsubscribe = None
        app.post(app.newest_first, value=newest_first)  # linked to the grid
        if y is None:
            plotted = [key for key, _ in numeric_columns(app.model) if key != RUN_KEY]
            if plotted:
                self.plot = table.plot(plotted[0], x)
            else:  # no numeric variable yet: the first to come is plotted
                self.plot = app.new_plot("", app.model.find_column(x))
                self._unsubscribe = app.model.subscribe(self._first_variable)
        else:
            self.plot = table.plot(y, x)
        toolbar = widgets.HBox([app.jump, app.newest_first, app.copy_button, app.count],
                               layout=widgets.Layout(flex_flow="row wrap",
                                                     align_items="center"))
        self.options = widgets.Accordion([app.columns, app.filters],
                                         titles=("Columns", "Filters"), selected_index=None)
        left = widgets.VBox([toolbar, self.options, app.grid, app.detail, app.markdown],
                            layout=widgets.Layout(flex="3 1 640px", min_width="0"))
        right = widgets.VBox([self.plot],
                             layout=widgets.Layout(flex="2 1 420px", min_width="0"))
        body = widgets.HBox([left, right], layout=widgets.Layout(
            flex_flow="row wrap", align_items="flex-start", width="100%"))
        super().__init__([app.status, body], layout=widgets.Layout(width="100%"))

    def _first_variable(self, version):
        """(Any thread.) The model changed: plot its first numeric variable, if there is
        one now and no variable was picked."""
        from .widgets.model import RUN_KEY
        from .widgets.plot import numeric_columns

        if self.plot.y:
            return
        keys = [key for key, _ in numeric_columns(self.app.model) if key != RUN_KEY]
        if keys:
            self.app.post(self.plot, y=keys[0])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Stop following the database and close the widgets; safe to call twice."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.table.close()
        self.options.close()
        super().close()
