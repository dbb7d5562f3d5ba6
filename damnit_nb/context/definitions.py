"""A checked, ordered, immutable set of variables: what the engine computes for each run."""

import graphlib
import hashlib
from types import MappingProxyType

from .variable import Variable

__all__ = ["Definitions", "DefinitionError"]


class DefinitionError(ValueError):
    """The variables cannot be used together; ``problems`` lists every reason at once."""

    def __init__(self, problems, source=None):
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) with the variables{where}:\n{lines}\n"
                         "Fix them and load the variables again.")


class Definitions:
    """Variables by name, in execution order, with a code version for each.

    A variable's version covers its own code and settings and its dependencies' versions, so a
    change to one variable makes it and everything that depends on it out of date.
    Instances never change: redefining a variable makes a new ``Definitions``.
    """

    def __init__(self, variables=(), source=None):
        by_name = {}
        for var in variables:
            if not isinstance(var, Variable) or var.func is None:
                raise TypeError(f"expected a Variable with its function, got {var!r}")
            by_name.pop(var.name, None)  # a redefinition moves to the end
            by_name[var.name] = var
        problems = _check(by_name)
        if problems:
            raise DefinitionError(problems, source)
        self._vars = MappingProxyType(by_name)
        self.order = tuple(_execution_order(by_name))
        self.versions = MappingProxyType(_versions(by_name, self.order))

    @property
    def variables(self):
        """Read-only mapping name -> Variable, in definition order."""
        return self._vars

    def __len__(self):
        return len(self._vars)

    def __contains__(self, name):
        return name in self._vars

    def __getitem__(self, name):
        return self._vars[name]

    def __iter__(self):
        return iter(self.order)

    def with_variable(self, var):
        """A new Definitions with ``var`` added or replacing the one of the same name."""
        return Definitions([*self._vars.values(), var])

    def merged(self, other):
        """These variables, overridden and extended by ``other``'s."""
        return Definitions([*self._vars.values(), *other._vars.values()])

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
                todo.extend(self._vars[name].arg_dependencies().values())
        return [n for n in self.order if n in wanted]

    def __repr__(self):
        return f"<Definitions {list(self.order)}>"


def _check(by_name):
    problems = []
    titles = {}
    for name, var in by_name.items():
        other = titles.setdefault(var.title, name)
        if other != name:
            problems.append(f"variables {other!r} and {name!r} have the same title "
                            f"{var.title!r}: give one of them another title")
        for param, dep in var.arg_dependencies().items():
            if dep not in by_name:
                problems.append(f"variable {name!r}: argument {param!r} needs 'var#{dep}', "
                                "but no variable has that name")
            elif by_name[dep].data == "proc" and var.data == "raw":
                problems.append(f"variable {name!r} is data='raw' but depends on {dep!r}, "
                                "which uses proc data: remove data='raw'")
    try:
        _execution_order(by_name)
    except graphlib.CycleError as e:
        cycle = " -> ".join(e.args[1])
        problems.append(f"variables depend on each other in a cycle: {cycle}")
    return problems


def _execution_order(by_name):
    sorter = graphlib.TopologicalSorter()
    position = {name: i for i, name in enumerate(by_name)}
    for name, var in by_name.items():
        deps = [d for d in var.arg_dependencies().values() if d in by_name]
        sorter.add(name, *deps)
    sorter.prepare()
    order = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        order.extend(ready)
        sorter.done(*ready)
    return order


def _versions(by_name, order):
    versions = {}
    for name in order:
        var = by_name[name]
        deps = sorted(var.arg_dependencies().values())
        text = var.own_version() + "".join(versions[d] for d in deps)
        versions[name] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return versions
