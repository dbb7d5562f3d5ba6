"""Stand-ins for what the engine works with (finders, executor, store, clock), so its
scheduling, states, time limits and retries are tested with no files, processes or sleeps.
The test drives the engine itself by calling ``Engine.step()``."""

import sqlite3
import threading
from concurrent.futures import Future
from pathlib import Path

from damnit_nb.engine.executors import Job, TaskFailed
from damnit_nb.engine.processor import RunOutcome
from damnit_nb.engine.worker import TaskResult
from damnit_nb.store import prepare_error, prepare_result


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


class FakeFinder:
    """Runs become ready when the test says so."""

    def __init__(self, name="raw"):
        self.raw_dir = Path("/nowhere") / name
        self.unsettled = frozenset()
        self.vanished = frozenset()
        self.next_settle = None
        self._ready = []
        self._newest = {}

    def add(self, *runs, newest=1.0):
        for run in runs:
            self._ready.append((run, self.raw_dir / f"r{run:04d}"))
            self._newest[run] = newest

    def poll(self):
        ready, self._ready = sorted(self._ready, reverse=True), []
        return ready

    def signature(self, run):
        return ("sig", self._newest.get(run)) if run in self._newest else None

    def newest(self, run):
        return self._newest.get(run)

    def start_time(self, path):
        return 1.7e9 + int(path.name[1:])


class FakeExecutor:
    """Tasks wait until the test finishes them (``finish``), one Job per submit."""

    kind = "fake"

    def __init__(self, max_workers=1):
        self.max_workers = max_workers
        self.jobs = []  # every Job submitted, in order
        self.stopped = []  # (run, reason)

    def submit(self, task):
        future = Future()
        future.set_running_or_notify_cancel()
        job = Job(task, future, lambda reason: self.stopped.append((task.run, reason)))
        self.jobs.append(job)
        return job

    def running(self):
        return [j.task.run for j in self.jobs if not j.done()]

    def job(self, run):
        return [j for j in self.jobs if j.task.run == run and not j.done()][0]

    def finish(self, run, values=None, fail=None):
        """Complete ``run``'s task: each variable gets ``values[name]`` (default: the run
        number), or the task fails with ``fail``."""
        job = self.job(run)
        if fail is not None:
            job.future.set_exception(TaskFailed(fail))
            return
        outcome = RunOutcome()
        for name in job.task.names:
            value = (values or {}).get(name, run)
            if isinstance(value, Exception):
                outcome.results.append(prepare_error(name, value))
                outcome.errors += 1
            else:
                outcome.results.append(prepare_result(name, value))
            outcome.code_versions[name] = job.task.definitions.versions[name]
        job.future.set_result(TaskResult(run, outcome, f"computed run {run}\n", 0.0, 0.1))

    def shutdown(self):
        pass


class _Run:
    def __init__(self, run, start_time):
        self.run = run
        self.start_time = start_time


class _Value:
    def __init__(self, result):
        self.value = result.summary
        self.is_error = result.is_error
        self.skipped = result.skipped
        self.error = result.error
        self.timestamp = 2e9  # newer than any fake file


class FakeStore:
    """The engine's view of a database; ``fail`` makes writes raise until cleared."""

    read_only = False
    path = Path("/nowhere/db")

    def __init__(self):
        self.lock = threading.Lock()
        self.rows = {}  # run -> {name: _Value}
        self.versions = {}  # run -> {name: version}
        self.started = {}  # run -> start time
        self.writes = []  # (run, names) in the order stored
        self.fail = None  # an exception every write raises
        self.fail_results = None  # an exception writes of results raise

    def runs(self):
        return [_Run(r, t) for r, t in self.started.items()]

    def add_run(self, run, start_time=None):
        if self.fail is not None:
            raise self.fail
        self.started[run] = start_time

    def values(self, runs=None):
        return {r: dict(v) for r, v in self.rows.items() if runs is None or r in runs}

    def code_versions(self, run=None):
        return dict(self.versions.get(run, {}))

    def write_results(self, run, results, code_versions=None):
        if self.fail is not None or self.fail_results is not None:
            raise self.fail or self.fail_results
        row = self.rows.setdefault(run, {})
        for r in results:
            row[r.name] = _Value(r)
        self.versions.setdefault(run, {}).update(code_versions or {})
        self.writes.append((run, [r.name for r in results]))


def locked():
    return sqlite3.OperationalError("database is locked")


class Recorder:
    """A listener recording each call, and the thread it came from."""

    def __init__(self, engine_ref=None):
        self.calls = []
        self.threads = set()
        self.fail = False

    def _record(self, *call):
        self.calls.append(call)
        self.threads.add(threading.get_ident())
        if self.fail:
            raise RuntimeError("a listener that raises")

    def engine_run_added(self, run, start_time):
        self._record("added", run)

    def engine_results(self, run, names):
        self._record("results", run, tuple(names))

    def engine_run_state(self, run, state):
        self._record("state", run, state)

    def engine_status(self, status):
        self._record("status", status)

    def states(self, run):
        return [c[2] for c in self.calls if c[0] == "state" and c[1] == run]
