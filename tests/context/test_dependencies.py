"""How variables name what they take: var# names and globs, param#, mymdc#, self#."""

import textwrap

import pytest

from damnit_nb.context import ContextFileError, Definitions, Variable, load_context_file


def problems_of(tmp_path, text):
    path = tmp_path / "context.py"
    path.write_text("from damnit_ctx import Variable\n" + textwrap.dedent(text))
    with pytest.raises(ContextFileError) as info:
        load_context_file(path)
    return info.value.problems


def test_every_dependency_problem_at_once_with_lines(tmp_path):
    problems = problems_of(tmp_path, '''
        @Variable(data="proc")
        def p(run):
            return 1

        @Variable
        def via(run, x: "var#p"):
            return x

        @Variable(data="raw")
        def raw(run, x: "var#via"):
            return x

        @Variable
        def globbed(run, x: "var#nothing_*" = None):
            return x

        @Variable
        def named(run, x: "var#nothing" = None):
            return x

        @Variable
        def linked(run, x: "self#p"):
            return x
    ''')
    assert problems == [
        "line 15: variable 'globbed': argument 'x' needs 'var#nothing_*', but no variable "
        "name matches it",
        "line 19: variable 'named': argument 'x' needs 'var#nothing', but no variable has "
        "that name",
        "line 23: variable 'linked': argument 'x' is 'self#p', but self# links only work in "
        "a Group class",
        "line 11: variable 'raw' is data='raw' but depends on 'p', 'via', which use proc "
        "data: remove data='raw'",
    ]


def test_mymdc_fields_and_empty_names_are_checked():
    with pytest.raises(ValueError, match="mymdc# takes sample_name, run_type, techniques"):
        @Variable
        def a(run, s: "mymdc#proposal_title"):
            return s

    with pytest.raises(ValueError, match="needs a name after the '#'"):
        @Variable
        def b(run, s: "param#"):
            return s


def test_globs_match_dotted_names_and_order_after_what_they_match():
    @Variable
    def total(run, parts: "var#det.*"):
        return sum(parts.values())

    def part(name):
        def f(run):
            return 1
        f.__name__ = f.__qualname__ = name
        return Variable(f)

    a, b = part("a"), part("b")
    a.name, b.name = "det.a", "det.b"
    defs = Definitions([total, a, b])
    assert defs.order == ("det.a", "det.b", "total")
    assert defs.dependencies("total") == {"parts": ("det.a", "det.b")}
    assert defs.with_ancestors(["total"]) == ["det.a", "det.b", "total"]
    # a new variable the glob matches makes its dependents out of date
    c = part("c")
    c.name = "det.c"
    more = defs.with_variable(c)
    assert more.stale(dict(defs.versions)) == ["det.c", "total"]
