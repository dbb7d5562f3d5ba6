"""``damnit-nb dashboard PROPOSAL``: the dashboard notebook shipped with the package
(`NOTEBOOK`), served with Voila on 127.0.0.1, and how that notebook learns its proposal.

The command checks the proposal, then replaces itself with ``python -m voila`` (Ctrl-C stops
Voila and its kernels), the proposal in ``$DAMNIT_NB_DASHBOARD_PROPOSAL`` (`ENV_PROPOSAL`);
every page opened is a kernel running `damnit_nb.dashboard` on it, following the database and
processing nothing. Voila comes with the ``dashboard`` extra. Standard library only.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import sys
from pathlib import Path

__all__ = ["NOTEBOOK", "ENV_PROPOSAL", "ENV_Y", "proposal_from_environment", "voila_command",
           "add_arguments", "run_cli"]

#: The dashboard notebook inside the installed package.
NOTEBOOK = Path(__file__).resolve().parent / "notebooks" / "dashboard.ipynb"
#: The environment variables the dashboard notebook reads: the proposal, and what to plot.
ENV_PROPOSAL = "DAMNIT_NB_DASHBOARD_PROPOSAL"
ENV_Y = "DAMNIT_NB_DASHBOARD_Y"


def proposal_from_environment(query_string=None):
    """(For the dashboard notebook.) The ``(proposal, y)`` asked for: ``$DAMNIT_NB_DASHBOARD_
    PROPOSAL`` and ``$DAMNIT_NB_DASHBOARD_Y``; without the first, ``proposal=`` and ``y=`` of
    the page's query string (Voila gives it to the kernel as ``$QUERY_STRING``). ``y`` is
    None when not given. ValueError if no proposal is."""
    from urllib.parse import parse_qs

    if query_string is None:
        query_string = os.environ.get("QUERY_STRING", "")
    query = parse_qs(query_string)
    proposal = os.environ.get(ENV_PROPOSAL)
    y = os.environ.get(ENV_Y) if proposal else None
    if not proposal:  # a served proposal is never switched by the URL
        proposal = (query.get("proposal") or [None])[0]
        y = (query.get("y") or [None])[0]
    if not proposal:
        raise ValueError(f"Which proposal? Run damnit-nb dashboard PROPOSAL, set {ENV_PROPOSAL}, "
                         "or add ?proposal=NUMBER_OR_DIRECTORY to the page's URL")
    return proposal, y or None


def voila_command(port, token, notebook=NOTEBOOK):
    """The command serving ``notebook`` with this Python's Voila on 127.0.0.1:``port``."""
    return [
        sys.executable, "-m", "voila", str(notebook),
        "--no-browser",
        "--Voila.ip=127.0.0.1",
        f"--port={port}",
        "--Voila.port_retries=0",
        f"--token={token}",
    ]  # fmt: skip


def add_arguments(parser):
    """Add ``dashboard``'s arguments to an argparse (sub)parser."""
    parser.add_argument("proposal", metavar="PROPOSAL",
                        help="the proposal's directory, or its number (found under "
                             "$DAMNIT_NB_DATA_ROOT, default /gpfs/exfel/exp)")
    parser.add_argument("--port", type=int, default=8866,
                        help="Voila's port on 127.0.0.1 (default: 8866)")
    parser.add_argument("--y", default=None, metavar="VARIABLE",
                        help="the variable plotted first, by name or title (default: the "
                             "first numeric one)")


def run_cli(args):
    """Check the proposal and Voila, print the URL, then become Voila (``os.execve``). Exit
    status 2, saying why, if the proposal or Voila is missing."""
    problem = _proposal_problem(args.proposal)
    if problem:
        print(f"damnit-nb dashboard: error: {problem}", file=sys.stderr)
        return 2
    if importlib.util.find_spec("voila") is None:
        print("damnit-nb dashboard: error: Voila is not installed; install it with "
              "pip install 'damnit_nb[dashboard]'", file=sys.stderr)
        return 2
    proposal = args.proposal
    if os.sep in proposal or os.path.isdir(proposal):
        proposal = os.path.abspath(proposal)
    env = dict(os.environ, **{ENV_PROPOSAL: proposal})
    env.pop(ENV_Y, None)
    if args.y:
        env[ENV_Y] = args.y
    token = secrets.token_hex(24)
    print(f"damnit-nb dashboard: proposal {proposal}, read-only (nothing is processed here).\n"
          f"  Open http://127.0.0.1:{args.port}/?token={token}\n"
          "  Press Ctrl-C to stop.", flush=True)
    command = voila_command(args.port, token)
    os.execve(command[0], command, env)
    return 0  # not reached (but where tests replace os.execve)


def _proposal_problem(proposal):
    """Why ``proposal`` cannot be shown (a sentence), or None. A number is looked up by the
    dashboard's kernel, which says so on the page if there is no such proposal (reading the
    facility's layout here would import the data reader)."""
    import re

    if os.sep in proposal or os.path.isdir(proposal):
        if not os.path.isdir(proposal):
            return f"no proposal directory at {os.path.abspath(proposal)}"
        return None
    if not re.fullmatch(r"p?\d+", proposal.strip()):
        return f"PROPOSAL is a number or a directory, not {proposal!r}"
    return None
