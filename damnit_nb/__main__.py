"""Command line: ``damnit-nb simulate|demo|ls|notebooks|dashboard ...`` (or
``python -m damnit_nb``).

Each subcommand imports only what it needs: only the chosen one's module is imported (to add
its arguments), so ``notebooks`` or ``dashboard`` start without numpy or the widgets.
"""

import argparse
import sys

__all__ = ["main"]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    parser = argparse.ArgumentParser(prog="damnit-nb", description="damnit_nb's command line: run tables of European XFEL runs in Jupyter.")
    sub = parser.add_subparsers(dest="command", required=True)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parsers = {}
    for name, (text, setup) in _COMMANDS.items():
        about = setup.__doc__ if name == chosen else None
        parsers[name] = sub.add_parser(name, help=text, description=about)
        if name == chosen:
            setup(parsers[name])

    args = parser.parse_args(argv)
    if args.command == "ls" and args.run is None and args.data is not None:
        parsers["ls"].error("--data needs a proposal and a run number (ls PROPOSAL RUN), "
                            "not a directory")
    return args.func(args) or 0


def _simulate_parser(parser):
    """Write simulated runs into a proposal directory, as the DAQ does."""
    from . import simulate

    simulate.add_arguments(parser)
    parser.set_defaults(func=simulate.run_cli)


def _demo_parser(parser):
    """JupyterLab on a live simulated proposal, the quickstart open."""
    from . import demo

    demo.add_arguments(parser)
    parser.set_defaults(func=_demo)


def _ls_parser(parser):
    """Print a run's trains, duration, detectors and sources (and keys with --keys).

    Exit status 0; 1 if the run cannot be read or some of its files were skipped as
    unreadable (each named on stderr).
    """
    _ls_arguments(parser)
    parser.set_defaults(func=_ls)


def _notebooks_parser(parser):
    """Copy the tutorial notebooks into DIR (a file there you changed is kept unless --force)."""
    from . import tutorials

    tutorials.add_arguments(parser)
    parser.set_defaults(func=tutorials.run_cli)


def _dashboard_parser(parser):
    """Serve a read-only dashboard of PROPOSAL (table, plot, status) with Voila on
    127.0.0.1: it follows the database and processes nothing."""
    from . import serve_dashboard

    serve_dashboard.add_arguments(parser)
    parser.set_defaults(func=serve_dashboard.run_cli)


_COMMANDS = {
    "simulate": ("write simulated runs into a proposal directory", _simulate_parser),
    "demo": ("JupyterLab on a live simulated proposal", _demo_parser),
    "ls": ("summary of a run: trains, detectors, sources, keys", _ls_parser),
    "notebooks": ("copy the tutorial notebooks into a directory", _notebooks_parser),
    "dashboard": ("a read-only dashboard of a proposal, served with Voila", _dashboard_parser),
}


def _demo(args):
    from . import demo
    from ._processes import require_psutil

    try:
        require_psutil()  # checked first: without it, the demo could not stop what it starts
    except ImportError as e:
        print(f"damnit_nb demo: error: {e}", file=sys.stderr)
        return 2
    return demo.run_cli(args)


def _ls_arguments(parser):
    parser.add_argument("where", metavar="RUN_DIR|PROPOSAL",
                        help="a run directory, or a proposal (number or directory) with RUN")
    parser.add_argument("run", metavar="RUN", type=int, nargs="?", default=None,
                        help="run number, when the first argument is a proposal")
    parser.add_argument("--keys", action="store_true",
                        help="list each source's keys with dtype and entry shape")
    parser.add_argument("--data", choices=("raw", "proc", "all"), default=None,
                        help="with PROPOSAL RUN: raw (default), proc or all data")


def _ls(args):
    """``ls``: see `_ls_parser`."""
    import warnings

    from . import DamnitNbWarning
    from .data import RunDirectory, open_run
    from .data.summary import run_summary

    skipped = 0
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DamnitNbWarning)
            if args.run is None:
                run = RunDirectory(args.where)
            else:
                run = open_run(args.where, args.run, data=args.data or "raw")
            text = run_summary(run, keys=args.keys)
    except (OSError, ValueError, KeyError) as e:  # reading errors say what to do next
        print(f"damnit_nb ls: error: {_one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    for w in caught:
        skipped += issubclass(w.category, DamnitNbWarning)
        print(f"damnit_nb ls: warning: {_one_line(w.message)}", file=sys.stderr)
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into head: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 1 if skipped else 0


def _one_line(error):
    """An error (or warning) as one line; built-in exceptions are named."""
    text = str(error)
    if isinstance(error, Exception) and type(error).__module__ == "builtins":
        text = f"{type(error).__name__}: {text}"
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
