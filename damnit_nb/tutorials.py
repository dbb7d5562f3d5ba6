"""The tutorial notebooks shipped inside the package, and ``damnit-nb notebooks DIR``, which
copies them where a user can run and change them.

They live in ``damnit_nb/notebooks/tutorials/`` (package data: the wheel holds them, and a
source checkout runs them as tests with nbval). Copying never replaces a file the user has
changed unless asked to (``force``), and says what it did with each. Standard library only.
"""

from __future__ import annotations

import filecmp
import shutil
import sys
from pathlib import Path
from typing import NamedTuple

__all__ = ["TUTORIALS_DIR", "QUICKSTART", "tutorials", "copy_tutorials", "Copied",
           "add_arguments", "run_cli"]

#: Where the tutorials are, inside the installed package.
TUTORIALS_DIR = Path(__file__).resolve().parent / "notebooks" / "tutorials"
#: The first tutorial, the one the demo opens.
QUICKSTART = TUTORIALS_DIR / "01-quickstart.ipynb"


class Copied(NamedTuple):
    """What `copy_tutorials` did with one tutorial: ``action`` is "copied", "unchanged"
    (the same file is there already), "kept" (a different file is there: the user's, left
    alone) or "replaced" (that file overwritten, with ``force``)."""

    path: Path
    action: str


def tutorials():
    """The tutorials' files, in reading order. FileNotFoundError if the package has none
    (an install without its package data)."""
    found = sorted(TUTORIALS_DIR.glob("*.ipynb"))
    if not found:
        raise FileNotFoundError(
            f"no tutorial notebooks in {TUTORIALS_DIR}: this damnit_nb was installed without "
            "its package data; reinstall it with pip install --force-reinstall damnit_nb")
    return found


def copy_tutorials(directory, force=False):
    """Copy the tutorials into ``directory`` (made if missing) and return a `Copied` for
    each. A file of the same name that differs is kept, unless ``force``."""
    directory = Path(directory)
    sources = tutorials()
    directory.mkdir(parents=True, exist_ok=True)
    done = []
    for source in sources:
        target = directory / source.name
        if not target.exists():
            action = "copied"
        elif target.is_file() and filecmp.cmp(source, target, shallow=False):
            done.append(Copied(target, "unchanged"))
            continue
        elif force and target.is_file():
            action = "replaced"
        else:
            done.append(Copied(target, "kept"))
            continue
        shutil.copyfile(source, target)
        done.append(Copied(target, action))
    return done


def add_arguments(parser):
    """Add ``notebooks``' arguments to an argparse (sub)parser."""
    parser.add_argument("directory", metavar="DIR", help="where to copy the tutorials "
                                                         "(made if missing)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite tutorials you have changed there (default: keep them)")


_SAID = {
    "copied": "copied",
    "unchanged": "already there, unchanged",
    "replaced": "replaced your changed copy (--force)",
    "kept": "kept your changed copy; the shipped version is not copied (delete yours or "
            "pass --force to replace it)",
}


def run_cli(args):
    """``damnit-nb notebooks DIR``: copy, and print a line per tutorial (a changed copy kept
    is said on stderr). Exit status 0; 2 if the tutorials could not be copied."""
    try:
        done = copy_tutorials(args.directory, force=args.force)
    except OSError as e:
        print(f"damnit-nb notebooks: error: {e}", file=sys.stderr)
        return 2
    for item in done:
        print(f"{item.path}: {_SAID[item.action]}",
              file=sys.stderr if item.action == "kept" else sys.stdout)
    print(f"Open them with: jupyter lab {args.directory}")
    return 0
