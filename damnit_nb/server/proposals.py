"""Finding a proposal's directory and database under the roots the server serves.

Proposals are where the facility puts them: ``<root>/<instrument>/<cycle>/p<number>`` (the
number zero-padded to six digits, ``p001234``, or not, ``p1234``). A request names one by its
number (``1234``, ``p001234``) or by its directory (absolute, or relative to a root). Every path
is resolved (``..``, symlinks) before it is compared with the roots, and one outside them is
refused whether it exists or not. The database is DAMNIT's (``usr/Shared/amore``) or, if there
is none, damnit_nb's default (``usr/Shared/damnit_nb``); it must lie under the roots too.

Standard library only: the server imports this module when it starts.
"""

from __future__ import annotations

import glob
import os
import re
from typing import NamedTuple

from ..databases import database_dir
from .errors import BadRequestError, NotFoundError, OutsideRootsError

__all__ = ["Proposal", "find_proposal"]

#: Where a proposal's database may be, first found first: DAMNIT's, then RunTable's default.
_CONTEXT_FILE = "context.py"


class Proposal(NamedTuple):
    """A proposal found under the roots. ``path``: its directory, resolved; ``database``: the
    directory holding its ``runs.sqlite`` (None if it has none yet); ``context``: that
    directory's ``context.py`` (None if it has none)."""

    number: int
    path: str
    database: str | None
    context: str | None


def find_proposal(value, roots) -> Proposal:
    """The proposal *value* names (a number, ``p<number>``, or a directory) under *roots*.

    Raises BadRequestError for a value that is neither, OutsideRootsError for a path (or a
    database) outside the roots, NotFoundError if no such proposal is under them.
    """
    roots = [os.path.realpath(r) for r in roots]
    text = (value or "").strip()
    if not text:
        raise BadRequestError("Say which proposal: ?proposal=1234 (its number) or "
                              "?proposal=/path/to/p001234 (its directory).", value)
    m = re.fullmatch(r"p?(\d+)", text)
    if m:
        path = _by_number(int(m.group(1)), roots)
        name = os.path.basename(path)
    else:
        path = _by_path(text, roots)
        name = os.path.basename(os.path.normpath(text))
    m = re.fullmatch(r"p(\d+)", name)
    if not m:
        raise BadRequestError(f"{text} is not a proposal directory: its name must be "
                              "p<number> (like p001234).", value)
    database = context = None
    found = database_dir(path)
    if found is not None:
        database = os.path.realpath(found)
        if not _under(database, roots):
            raise OutsideRootsError(database, roots)
        if os.path.isfile(os.path.join(database, _CONTEXT_FILE)):
            context = os.path.join(database, _CONTEXT_FILE)
    return Proposal(int(m.group(1)), path, database, context)


def _under(path, roots):
    return any(os.path.commonpath([path, root]) == root for root in roots)


def _by_number(number, roots):
    outside = None
    for root in roots:
        for name in dict.fromkeys((f"p{number:06d}", f"p{number}")):
            pattern = os.path.join(glob.escape(root), "*", "*", name)
            for found in sorted(glob.glob(pattern)):
                real = os.path.realpath(found)
                if not os.path.isdir(real):
                    continue
                if _under(real, roots):
                    return real
                outside = found
    if outside is not None:  # only a link out of the roots has that number
        raise OutsideRootsError(os.path.realpath(outside), roots)
    where = ", ".join(os.path.join(r, "*", "*", f"p{number:06d}") for r in roots) or "nowhere"
    raise NotFoundError(f"No proposal {number} here (looked for {where}). Check the number, "
                        "or give the proposal's directory.")


def _by_path(text, roots):
    if os.path.isabs(text):
        candidates = [text]
    else:
        candidates = [os.path.join(root, text) for root in roots]
    inside = [real for real in map(os.path.realpath, candidates) if _under(real, roots)]
    if not inside:
        raise OutsideRootsError(text, roots)
    for real in inside:
        if os.path.isdir(real):
            return real
    raise NotFoundError(f"No proposal directory at {text}. Check the path, or give the "
                        "proposal's number.")
