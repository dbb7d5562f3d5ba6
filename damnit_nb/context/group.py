"""``Group``: reusable sets of variables, as DAMNIT's context files write them.

A group is a class of variables (methods taking ``self`` and the run) made a dataclass by the
``@Group`` decorator. Each instance in a context file gives one set of variables named
``<instance name>.<function name>`` and titled ``<instance title><sep><variable title>``::

    @Group(tags="XGM")
    class XGM:
        source: str

        @Variable(title="Energy")
        def energy(self, run):
            return run[self.source, "pulseEnergy.photonFlux"].ndarray().mean()

        @Variable(title="Energy x2")
        def doubled(self, run, e: "self#energy"):
            return 2 * e

    xgm = XGM(source="SA1_XTD2_XGM/DOOCS/MAIN")   # variables xgm.energy and xgm.doubled

An instance takes ``name`` (default: the name it is assigned to in the context file, or
``<parent>.<attribute>`` for a group held by another), ``title`` (default: the name with
``sep`` for dots), ``tags`` (default: the class's, merged into every variable's) and ``sep``
(default ``"/"``). ``"self#attr"`` links a variable to another of the same instance, to a
variable or group instance given as a field (``"self#inner.energy"``), or to a glob of them
(``"self#energy_*"``); a link to a field left at None gives no value, so the variable is
skipped unless its parameter has a default.
"""

import dataclasses
import re
from collections import deque
from typing import Optional

from .errors import GroupError
from .names import is_glob, is_variable_name, normalise_tags
from .variable import BoundVariable, Variable

__all__ = ["Group", "is_group", "expand_groups"]

_RESERVED = ("name", "title", "tags", "sep")


def Group(cls=None, *, tags=None):
    """Class decorator: a reusable set of variables (see the module's documentation).

    ``tags`` (a string or a list of them) are the instances' default tags; a subclass keeps
    its parent's unless it gives its own. A group class is a keyword-only dataclass, so its
    settings are annotated fields (``source: str``, ``offset: float = 0``); it cannot define
    fields or attributes named ``name``, ``title``, ``tags`` or ``sep``.
    """

    def decorate(cls):
        own_fields = set(cls.__dict__.get("__annotations__", {}))
        clash = sorted((own_fields | set(cls.__dict__)) & set(_RESERVED))
        if clash:
            raise GroupError(f"group class {cls.__name__!r} defines {', '.join(clash)}, which "
                             "every group instance has already: rename "
                             f"{'it' if len(clash) == 1 else 'them'}", cls)
        default_tags = _group_tags(tags)
        if tags is None:
            default_tags = next((base.__dict__["__damnit_group_tags__"]
                                 for base in cls.__mro__[1:]
                                 if "__damnit_group_tags__" in base.__dict__), ())
        if default_tags is None:
            raise GroupError(f"group class {cls.__name__!r}: tags must be a non-empty string "
                             f"or a list of them, not {tags!r}", cls)

        annotations = dict(cls.__dict__.get("__annotations__", {}))
        annotations.update(name=Optional[str], title=Optional[str], tags=object, sep=str)
        cls.__annotations__ = annotations
        cls.name = dataclasses.field(default=None, kw_only=True)
        cls.title = dataclasses.field(default=None, kw_only=True)
        cls.tags = dataclasses.field(default=default_tags, kw_only=True)
        cls.sep = dataclasses.field(default="/", kw_only=True)
        cls.__damnit_group__ = True
        cls.__damnit_group_tags__ = default_tags

        user_post_init = getattr(cls, "__post_init__", None)

        def __post_init__(self, *args):
            normalised = _group_tags(self.tags)
            if normalised is None:
                raise GroupError(f"{type(self).__name__}(tags={self.tags!r}): tags must be a "
                                 "non-empty string or a list of them", self)
            self.tags = normalised
            if self.title is None:
                self.title = self.name
            if user_post_init is not None:
                user_post_init(self, *args)

        if user_post_init is not None:
            __post_init__.__wrapped__ = user_post_init  # (what code versions look into)
        cls.__post_init__ = __post_init__
        return dataclasses.dataclass(cls, kw_only=True)

    return decorate if cls is None else decorate(cls)


def is_group(obj):
    """Whether ``obj`` is an instance of a ``@Group`` class."""
    return getattr(type(obj), "__damnit_group__", False) is True


