"""Code versions: a hash of what a variable's function uses, the same in every process.

A function's code version covers:

- its source text (``inspect.getsource``), without its decorators for a variable's own
  function (the ``Variable`` settings that change values count apart: see
  ``Variable.own_version``); where the source cannot be read, its code object instead
  (bytecode, constants, names, nested functions; no line numbers, file names or addresses);
- the values of its closure and of its default arguments;
- every module-level (global) name its code, nested functions and lambdas included, refers to,
  as found in the code objects (``LOAD_GLOBAL``...): constants by value (numbers, strings,
  bytes, tuples, lists, dicts and sets of them, numpy arrays by content), helper functions of
  the same namespace by all of this again, recursively, classes of it by their methods and
  attributes, instances of them by their attributes too. The namespace is the context file's,
  or for a variable defined in a notebook cell the kernel's, as it is when the version is taken;
- for a method of a ``Group`` instance, the instance's settings and the members of its class
  that the code reaches (``self.helper(...)``, recursively).

What does not count: imported modules and what comes from them, which count by their name only
(``np`` is ``numpy``, ``np.mean`` is ``numpy.mean``, whatever version of numpy is installed);
builtins; files the code reads; environment variables; the data. Other objects count by their
``repr`` or, where that shows a memory address (it has no stable representation), by their
type's name only. Sets count sorted and dicts in order, so no hash randomisation shows through.

Source text counts as written: a new comment is a change. Code without readable source counts
by its bytecode, which differs from one Python version to the next. Values count as they are
when the version is taken (``Variable.own_version``: once, when the variable joins its first
``Definitions``), so a list the code appends to as it runs does not make it out of date.
"""

import ast
import builtins
import dis
import enum
import functools
import hashlib
import inspect
import re
import sys
import textwrap
import types

__all__ = ["code_version", "CodeVersions"]

_GLOBAL_LOADS = frozenset({"LOAD_GLOBAL", "LOAD_NAME", "LOAD_FROM_DICT_OR_GLOBALS"})
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+|0x[0-9a-fA-F]{8,}")
_LONG = 256  # longer strings and bytes count by their hash, to keep the text short
_MAX_DEPTH = 100  # objects nested deeper count by their type (well inside the recursion limit)
# Class attributes that say nothing about what its code does: bookkeeping, metadata, and what
# dataclasses generate from the fields (the instances' values count instead).
_CLASS_NOISE = frozenset({
    "__dict__", "__weakref__", "__module__", "__qualname__", "__doc__", "__annotations__",
    "__dataclass_fields__", "__dataclass_params__", "__match_args__", "__damnit_group_tags__",
})
# A group instance's attributes that only name and label its columns.
_GROUP_LABELS = frozenset({"title", "tags", "sep"})


def code_version(func, shared=None) -> str:
    """A hash of ``func``'s code and of what it uses (see the module's documentation).

    ``shared``, a ``CodeVersions``, describes what several functions use (a large array, a
    helper) once for all of them.
    """
    return (shared or CodeVersions())(func)


