"""A table follows its context file: saved changes reload it, recomputing only what changed;
a broken version keeps the last good one in use and says why; warnings, cell overrides and
transient variables show as a scientist expects; the table exports."""

import os
import time

import pytest

from damnit_nb import RunTable
from damnit_nb.simulate import simulate_run
from tests.helpers import eventually

V1 = '''
from damnit_ctx import Variable

CALLS = "{calls}"

def _note(name):
    with open(CALLS, "a") as f:
        f.write(name + "\\n")

@Variable(title="Trains")
def trains(run):
    _note("trains")
    return len(run.train_ids)

@Variable(title="Double", transient=False)
def double(run, n: "var#trains"):
    _note("double")
    return 2 * n

@Variable(title="Other")
def other(run):
    _note("other")
    return 1

@Variable(title="Hidden", transient=True)
def hidden(run):
    return object()  # passed on, never stored
'''


@pytest.fixture
def setup(tmp_path):
    proposal = tmp_path / "p003400"
    for run in (1, 2):
        simulate_run(proposal, run, trains=20, modules=1)
    calls = tmp_path / "calls.txt"
    ctx = tmp_path / "context.py"
    ctx.write_text(V1.format(calls=calls))
    return proposal, ctx, calls


def _save(path, text):
    """Save a new version (with an mtime that surely differs from the last one's)."""
    path.write_text(text)
    t = time.time() + 1
    os.utime(path, (t, t))


def _calls(path):
    return path.read_text().split() if path.exists() else []



def test_saved_changes_reload_and_recompute_only_what_changed(setup):
    proposal, ctx, calls = setup
    with RunTable(proposal, context=ctx, settle=0.1, poll=0.1) as table:
        assert table.wait(60)
        assert sorted(_calls(calls)) == ["double"] * 2 + ["other"] * 2 + ["trains"] * 2
        calls.unlink()

        _save(ctx, ctx.read_text().replace("return 2 * n", "return 3 * n"))
        assert eventually(lambda: table.variables["double"].source().count("3 * n"))
        assert table.wait(60)
        # "double" changed; "trains" runs again only to feed it (as in DAMNIT); "other" not
        assert sorted(_calls(calls)) == ["double", "double", "trains", "trains"]
        assert (table.to_dataframe()["Double"] == 60).all()


def test_a_broken_context_keeps_the_last_good_one(setup):
    proposal, ctx, calls = setup
    good = ctx.read_text()
    with RunTable(proposal, context=ctx, settle=0.1, poll=0.1) as table:
        assert table.wait(60)
        _save(ctx, good + "\ndef oops(:\n")
        assert eventually(lambda: table.context_error is not None)
        assert "syntax error" in table.context_error and "line" in table.context_error
        assert "last good version" in table._status_html(table.status())
        simulate_run(proposal, 3, trains=20, modules=1)  # still processed, with the good one
        assert table.wait(60)
        assert table.to_dataframe().loc[3, "Double"] == 40

        _save(ctx, good)
        assert eventually(lambda: table.context_error is None)


def test_warnings_overrides_and_transient_variables_show(setup):
    proposal, ctx, calls = setup
    _save(ctx, "import os  # unused\n" + ctx.read_text())
    with RunTable(proposal, context=ctx, settle=0.1, poll=0.1) as table:
        assert any("os" in w and "line 1" in w for w in table.context_warnings)
        status = table._status_html(table.status())
        assert "warning" in status

        @table.variable(title="Double")
        def double(run, n: "var#trains"):
            return -n

        assert table.overridden == ["double"]
        assert "replacing the context file" in table._status_html(table.status())
        assert table.wait(60)
        df = table.to_dataframe()
        assert (df["Double"] == -20).all()
        assert "Hidden" not in df.columns and "hidden" not in [s.key for s in table._model.columns()]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".md"])
def test_export(setup, tmp_path, suffix):
    proposal, ctx, calls = setup
    with RunTable(proposal, context=ctx, settle=0.1, poll=0.1) as table:
        assert table.wait(60)
        table.set_comment(1, "first run")
        out = table.export(tmp_path / f"table{suffix}")
    if suffix == ".csv":
        import pandas as pd

        df = pd.read_csv(out)
        assert list(df["Double"]) == [40, 40] and "first run" in list(df["comment"])  # as DAMNIT exports it
    elif suffix == ".xlsx":
        import openpyxl

        rows = list(openpyxl.load_workbook(out).active.values)
        header = list(rows[0])
        assert "Double" in header and rows[1][header.index("Double")] == 40
    else:
        text = open(out).read()
        assert "| Double" in text or "Double |" in text
        assert "first run" in text


SCALED = '''
from damnit_ctx import Variable

CALLS = "{calls}"
SCALE = 1

def _note(name):
    with open(CALLS, "a") as f:
        f.write(name + "\\n")

def _scaled(n):
    return n * SCALE

@Variable(title="Trains")
def trains(run):
    _note("trains")
    return len(run.train_ids)

@Variable(title="Scaled")
def scaled(run):
    _note("scaled")
    return _scaled(len(run.train_ids))

@Variable(title="Scaled twice")
def scaled_twice(run, s: "var#scaled"):
    _note("scaled_twice")
    return 2 * s

@Variable(title="Other")
def other(run, n: "var#trains"):
    _note("other")
    return n + 1
'''


def test_a_changed_constant_or_helper_recomputes_exactly_what_uses_it(setup):
    proposal, ctx, calls = setup
    _save(ctx, SCALED.format(calls=calls))
    with RunTable(proposal, context=ctx, settle=0.1, poll=0.1) as table:
        assert table.wait(60)
        assert sorted(set(_calls(calls))) == ["other", "scaled", "scaled_twice", "trains"]
        calls.unlink()

        _save(ctx, ctx.read_text().replace("SCALE = 1\n", "SCALE = 1000\n"))
        assert eventually(lambda: (table.to_dataframe()["Scaled"] == 20_000).all(), 60)
        assert table.wait(60)
        assert sorted(_calls(calls)) == ["scaled"] * 2 + ["scaled_twice"] * 2
        df = table.to_dataframe()
        assert (df["Scaled twice"] == 40_000).all() and (df["Other"] == 21).all()
        calls.unlink()

        _save(ctx, ctx.read_text().replace("return n * SCALE", "return n * SCALE + 1"))
        assert eventually(lambda: (table.to_dataframe()["Scaled"] == 20_001).all(), 60)
        assert table.wait(60)
        assert sorted(_calls(calls)) == ["scaled"] * 2 + ["scaled_twice"] * 2
        assert (table.to_dataframe()["Scaled twice"] == 40_002).all()
