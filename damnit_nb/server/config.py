"""`DamnitNbServer`: the extension's settings, read from the server's configuration
(``c.DamnitNbServer.proposal_roots = [...]`` in ``jupyter_server_config.py``, or
``--DamnitNbServer.proposal_roots=...`` on the command line)."""

from traitlets import List, Unicode, default
from traitlets.config import Configurable

__all__ = ["DamnitNbServer"]


class DamnitNbServer(Configurable):
    """What the ``damnit-nb`` endpoints serve; made with ``parent=serverapp``."""

    proposal_roots = List(
        Unicode(),
        help="Directories whose proposals are served, as the facility lays them out "
             "(<root>/<instrument>/<cycle>/p<number>), looked up in this order, e.g. "
             "['/gpfs/exfel/exp']. Nothing outside them is read. Default: the server's "
             "root directory.",
    ).tag(config=True)

    notebook_dir = Unicode(
        "",
        help="Where /damnit-nb/open makes a proposal's notebook (damnit-p<number>.ipynb): a "
             "directory relative to the server's root, made if missing. Default: the root.",
    ).tag(config=True)

    @default("proposal_roots")
    def _default_roots(self):
        return [self.parent.root_dir] if self.parent is not None else []
