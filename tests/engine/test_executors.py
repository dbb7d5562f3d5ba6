"""The engine's executors, scheduling and controls, through a real RunTable.

Threads, worker processes and a Dask LocalCluster compute the same variables to the same
values; logs, run states, reprocess, cancel and time limits behave as documented; a worker
process that dies takes only its own run with it.
"""

import textwrap
import time

import numpy as np
import pytest

from damnit_nb import RunTable
from damnit_nb.context import Variable
from damnit_nb.simulate import simulate_run
from tests.widgets.gridclient import click_cell

XGM = ("SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD")


@pytest.fixture
def proposal(tmp_path):
    path = tmp_path / "p003100"
    for run in (1, 2, 3):
        simulate_run(path, run, trains=20, modules=1)
    return path


def _expected_means(proposal):
    from damnit_nb.data import RunDirectory

    return {run: float(RunDirectory(proposal / "raw" / f"r{run:04d}")[XGM].ndarray()[:, :5].mean())
            for run in (1, 2, 3)}


def cell_variables(code):
    """Variables defined as in a notebook cell: functions of module ``__main__``."""
    namespace = {"__name__": "__main__", "Variable": Variable, "np": np}
    exec(textwrap.dedent(code), namespace)
    return [v for v in namespace.values() if isinstance(v, Variable)]


MEAN_CELL = '''
    OFFSET = 0.0  # a notebook global the variable uses

    @Variable(title="Mean")
    def mean(run):
        print("computing the mean of", len(run.train_ids), "trains")
        data = run["SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD"].ndarray()[:, :5]
        return float(data.mean()) + OFFSET

    @Variable(title="Broken")
    def broken(run, m: "var#mean"):
        raise ValueError("this variable always fails")
'''


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_executors_compute_the_same_values_and_keep_logs(proposal, executor):
    with RunTable(proposal, settle=0.1, poll=0.1, executor=executor, workers=2) as table:
        for var in cell_variables(MEAN_CELL):
            table.add_variable(var)
        assert table.wait(60)
        df = table.to_dataframe()
        for run, mean in _expected_means(proposal).items():
            assert df.loc[run, "Mean"] == pytest.approx(mean)
        assert all(("ValueError" in table.errors()[(run, "broken")]) for run in (1, 2, 3))
        assert table.run_states() == {1: "failed", 2: "failed", 3: "failed"}
        log = table.logs(2)
        assert "computing the mean of 20 trains" in log
        assert "this variable always fails" in log and "Traceback" in log
        assert "run 2: " in log and table.logs(99) == ""


def test_a_dying_worker_process_fails_only_its_run(proposal):
    code = '''
        import os, signal

        @Variable(title="Dies on run 2")
        def dies(run):
            import damnit_nb  # noqa
            if run.train_ids[0] == RUN2_FIRST_TRAIN:
                os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
            return 1
    '''
    from damnit_nb.data import RunDirectory

    first = int(RunDirectory(proposal / "raw" / "r0002").train_ids[0])
    with RunTable(proposal, settle=0.1, poll=0.1, executor="processes") as table:
        for var in cell_variables(code.replace("RUN2_FIRST_TRAIN", str(first))):
            table.add_variable(var)
        assert table.wait(60)
        df = table.to_dataframe()
        assert df.loc[1, "Dies on run 2"] == 1 and df.loc[3, "Dies on run 2"] == 1
        error = table.errors()[(2, "dies")]
        assert "SIGKILL" in error and "out of memory" in error
        assert table.run_states()[2] == "failed" and table.run_states()[3] == "done"


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_a_variable_over_the_time_limit_is_stopped_alone(proposal, executor):
    code = '''
        import time

        @Variable(title="Slow on run 3")
        def slow(run):
            if len(run.files) and str(run.files[0].filename).endswith("S00000.h5") and \\
                    "r0003" in str(run.files[0].filename):
                while True:  # hangs (in Python code, so even a thread can be interrupted)
                    time.sleep(0.01)
            return 2
    '''
    with RunTable(proposal, settle=0.1, poll=0.1, executor=executor, timeout=2) as table:
        for var in cell_variables(code):
            table.add_variable(var)
        assert table.wait(60)
        df = table.to_dataframe()
        assert df.loc[1, "Slow on run 3"] == 2 and df.loc[2, "Slow on run 3"] == 2
        assert "TimeoutError" in table.errors()[(3, "slow")]
        assert table.run_states() == {1: "done", 2: "done", 3: "failed"}


