"""Loading a DAMNIT context file: run it as a module and collect its variables."""

import sys
import threading
import types
from pathlib import Path

from .definitions import DefinitionError, Definitions
from .variable import Variable, VariableDefinitionError

__all__ = ["load_context_file", "ContextFileError"]

_import_lock = threading.Lock()


class ContextFileError(DefinitionError):
    """A context file cannot be used; the message names the file, the line and the fix."""


def load_context_file(path) -> Definitions:
    """Run the context file at ``path`` and return its variables, checked.

    ``from damnit_ctx import Variable, Cell, Skip`` works inside it, as with DAMNIT.
    Raises ContextFileError listing every problem (syntax errors with their line, code that
    raises while loading, invalid variables).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ContextFileError([f"cannot read the context file: {e.strerror}"], path) from e
    try:
        code = compile(text, str(path), "exec")
    except SyntaxError as e:
        raise ContextFileError([f"line {e.lineno}: syntax error: {e.msg}"], path) from e

    module = types.ModuleType("damnit_context", doc=f"DAMNIT context file {path}")
    module.__file__ = str(path)
    with _import_lock:
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

    variables = [v for v in vars(module).values() if isinstance(v, Variable) and v.func]
    try:
        return Definitions(variables, source=path)
    except DefinitionError as e:
        raise ContextFileError(e.problems, path) from None


def _damnit_ctx_module():
    """The module that ``import damnit_ctx`` gives a context file."""
    from damnit_nb import context

    mod = types.ModuleType("damnit_ctx", doc="DAMNIT's context-file names, from damnit_nb")
    for name in ("Variable", "Cell", "Skip"):
        setattr(mod, name, getattr(context, name))
    return mod


def _error_line(exc, path):
    tb = exc.__traceback__
    line = "?"
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