class CodeVersions:
    """``code_version`` for many functions, each object they use described once."""

    def __init__(self):
        self._describers = {}  # id(namespace) -> (namespace, _Describer)

    def __call__(self, func) -> str:
        namespace = getattr(getattr(func, "__func__", func), "__globals__", None)
        entry = self._describers.get(id(namespace))
        if entry is None:
            entry = self._describers[id(namespace)] = (namespace, _Describer(namespace))
        text = entry[1].root(func)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class _Describer:
    """Turns objects into text that is the same in every process for the same code.

    ``namespace`` is the globals of the variables' functions: helpers there are described
    by content even if it is an imported module's (a script's, a test's).
    """

    def __init__(self, namespace):
        self._root_globals = namespace
        self._done = {}  # id -> (object, text); holding the object keeps its id unused
        self._active = set()  # ids being described: a reference back is a recursion
        self._cuts = 0  # recursions met: text made while cutting one is not kept for reuse

    # -- the variable's function --------------------------------------------------------------
    def root(self, func):
        if isinstance(func, types.MethodType) and isinstance(func.__func__, types.FunctionType):
            return "\n".join([self._function(func.__func__, strip_decorators=True),
                              self._method_context(func.__self__, func.__func__.__code__)])
        if isinstance(func, types.FunctionType):
            return self._function(func, strip_decorators=True)
        return self.value(func)

    def _method_context(self, instance, code):
        """The instance's attributes and the members of its class that ``code`` reaches."""
        cls = type(instance)
        todo, seen, members = list(_attribute_names(code)), set(), []
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            member = _class_member(cls, name)
            if member is None or not self._is_own_class(member[0]):
                continue
            value = member[1]
            members.append(f"member {name}={self.value(value)}")
            for function in _functions_of(value):
                todo.extend(_attribute_names(function.__code__))
        group = getattr(cls, "__damnit_group__", False) is True
        attrs = {k: v for k, v in _instance_attributes(instance).items()
                 if not (group and k in _GROUP_LABELS and k not in seen)}
        return "\n".join([f"self {_qualified_name(cls)}={self.value(attrs)}", *sorted(members)])

    # -- values -------------------------------------------------------------------------------
    def value(self, obj):
        """Stable text for any object (see the module's documentation)."""
        simple = _simple(obj)
        if simple is not None:
            return simple
        key = id(obj)
        if key in self._done:
            return self._done[key][1]
        if key in self._active or len(self._active) >= _MAX_DEPTH:
            self._cuts += 1
            return f"<recursion {_qualified_name(type(obj))}>"
        cuts = self._cuts
        self._active.add(key)
        try:
            text = self._describe(obj)
        except Exception as e:  # an object's own code raised (a __getattr__...): by type
            text = f"<{_qualified_name(type(obj))} object: {type(e).__name__} describing it>"
        finally:
            self._active.discard(key)
        if self._cuts == cuts:  # the same whatever was being described around it
            self._done[key] = (obj, text)
        return text

    def _describe(self, obj):
        t = type(obj)
        if isinstance(obj, enum.Enum):
            return f"enum {_qualified_name(t)}.{obj.name}"
        if isinstance(obj, (tuple, list)):
            return f"{_qualified_name(t)}({', '.join(self.value(v) for v in obj)})"
        if isinstance(obj, (set, frozenset)):
            return f"{_qualified_name(t)}{{{', '.join(sorted(self.value(v) for v in obj))}}}"
        if isinstance(obj, dict):
            items = ", ".join(f"{self.value(k)}: {self.value(v)}" for k, v in obj.items())
            return f"{_qualified_name(t)}{{{items}}}"
        array = _numpy_text(obj, self.value)
        if array is not None:
            return array
        if isinstance(obj, types.ModuleType):
            return f"module {obj.__name__}"
        if isinstance(obj, types.FunctionType):
            if self._is_own_function(obj):
                return self._function(obj)
            return self._by_name("function", obj)
        if isinstance(obj, types.MethodType):
            return f"method {self.value(obj.__func__)} of {self.value(obj.__self__)}"
        if isinstance(obj, (staticmethod, classmethod)):
            return f"{t.__name__} {self.value(obj.__func__)}"
        if isinstance(obj, property):
            return f"property {self.value((obj.fget, obj.fset, obj.fdel))}"
        if isinstance(obj, functools.partial):
            return (f"partial {self.value(obj.func)} {self.value(obj.args)} "
                    f"{self.value(obj.keywords)}")
        if isinstance(obj, type):
            if self._is_own_class(obj):
                return self._class(obj)
            return f"class {_qualified_name(obj)}"
        if isinstance(obj, types.CodeType):
            return self._code(obj)
        if callable(obj) and hasattr(obj, "__wrapped__"):  # a decorator's wrapper, a Variable
            return f"{_qualified_name(t)} wrapping {self.value(obj.__wrapped__)}"
        if self._is_own_class(t):
            return f"{self.value(t)} instance {self.value(_instance_attributes(obj))}"
        if callable(obj) and hasattr(obj, "__qualname__"):  # builtins, ufuncs...
            return self._by_name("callable", obj)
        try:
            text = repr(obj)
        except Exception:  # a repr that fails counts as one with no stable representation
            text = " at 0x"
        if _ADDRESS.search(text):
            return f"<{_qualified_name(t)} object: no stable representation, counted by type>"
        return f"{_qualified_name(t)} {_shorten(text)}"

    def _by_name(self, kind, obj):
        text = f"{kind} {_qualified_name(obj)}"
        wrapped = getattr(obj, "__wrapped__", None)
        if wrapped is not None:
            text += f" wrapping {self.value(wrapped)}"
        return text

    # -- functions, code, classes -------------------------------------------------------------
    def _function(self, func, strip_decorators=False):
        code = func.__code__
        source = _source(code, strip_decorators)
        parts = [f"function {func.__name__}",
                 f"source {source}" if source is not None else self._code(code),
                 f"defaults {self.value(func.__defaults__)} {self.value(func.__kwdefaults__)}"]
        for name, cell in zip(code.co_freevars, func.__closure__ or ()):
            try:
                contents = cell.cell_contents
            except ValueError:  # not assigned yet
                parts.append(f"closure {name} empty")
            else:
                parts.append(f"closure {name}={self.value(contents)}")
        namespace = func.__globals__
        for name in sorted(_global_names(code)):
            if name in namespace:
                parts.append(f"global {name}={self.value(namespace[name])}")
            elif not hasattr(builtins, name):
                parts.append(f"global {name} undefined")
        return "\n".join(parts)

    def _code(self, code):
        """A code object without what changes from one process or load to the next."""
        consts = ", ".join(self.value(c) for c in code.co_consts)
        exceptions = getattr(code, "co_exceptiontable", b"")
        return (f"code {code.co_name} args {code.co_argcount} {code.co_posonlyargcount} "
                f"{code.co_kwonlyargcount} flags {code.co_flags} names {code.co_names} "
                f"locals {code.co_varnames} free {code.co_freevars} cells {code.co_cellvars} "
                f"bytecode {code.co_code.hex()} exceptions {exceptions.hex()} consts ({consts})")

    def _class(self, cls):
        bases = ", ".join(self.value(b) for b in cls.__bases__ if b is not object)
        members = [f"{name}={self.value(value)}" for name, value in sorted(vars(cls).items())
                   if name not in _CLASS_NOISE]
        return f"class {cls.__qualname__}({bases}) {{{'; '.join(members)}}}"

    def _is_own_function(self, func):
        """Whether ``func`` is defined in the variable's namespace, or another that no module
        imported holds (a context file, a notebook, code given to ``exec``)."""
        namespace = func.__globals__
        if namespace is self._root_globals:
            return True
        name = namespace.get("__name__")  # the namespace's own (``__module__`` can be copied)
        module = sys.modules.get(name) if isinstance(name, str) else None
        return name == "__main__" or getattr(module, "__dict__", None) is not namespace

    def _is_own_class(self, cls):
        module = getattr(cls, "__module__", None)
        root = (self._root_globals or {}).get("__name__")
        return module == root or module == "__main__" or module not in sys.modules