def test_reprocess_recomputes_only_what_matches(proposal):
    calls = []

    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        @table.variable(title="XGM/Mean")
        def xgm_mean(run):
            calls.append(("xgm_mean", int(run.train_ids[0])))
            return 1.0

        @table.variable(title="Other")
        def other(run):
            calls.append(("other", int(run.train_ids[0])))
            return 2.0

        assert table.wait(60)
        assert len(calls) == 6
        calls.clear()
        assert table.wait(5)
        assert calls == []  # up to date: nothing recomputed by itself
        assert table.reprocess(runs=[1, 3], match="XGM/*") == ["xgm_mean"]
        assert table.wait(60)
        assert sorted(name for name, _ in calls) == ["xgm_mean", "xgm_mean"]
        calls.clear()
        table.reprocess(match="other")
        assert table.wait(60)
        assert sorted(name for name, _ in calls) == ["other"] * 3


def test_cancel_stops_work_and_leaves_it_to_do(proposal):
    started = []

    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        assert table.wait(30)  # every run found (cancel does not stop runs found later)

        @table.variable(title="Slow")
        def slow(run):
            started.append(time.monotonic())
            for _ in range(500):
                time.sleep(0.01)
            return 3

        deadline = time.monotonic() + 30
        while not started and time.monotonic() < deadline:
            time.sleep(0.02)
        table.cancel()
        assert table.wait(30)
        states = table.run_states()
        assert set(states.values()) == {"cancelled"}
        assert table.to_dataframe()["Slow"].isna().all()  # nothing was stored
        assert len(started) == 1  # the other runs never started

        @table.variable(title="Slow")
        def slow(run):  # noqa: F811  (redefined quicker: the work is done now)
            return 3

        assert table.wait(60)
        assert (table.to_dataframe()["Slow"] == 3).all()


def test_cluster_variables_go_to_dask(proposal):
    distributed = pytest.importorskip("distributed")

    code = '''
        @Variable(title="Where", cluster=True)
        def where(run):
            from distributed import get_worker
            return get_worker().address

        @Variable(title="Here")
        def here(run):
            try:
                from distributed import get_worker
                get_worker()
                return "dask"
            except Exception:
                return "kernel"
    '''
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with RunTable(proposal, settle=0.1, poll=0.1, cluster=client) as table:
            for var in cell_variables(code):
                table.add_variable(var)
            assert table.wait(120)
            df = table.to_dataframe()
            workers = set(client.scheduler_info()["workers"])
            assert set(df["Where"]) <= workers and len(set(df["Where"])) == 1
            assert set(df["Here"]) == {"kernel"}


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_over_time_keeps_what_finished_and_redoes_what_was_not_reached(proposal, executor):
    code = '''
        import time

        @Variable(title="Quick")
        def quick(run):
            return 1

        @Variable(title="Hangs")
        def hangs(run, q: "var#quick"):
            while True:
                time.sleep(0.01)

        @Variable(title="After hangs")
        def after(run, h: "var#hangs"):
            return 2

        @Variable(title="Independent")
        def independent(run, q: "var#quick"):
            return 3
    '''
    with RunTable(proposal, settle=0.1, poll=0.1, executor=executor, timeout=1.5) as table:
        assert table.wait(30)
        for var in cell_variables(code):
            table.add_variable(var)
        assert table.wait(90)
        df = table.to_dataframe()
        errors = table.errors()
        for run in (1, 2, 3):
            assert df.loc[run, "Quick"] == 1  # finished before the hang: kept
            assert "TimeoutError" in errors[(run, "hangs")]  # the one that hung is blamed
            assert "Skip" in errors[(run, "after")] and "hangs" in errors[(run, "after")]
            assert df.loc[run, "Independent"] == 3  # never reached: done in a new task
        assert set(table.run_states().values()) == {"failed"}


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_params_and_metadata_service_reach_variables(proposal, executor):
    code = '''
        @Variable(title="Threshold")
        def threshold(run, t: "param#threshold"):
            return t * 2

        @Variable(title="Sample")
        def sample(run, name: "mymdc#sample_name"):
            return name
    '''

    def mymdc(proposal_number, run, field):
        return f"{field} of run {run} in p{proposal_number}"

    with RunTable(proposal, settle=0.1, poll=0.1, executor=executor,
                  params={"threshold": 2.5}, mymdc=mymdc) as table:
        for var in cell_variables(code):
            table.add_variable(var)
        assert table.wait(60)
        df = table.to_dataframe()
        assert list(df["Threshold"]) == [5.0] * 3
        assert df.loc[2, "Sample"] == "sample_name of run 2 in p3100"

    with RunTable(proposal, settle=0.1, poll=0.1, database=proposal / "other-db") as table:
        for var in cell_variables(code):
            table.add_variable(var)
        assert table.wait(60)
        errors = table.errors()
        assert "Skip" in errors[(1, "threshold")] and "threshold" in errors[(1, "threshold")]
        assert "not available here" in errors[(1, "sample")]


