"""Loading a DAMNIT context file: run it as a module and collect its variables."""

import ast
import linecache
import sys
import threading
import types
from contextlib import contextmanager
from pathlib import Path

from .definitions import Definitions
from .errors import ContextFileError, DefinitionError, VariableDefinitionError
from .group import expand_groups
from .lint import pyflakes_warnings
from .variable import Variable

__all__ = ["load_context_file"]

_import_lock = threading.Lock()


def load_context_file(path) -> Definitions:
    """Run the context file at ``path`` and return its variables, checked.

    ``from damnit_ctx import Variable, Cell, Skip, Group`` works inside it, as with DAMNIT.
    The variables are those defined at the top level and those of the ``Group`` instances it
    makes. Raises ContextFileError listing every problem, by line where it has one (syntax
    errors, code that raises while loading, invalid variables or groups, unknown
    dependencies...). What pyflakes finds does not stop loading: it is in the returned
    ``Definitions``' ``warnings``.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ContextFileError([f"cannot read the context file: {e.strerror}"], path) from e
    try:
        tree = ast.parse(text, str(path))
        code = compile(tree, str(path), "exec")
    except SyntaxError as e:
        raise ContextFileError([f"line {e.lineno}: syntax error: {e.msg}"], path) from e
    lines = _definition_lines(tree)
    warnings = pyflakes_warnings(tree, str(path))  # (this drops annotations from the tree)

    module = types.ModuleType("damnit_context", doc=f"DAMNIT context file {path}")
    module.__file__ = str(path)
    with _import_lock, _source_in_linecache(path, text):
        previous = sys.modules.get("damnit_ctx")
        sys.modules["damnit_ctx"] = _damnit_ctx_module()
        try:
            exec(code, module.__dict__)
        except VariableDefinitionError as e:
            raise ContextFileError([f"line {_error_line(e, path)}: {e}"], path) from e
        except Exception as e:
            raise ContextFileError(
                [f"line {_error_line(e, path)}: loading raised {type(e).__name__}: {e}"], path
            ) from e
        finally:
            if previous is not None:
                sys.modules["damnit_ctx"] = previous
        return _definitions(vars(module), path, lines, warnings)


def _definitions(namespace, path, lines, warnings):
    """The checked variables of a context file's namespace, once it has run."""
    variables = {}
    for value in namespace.values():
        if isinstance(value, Variable) and value.func is not None:
            variables[value.name] = value

    def where(obj):
        if isinstance(obj, Variable):
            line = obj.line
            return f"line {line[1]}: " if line and line[0] == str(path) else ""
        names = [k for k, v in namespace.items() if v is obj and k in lines]
        line = lines.get(names[0]) if names else lines.get(type(obj).__name__)
        return f"line {line}: " if line else ""

    try:
        group_vars, problems = expand_groups(namespace, where)
    except Exception as e:  # a group's own code (a property, __getattr__...) raised
        raise ContextFileError([f"line {_error_line(e, path)}: making the variables of the "
                                f"groups raised {type(e).__name__}: {e}"], path) from e
    for var in group_vars:
        if var.name in variables:
            problems.append(f"{where(var)}variable name {var.name!r} of a group instance is "
                            "also the name of another variable: rename one of them")
        else:
            variables[var.name] = var
    try:
        defs = Definitions(variables.values(), source=path, warnings=warnings)
    except DefinitionError as e:
        problems += e.problems
    if problems:
        raise ContextFileError(problems, path)
    return defs


@contextmanager
def _source_in_linecache(path, text):
    """While the context file loads and after, ``inspect`` (code versions) and tracebacks read
    its lines from the text being loaded, not from the file, which may be saved again
    meanwhile; as IPython does for cells. A load that fails puts back what was there."""
    key = str(path)
    previous = linecache.cache.get(key)
    lines = text.splitlines(True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    linecache.cache[key] = (len(text), None, lines, key)  # no mtime: never checked on disk
    try:
        yield
    except BaseException:
        if previous is None:
            linecache.cache.pop(key, None)
        else:
            linecache.cache[key] = previous
        raise


def _damnit_ctx_module():
    """The module that ``import damnit_ctx`` gives a context file."""
    from damnit_nb import context

    mod = types.ModuleType("damnit_ctx", doc="DAMNIT's context-file names, from damnit_nb")
    for name in ("Variable", "Cell", "Skip", "Group", "GroupError"):
        setattr(mod, name, getattr(context, name))
    return mod


def _definition_lines(tree):
    """Top-level name -> line of its last assignment or class/function definition."""
    lines = {}
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            lines[node.name] = node.lineno
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        lines[sub.id] = node.lineno
    return lines


def _error_line(exc, path):
    tb = exc.__traceback__
    line = "?"
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
