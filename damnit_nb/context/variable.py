"""The DAMNIT context-file vocabulary: ``Variable``, ``Cell`` and ``Skip``.

A variable is a Python function of a run, declared with the ``Variable`` decorator. The same
decorator works in a context file (``from damnit_ctx import Variable``) and in a notebook cell
(through ``RunTable.variable``). In a ``Group`` class, a variable read on an instance is a
``BoundVariable`` (``xgm.energy``).
"""

import copy
import hashlib
import inspect
from dataclasses import dataclass
from typing import Any

from .codeversion import code_version
from .errors import VariableDefinitionError
from .names import DEP_PREFIXES, META_NAMES, MYMDC_NAMES, is_variable_name, normalise_tags

__all__ = ["Variable", "BoundVariable", "Cell", "Skip"]


class Skip(Exception):
    """Raise ``Skip("reason")`` in a variable when it does not apply to a run.

    The cell shows as skipped, with the reason, rather than as an error.
    """


@dataclass
class Cell:
    """A variable's value with display options: ``return Cell(data, summary="max", bold=True)``.

    ``summary_value`` overrides ``summary``; ``background`` is ``"#rrggbb"`` or ``(r, g, b)``;
    ``units`` takes precedence over the DataArray's and the Variable's.
    """

    data: Any
    summary: str | None = None
    summary_value: Any = None
    bold: bool | None = None
    background: Any = None
    preview: Any = None
    units: str | None = None


