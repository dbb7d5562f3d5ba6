"""What the notebook shows: the run table's components (grid, column chooser, filters, log
pane, status) composed by `app.TableApp`, fed by a `model.TableModel` through the one update
thread of `pump`. Imported lazily: ``import damnit_nb.widgets`` loads no widget library."""

__all__ = ["TableApp", "RunGrid", "TableModel", "ColumnSpec", "Cell"]

_WHERE = {"TableApp": "app", "RunGrid": "grid", "TableModel": "model", "ColumnSpec": "model",
          "Cell": "cells"}


def __getattr__(name):
    if name in _WHERE:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