def _simple(obj):
    """Text for the values that are their own description (None when ``obj`` is not one)."""
    t = type(obj)
    if obj is None or obj is Ellipsis or t in (bool, int, float, complex):
        return f"{t.__name__} {obj!r}"
    if t in (str, bytes):
        return f"{t.__name__} {_shorten(repr(obj))}"
    return None


def _shorten(text):
    if len(text) <= _LONG:
        return text
    return f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"


def _numpy_text(obj, describe):
    """Text for a numpy array (by content) or scalar; None for anything else."""
    np = sys.modules.get("numpy")
    if np is None:
        return None
    if isinstance(obj, np.ndarray):
        kind = f"{_qualified_name(type(obj))} {obj.dtype} {obj.shape}"
        if obj.dtype.hasobject:
            return f"{kind} {describe(obj.tolist())}"
        data = np.ascontiguousarray(obj).tobytes()
        return f"{kind} sha256:{hashlib.sha256(data).hexdigest()}"
    if isinstance(obj, np.generic) and not obj.dtype.hasobject:
        return f"{type(obj).__name__} {obj.dtype} {obj.tobytes().hex()}"
    return None


def _source(code, strip_decorators):
    """The source text of a code object (decorators removed if asked), or None."""
    try:
        text = inspect.getsource(code)  # a code object: not unwrapped, unlike a function
    except Exception:  # no file, no linecache entry, a file changed beyond recognition...
        return None
    if not strip_decorators:
        return text
    dedented = textwrap.dedent(text)
    try:
        tree = ast.parse(dedented)
    except SyntaxError:  # a lambda in the middle of an expression, say
        return text
    node = tree.body[0] if len(tree.body) == 1 else None
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.decorator_list:
        return "".join(dedented.splitlines(True)[node.lineno - 1:])
    return dedented


def _code_objects(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _global_names(code):
    """Names the code (and its nested functions, lambdas, comprehensions) loads as globals."""
    names = set()
    for each in _code_objects(code):
        try:
            names.update(i.argval for i in dis.get_instructions(each)
                         if i.opname in _GLOBAL_LOADS)
        except Exception:  # bytecode dis cannot read: every name it uses, attributes too
            names.update(each.co_names)
    return names


def _attribute_names(code):
    """Every name the code uses (attributes, globals...), nested code included."""
    return {name for each in _code_objects(code) for name in each.co_names}


def _class_member(cls, name):
    """``(defining class, value)`` of attribute ``name`` along ``cls``'s MRO, or None."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass, vars(klass)[name]
    return None


def _functions_of(member):
    """The Python functions a class member runs (a method, property, Variable...)."""
    found, todo = [], [member]
    while todo:
        obj = todo.pop()
        if isinstance(obj, types.FunctionType):
            found.append(obj)
        elif isinstance(obj, (staticmethod, classmethod, types.MethodType)):
            todo.append(obj.__func__)
        elif isinstance(obj, property):
            todo.extend(f for f in (obj.fget, obj.fset, obj.fdel) if f is not None)
        elif callable(obj) and hasattr(obj, "__wrapped__"):
            todo.append(obj.__wrapped__)
    return found


def _instance_attributes(obj):
    attrs = dict(getattr(obj, "__dict__", {}))
    for klass in type(obj).__mro__:
        slots = vars(klass).get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if isinstance(slot, str) and hasattr(obj, slot):
                attrs.setdefault(slot, getattr(obj, slot))
    return attrs


def _qualified_name(obj):
    module = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or "?"
    return f"{module}.{name}" if module else str(name)
