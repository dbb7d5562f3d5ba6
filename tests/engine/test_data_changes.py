"""The engine follows the data: proc variables wait for proc data, changed files are
recomputed (also when they changed while no kernel was watching), vanished runs are marked."""

import os
import shutil
import time

import pytest

from damnit_nb import RunTable
from damnit_nb.simulate import simulate_run


@pytest.fixture
def proposal(tmp_path):
    path = tmp_path / "p003200"
    for run in (1, 2):
        simulate_run(path, run, trains=20, modules=1)
    return path


def _define(table):
    @table.variable(title="Files")
    def files(run):
        return len(run.files)

    @table.variable(title="Calibrated", data="proc")
    def calibrated(run):
        return sum(1 for f in run.files if "/proc/" in str(f.filename))

    @table.variable(title="Calibrated twice")
    def calibrated_twice(run, c: "var#calibrated"):  # depends on proc: reads proc too
        return 2 * c


def _add_file(run_dir, name="RAW-R{run}-DA09-S00000.h5"):
    """A late file: a copy of one the run has (for these variables, one more file)."""
    src = sorted(run_dir.glob("*.h5"))[0]
    dest = run_dir / name.format(run=run_dir.name[1:])
    shutil.copy(src, dest)
    return dest


def test_proc_variables_wait_for_proc_data(proposal):
    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        _define(table)
        assert table.wait(60)
        df = table.to_dataframe()
        assert (df["Files"] > 0).all()
        assert df["Calibrated"].isna().all() and df["Calibrated twice"].isna().all()
        assert table.errors() == {}  # waiting is not an error

        shutil.copytree(proposal / "raw" / "r0001", proposal / "proc" / "r0001")
        assert table.wait(60)
        df = table.to_dataframe()
        n_proc = len(list((proposal / "proc" / "r0001").glob("*.h5")))
        assert df.loc[1, "Calibrated"] == n_proc and df.loc[1, "Calibrated twice"] == 2 * n_proc
        assert pd_isna(df.loc[2, "Calibrated"])


def pd_isna(value):
    import pandas as pd

    return pd.isna(value)


def test_a_late_file_recomputes_the_run(proposal):
    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        _define(table)
        assert table.wait(60)
        before = table.to_dataframe()["Files"]
        _add_file(proposal / "raw" / "r0002")
        assert table.wait(60)
        after = table.to_dataframe()["Files"]
        assert after[2] == before[2] + 1 and after[1] == before[1]


def test_changes_while_no_kernel_watched_are_found_at_the_next_start(proposal):
    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        _define(table)
        assert table.wait(60)
        before = table.to_dataframe()["Files"]
    time.sleep(1.2)  # later than the values by more than the clock slack the engine allows
    _add_file(proposal / "raw" / "r0001")
    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        _define(table)
        assert table.wait(60)
        after = table.to_dataframe()["Files"]
    assert after[1] == before[1] + 1 and after[2] == before[2]


def _counted(table, calls):
    # calls are counted in a file: a list the function appended to would be part of what its
    # code uses (so of its code version), and would not be empty again after a real restart
    @table.variable(title="Counted")
    def counted(run):
        with open(calls, "a") as f:
            f.write("x")
        return 1


def _count(calls):
    return len(calls.read_text()) if calls.exists() else 0


def test_unchanged_runs_are_not_recomputed_at_the_next_start(proposal, tmp_path):
    calls = tmp_path / "calls.txt"
    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        _counted(table, calls)
        assert table.wait(60)
    assert _count(calls) == 2
    # Files settled long ago and values computed after them: nothing to do.
    t = time.time() - 3600
    for f in (proposal / "raw").rglob("*.h5"):
        os.utime(f, (t, t))
    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        _counted(table, calls)  # the same code as before
        assert table.wait(60)
    assert _count(calls) == 2


def test_a_vanished_run_is_marked_and_keeps_its_values(proposal):
    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        _define(table)
        assert table.wait(60)
        shutil.rmtree(proposal / "raw" / "r0002")
        assert table.wait(60)
        assert table.run_states()[2] == "vanished"
        df = table.to_dataframe()
        assert df.loc[2, "Files"] > 0  # kept
