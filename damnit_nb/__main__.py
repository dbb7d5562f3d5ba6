"""Command line: ``python -m damnit_nb simulate|demo ...``."""

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
    p_demo.set_defaults(func=demo.run_cli)

    args = parser.parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
