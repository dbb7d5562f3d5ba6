"""The notebook ``open`` gives for a proposal: its cells (a `RunTable` on the proposal's
database, with the database's context file if it has one, and a few lines of guidance), made
once through the server's contents manager and never overwritten, and its URL in the front
end in use (JupyterLab or Notebook 7)."""

from __future__ import annotations

import os

from jupyter_server.utils import ensure_async, url_escape, url_path_join

from .errors import BadRequestError, PathInTheWayError
from ..databases import DATABASE_DIRS

__all__ = ["notebook_name", "notebook_content", "ensure_notebook", "frontend", "notebook_url",
           "FRONTENDS"]

#: ``ui`` values and where each front end opens a notebook.
FRONTENDS = {"lab": "lab/tree", "notebook": "notebooks"}

_VARIABLE_EXAMPLE = '''\
@table.variable(title="XGM/Intensity", summary="mean", units="uJ")
def xgm_intensity(run):
    return run["SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD"].xarray()'''


def notebook_name(proposal):
    return f"damnit-p{proposal.number}.ipynb"


def _is_damnits(proposal):
    """Whether the database is DAMNIT's own (whose backend processes the runs)."""
    return proposal.database is not None and proposal.database == os.path.realpath(
        os.path.join(proposal.path, DATABASE_DIRS[0]))


def notebook_content(proposal):
    """The new notebook for a `proposals.Proposal`, as an nbformat v4 node."""
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    args = [repr(proposal.path)]
    if proposal.context is not None:
        args.append(f"context={proposal.context!r}")
    if proposal.database is not None:
        args.append(f"database={proposal.database!r}")
    damnits = _is_damnits(proposal)
    if damnits:
        args.append("watch=False")
    code = ("from damnit_nb import RunTable\n\ntable = RunTable(\n"
            + "".join(f"    {a},\n" for a in args) + ")\ntable")
    if damnits:
        processing = ("DAMNIT processes this proposal's runs: the table shows its database "
                      "and follows it (`watch=False`); `table.start()` makes this kernel "
                      "compute the variables too.")
    else:
        processing = ("The table processes each new run in this kernel"
                      + (", with the variables of the context file" if proposal.context else "")
                      + ", and stores the values in the proposal's database.")
    intro = (f"# Proposal {proposal.number}\n\n"
             f"A live table of the runs of `{proposal.path}`: run the cell below "
             "(Shift+Enter). It fills itself as runs arrive; no cell needs running again.")
    guide = (f"- {processing}\n"
             "- Add a column from a cell: it appears at once and fills for every run.\n\n"
             f"  ```python\n  " + _VARIABLE_EXAMPLE.replace("\n", "\n  ") + "\n  ```\n"
             "- `table.to_dataframe()` gives the values as a pandas DataFrame; "
             "`table.export(\"runs.xlsx\")` writes them to a file (also `.csv`, `.md`).\n"
             "- This notebook is yours: the proposal's link opens it again as you left it.")
    nb = new_notebook(cells=[new_markdown_cell(intro), new_code_cell(code),
                             new_markdown_cell(guide)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


async def ensure_notebook(contents_manager, directory, proposal):
    """``(path, created)``: the proposal's notebook in *directory* (an API path relative to
    the server's root, made if missing), made now if it does not exist; an existing one is
    never changed."""
    directory = directory.strip("/")
    parts = [p for p in directory.split("/") if p]
    for i in range(len(parts)):  # the directory, made one level at a time
        sub = "/".join(parts[: i + 1])
        if not await ensure_async(contents_manager.dir_exists(sub)):
            await ensure_async(contents_manager.save({"type": "directory"}, sub))
    path = "/".join([*parts, notebook_name(proposal)])
    if await ensure_async(contents_manager.file_exists(path)):
        return path, False
    if await ensure_async(contents_manager.dir_exists(path)):
        raise PathInTheWayError(f"{path} is a directory, in the way of the proposal's "
                                "notebook: rename it, or set c.DamnitNbServer.notebook_dir.")
    model = {"type": "notebook", "format": "json", "content": notebook_content(proposal)}
    await ensure_async(contents_manager.save(model, path))
    return path, True


def frontend(serverapp, ui=None):
    """Which front end opens the notebook: *ui* if given ("lab" or "notebook"), else the one
    the server's default URL names (``/lab``, or ``/tree`` for Notebook 7), else JupyterLab
    if it is enabled, else Notebook 7 if it is, else JupyterLab."""
    if ui:
        if ui not in FRONTENDS:
            raise BadRequestError(f"ui must be one of {', '.join(FRONTENDS)}, not {ui!r}.", ui)
        return ui
    default = "/" + (serverapp.default_url or "").lstrip("/")
    if default.startswith("/lab"):
        return "lab"
    if default.startswith(("/tree", "/notebooks")):
        return "notebook"
    enabled = {name for name, on in serverapp.jpserver_extensions.items() if on}
    if "jupyterlab" in enabled or "notebook" not in enabled:
        return "lab"
    return "notebook"


def notebook_url(base_url, path, ui):
    """The URL of the notebook at API path *path* in front end *ui*."""
    return url_path_join(base_url, FRONTENDS[ui], url_escape(path))
