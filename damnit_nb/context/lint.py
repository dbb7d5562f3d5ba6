"""Checking a context file's code before it is used: syntax errors block, pyflakes warns.

Syntax errors stop a context file being used (``ContextFileError``); what pyflakes finds
(undefined names, unused imports, redefinitions...) does not, as DAMNIT's editor does it:
those come back as ``ContextWarning`` s with their line. The string annotations of variables
(``"var#name"``, ``"meta#run_number"``...) are not Python expressions, so they are not
reported as undefined names.
"""

import ast
from dataclasses import dataclass
from pathlib import Path

from .errors import ContextFileError
from .names import DEP_PREFIXES

__all__ = ["ContextWarning", "check_context_file", "check_context_source", "pyflakes_warnings"]


@dataclass(frozen=True)
class ContextWarning:
    """Something in a context file that is probably a mistake but does not stop it running."""

    line: int
    column: int
    message: str
    kind: str = ""  # pyflakes' name for it: UnusedImport, UndefinedName...

    def __str__(self):
        return f"line {self.line}: {self.message}"


def check_context_file(path) -> list[ContextWarning]:
    """Check the context file at ``path``; its warnings, by line.

    Raises ``ContextFileError`` if it cannot be read or has a syntax error (with its line).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ContextFileError([f"cannot read the context file: {e.strerror}"], path) from e
    return check_context_source(text, str(path))


def check_context_source(text, filename="<context>") -> list[ContextWarning]:
    """``check_context_file`` for code given as text."""
    try:
        tree = ast.parse(text, filename)
    except SyntaxError as e:
        raise ContextFileError([f"line {e.lineno}: syntax error: {e.msg}"], filename) from e
    return pyflakes_warnings(tree, filename)


def pyflakes_warnings(tree, filename) -> list[ContextWarning]:
    """pyflakes' messages for a parsed module, the variables' annotations aside (they are
    removed from ``tree``)."""
    from pyflakes.checker import Checker

    _DropDependencyAnnotations().visit(tree)
    checker = Checker(tree, filename=filename)
    messages = sorted(checker.messages, key=lambda m: (m.lineno, getattr(m, "col", 0)))
    return [ContextWarning(m.lineno, getattr(m, "col", 0), m.message % m.message_args,
                           type(m).__name__) for m in messages]


class _DropDependencyAnnotations(ast.NodeVisitor):
    """Removes ``"prefix#..."`` annotations of function arguments, in place."""

    def visit_arguments(self, node):
        for arg in [*node.posonlyargs, *node.args, *node.kwonlyargs, node.vararg, node.kwarg]:
            if arg is not None and _is_dependency(arg.annotation):
                arg.annotation = None
        self.generic_visit(node)


def _is_dependency(annotation):
    return (isinstance(annotation, ast.Constant) and isinstance(annotation.value, str)
            and annotation.value.partition("#")[0] in DEP_PREFIXES
            and "#" in annotation.value)
