"""A checked, ordered, immutable set of variables: what the engine computes for each run."""

import copy
import fnmatch
import graphlib
import hashlib
from types import MappingProxyType

from .codeversion import CodeVersions
from .errors import DefinitionError
from .names import is_glob
from .variable import Variable

__all__ = ["Definitions", "is_glob"]  # is_glob: names.py's, for the engine's var# arguments


class Definitions:
    """Variables by name, in execution order, with a code version for each.

    A variable's version covers its own (``Variable.own_version``: its code, what the code
    uses, the settings that change its values) and its dependencies' versions, so a change to
    one variable, or to a constant or helper it uses, makes it and everything that depends on
    it out of date, and nothing else.
    ``"var#..."`` arguments may be globs (``"var#xgm.*"``); each must match a variable.
    As in DAMNIT, a variable depending (directly or not) on a ``data="proc"`` one is proc too,
    and one depending on a ``cluster=True`` one runs on the cluster too: ``variables`` and
    ``self[name]`` give them so (``declared`` gives them as written).
    Instances never change: redefining a variable makes a new ``Definitions``.
    ``warnings`` holds what a check of the source found that does not stop it being used.
    """

    def __init__(self, variables=(), source=None, *, warnings=()):
        by_name = {}
        for var in variables:
            if not isinstance(var, Variable) or var.func is None:
                raise TypeError(f"expected a Variable with its function, got {var!r}")
            by_name.pop(var.name, None)  # a redefinition moves to the end
            by_name[var.name] = var
        deps, problems = _resolve_dependencies(by_name, source)
        problems += _check_titles(by_name, source)
        cycles = _check_cycles(by_name, deps)
        problems += cycles
        if not cycles:
            order = _execution_order(by_name, deps)
            effective = _inherit(by_name, deps, order)
            problems += _check_data(by_name, effective, deps, order, source)
        if problems:
            raise DefinitionError(problems, source)
        self._declared = MappingProxyType(by_name)
        self._vars = MappingProxyType(effective)
        self._deps = MappingProxyType(deps)
        self.order = tuple(order)
        self.versions = MappingProxyType(_versions(by_name, deps, self.order))
        self.warnings = tuple(warnings)

    @property
    def variables(self):
        """Read-only mapping name -> Variable, in definition order."""
        return self._vars

    @property
    def declared(self):
        """The variables as defined, before proc data and cluster are inherited."""
        return self._declared

    def __len__(self):
        return len(self._vars)

    def __contains__(self, name):
        return name in self._vars

    def __getitem__(self, name):
        return self._vars[name]

    def __iter__(self):
        return iter(self.order)

    def dependencies(self, name):
        """Argument -> names of the variables it takes, for ``name``'s ``var#`` arguments
        (one name, or every variable a glob matches, in execution order)."""
        return dict(self._deps[name])

    def with_variable(self, var):
        """A new Definitions with ``var`` added or replacing the one of the same name."""
        return Definitions([*self._declared.values(), var])

    def merged(self, other):
        """These variables, overridden and extended by ``other``'s."""
        return Definitions([*self._declared.values(), *other._declared.values()],
                           warnings=self.warnings + other.warnings)

    def stale(self, stored_versions):
        """Names, in execution order, whose stored version differs from the current one."""
        return [n for n in self.order if stored_versions.get(n) != self.versions[n]]

    def with_ancestors(self, names):
        """``names`` plus every variable they depend on, in execution order."""
        wanted, todo = set(), list(names)
        while todo:
            name = todo.pop()
            if name not in wanted:
                wanted.add(name)
                todo.extend(d for deps in self._deps[name].values() for d in deps)
        return [n for n in self.order if n in wanted]

    def __repr__(self):
        return f"<Definitions {list(self.order)}>"


def _where(var, source):
    """``"line N: "`` for a variable defined in the file ``source``, else ``""``."""
    line = var.line
    if source is not None and line is not None and line[0] == str(source):
        return f"line {line[1]}: "
    return ""


