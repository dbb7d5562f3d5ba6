"""Checking a context file before use: syntax errors block, pyflakes' findings warn."""

import textwrap

import pytest

from damnit_nb.context import (
    ContextFileError, ContextWarning, check_context_file, load_context_file,
)
from damnit_nb.context.lint import check_context_source


def write(tmp_path, text):
    path = tmp_path / "context.py"
    path.write_text(textwrap.dedent(text))
    return path


GOOD_BUT_UNTIDY = '''
    import os
    from damnit_ctx import Variable, Group

    @Variable
    def a(run, n: "meta#run_number", p: "param#gain" = 1, s: "mymdc#sample_name" = ""):
        return n * p

    @Variable
    def b(run, x: "var#a", xs: "var#a*"):
        return x + missing_name

    @Group
    class G:
        @Variable
        def c(self, run, y: "self#d"):
            return y

        @Variable
        def d(self, run):
            return 1

    g = G()
'''


def test_pyflakes_findings_are_warnings_with_lines(tmp_path):
    warnings = check_context_file(write(tmp_path, GOOD_BUT_UNTIDY))
    assert [str(w) for w in warnings] == [
        "line 2: 'os' imported but unused",
        "line 11: undefined name 'missing_name'",
    ]
    assert warnings[0] == ContextWarning(2, 0, "'os' imported but unused", "UnusedImport")


def test_dependency_annotations_are_not_undefined_names():
    # DAMNIT's prefixes: pyflakes would read "var#x" as the name var and a comment
    text = 'def f(run, a: "var#x", b: "meta#proposal", c: "self#y", d: "param#z",\n' \
           '      e: "mymdc#run_type", *, f: "var#q"):\n    return a\n'
    assert check_context_source(text) == []
    # an annotation that is not a dependency is still checked
    assert [w.kind for w in check_context_source('def f(run, a: "Undefined"): pass\n')] == [
        "UndefinedName"]


def test_syntax_errors_are_errors_with_their_line(tmp_path):
    with pytest.raises(ContextFileError, match=r"line 3: syntax error"):
        check_context_file(write(tmp_path, "x = 1\n\ndef broken(:\n"))
    with pytest.raises(ContextFileError, match="cannot read"):
        check_context_file(tmp_path / "nope.py")


def test_loading_keeps_the_warnings_and_does_not_stop(tmp_path):
    defs = load_context_file(write(tmp_path, GOOD_BUT_UNTIDY))
    assert set(defs.variables) == {"a", "b", "g.c", "g.d"}
    assert [w.line for w in defs.warnings] == [2, 11]
    # warnings of a clean file: none
    clean = load_context_file(write(tmp_path, '''
        from damnit_ctx import Variable

        @Variable
        def a(run):
            return 1
    '''))
    assert clean.warnings == ()
