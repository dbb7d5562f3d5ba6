"""The engine thread: finds settled runs, has their variables computed, stores the results.

One thread per table schedules the work: runs waiting are served newest first, at most
``executor.max_workers`` at a time (variables with ``cluster=True`` go to the cluster
executor when there is one); a run's variables are computed in dependency order by the
executor (see :mod:`.executors`). Every result is stored by this thread, the one writer of
the table's database, in one short transaction per task. What each task printed goes to
``process_logs/r{run}-p{proposal}.out`` in the database directory.

It never touches widgets: it reports to a listener, whose methods must be thread-safe.
"""

import fnmatch
import logging
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from .executors import TaskStopped, failed_job, make_executor
from .processor import RunMeta
from .worker import RunTask
from .watcher import RunFinder

__all__ = ["Engine", "EngineStatus", "RUN_STATES", "ResultNotStored"]

log = logging.getLogger(__name__)

#: What ``Engine.run_states()`` says of a run.
RUN_STATES = ("queued", "running", "done", "failed", "cancelled", "vanished")

#: Seconds of clock difference between file servers and this host that are tolerated when
#: telling whether data changed after a value was computed.
CLOCK_SLACK = 1.0


class EngineStatus:
    """A snapshot of what the engine is doing."""

    __slots__ = ("state", "running", "queued", "done", "errors", "error")

    def __init__(self, state, running=(), queued=0, done=0, errors=0, error=None):
        self.state = state  # "starting", "watching", "processing", "stopped", "crashed"
        self.running = tuple(running)  # run numbers being processed
        self.queued = queued  # runs waiting
        self.done = done  # runs processed since the last idle moment
        self.errors = errors  # variable errors since the engine started
        self.error = error  # why the engine crashed

    def __repr__(self):
        return ("EngineStatus(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
                + ")")


class _WorkQueue:
    """Runs waiting, each with the variables asked for (None: whatever is out of date).

    Requests for one run merge; the newest run is served first. Guarded by the engine's
    condition.
    """

    def __init__(self):
        self._items = {}  # run -> set of names | None

    def put(self, run, names=None):
        if run in self._items:
            old = self._items[run]
            self._items[run] = None if old is None or names is None else old | set(names)
        else:
            self._items[run] = None if names is None else set(names)

    def pop(self, skip=()):
        """The newest waiting run not in *skip*, with its names; None if there is none."""
        candidates = [r for r in self._items if r not in skip]
        if not candidates:
            return None
        run = max(candidates)
        return run, self._items.pop(run)

    def remove(self, runs=None):
        """Drop the given runs (all if None); returns those dropped."""
        dropped = [r for r in self._items if runs is None or r in runs]
        for r in dropped:
            del self._items[r]
        return dropped

    def __contains__(self, run):
        return run in self._items

    def __len__(self):
        return len(self._items)


