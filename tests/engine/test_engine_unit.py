"""The engine's scheduling, states, time limits and retries, with fake finders, executor,
store and clock: the test drives each round (``Engine.step``), so nothing sleeps."""

import threading

import pytest

from damnit_nb.context import Definitions, Variable
from damnit_nb.engine import Engine

from tests.engine.fakes import FakeClock, FakeExecutor, FakeFinder, FakeStore, Recorder, locked


@Variable(title="A")
def a(run):
    return 1


@Variable(title="B")
def b(run, a: "var#a"):
    return a + 1


DEFS = Definitions([a, b])


def make(workers=1, timeout=None, defs=DEFS, listener=None):
    clock = FakeClock()
    raw, proc = FakeFinder("raw"), FakeFinder("proc")
    executor = FakeExecutor(workers)
    store = FakeStore()
    listener = listener or Recorder()
    engine = Engine("/nowhere", store, lambda: defs, listener, proposal=1234, poll=1.0,
                    executor=executor, timeout=timeout, finders=(raw, proc), clock=clock)
    return engine, raw, executor, store, listener, clock


def test_runs_are_served_newest_first_within_the_workers_limit():
    engine, raw, executor, store, listener, clock = make(workers=2)
    raw.add(1, 2, 3, 4)
    engine.step()
    assert executor.running() == [4, 3]
    assert engine.run_states() == {1: "queued", 2: "queued", 3: "running", 4: "running"}
    executor.finish(3)
    engine.step()
    assert executor.running() == [4, 2]
    assert engine.run_states()[3] == "done"
    assert store.rows[3]["a"].value == 3 and store.rows[3]["b"].value == 3
    for run in (4, 2, 1):
        engine.step()
        executor.finish(run)
    engine.step()
    assert set(engine.run_states().values()) == {"done"}
    assert [w[0] for w in store.writes] == [3, 4, 2, 1]
    assert ("added", 4) in listener.calls and ("results", 3, ("a", "b")) in listener.calls


def test_up_to_date_runs_are_not_recomputed():
    engine, raw, executor, store, listener, clock = make()
    raw.add(1)
    engine.step()
    executor.finish(1)
    engine.step()
    engine.request([1])  # nothing out of date: nothing submitted
    engine.step()
    assert len(executor.jobs) == 1
    assert engine.run_states()[1] == "done"


def test_a_failing_variable_fails_the_run_and_its_state_says_so():
    engine, raw, executor, store, listener, clock = make()
    raw.add(1)
    engine.step()
    executor.finish(1, values={"a": ValueError("bad data")})
    engine.step()
    assert engine.run_states()[1] == "failed"
    assert store.rows[1]["a"].is_error
    assert engine.status().errors == 1


def test_a_run_whose_stored_value_is_an_error_is_failed_for_a_new_engine_too():
    engine, raw, executor, store, listener, clock = make()
    raw.add(1)
    engine.step()
    executor.finish(1, values={"a": ValueError("bad data")})
    engine.step()
    assert engine.run_states()[1] == "failed"
    # A new engine on the same store (the notebook's table made again): nothing to redo.
    executor = FakeExecutor(1)
    again = Engine("/nowhere", store, lambda: DEFS, Recorder(), proposal=1234, poll=1.0,
                   executor=executor, finders=(raw, FakeFinder("proc")), clock=clock)
    raw.add(1)  # found again by the new engine's first look
    again.step()
    assert executor.jobs == []
    assert again.run_states()[1] == "failed"


def test_a_task_over_its_time_limit_is_stopped_and_its_variables_marked():
    engine, raw, executor, store, listener, clock = make(timeout=30)
    raw.add(1)
    engine.step()
    job = executor.job(1)
    job.progress("a", None)  # the task is computing "a"
    clock.advance(29)
    engine.step()
    assert executor.stopped == []
    clock.advance(2)
    engine.step()
    assert executor.stopped == [(1, "over the time limit of 30 s")]
    engine.step()  # the stopped job has finished: its results are stored
    assert store.rows[1]["a"].is_error and "stopped after 30 s" in store.rows[1]["a"].error
    assert store.rows[1]["b"].is_error  # skipped: its dependency gave no value
    assert engine.run_states()[1] == "failed"