def expand_groups(namespace, where=lambda obj: ""):
    """The variables of the group instances reachable from ``namespace`` (a context file's
    globals), and the problems found, each a string.

    Unnamed instances take their names from ``namespace`` first. ``where(obj)`` gives a
    ``"line N: "`` prefix for a group instance, a group class or a Variable.
    Returns ``(variables, problems)``; variables are in the order their groups appear.
    """
    problems = []
    groups = _assign_names(namespace, problems, where)
    by_name = {}
    for group in groups:
        name = group.name
        if not is_variable_name(name):
            problems.append(f"{where(group)}group {type(group).__name__!r} instance has name "
                            f"{name!r}: give name= a Python identifier or dotted identifiers")
            continue
        other = by_name.setdefault(name, group)
        if other is not group:
            problems.append(f"{where(group)}two group instances are named {name!r}: give one "
                            "of them another name=")
    if problems:
        return [], problems

    variables = []
    for group in groups:
        variables.extend(_expand(group, problems, where))
    return variables, problems


def _assign_names(namespace, problems, where):
    """Name unnamed instances after where they are held, the shortest path winning; give
    untitled ones their name as title. Returns every instance reachable, parents first."""
    best = {}  # id -> [group, depth, paths]
    queue = deque()

    def offer(group, path, depth):
        entry = best.get(id(group))
        if entry is None or depth < entry[1]:
            best[id(group)] = [group, depth, {path}]
        elif depth == entry[1]:
            entry[2].add(path)
        else:
            return
        queue.append((group, path, depth))

    for key, value in namespace.items():
        if is_group(value) and not key.startswith("__"):
            offer(value, value.name or key, 0)
    expanded = set()
    while queue:
        group, path, depth = queue.popleft()
        if best[id(group)][1] != depth or id(group) in expanded:
            continue
        expanded.add(id(group))
        for attr, value in vars(group).items():
            if is_group(value):
                offer(value, f"{group.name or path}.{attr}", depth + 1)

    ordered = []
    for group, _, paths in best.values():
        if group.name is None:
            if len(paths) > 1:
                problems.append(
                    f"{where(group)}one {type(group).__name__!r} instance is held as "
                    f"{', '.join(sorted(paths))}: give it name= to say which name it has")
                continue
            group.name = next(iter(paths))
        if group.title is None and isinstance(group.name, str):
            group.title = group.name.replace(".", group.sep)
        ordered.append(group)
    return ordered


def _class_variables(group):
    """Attribute name -> Variable, from the group's class and its bases (subclasses win)."""
    found = {}
    for klass in reversed(type(group).__mro__):
        for attr, value in klass.__dict__.items():
            if isinstance(value, Variable) and value.func is not None:
                found[attr] = value
    return found


def _expand(group, problems, where):
    variables = []
    title = group.title if group.title is not None else group.name
    for var in _class_variables(group).values():
        annotations = {}
        for param, annotation in var.annotations().items():
            if isinstance(annotation, str) and annotation.startswith("self#"):
                try:
                    annotation, placeholder = _resolve_link(group, annotation[5:])
                except GroupError as e:
                    problems.append(f"{where(var)}variable {group.name}.{var.name}, argument "
                                    f"{param!r}: {e}")
                    continue
                if placeholder is not None and all(p.name != placeholder.name
                                                   for p in variables):
                    variables.append(placeholder)
            annotations[param] = annotation
        tags = sorted(set(group.tags) | set(var.tags))
        variables.append(var._derive(
            var.func.__get__(group, type(group)), name=f"{group.name}.{var.name}",
            title=f"{title}{group.sep}{var.title}", tags=tags, annotations=annotations))
    return variables


def _resolve_link(group, path):
    """``"self#path"`` of ``group`` as ``("var#name", placeholder Variable or None)``."""
    head, _, rest = path.partition(".")
    try:
        target = getattr(group, head)
    except AttributeError:
        if not rest and is_glob(head):
            return f"var#{group.name}.{head}", None  # a glob over this group's variables
        raise GroupError(f"group {group.name!r} ({type(group).__name__}) has no attribute "
                         f"{head!r} for 'self#{path}'", group) from None
    if target is None:
        placeholder = _missing_link(group, path)
        return f"var#{placeholder.name}", placeholder
    if rest:
        if not is_group(target):
            raise GroupError(f"'self#{path}': {head!r} of group {group.name!r} is a "
                             f"{type(target).__name__}, not a group instance", group)
        return _resolve_link(target, rest)
    if not isinstance(target, (Variable, BoundVariable)):
        raise GroupError(f"'self#{path}': {head!r} of group {group.name!r} is of type "
                         f"{type(target).__name__!r}, but a link needs a Variable", group)
    return f"var#{target.name}", None


def _missing_link(group, path):
    """A transient variable giving no value, standing for a link to a field left at None."""
    def missing(run):
        return None

    safe_path = re.sub(r"[!?*\[\]]", "_", path)  # no glob characters in a name
    name = f"{group.name}.__missing__.{safe_path}"
    var = Variable(transient=True)(missing)
    return var._derive(missing, name=name, title=name, tags=(), annotations={})


def _group_tags(tags):
    """Tags as a tuple (an empty collection allowed); None if they are not strings."""
    return normalise_tags(tags, allow_empty=True)