class Engine:
    """Processes a proposal's runs from a daemon thread.

    ``definitions()`` returns the current ``Definitions`` (called for every run, so new
    variables apply at once); ``listener`` gets ``engine_run_added(run, start_time)``,
    ``engine_results(run, names)``, ``engine_run_state(run, state)`` and
    ``engine_status(status)`` from the engine thread.

    ``reader``: how variables open runs (see :mod:`.readers`). ``executor``: ``"threads"``,
    ``"processes"`` or an executor object, with ``workers`` tasks at once; ``cluster``: a
    Dask ``Client`` or scheduler address for ``cluster=True`` variables (else they run with
    the rest). ``timeout``: seconds one run's task may take before it is stopped and its
    unfinished variables marked as timed out (None: no limit). ``params``: values for
    ``param#`` arguments; ``mymdc(proposal, run, field)``: the facility metadata service, for
    ``mymdc#`` arguments. ``log_dir``: where the per-run logs go (None: nowhere).
    ``on_poll()`` is called from the engine thread at every poll (the table checks its
    context file there).
    """

    def __init__(self, proposal_dir, db, definitions, listener, *, proposal=None, settle=5.0,
                 poll=1.0, reader="damnit_nb", executor="threads", workers=1, cluster=None,
                 timeout=None, params=None, mymdc=None, log_dir=None, on_poll=None):
        self.proposal_dir = Path(proposal_dir)
        self._db = db
        self._definitions = definitions
        self._listener = listener
        self._proposal = proposal
        self._poll_interval = float(poll)
        self._finder = RunFinder(self.proposal_dir / "raw", settle=settle)
        self._proc_finder = RunFinder(self.proposal_dir / "proc", settle=settle)
        self._reader = reader
        self._executor = make_executor(executor, workers)
        self._cluster = None
        if cluster is not None:
            from .executors import DaskExecutor

            self._cluster = cluster if hasattr(cluster, "submit") and hasattr(
                cluster, "max_workers") else DaskExecutor(cluster)
        self.timeout = timeout
        self.params = dict(params or {})
        self.mymdc = mymdc
        self.log_dir = None if log_dir is None else Path(log_dir)
        self._on_poll = on_poll
        self._paths = {}  # run -> path, for runs found on disk
        # Runs in the database with a start time (a run made by a comment has none yet).
        self._known_runs = {r.run for r in db.runs() if r.start_time is not None}
        self._cond = threading.Condition()
        self._queue = _WorkQueue()
        self._running = {}  # run -> list of Jobs
        self._states = {}  # run -> one of RUN_STATES
        self._outcomes = {}  # run -> "done" | "failed", after its last processing
        self._processed_with = {}  # run -> (raw, proc) files signatures when last dispatched
        self._adopted = {}  # (run, name) -> code version a value of unknown code is taken for
        self._still_failed = set()  # runs requeued after a task failed midway
        self._stop = threading.Event()
        self._thread = None
        self._polls = 0
        self._done = 0
        self._errors = 0
        self._state = "starting"
        self._crash = None

    # -- control (any thread) -----------------------------------------------------------------
    def start(self):
        """Start the engine thread; calling it again does nothing."""
        # Import what variables commonly need here, once: two engines importing a module
        # for the first time in two threads can see it half initialised.
        import pandas  # noqa: F401  (imported for its side effect: loaded once, here)
        import xarray  # noqa: F401

        with self._cond:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._main, name="damnit_nb-engine",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout=10.0):
        """Stop: running tasks are stopped and nothing more is stored; safe to call twice."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
        self._executor.shutdown()
        if self._cluster is not None:
            self._cluster.shutdown()

    def request(self, runs=None, names=None):
        """Queue runs (all known runs if None) for the variables ``names`` (None: those out
        of date). Named variables are computed even if up to date, with what they need."""
        with self._cond:
            if runs is None:
                runs = list(self._paths)
            for run in runs:
                self._queue.put(run, names)
                if run not in self._running:
                    self._set_state(run, "queued")
            self._cond.notify_all()
        self._announce()

    def reprocess(self, runs="all", match=None):
        """Compute again, even if up to date: ``runs`` ("all" or run numbers), variables whose
        name or title matches the glob(s) ``match`` (None: all). Returns the names."""
        defs = self._definitions()
        if match is None:
            names = list(defs.order)
        else:
            patterns = [match] if isinstance(match, str) else list(match)
            names = [n for n in defs.order
                     if any(fnmatch.fnmatchcase(n, p) or fnmatch.fnmatchcase(defs[n].title, p)
                            for p in patterns)]
        if runs == "all":
            with self._cond:
                runs = sorted(self._paths)
        elif isinstance(runs, int):
            runs = [runs]
        if names:
            self.request([int(r) for r in runs], names)
        return names

    def cancel(self, runs=None):
        """Drop waiting work and stop running tasks (of ``runs``, or all). What was stored
        stays; the variables not computed stay out of date until asked for again."""
        with self._cond:
            wanted = None if runs is None else {int(r) for r in runs}
            dropped = self._queue.remove(wanted)
            jobs = [j for r, js in self._running.items() if wanted is None or r in wanted
                    for j in js]
            for run in dropped:
                self._set_state(run, "cancelled")
        for job in jobs:
            job.stop("cancelled")
        with self._cond:
            self._cond.notify_all()
        self._announce()

    def status(self):
        with self._cond:
            return self._status_locked()

    def run_states(self):
        """{run: state} for every run the engine has seen (see :data:`RUN_STATES`)."""
        with self._cond:
            return dict(self._states)

    def wait(self, timeout=None):
        """Block until every run on disk (raw and proc) has settled and been processed.

        Returns True when idle, False on timeout. Raises RuntimeError if the engine crashed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            polls = self._polls
            while not (self._polls > polls and not self._running and not len(self._queue)
                       and not self._finder.unsettled and not self._proc_finder.unsettled):
                if self._crash is not None:
                    raise RuntimeError(f"the engine stopped: {self._crash}") from self._crash
                if self._thread is None or not self._thread.is_alive():
                    raise RuntimeError("the engine is not running: start it (table.start())")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(0.5 if remaining is None else min(remaining, 0.5))
            return True

    # -- engine thread ------------------------------------------------------------------------
    def _main(self):
        try:
            next_poll = 0.0
            while not self._stop.is_set():
                if time.monotonic() >= next_poll:
                    self._scan()
                    next_poll = time.monotonic() + self._poll_interval
                self._collect()
                self._check_timeouts()
                started = self._dispatch()
                if started:
                    continue
                with self._cond:
                    idle = not self._running and not len(self._queue)
                    if idle and self._state != "watching":
                        self._done = 0  # "n of m" counts from the last idle moment
                        self._state = "watching"
                        self._cond.notify_all()
                        status = self._status_locked()
                    else:
                        status = None
                    if not self._stop.is_set() and not self._has_finished_jobs():
                        wait = max(0.0, next_poll - time.monotonic())
                        if self._running and self.timeout is not None:
                            wait = min(wait, 0.5)
                        self._cond.wait(wait)
                if status is not None:
                    self._listener.engine_status(status)
            self._stop_all("the table was closed")
        except BaseException as e:
            log.exception("the damnit_nb engine crashed")
            with self._cond:
                self._crash = e
                self._state = "crashed"
                self._cond.notify_all()
            self._listener.engine_status(self.status())
            raise
        with self._cond:
            self._state = "stopped"
            self._cond.notify_all()
        self._listener.engine_status(self.status())

    def _has_finished_jobs(self):
        return any(j.done() for js in self._running.values() for j in js)

    def _scan(self):
        if self._on_poll is not None:
            try:
                self._on_poll()
            except Exception:  # a hook's failure must not stop the engine
                log.exception("the engine's poll hook failed")
        found = []
        for finder in (self._finder, self._proc_finder):
            try:
                found += [(finder, run, path) for run, path in finder.poll()]
            except OSError as e:
                log.warning("cannot look for runs in %s: %s", finder.raw_dir, e)
        with self._cond:
            for finder, run, path in found:
                if finder is self._finder:
                    self._paths[run] = path
                elif run not in self._paths:
                    continue  # proc data before raw: wait for the raw run
                self._queue.put(run)
                if run not in self._running:
                    self._set_state(run, "queued")
            for run in self._finder.vanished:
                if self._states.get(run) != "vanished":
                    self._queue.remove({run})
                    self._paths.pop(run, None)
                    self._set_state(run, "vanished")  # its values stay in the database
            self._polls += 1
            self._cond.notify_all()

    def _out_of_date(self, defs, run):
        """Variables of ``run`` to compute: code changed since their value was stored, or the
        data they read changed after it (a late file, re-migrated or recalibrated data).
        Variables reading proc data wait until the run has proc data."""
        stored = self._db.values(runs=[run]).get(run, {})
        versions = self._db.code_versions(run)
        proc = _proc_variables(defs)
        raw_newest = self._finder.newest(run)
        proc_newest = self._proc_finder.newest(run)
        # Files seen to change since this engine processed the run: everything they feed.
        seen = self._processed_with.get(run)
        raw_changed = seen is not None and seen[0] != self._finder.signature(run)
        proc_changed = seen is not None and seen[1] != self._proc_finder.signature(run)
        todo = []
        for name in defs.order:
            if name in proc and proc_newest is None:
                continue
            current = defs.versions[name]
            recorded = versions.get(name)
            if recorded is None and name in stored:
                # Computed by another tool (DAMNIT records no code version): taken as this
                # code's result, until this code changes. Remembered here, not written, so a
                # DAMNIT database is left as it is.
                recorded = self._adopted.setdefault((run, name), current)
            if recorded != current:
                todo.append(name)
                continue
            if proc_changed if name in proc else raw_changed:
                todo.append(name)
                continue
            value = stored.get(name)
            newest = proc_newest if name in proc else raw_newest
            if (value is not None and value.timestamp is not None and newest is not None
                    and newest > value.timestamp + CLOCK_SLACK):
                todo.append(name)
        return todo

    def _dispatch(self):
        """Start the newest waiting run if an executor has room; True if one started."""
        with self._cond:
            if len(self._running) >= self._executor.max_workers:
                return False
            item = self._queue.pop(skip=self._running)
            if item is None:
                return False
            run, names = item
            path = self._paths.get(run)
            self._state = "processing"
            # Counted as running from now on, so wait() never sees it in neither place.
            self._running[run] = []
        if path is None:
            self._forget(run)
            return True
        self._register_run(run, path)
        defs = self._definitions()
        if names is None:
            todo = defs.with_ancestors(self._out_of_date(defs, run))
        else:
            todo = defs.with_ancestors([n for n in names if n in defs])
        proc = _proc_variables(defs)
        has_proc = self._proc_finder.newest(run) is not None
        self._processed_with[run] = (self._finder.signature(run), self._proc_finder.signature(run))
        if not has_proc:
            todo = [n for n in todo if n not in proc]  # they wait for proc data
        if not todo:  # all up to date: as it was after its last processing
            with self._cond:
                self._set_state(run, self._outcomes.get(run, "done"))
            self._forget(run)
            self._announce()
            return True
        meta = RunMeta(run, self._proposal, self.proposal_dir)
        local, remote = todo, []
        if self._cluster is not None:
            remote = [n for n in todo if _on_cluster(defs, n)]
            if remote:
                remote = defs.with_ancestors(remote)
                local = [n for n in todo if not _on_cluster(defs, n)]
        jobs = []
        for names_, executor in ((local, self._executor), (remote, self._cluster)):
            if not names_:
                continue
            data = "all" if has_proc and any(n in proc for n in names_) else "raw"
            task = RunTask(run, path, defs, names_, meta, reader=self._reader,
                           params=self.params, data=data, mymdc=self.mymdc)
            try:
                job = executor.submit(task)
            except Exception as e:  # e.g. the cluster is unreachable: the variables say so
                log.warning("run %s: cannot submit its variables: %s", run, e)
                job = failed_job(task, e)
            job.names = names_ if executor is not self._cluster else [
                n for n in names_ if _on_cluster(defs, n)]
            job.add_done_callback(self._job_finished)
            jobs.append(job)
        with self._cond:
            self._running[run] = jobs
            self._set_state(run, "running")
        self._announce()
        return True

    def _forget(self, run):
        with self._cond:
            self._running.pop(run, None)
            self._cond.notify_all()

    def _job_finished(self, job):
        with self._cond:
            self._cond.notify_all()

    def _collect(self):
        """Store the results of finished jobs (this thread is the one writer)."""
        with self._cond:
            finished = [(run, js) for run, js in self._running.items()
                        if all(j.done() for j in js)]
        for run, jobs in finished:
            failed = False
            cancelled = False
            for job in jobs:
                try:
                    failed |= not self._store(run, job)
                except TaskStopped as e:
                    cancelled |= str(e) == "cancelled"
                    failed = True
            outcome = "cancelled" if cancelled else "failed" if failed else "done"
            if outcome == "done" and run in self._still_failed and run not in self._queue:
                outcome = "failed"
            if run not in self._queue:
                self._still_failed.discard(run)
            with self._cond:
                del self._running[run]
                self._done += 1
                if not cancelled:
                    self._outcomes[run] = outcome
                self._set_state(run, "queued" if run in self._queue else outcome)
                self._cond.notify_all()
            self._listener.engine_results(run, [n for j in jobs for n in j.names])
            self._announce()

    def _store(self, run, job):
        """Store one finished job's results and log; True if no variable failed."""
        names = job.names
        try:
            result = job.result()
        except TaskStopped as e:
            if str(e) == "cancelled":
                self._log(run, names, "cancelled before it finished\n")
                raise
            error = TimeoutError(f"stopped after {self.timeout:g} s (the table's timeout)")
            self._store_partial(run, job, error)
            self._log(run, names, f"{error}\n")
            return False
        except Exception as e:
            self._store_partial(run, job, RuntimeError(str(e)))
            self._log(run, names, f"failed: {e}\n")
            return False
        outcome = result.outcome
        keep = set(names)
        results = [r for r in outcome.results if r.name in keep]
        versions = {n: v for n, v in outcome.code_versions.items() if n in keep}
        errors = sum(1 for r in results if r.is_error and not r.skipped)
        self._write(run, results, job.task, names, versions)
        self._log(run, names, result.log, errors=errors, took=result.finished - result.started)
        return errors == 0

    def _store_partial(self, run, job, error):
        """A task that ended without its result (over time, its worker died): keep what it
        finished, blame the variable it was computing (its dependents are skipped), and leave
        the ones it never reached to a new task. When the executor cannot tell which
        variable was running, every variable of the task gets the error."""
        from ..store import prepare_error

        defs = job.task.definitions
        names = list(job.names)
        culprit = job.current
        if culprit is None or culprit not in names:
            self._write(run, [prepare_error(n, error) for n in names], job.task, names)
            return
        finished = {n: r for n, r in dict(job.finished).items() if n in names}
        results = [r for r in finished.values() if r is not False]
        results.append(prepare_error(culprit, error))
        blamed = {culprit}
        for name in names:  # execution order: dependencies first
            if name in finished or name in blamed:
                continue
            if any(d in blamed for deps in defs.dependencies(name).values() for d in deps):
                from ..context import Skip

                results.append(prepare_error(name, Skip(
                    f"dependency {culprit} ({type(error).__name__}: {error}) gave no value")))
                blamed.add(name)
        stored = [r.name for r in results]
        self._write(run, results, job.task, stored)
        rest = [n for n in names if n not in finished and n not in blamed]
        if rest:
            with self._cond:
                self._queue.put(run)  # what is still out of date, in a new task
                self._still_failed.add(run)  # that task's success does not undo this failure
                self._cond.notify_all()

    def _write(self, run, results, task, names, versions=None):
        from ..store import prepare_error

        if versions is None:
            versions = {n: task.definitions.versions[n] for n in names
                        if n in task.definitions.versions}
        try:
            self._db.write_results(run, results, versions)
        except Exception as e:  # say so in every cell rather than lose the run silently
            log.exception("run %s: storing results failed", run)
            failed = [prepare_error(r.name, ResultNotStored(e)) for r in results]
            self._db.write_results(run, failed, versions)
        with self._cond:
            self._errors += sum(1 for r in results if r.is_error and not r.skipped)

    def _log(self, run, names, text, errors=None, took=None):
        if self.log_dir is None:
            return
        stamp = datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        head = f"==== {stamp} run {run}: {', '.join(names)}\n"
        tail = ""
        if errors is not None:
            tail = f"==== finished in {took:.1f} s, {errors} error(s)\n"
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            with open(log_path(self.log_dir, run, self._proposal), "a") as f:
                f.write(head + text + ("" if text.endswith("\n") or not text else "\n") + tail)
        except OSError as e:
            log.warning("run %s: cannot write its log: %s", run, e)

    def _check_timeouts(self):
        if self.timeout is None:
            return
        now = time.monotonic()
        with self._cond:
            late = [j for js in self._running.values() for j in js
                    if not j.done() and now - j.started > self.timeout]
        for job in late:
            job.stop(f"over the time limit of {self.timeout:g} s")

    def _stop_all(self, reason):
        with self._cond:
            jobs = [j for js in self._running.values() for j in js]
        for job in jobs:
            job.stop(reason)

    def _register_run(self, run, path):
        if run in self._known_runs:
            return
        try:
            start_time = _start_time(path)
        except Exception as e:
            log.warning("run %s: cannot read its start time: %s", run, e)
            start_time = _oldest_mtime(path)
        self._db.add_run(run, start_time=start_time)
        self._known_runs.add(run)
        self._listener.engine_run_added(run, start_time)

    def _set_state(self, run, state):
        # Called with the condition held.
        if self._states.get(run) != state:
            self._states[run] = state
            notify = getattr(self._listener, "engine_run_state", None)
            if notify is not None:
                notify(run, state)

    def _status_locked(self):
        return EngineStatus(self._state, sorted(self._running), len(self._queue), self._done,
                            self._errors, self._crash)

    def _announce(self):
        with self._cond:
            status = self._status_locked()
        self._listener.engine_status(status)


def log_path(log_dir, run, proposal):
    """Where the log of ``run`` is kept (DAMNIT's name for it)."""
    return Path(log_dir) / f"r{int(run)}-p{proposal}.out"


def _proc_variables(defs):
    """Names of the variables that read proc data (``Definitions`` gives dependents of a
    ``data="proc"`` variable that setting too)."""
    return {name for name in defs.order if defs[name].data == "proc"}


def _on_cluster(defs, name):
    return bool(getattr(defs[name], "cluster", False))


class ResultNotStored(Exception):
    """The results were computed but could not be stored."""

    def __init__(self, cause):
        super().__init__(f"the result could not be stored: {type(cause).__name__}: {cause}")


def _start_time(path):
    """The run's start as seconds since the epoch, from its METADATA, else its files."""
    from ..data import RunDirectory

    created = RunDirectory(path).run_metadata().get("creationDate")
    if created:
        text = created.decode() if isinstance(created, bytes) else str(created)
        return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
    return _oldest_mtime(path)


def _oldest_mtime(path):
    mtimes = [p.stat().st_mtime for p in Path(path).glob("*.h5")]
    return min(mtimes) if mtimes else None