def test_a_locked_store_defers_the_write_and_resumes_by_itself():
    engine, raw, executor, store, listener, clock = make()
    raw.add(1)
    engine.step()
    store.fail = locked()
    executor.finish(1)
    engine.step()
    status = engine.status()
    assert engine.run_states()[1] == "unsaved"
    assert status.unsaved == 1 and "database is locked" in status.problem
    assert "goes on by itself" in status.problem
    assert store.rows == {}
    clock.advance(0.5)
    engine.step()  # not yet time to try again
    clock.advance(1)
    engine.step()  # tried again, refused again: the pause doubles
    assert "trying again in 2 s" in engine.status().problem
    raw.add(2)  # a new run waits for the store too (it cannot be registered)
    clock.advance(1)
    engine.step()
    assert engine.run_states()[2] == "queued"
    store.fail = None
    clock.advance(2)
    engine.step()
    assert store.rows[1]["a"].value == 1
    assert engine.run_states()[1] == "done"
    assert ("results", 1, ("a", "b")) in listener.calls
    clock.advance(2)
    engine.step()
    executor.finish(2)
    engine.step()
    assert engine.run_states()[2] == "done"
    status = engine.status()
    assert status.unsaved == 0 and status.problem is None


def test_writes_waiting_for_the_store_keep_their_order():
    engine, raw, executor, store, listener, clock = make(workers=2)
    raw.add(1, 2)
    engine.step()
    store.fail = OSError(28, "No space left on device")
    executor.finish(2)
    engine.step()
    executor.finish(1)
    engine.step()
    assert "full" in engine.status().problem
    store.fail = None
    clock.advance(10)
    engine.step()
    assert [w[0] for w in store.writes] == [2, 1]


def test_runs_wait_while_too_many_results_wait_for_the_store():
    engine, raw, executor, store, listener, clock = make(workers=1)
    raw.add(1, 2, 3, 4)
    store.fail_results = locked()
    for run in (4, 3):
        engine.step()
        executor.finish(run)
    engine.step()
    assert executor.running() == []  # two runs' results held in memory: no more work
    assert engine.status().unsaved == 2
    store.fail_results = None
    clock.advance(5)
    engine.step()
    assert executor.running() == [2]


def test_runs_wait_while_the_store_cannot_be_used_and_start_when_it_can():
    engine, raw, executor, store, listener, clock = make()
    raw.add(1, 2)
    store.fail = locked()  # add_run fails: the runs wait, asking the store once a round
    engine.step()
    assert executor.jobs == []
    assert engine.run_states() == {1: "queued", 2: "queued"}
    assert "database cannot be used" in engine.status().problem
    assert "processing waits for it" in engine.status().problem
    store.fail = None
    engine.step()
    assert executor.jobs == []  # its pause is not over
    clock.advance(1.5)
    engine.step()
    assert executor.running() == [2]
    assert engine.status().problem is None


def test_a_listener_that_raises_does_not_stop_the_engine():
    listener = Recorder()
    listener.fail = True
    engine, raw, executor, store, listener, clock = make(listener=listener)
    raw.add(1)
    engine.step()
    executor.finish(1)
    engine.step()
    assert engine.run_states()[1] == "done"
    assert store.rows[1]["a"].value == 1


def test_the_listener_is_called_from_the_engine_round_only_and_never_under_its_lock():
    class Probe(Recorder):
        def _record(self, *call):
            super()._record(*call)
            # another thread can read the engine's status meanwhile: no lock is held
            t = threading.Thread(target=engine.status)
            t.start()
            t.join(5)
            assert not t.is_alive(), f"{call[0]} was called with the engine's lock held"

    engine, raw, executor, store, listener, clock = make(listener=Probe())
    raw.add(1, 2)
    engine.step()
    listener.calls.clear()
    engine.request([1, 2])  # from the notebook's thread: the listener hears nothing yet
    engine.cancel([1])
    assert listener.calls == []
    engine.step()
    assert ("state", 1, "cancelled") in listener.calls


def test_reprocess_of_a_run_not_on_disk_says_so():
    engine, raw, executor, store, listener, clock = make()
    raw.add(1, 2)
    engine.step()
    with pytest.raises(ValueError, match=r"no run 99 on disk.*runs found: 1-2"):
        engine.reprocess(runs=[99])
    assert 99 not in engine.run_states()


def test_reprocess_recomputes_the_matching_variables():
    engine, raw, executor, store, listener, clock = make()
    raw.add(1)
    engine.step()
    executor.finish(1)
    engine.step()
    assert engine.reprocess(runs=[1], match="b") == ["b"]
    engine.step()
    assert executor.job(1).task.names == ["a", "b"]  # b needs a to be computed again


def test_cancel_drops_waiting_runs_and_stops_running_ones():
    engine, raw, executor, store, listener, clock = make()
    raw.add(1, 2)
    engine.step()
    engine.cancel()
    assert executor.stopped == [(2, "cancelled")]
    engine.step()
    assert engine.run_states() == {1: "cancelled", 2: "cancelled"}
    assert store.rows == {}


def test_a_failed_task_fails_its_run_only():
    engine, raw, executor, store, listener, clock = make(workers=2)
    raw.add(1, 2)
    engine.step()
    executor.finish(2, fail="the worker process computing run 2 was killed by SIGKILL")
    executor.finish(1)
    engine.step()
    assert engine.run_states() == {1: "done", 2: "failed"}
    assert store.rows[2]["a"].is_error and "SIGKILL" in store.rows[2]["a"].error


