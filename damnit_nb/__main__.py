"""Command line: ``python -m damnit_nb simulate|demo|ls ...``."""

import argparse
import sys

__all__ = ["main"]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m damnit_nb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    from . import demo, simulate

    p_sim = sub.add_parser("simulate", help="write simulated runs into a proposal directory")
    simulate.add_arguments(p_sim)
    p_sim.set_defaults(func=simulate.run_cli)

    p_demo = sub.add_parser("demo", help="JupyterLab on a live simulated proposal")
    demo.add_arguments(p_demo)
    p_demo.set_defaults(func=_demo)

    p_ls = sub.add_parser("ls", help="summary of a run: trains, detectors, sources, keys",
                          description=_ls.__doc__)
    _ls_arguments(p_ls)
    p_ls.set_defaults(func=_ls)

    args = parser.parse_args(argv)
    if args.command == "ls" and args.run is None and args.data is not None:
        p_ls.error("--data needs a proposal and a run number (ls PROPOSAL RUN), not a directory")
    return args.func(args) or 0


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
    """Print a run's trains, duration, detectors and sources (and keys with --keys).

    Exit status 0; 1 if the run cannot be read or some of its files were skipped as
    unreadable (each named on stderr).
    """
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