def test_clicking_a_state_shows_the_end_of_the_runs_log(proposal):
    from damnit_nb.engine.engine import log_path

    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        app = table.widget
        path = log_path(table.database_dir / "process_logs", 1, table.proposal)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"old line {i}\n" for i in range(5000)))  # a long history
        for var in cell_variables(MEAN_CELL):
            table.add_variable(var)
        assert table.wait(60)
        assert table.run_states()[1] == "failed"
        detail = click_cell(app, 1, "#state")
        assert "this variable always fails" in detail and "computing the mean" in detail
        assert "old line 100\n" not in detail and "…" in detail  # only the end is shown


def test_a_task_given_a_database_stores_its_results_itself(tmp_path):
    from damnit_nb.context import Definitions
    from damnit_nb.engine.processor import RunMeta
    from damnit_nb.engine.worker import RunTask, execute
    from damnit_nb.store import Database

    path = simulate_run(tmp_path / "p001234", 1, trains=10, modules=1)

    @Variable(title="Trace")
    def trace(run):
        return np.arange(1000.0)

    defs = Definitions([trace])
    db_dir = tmp_path / "db"
    Database(db_dir, proposal=1234).close()
    meta = RunMeta(1, 1234, tmp_path / "p001234")
    result = execute(RunTask(1, path, defs, ["trace"], meta, database=db_dir))
    assert result.stored
    assert result.outcome.results[0].data is None  # sent back without its data
    with Database(db_dir) as db:
        np.testing.assert_array_equal(db.read_data(1, "trace"), np.arange(1000.0))
        assert db.code_versions(1) == {"trace": defs.versions["trace"]}

    (tmp_path / "not-a-db").write_text("")  # a store that fails: the kernel stores instead
    result = execute(RunTask(1, path, defs, ["trace"], meta, database=tmp_path / "not-a-db"))
    assert not result.stored
    np.testing.assert_array_equal(result.outcome.results[0].data, np.arange(1000.0))
    assert "the kernel stores the results" in result.log


def test_a_big_result_finished_before_a_hang_is_computed_again_not_lost(proposal):
    # Worker processes do not send results over PROGRESS_LIMIT as they finish: a task stopped
    # later leaves such a variable to the next task, which computes it again.
    code = '''
        import time
        import numpy as np

        @Variable(title="Big")
        def big(run):
            return np.ones((600, 600))  # 2.9 MB

        @Variable(title="Hangs")
        def hangs(run, b: "var#big"):
            while True:
                time.sleep(0.01)
    '''
    with RunTable(proposal, settle=0.1, poll=0.1, executor="processes", timeout=2) as table:
        assert table.wait(30)
        for var in cell_variables(code):
            table.add_variable(var)
        assert table.wait(120)
        errors = table.errors()
        for run in (1, 2, 3):
            assert table._db.read_data(run, "big").shape == (600, 600)
            assert "TimeoutError" in errors[(run, "hangs")]
