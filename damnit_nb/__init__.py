"""damnit_nb: DAMNIT in Jupyter, a live table of European XFEL runs.

The package root stays light (the Jupyter server extension imports it): the public names
are imported on first use.
"""

__version__ = "0.1.0"

__all__ = ["RunTable", "Database", "dashboard", "DamnitNbWarning", "__version__"]


class DamnitNbWarning(UserWarning):
    """A problem damnit_nb worked around; the message says what to fix."""


def _jupyter_server_extension_points():
    """The Jupyter server extension (`damnit_nb.server`), enabled by installing damnit_nb."""
    return [{"module": "damnit_nb.server"}]


def __getattr__(name):
    if name == "RunTable":
        from .table import RunTable

        return RunTable
    if name == "dashboard":
        from .screen import dashboard

        return dashboard
    if name == "Database":
        from .store import Database

        return Database
    raise AttributeError(f"module 'damnit_nb' has no attribute {name!r}")
