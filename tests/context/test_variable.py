import pytest

from damnit_nb.context import Cell, Definitions, DefinitionError, Skip, Variable
from damnit_nb.context import VariableDefinitionError


def test_bare_and_called_forms():
    @Variable
    def plain(run):
        """Plain docstring."""
        return 1

    @Variable(title="XGM/Intensity", summary="mean", units="uJ", tags="xgm")
    def xgm(run):
        return 2

    assert plain.name == "plain" and plain.title == "plain"
    assert plain.description == "Plain docstring."
    assert xgm.title == "XGM/Intensity" and xgm.summary == "mean" and xgm.units == "uJ"
    assert xgm.tags == ("xgm",)
    # once the function is attached, the variable calls it
    assert xgm(None) == 2


def test_first_positional_argument_is_the_title():
    @Variable("Energy")
    def energy(run):
        return 1

    assert energy.title == "Energy"


@pytest.mark.parametrize("kwargs, words", [
    ({"summary": "no_such_numpy_function"}, "numpy function"),
    ({"data": "calibrated"}, "'raw' or 'proc'"),
    ({"units": ""}, "units"),
    ({"tags": ["ok", ""]}, "tags"),
    ({"title": 3}, "title"),
])
def test_bad_arguments_say_what_is_wrong(kwargs, words):
    with pytest.raises(VariableDefinitionError, match=words):
        Variable(**kwargs)


def test_bad_annotations_are_reported_together():
    with pytest.raises(VariableDefinitionError) as info:
        @Variable
        def f(run, a: "foo#bar", b: "meta#nope", c):
            return 1
    msg = str(info.value)
    assert "unknown prefix 'foo'" in msg and "meta#nope" in msg and "'c' needs an annotation" in msg


def test_definitions_order_dependencies_and_versions():
    @Variable
    def b(run, a: "var#a"):
        return a + 1

    @Variable
    def a(run):
        return 1

    @Variable
    def c(run):
        return 3

    defs = Definitions([b, a, c])
    assert defs.order == ("a", "c", "b")
    assert defs.with_ancestors(["b"]) == ["a", "b"]

    @Variable
    def a(run):  # noqa: F811 - redefined with other code
        return 10

    defs2 = defs.with_variable(a)
    # a's change makes a and its dependent b out of date, not c
    assert defs2.stale(dict(defs.versions)) == ["a", "b"]
    assert defs2.versions["c"] == defs.versions["c"]


def test_definitions_report_all_problems():
    @Variable(title="Same")
    def one(run, x: "var#missing"):
        return 1

    @Variable(title="Same")
    def two(run):
        return 2

    @Variable
    def p(run, q: "var#q"):
        return 1

    @Variable
    def q(run, p: "var#p"):
        return 1

    with pytest.raises(DefinitionError) as info:
        Definitions([one, two, p, q])
    problems = info.value.problems
    assert len(problems) == 3
    assert any("same title" in x for x in problems)
    assert any("'var#missing'" in x for x in problems)
    assert any("cycle" in x for x in problems)


def test_cell_and_skip_are_plain_values():
    c = Cell([1, 2], summary="max", bold=True)
    assert c.summary == "max" and c.bold
    assert issubclass(Skip, Exception)