class Variable:
    """Declare a function of a run as a column of the run table.

    Usable bare (``@Variable``) or called (``@Variable(title="XGM/Intensity", summary="mean")``).
    The first argument of the function is the run; further arguments are declared with string
    annotations: ``"var#name"`` (another variable's result; a glob such as ``"var#xgm.*"``
    gives ``{name: result}``), ``"meta#run_number"``, ``"meta#proposal"``,
    ``"meta#proposal_path"``, ``"param#name"`` (a value given when runs are processed),
    ``"mymdc#sample_name"`` (``run_type``, ``techniques``: the facility's metadata) and, in a
    ``Group``, ``"self#attribute"``.

    In a ``Group`` class the function is a method: ``def energy(self, run, ...)``.
    """

    def __init__(self, title=None, description=None, summary=None, data=None, cluster=False,
                 tags=None, transient=False, units=None):
        func = None
        if callable(title) and not isinstance(title, str):
            func, title = title, None
        self._title = title
        self._description = description
        self.summary = summary
        self.data = data
        self.cluster = cluster
        self.tags = normalise_tags(tags)
        self.transient = transient
        self.units = units
        self.func = None
        self._name = None  # set for a group's variables ("xgm.energy") or by assignment
        self._annotations = None  # resolved annotations, for a group's variables
        self._code_version = None  # taken the first time it is asked for
        problems = self._check_arguments()
        if problems:
            raise VariableDefinitionError("; ".join(problems))
        if func is not None:
            self._attach(func)

    def __call__(self, *args, **kwargs):
        """Attach the decorated function, or, once attached, call it."""
        if self.func is None:
            if len(args) != 1 or kwargs or not callable(args[0]):
                raise TypeError("Variable(...) decorates a function: put it on a line "
                                "above 'def name(run): ...'")
            self._attach(args[0])
            return self
        return self.func(*args, **kwargs)

    def __get__(self, instance, owner=None):
        """On a Group instance, a variable of the class reads as that instance's variable."""
        if instance is not None and getattr(type(instance), "__damnit_group__", False):
            return BoundVariable(instance, self)
        return self

    def _attach(self, func):
        self.func = func
        problems = self._check_function()
        if problems:
            raise VariableDefinitionError(f"variable {self.name!r}: " + "; ".join(problems))

    def _derive(self, func, *, name, title, tags, annotations):
        """A copy of this variable for another function and name (a Group's variables)."""
        new = copy.copy(self)
        new.func = func
        new._name = name
        new._title = title
        new.tags = tuple(tags)
        new._annotations = dict(annotations)
        new._code_version = None
        return new

    @property
    def __wrapped__(self):
        """The decorated function, as ``functools.wraps`` gives it (for tools that unwrap)."""
        if self.func is None:
            raise AttributeError("__wrapped__")
        return self.func

    # -- what a variable is -------------------------------------------------------------------
    @property
    def name(self) -> str:
        if self._name is not None:
            return self._name
        return self.func.__name__ if self.func is not None else ""

    @name.setter
    def name(self, value):
        if not is_variable_name(value):
            raise VariableDefinitionError(
                f"variable name {value!r} is not a Python identifier or dotted name of them")
        self._name = value

    @property
    def title(self) -> str:
        return self._title or self.name

    @title.setter
    def title(self, value):
        if not isinstance(value, str) or not value:
            raise VariableDefinitionError(f"title must be a non-empty string, not {value!r}")
        self._title = value

    @property
    def description(self) -> str | None:
        if self._description is not None:
            return self._description
        doc = getattr(self.func, "__doc__", None)  # the function's own, never inherited
        return inspect.cleandoc(doc) if isinstance(doc, str) else None

    @property
    def line(self) -> tuple[str, int] | None:
        """(file name, first line) of the function's definition, if known."""
        code = getattr(getattr(self.func, "__func__", self.func), "__code__", None)
        return (code.co_filename, code.co_firstlineno) if code is not None else None

    def _parameters(self):
        params = list(inspect.signature(self.func).parameters.values())
        # a method of a Group class, not yet bound to an instance, takes ``self`` first
        skip = 2 if _is_method_definition(self.func) and not inspect.ismethod(self.func) else 1
        return params[:skip], params[skip:]

    def annotations(self) -> dict[str, str]:
        """Parameter name -> annotation string, for parameters after ``run``."""
        if self._annotations is not None:
            return dict(self._annotations)
        return {p.name: p.annotation for p in self._parameters()[1]}

    def arg_dependencies(self) -> dict[str, str]:
        """Parameter name -> variable name or glob, for ``"var#name"`` parameters."""
        return {p: a.split("#", 1)[1] for p, a in self.annotations().items()
                if isinstance(a, str) and a.startswith("var#")}

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in inspect.signature(self.func).parameters.values()
                if p.default is not inspect.Parameter.empty}

    def source(self) -> str:
        """The function's source text (its bytecode when the source is not available)."""
        try:
            return inspect.getsource(self.func)
        except (OSError, TypeError):
            code = getattr(self.func, "__func__", self.func).__code__
            return repr((code.co_code, code.co_consts, code.co_names))

    def own_version(self, shared=None) -> str:
        """A hash of what determines this variable's values, its dependencies aside.

        It covers the function's code and what that uses (constants, helpers, classes, a
        group's settings and methods: see ``codeversion``), taken the first time it is asked
        for (when the variable joins a ``Definitions``), and the settings that change values:
        ``summary``, ``units``, ``data`` and ``transient`` (not ``title``, ``description``,
        ``tags`` or ``cluster``). ``shared``: a ``CodeVersions`` used for several variables.
        """
        if self._code_version is None:
            self._code_version = code_version(self.func, shared)
        settings = repr((self.summary, self.units, self.data, bool(self.transient)))
        if self._annotations is not None:
            settings += repr(sorted(self._annotations.items()))
        return hashlib.sha256((self._code_version + settings).encode()).hexdigest()[:16]

    def __repr__(self):
        return f"<Variable {self.name!r} title={self.title!r}>"

    # -- checks -------------------------------------------------------------------------------
    def _check_arguments(self):
        problems = []
        if self._title is not None and (not isinstance(self._title, str) or not self._title):
            problems.append(f"title must be a non-empty string, not {self._title!r}")
        if self._description is not None and not isinstance(self._description, str):
            problems.append(f"description must be a string, not {self._description!r}")
        if self.summary is not None:
            import numpy as np

            if not isinstance(self.summary, str) or not callable(getattr(np, self.summary, None)):
                problems.append(f"summary must name a numpy function such as 'mean' or 'max', "
                                f"not {self.summary!r}")
        if self.data not in (None, "raw", "proc"):
            problems.append(f"data must be 'raw' or 'proc', not {self.data!r}")
        if self.tags is None:
            problems.append("tags must be a non-empty string or a list of them")
        if self.units is not None and (not isinstance(self.units, str) or not self.units):
            problems.append(f"units must be a non-empty string, not {self.units!r}")
        return problems

    def _check_function(self):
        problems = []
        if not is_variable_name(self.name):
            problems.append("the function needs a name made of letters, digits and underscores")
        try:
            first, params = self._parameters()
        except (TypeError, ValueError):
            return problems + ["cannot read the function's signature"]
        if _is_method_definition(self.func) and not inspect.ismethod(self.func):
            if len(first) < 2:
                return problems + ["in a Group, the function takes self and the run first: "
                                   "def name(self, run, ...)"]
        elif not first:
            return problems + ["the function must take the run as its first argument"]
        for p in params:
            ann = p.annotation
            if ann is inspect.Parameter.empty:
                if p.default is inspect.Parameter.empty:
                    problems.append(f"argument {p.name!r} needs an annotation such as "
                                    f"'var#other_variable' or 'meta#run_number', or a default")
                continue
            if not isinstance(ann, str) or "#" not in ann:
                problems.append(f"argument {p.name!r}: annotation {ann!r} should be a string "
                                f"like 'var#name' or 'meta#run_number'")
                continue
            prefix, _, rest = ann.partition("#")
            if prefix not in DEP_PREFIXES:
                problems.append(f"argument {p.name!r}: unknown prefix {prefix!r} in {ann!r} "
                                f"(use one of: {', '.join(p + '#' for p in DEP_PREFIXES)})")
            elif prefix == "meta" and rest not in META_NAMES:
                problems.append(f"argument {p.name!r}: unknown {ann!r} (meta# takes "
                                f"{', '.join(META_NAMES)})")
            elif prefix == "mymdc" and rest not in MYMDC_NAMES:
                problems.append(f"argument {p.name!r}: unknown {ann!r} (mymdc# takes "
                                f"{', '.join(MYMDC_NAMES)})")
            elif not rest:
                problems.append(f"argument {p.name!r}: {ann!r} needs a name after the '#'")
        return problems


class BoundVariable:
    """A group class's variable read on an instance (``xgm.energy``).

    Its ``name`` is the instance's name and the variable's, known once the context file has
    run and unnamed instances have taken the name they are assigned to; so one instance's
    variable can be given to another as a field before names are settled.
    """

    def __init__(self, group, variable):
        self.group = group
        self.variable = variable

    @property
    def name(self):
        return f"{self.group.name}.{self.variable.name}"

    def __getattr__(self, attr):
        return getattr(self.variable, attr)

    def __repr__(self):
        return f"<BoundVariable {self.name!r}>"


def _is_method_definition(func):
    """Whether ``func`` was defined in a class body (a Group's variable)."""
    qualname = getattr(getattr(func, "__func__", func), "__qualname__", "")
    parts = qualname.split(".")
    return len(parts) > 1 and parts[-2] != "<locals>"