def test_read_only_store_is_shown_not_processed():
    engine, raw, executor, store, listener, clock = make()
    store.read_only = True
    engine.start()
    assert engine.status().state == "read-only"
    assert "read-only" in engine.status().problem
    assert engine.wait(1) is True
    assert executor.jobs == []


def test_a_settling_run_is_looked_at_again_when_it_should_have_settled():
    engine, raw, executor, store, listener, clock = make()
    engine._poll_interval = 60.0
    raw.next_settle = __import__("time").time() + 2.0
    wait = engine.step()
    assert 1.5 < wait < 2.5  # not the poll interval


def test_a_finder_or_an_executor_that_raises_does_not_stop_the_engine():
    engine, raw, executor, store, listener, clock = make()

    def broken_poll():
        raise PermissionError("raw/ cannot be listed")

    raw.add(1)
    polls = raw.poll
    raw.poll = broken_poll
    engine.step()  # the look at raw/ fails: nothing found, nothing lost
    raw.poll = polls
    clock.advance(1)

    def broken_submit(task):
        raise ConnectionError("the cluster is gone")

    executor.submit = broken_submit
    engine.step()
    engine.step()
    assert engine.run_states()[1] == "failed"
    assert "the cluster is gone" in store.rows[1]["a"].error


def test_an_internal_error_in_a_round_is_reported_and_the_next_round_goes_on():
    calls = []

    def definitions():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("definitions being replaced")
        return DEFS

    clock = FakeClock()
    raw, proc = FakeFinder("raw"), FakeFinder("proc")
    executor, store = FakeExecutor(1), FakeStore()
    engine = Engine("/nowhere", store, definitions, Recorder(), poll=1.0, executor=executor,
                    finders=(raw, proc), clock=clock)
    raw.add(1)
    engine.step()  # preparing run 1 fails: it waits and says why
    assert "definitions being replaced" in engine.status().problem
    clock.advance(2)
    engine.step()
    executor.finish(1)
    engine.step()
    assert engine.run_states()[1] == "done"


def test_the_engine_thread_survives_an_error_escaping_a_round():
    from tests.helpers import eventually

    engine, raw, executor, store, listener, clock = make()
    failures = []
    check = engine._check_timeouts

    def flaky():
        if not failures:
            failures.append(1)
            raise RuntimeError("a defect")
        check()

    engine._check_timeouts = flaky
    engine.start()
    try:
        assert eventually(lambda: "internal error: RuntimeError: a defect"
                          in (engine.status().problem or ""), 10)
        raw.add(1)
        clock.advance(5)
        assert eventually(lambda: executor.running() == [1], 10)
        executor.finish(1)
        assert eventually(lambda: engine.run_states().get(1) == "done", 10)
        assert engine.status().state != "crashed"
        assert eventually(lambda: engine.status().problem is None, 10)
    finally:
        engine.stop()


@Variable(title="X")
def x(run):
    return 1


@Variable(title="Y")
def y(run):
    return 2


def test_a_run_stays_failed_while_one_of_its_variables_has_an_error():
    engine, raw, executor, store, listener, clock = make(defs=Definitions([x, y]))
    raw.add(1)
    engine.step()
    executor.finish(1, values={"x": ValueError("no beam")})
    engine.step()
    assert engine.run_states()[1] == "failed"
    engine.reprocess(runs=[1], match="y")  # y alone again: x still has its error
    engine.step()
    assert executor.job(1).task.names == ["y"]
    executor.finish(1)
    engine.step()
    assert engine.run_states()[1] == "failed"
    engine.reprocess(runs=[1], match="x")  # x fixed: nothing of the run is in error
    engine.step()
    executor.finish(1)
    engine.step()
    assert engine.run_states()[1] == "done"


def test_wait_does_not_return_while_a_run_found_settling_is_not_done():
    import time

    from tests.helpers import eventually

    engine, raw, executor, store, listener, clock = make()
    check = engine._check_timeouts

    def slow_rest_of_round():  # widens the moment between a look at the disk and the end
        time.sleep(0.3)
        check()

    engine._check_timeouts = slow_rest_of_round
    engine.start()
    try:
        assert engine.wait(10)
        raw.unsettled = frozenset({5})  # a run appears, its files still being written
        assert engine.wait(1.5) is False
        raw.unsettled = frozenset()
        raw.add(5)
        clock.advance(5)  # the next look is due
        assert eventually(lambda: executor.running() == [5], 10)
        executor.finish(5)
        assert engine.wait(10)
        assert engine.run_states()[5] == "done"
    finally:
        engine.stop()
