"""The naming rules of the context-file contract: variable names, argument annotations, tags
and ``var#`` globs."""

import re

__all__ = ["DEP_PREFIXES", "META_NAMES", "MYMDC_NAMES", "is_variable_name", "is_glob",
           "normalise_tags"]

DEP_PREFIXES = ("var", "meta", "param", "mymdc", "self")
META_NAMES = ("run_number", "proposal", "proposal_path")
MYMDC_NAMES = ("sample_name", "run_type", "techniques")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def is_variable_name(name):
    """Whether ``name`` is a Python identifier or identifiers joined by dots (``xgm.energy``)."""
    return isinstance(name, str) and _NAME_RE.match(name) is not None


def is_glob(pattern):
    """Whether a ``var#`` name is a glob pattern (``*``, ``?`` or ``[...]``)."""
    return any(c in pattern for c in "*?[")


def normalise_tags(tags, allow_empty=False):
    """Tags as a tuple of non-empty strings (None gives ``()``); None if they are not that
    (or, unless *allow_empty*, an empty collection)."""
    if tags is None:
        return ()
    if isinstance(tags, str):
        return (tags,) if tags else None
    try:
        tags = tuple(tags)
    except TypeError:
        return None
    if (not tags and not allow_empty) or not all(isinstance(t, str) and t for t in tags):
        return None
    return tags
