from pathlib import Path

import pytest

from damnit_nb.context import Cell, Definitions, Skip, Variable
from damnit_nb.engine import RunMeta, compute_run

META = RunMeta(7, 1234, Path("/tmp/p001234"))


def results_by_name(outcome):
    return {r.name: r for r in outcome.results}


def test_dependencies_meta_errors_and_skips():
    calls = []

    @Variable
    def base(run):
        calls.append("base")
        return run * 2

    @Variable
    def plus(run, b: "var#base", n: "meta#run_number"):
        return b + n

    @Variable
    def broken(run):
        raise ValueError("no XGM in this run")

    @Variable
    def after_broken(run, x: "var#broken"):
        return x

    @Variable
    def with_default(run, x: "var#broken" = 5):
        return x + 1

    @Variable
    def not_applicable(run):
        raise Skip("no detector")

    defs = Definitions([base, plus, broken, after_broken, with_default, not_applicable])
    outcome = compute_run(defs, list(defs.order), lambda: 10, META)
    res = results_by_name(outcome)
    assert res["base"].summary == 20
    assert res["plus"].summary == 27
    assert res["broken"].error_cls == "ValueError" and "no XGM" in res["broken"].error
    assert res["after_broken"].error_cls == "Skip" and "broken (ValueError" in res["after_broken"].error
    assert res["with_default"].summary == 6
    assert res["not_applicable"].error_cls == "Skip"
    assert outcome.errors == 1  # skips are not errors
    assert set(outcome.code_versions) == set(defs.order)


def test_transient_values_feed_dependents_but_are_not_stored():
    @Variable(transient=True)
    def big(run):
        return object()  # not storable, and not meant to be

    @Variable
    def uses(run, b: "var#big"):
        return 1 if b is not None else 0

    defs = Definitions([big, uses])
    res = results_by_name(compute_run(defs, list(defs.order), lambda: None, META))
    assert "big" not in res and res["uses"].summary == 1


def test_cell_options_reach_the_stored_result():
    @Variable(summary="max")
    def c(run):
        return Cell([1.0, 3.0, 2.0], bold=True)

    res = results_by_name(compute_run(Definitions([c]), ["c"], lambda: None, META))
    assert res["c"].summary == 3.0


def test_unreadable_run_marks_every_variable():
    @Variable
    def a(run):
        return 1

    def fail():
        raise OSError("truncated file RAW-R0007-DA01-S00000.h5")

    outcome = compute_run(Definitions([a]), ["a"], fail, META)
    (r,) = outcome.results
    assert r.error and "truncated file" in r.error and outcome.errors == 1


@pytest.mark.parametrize("value", [None])
def test_none_stores_nothing(value):
    @Variable
    def n(run):
        return value

    assert compute_run(Definitions([n]), ["n"], lambda: None, META).results == []