def _resolve_dependencies(by_name, source):
    """name -> {argument: (dependency names...)}, and the problems found."""
    deps, problems = {}, []
    for name, var in by_name.items():
        where = _where(var, source)
        deps[name] = {}
        for param, annotation in var.annotations().items():
            if isinstance(annotation, str) and annotation.startswith("self#"):
                problems.append(f"{where}variable {name!r}: argument {param!r} is "
                                f"{annotation!r}, but self# links only work in a Group class")
        for param, pattern in var.arg_dependencies().items():
            if is_glob(pattern):
                found = tuple(n for n in by_name if fnmatch.fnmatchcase(n, pattern))
                if not found:
                    problems.append(f"{where}variable {name!r}: argument {param!r} needs "
                                    f"'var#{pattern}', but no variable name matches it")
            elif pattern in by_name:
                found = (pattern,)
            else:
                found = ()
                problems.append(f"{where}variable {name!r}: argument {param!r} needs "
                                f"'var#{pattern}', but no variable has that name")
            deps[name][param] = found
    return deps, problems


def _direct(deps, name):
    return {d for found in deps[name].values() for d in found}


def _check_cycles(by_name, deps):
    sorter = graphlib.TopologicalSorter({name: _direct(deps, name) for name in by_name})
    try:
        sorter.prepare()
    except graphlib.CycleError as e:
        cycle = " -> ".join(e.args[1])
        return [f"variables depend on each other in a cycle: {cycle}"]
    return []


def _execution_order(by_name, deps):
    sorter = graphlib.TopologicalSorter()
    position = {name: i for i, name in enumerate(by_name)}
    for name in by_name:
        sorter.add(name, *_direct(deps, name))
    sorter.prepare()
    order = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        order.extend(ready)
        sorter.done(*ready)
    return order


def _ancestors(deps, order):
    """name -> every variable it depends on, directly or not."""
    ancestors = {}
    for name in order:
        found = set()
        for dep in _direct(deps, name):
            found.add(dep)
            found |= ancestors[dep]
        ancestors[name] = found
    return ancestors


def _inherit(by_name, deps, order):
    """The variables with proc data and cluster inherited from what they depend on (copies
    where that changes something; the variables given are not changed)."""
    ancestors = _ancestors(deps, order)
    effective = dict(by_name)
    for name in order:
        var = by_name[name]
        changes = {}
        if var.data is None and any(by_name[d].data == "proc" for d in ancestors[name]):
            changes["data"] = "proc"
        if not var.cluster and any(by_name[d].cluster for d in ancestors[name]):
            changes["cluster"] = True
        if changes:
            var = copy.copy(var)
            vars(var).update(changes)
        effective[name] = var
    return {name: effective[name] for name in by_name}


def _check_titles(by_name, source):
    problems = []
    titles = {}
    for name, var in by_name.items():
        other = titles.setdefault(var.title, name)
        if other != name:
            problems.append(f"{_where(var, source)}variables {other!r} and {name!r} have the "
                            f"same title {var.title!r}: give one of them another title")
    return problems


def _check_data(by_name, effective, deps, order, source):
    problems = []
    ancestors = _ancestors(deps, order)
    for name, var in by_name.items():
        if var.data == "raw":
            proc = sorted(d for d in ancestors[name] if effective[d].data == "proc")
            if proc:
                problems.append(f"{_where(var, source)}variable {name!r} is data='raw' but "
                                f"depends on {', '.join(map(repr, proc))}, which use proc "
                                "data: remove data='raw'")
    return problems


def _versions(by_name, deps, order):
    """name -> a hash of the variable's own version and its dependencies' (by name)."""
    versions, shared = {}, CodeVersions()
    for name in order:
        own = sorted(_direct(deps, name))
        text = by_name[name].own_version(shared) + "".join(f";{d}={versions[d]}" for d in own)
        versions[name] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return versions
