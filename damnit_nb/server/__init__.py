"""The Jupyter server extension: ``{base_url}damnit-nb/`` serves proposals' run tables as
JSON (``api/runs``), their thumbnails, and ``open?proposal=P``, the link that makes a
proposal's notebook (once) and opens it in JupyterLab or Notebook 7.

Installing damnit_nb enables it (``etc/jupyter/jupyter_server_config.d/damnit_nb.json``;
after an editable install: ``jupyter server extension enable damnit_nb``). Settings in
`config.DamnitNbServer` (``c.DamnitNbServer.proposal_roots``, ``.notebook_dir``).

Loading it imports only the standard library, traitlets and the server's own modules: what
reads databases (numpy, h5py) is imported by the first request that needs it.

Modules: ``config`` (the settings), ``proposals`` (finding a proposal under the roots),
``runs`` (a run table as JSON, thumbnails), ``notebook`` (the notebook ``open`` makes and its
URL), ``handlers`` (the endpoints), ``errors``.
"""

from .config import DamnitNbServer

__all__ = ["DamnitNbServer"]


def _load_jupyter_server_extension(serverapp):
    """Add the ``damnit-nb`` handlers to the server's web application."""
    from .handlers import PREFIX, handlers

    server = DamnitNbServer(parent=serverapp)
    base_url = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*$", handlers(base_url, server))
    serverapp.log.info("damnit_nb: %s%s/ serves the proposals under %s", base_url, PREFIX,
                       ", ".join(server.proposal_roots) or "no directory")
