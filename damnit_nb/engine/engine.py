"""The engine thread: finds settled runs, has their variables computed, stores the results.

One thread per table schedules the work: runs waiting are served newest first, at most
``executor.max_workers`` at a time (variables with ``cluster=True`` go to the cluster
executor when there is one); a run's variables are computed in dependency order by the
executor (see :mod:`.executors`). Every result is stored by this thread, the one writer of
the table's database, in one short transaction per task. What each task printed goes to
``process_logs/r{run}-p{proposal}.out`` in the database directory.

It never stops for one run's sake, nor for the store's: each round of its work
(:meth:`Engine.step`) catches what goes wrong with one run, and results the store cannot
take (the database locked past its busy timeout, a full disk, an I/O error) wait in memory,
in the order they came, and are retried with a growing pause until the store takes them;
meanwhile the run is ``"unsaved"`` and the status says why. Nothing already stored is
touched by a failed write.

It never touches widgets: it reports to a listener, always from the engine thread and never
while holding its lock; the listener's methods must be thread-safe, and an exception in one
is logged, not raised.
"""

import errno
import fnmatch
import logging
import sqlite3
import threading
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path

from .executors import TaskStopped, failed_job, make_executor
from .processor import RunMeta
from .worker import RunTask
from .watcher import RunFinder

__all__ = ["Engine", "EngineStatus", "RUN_STATES", "ResultNotStored", "log_path"]

log = logging.getLogger(__name__)

#: What ``Engine.run_states()`` says of a run ("unsaved": computed, waiting for the store).
RUN_STATES = ("queued", "running", "unsaved", "done", "failed", "cancelled", "vanished")

#: Seconds of clock difference between file servers and this host that are tolerated when
#: telling whether data changed after a value was computed.
CLOCK_SLACK = 1.0

#: First and longest pause (seconds) before retrying the store, or a run whose
#: preparation failed; the pause doubles at each failure in between.
RETRY_FIRST = 1.0
RETRY_MAX = 60.0


class EngineStatus:
    """A snapshot of what the engine is doing."""

    __slots__ = ("state", "running", "queued", "done", "errors", "error", "unsaved",
                 "problem")

    def __init__(self, state, running=(), queued=0, done=0, errors=0, error=None, unsaved=0,
                 problem=None):
        # "starting", "watching", "processing", "read-only", "stopped", "crashed"
        self.state = state
        self.running = tuple(running)  # run numbers being processed
        self.queued = queued  # runs waiting
        self.done = done  # runs processed since the last idle moment
        self.errors = errors  # variable errors since the engine started
        self.error = error  # why the engine stopped for good ("crashed")
        self.unsaved = unsaved  # runs whose results wait for the store
        self.problem = problem  # what is wrong now (the store, a run), and what to do

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

    def __iter__(self):
        return iter(list(self._items))

    def __len__(self):
        return len(self._items)


class _Write:
    """Results of one task waiting to be stored."""

    __slots__ = ("run", "results", "versions", "names", "outcome", "stored")

    def __init__(self, run, results, versions, names, outcome, stored=False):
        self.run = run
        self.results = results
        self.versions = versions
        self.names = names  # announced to the listener once stored
        self.outcome = outcome  # the run's state once stored (None: leave it)
        self.stored = stored  # stored by the task itself


class Engine:
    """Processes a proposal's runs from a daemon thread.

    ``definitions()`` returns the current ``Definitions`` (called for every run, so new
    variables apply at once); ``listener`` gets ``engine_run_added(run, start_time)``,
    ``engine_results(run, names)``, ``engine_run_state(run, state)`` and
    ``engine_status(status)``, from the engine thread.

    ``reader``: how variables open runs (see :mod:`.readers`). ``executor``: ``"threads"``,
    ``"processes"`` or an executor object, with ``workers`` tasks at once; ``cluster``: a
    Dask ``Client`` or scheduler address for ``cluster=True`` variables (else they run with
    the rest). ``timeout``: seconds one run's task may take before it is stopped and its
    unfinished variables marked as timed out (None: no limit). ``params``: values for
    ``param#`` arguments; ``mymdc(proposal, run, field)``: the facility metadata service, for
    ``mymdc#`` arguments. ``log_dir``: where the per-run logs go (None: nowhere).
    ``on_poll()`` is called from the engine thread at every poll (the table checks its
    context file there).

    ``finders``: ``(raw, proc)`` objects with :class:`~.watcher.RunFinder`'s interface
    (default: finders of the proposal's ``raw/`` and ``proc/``); ``clock``: monotonic seconds
    (default ``time.monotonic``). Tests give their own and drive :meth:`step` themselves.

    A database opened read-only (``db.read_only``) is shown, never processed: :meth:`start`
    then only says so in the status.
    """

    def __init__(self, proposal_dir, db, definitions, listener, *, proposal=None, settle=5.0,
                 poll=1.0, reader="damnit_nb", executor="threads", workers=1, cluster=None,
                 timeout=None, params=None, mymdc=None, log_dir=None, on_poll=None,
                 finders=None, clock=time.monotonic):
        self.proposal_dir = Path(proposal_dir)
        self._db = db
        self._definitions = definitions
        self._listener = listener
        self._proposal = proposal
        self._poll_interval = float(poll)
        if finders is None:
            finders = (RunFinder(self.proposal_dir / "raw", settle=settle),
                       RunFinder(self.proposal_dir / "proc", settle=settle))
        self._finder, self._proc_finder = finders
        self._clock = clock
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
        self._cond = threading.Condition()
        # Guarded by _cond:
        self._paths = {}  # run -> path, for runs found on disk
        self._known_runs = None  # runs in the database with a start time, read at first use
        self._queue = _WorkQueue()
        self._running = {}  # run -> list of Jobs
        self._deferred = {}  # run -> clock time before which it is not dispatched again
        self._defer_pauses = {}  # run -> the last pause it was deferred for
        self._run_problems = {}  # run -> why it could not be prepared, until it is
        self._states = {}  # run -> one of RUN_STATES
        self._outcomes = {}  # run -> "done" | "failed", after its last processing
        self._processed_with = {}  # run -> (raw, proc) files signatures when last dispatched
        self._adopted = {}  # (run, name) -> code version a value of unknown code is taken for
        self._failing = {}  # run -> names whose latest result is an error (not a skip)
        self._unsaved = deque()  # _Write, oldest first: results the store did not take yet
        self._store_retry_at = None  # clock time of the next try at the store
        self._store_pause = RETRY_FIRST
        self._store_problem = None  # why the store did not take the last write
        self._problem = None  # why the last round went wrong (an internal error)
        self._notes = deque()  # listener calls to make, outside the lock
        self._status_dirty = True
        self._scan_now = False
        self._scans_started = 0
        self._scans_done = 0
        self._idle = False
        self._next_poll = None
        self._stop = threading.Event()
        self._thread = None
        self._done = 0
        self._errors = 0
        self._state = "starting"
        self._crash = None

    # -- control (any thread) -----------------------------------------------------------------
    def start(self):
        """Start the engine thread; calling it again does nothing. With a read-only
        database, nothing is processed: the status says why."""
        if getattr(self._db, "read_only", False):
            with self._cond:
                self._state = "read-only"
                self._problem = read_only_message(self._db)
                self._status_dirty = True
            self._emit()
            return
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
        """Stop: running tasks are stopped and nothing more is stored; safe to call twice.
        Results still waiting for the store are tried once more, then dropped (their runs
        stay out of date, so a later table computes them again)."""
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
        """Queue runs (all runs on disk if None) for the variables ``names`` (None: those
        out of date). Named variables are computed even if up to date, with what they need.
        Runs not found on disk are left out."""
        with self._cond:
            if runs is None:
                runs = list(self._paths)
            for run in runs:
                if run not in self._paths:
                    continue
                self._queue.put(run, names)
                if run not in self._running:
                    self._set_state(run, "queued")
            self._changed()

    def reprocess(self, runs="all", match=None):
        """Compute again, even if up to date: ``runs`` ("all" or run numbers), variables whose
        name or title matches the glob(s) ``match`` (None: all). Returns the names.

        Raises ValueError for a run that is not on disk (its directory under ``raw/`` has
        not been found)."""
        defs = self._definitions()
        if match is None:
            names = list(defs.order)
        else:
            patterns = [match] if isinstance(match, str) else list(match)
            names = [n for n in defs.order
                     if any(fnmatch.fnmatchcase(n, p) or fnmatch.fnmatchcase(defs[n].title, p)
                            for p in patterns)]
        self._wait_first_scan()
        with self._cond:
            if runs == "all":
                runs = sorted(self._paths)
            else:
                runs = [int(runs)] if isinstance(runs, int) else [int(r) for r in runs]
                missing = [r for r in runs if r not in self._paths]
                if missing:
                    from .._text import number_ranges

                    found = number_ranges(sorted(self._paths)) or "none yet"
                    raise ValueError(
                        f"no run {number_ranges(missing)} on disk under "
                        f"{self._finder.raw_dir} (runs found: {found}); a run still being "
                        "written is processed once its files settle")
        if names:
            self.request(runs, names)
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
                self._deferred.pop(run, None)
                self._set_state(run, "cancelled")
            self._changed()
        for job in jobs:
            job.stop("cancelled")

    def status(self):
        with self._cond:
            return self._status_locked()

    def run_states(self):
        """{run: state} for every run the engine has seen (see :data:`RUN_STATES`)."""
        with self._cond:
            return dict(self._states)

    def wait(self, timeout=None):
        """Block until every run on disk (raw and proc) has settled and been processed, and
        its results are stored; what changed on disk before the call is seen.

        Returns True when idle, False on timeout. With a read-only database nothing is
        processed: returns True at once. Raises RuntimeError if the engine is not running.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if self._state == "read-only":
                return True
            target = self._scans_started + 1  # a look at the disk that starts after now
            self._scan_now = True
            self._cond.notify_all()
            while not (self._scans_done >= target and self._idle):
                if self._crash is not None:
                    raise RuntimeError(f"the engine stopped: {self._crash}") from self._crash
                if self._thread is None or not self._thread.is_alive():
                    raise RuntimeError("the engine is not running: start it (table.start())")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(0.5 if remaining is None else min(remaining, 0.5))
            return True

    def _wait_first_scan(self, timeout=30.0):
        """Let the first look at the disk finish (runs found are known), if the engine runs."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (self._scans_done == 0 and self._thread is not None
                   and self._thread.is_alive() and time.monotonic() < deadline):
                self._cond.wait(0.1)

    def _changed(self):
        """Something to do (called with the condition held): wake the engine thread."""
        self._idle = False
        self._status_dirty = True
        self._cond.notify_all()

    # -- engine thread ------------------------------------------------------------------------
    def _main(self):
        pause = RETRY_FIRST
        try:
            while not self._stop.is_set():
                try:
                    wait = self.step()
                    pause = RETRY_FIRST
                    if self._problem is not None:  # a round went well again
                        with self._cond:
                            self._problem = None
                            self._status_dirty = True
                except Exception as e:  # a defect of ours: say so, and keep going
                    log.exception("the damnit_nb engine's round failed; it goes on")
                    with self._cond:
                        self._problem = (f"internal error: {type(e).__name__}: {e} (the engine "
                                         "goes on; the kernel's log has the traceback)")
                        self._status_dirty = True
                    self._emit()
                    wait, pause = pause, min(pause * 2, RETRY_MAX)
                with self._cond:
                    if (not self._stop.is_set() and not self._scan_now
                            and not self._has_finished_jobs()):
                        self._cond.wait(wait)
            self._stop_all("the table was closed")
            self._flush_writes(final=True)
        except BaseException as e:  # KeyboardInterrupt, SystemExit: the thread ends here
            log.exception("the damnit_nb engine stopped")
            with self._cond:
                self._crash = e
                self._state = "crashed"
                self._status_dirty = True
                self._cond.notify_all()
            self._emit()
            raise
        with self._cond:
            self._state = "stopped"
            self._status_dirty = True
            self._cond.notify_all()
        self._emit()

    def step(self):
        """One round of the engine's work: look at the disk when due, store what finished,
        enforce time limits, retry the store, start what has room. Returns the seconds until
        the next round is due. Called by the engine thread (or a test, without one)."""
        now = self._clock()
        with self._cond:
            scan = self._scan_now or self._next_poll is None or now >= self._next_poll
            self._scan_now = False
        if scan:
            self._scan()
            self._next_poll = self._clock() + self._poll_interval
            # A run seen settling is looked at again the moment it should have settled.
            settles = [f.next_settle for f in (self._finder, self._proc_finder)
                       if getattr(f, "next_settle", None) is not None]
            if settles:
                due = self._clock() + max(0.0, min(settles) - time.time()) + 0.01
                self._next_poll = min(self._next_poll, due)
        finished = self._take_finished()
        while self._dispatch(busy=finished):  # free workers get work before storing
            pass
        for run, jobs in finished:
            self._collect(run, jobs)
        self._check_timeouts()
        self._flush_writes()
        while self._dispatch():
            pass
        with self._cond:
            if not self._running and not len(self._queue) and self._state == "processing":
                self._done = 0  # "n of m" counts from the last idle moment
                self._state = "watching"
                self._status_dirty = True
            elif self._state == "starting":
                self._state = "watching"
                self._status_dirty = True
            wait = max(0.0, self._next_poll - self._clock())
            if self._running and self.timeout is not None:
                wait = min(wait, 0.5)
            if self._store_retry_at is not None:
                wait = min(wait, max(0.0, self._store_retry_at - self._clock()))
            if self._deferred:
                wait = min(wait, max(0.0, min(self._deferred.values()) - self._clock()))
        self._emit()
        with self._cond:  # judged now: a request made meanwhile counts
            self._idle = (not self._running and not len(self._queue) and not self._unsaved
                          and not self._finder.unsettled and not self._proc_finder.unsettled
                          and not self._scan_now and not self._notes)
            self._cond.notify_all()
        return wait

    def _emit(self):
        """Make the listener calls noted so far (engine thread, no lock held)."""
        while True:
            with self._cond:
                if self._notes:
                    method, args = self._notes.popleft()
                elif self._status_dirty:
                    self._status_dirty = False
                    method, args = "engine_status", (self._status_locked(),)
                else:
                    return
            fn = getattr(self._listener, method, None)
            if fn is None:
                continue
            try:
                fn(*args)
            except Exception:
                log.exception("the table's %s failed (the engine goes on)", method)

    def _note(self, method, *args):
        # Called with the condition held.
        self._notes.append((method, args))

    def _has_finished_jobs(self):
        return any(j.done() for js in self._running.values() for j in js)

    def _scan(self):
        with self._cond:  # counted from its start: wait() needs a look begun after its call
            self._scans_started += 1
            seq = self._scans_started
            self._idle = False  # until the end of this round says otherwise
        if self._on_poll is not None:
            try:
                self._on_poll()
            except Exception:  # a hook's failure must not stop the engine
                log.exception("the engine's poll hook failed")
        found = []
        for finder in (self._finder, self._proc_finder):
            try:
                found += [(finder, run, path) for run, path in finder.poll()]
            except Exception as e:
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
                    self._deferred.pop(run, None)
                    self._paths.pop(run, None)
                    self._set_state(run, "vanished")  # its values stay in the database
            self._scans_done = seq
            if found:
                self._changed()
            self._cond.notify_all()

    def _out_of_date(self, defs, run):
        """Variables of ``run`` to compute: code changed since their value was stored, or the
        data they read changed after it (a late file, re-migrated or recalibrated data).
        Variables reading proc data wait until the run has proc data."""
        stored = self._db.values(runs=[run]).get(run, {})
        versions = self._db.code_versions(run)
        with self._cond:
            self._failing[run] = {n for n, v in stored.items() if v.is_error and not v.skipped}
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

    def _dispatch(self, busy=()):
        """Start the newest waiting run if an executor has room; True if one was taken.

        Runs in ``busy`` (results not stored yet), deferred ones, and all runs while too many
        results wait for the store, stay queued."""
        now = self._clock()
        with self._cond:
            if len(self._running) >= self._executor.max_workers:
                return False
            if self._store_retry_at is not None and now < self._store_retry_at:
                return False  # the store is unavailable: new work waits with the rest
            held = {w.run for w in self._unsaved} | {r for r, _ in busy}
            if self._unsaved and len(held) >= 2 * self._executor.max_workers:
                return False  # the store is behind: hold on to no more results than this
            skip = set(self._running) | {r for r, _ in busy}
            skip |= {r for r, t in self._deferred.items() if t > now}
            skip |= {r for r in self._queue if r not in self._paths}
            item = self._queue.pop(skip=skip)
            if item is None:
                return False
            run, names = item
            path = self._paths[run]
            self._deferred.pop(run, None)
            self._state = "processing"
            self._status_dirty = True
            # Counted as running from now on, so wait() never sees it in neither place.
            self._running[run] = []
        try:
            jobs = self._start(run, path, names)
        except Exception as e:  # reading the database or the run's start time failed
            log.warning("run %s: cannot be prepared for processing: %s", run, e)
            with self._cond:
                del self._running[run]
                self._queue.put(run, names)
            if store_unavailable(e):  # every run waits for the store, not just this one
                with self._cond:
                    self._set_state(run, "queued")
                self._store_refused(e)
                return False
            with self._cond:
                previous = self._defer_pauses.get(run)
                pause = RETRY_FIRST if previous is None else min(previous * 2, RETRY_MAX)
                self._defer_pauses[run] = pause
                self._deferred[run] = self._clock() + pause
                self._set_state(run, "queued")
                self._run_problems[run] = (
                    f"run {run} could not be prepared for processing ({type(e).__name__}: "
                    f"{e}); trying again in {pause:g} s")
                self._changed()
            return True
        defined = set() if jobs else set(self._definitions().order)
        with self._cond:
            self._defer_pauses.pop(run, None)
            self._run_problems.pop(run, None)
            if self._store_retry_at is not None and not self._unsaved:
                self._store_recovered()  # the store answered again
            if jobs:
                self._running[run] = jobs
                self._set_state(run, "running")
            else:  # all up to date: as after its last processing, or as its values say
                del self._running[run]
                stored = "failed" if self._failing.get(run, set()) & defined else "done"
                self._set_state(run, self._outcomes.get(run, stored))
            self._changed()
        return True

    def _start(self, run, path, names):
        """Submit ``run``'s work; the Jobs (none if everything is up to date)."""
        self._register_run(run, path)
        defs = self._definitions()
        if names is None:
            todo = defs.with_ancestors(self._out_of_date(defs, run))
        else:
            todo = defs.with_ancestors([n for n in names if n in defs])
        proc = _proc_variables(defs)
        has_proc = self._proc_finder.newest(run) is not None
        with self._cond:
            self._processed_with[run] = (self._finder.signature(run),
                                         self._proc_finder.signature(run))
        if not has_proc:
            todo = [n for n in todo if n not in proc]  # they wait for proc data
        if not todo:
            return []
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
            # Worker processes store what they computed themselves (the kernel's one core
            # would be the bottleneck), unless results wait for the store: those go first.
            with self._cond:
                own = (executor is self._executor and executor.kind == "processes"
                       and not self._unsaved)
            task = RunTask(run, path, defs, names_, meta, reader=self._reader,
                           params=self.params, data=data, mymdc=self.mymdc,
                           database=getattr(self._db, "path", None) if own else None)
            try:
                job = executor.submit(task)
            except Exception as e:  # e.g. the cluster is unreachable: the variables say so
                log.warning("run %s: cannot submit its variables: %s", run, e)
                job = failed_job(task, e)
            job.started = self._clock()
            job.names = names_ if executor is not self._cluster else [
                n for n in names_ if _on_cluster(defs, n)]
            job.add_done_callback(self._job_finished)
            jobs.append(job)
        return jobs

    def _job_finished(self, job):
        with self._cond:
            self._cond.notify_all()

    def _take_finished(self):
        """Runs whose jobs have all finished, taken out of the running set."""
        with self._cond:
            finished = [(run, js) for run, js in self._running.items()
                        if js and all(j.done() for j in js)]
            for run, _ in finished:
                del self._running[run]
            return finished

    def _collect(self, run, jobs):
        """Store the results of a run's finished jobs (this thread is the one writer)."""
        failed = False
        cancelled = False
        writes = []
        for job in jobs:
            try:
                write, ok = self._results_of(run, job)
            except TaskStopped:  # cancelled: nothing to store
                cancelled = True
                continue
            except Exception as e:  # a defect in reading a result: the run says so
                log.exception("run %s: its results could not be read", run)
                from ..store import prepare_error

                write = _Write(run, [prepare_error(n, ResultNotStored(e)) for n in job.names],
                               {}, list(job.names), None)
                ok = False
            failed |= not ok
            writes.append(write)
        # A run has failed while any of its variables' latest result is an error: of this
        # task, or of an earlier one this task did not redo.
        names = set(jobs[0].task.definitions.order) if jobs else set()
        with self._cond:
            failing = self._failing.setdefault(run, set())
            for write in writes:
                for r in write.results:
                    if r.is_error and not r.skipped:
                        failing.add(r.name)
                    else:
                        failing.discard(r.name)
            failed |= bool(failing & names)
        outcome = "cancelled" if cancelled else "failed" if failed else "done"
        with self._cond:
            self._done += 1
            if not cancelled:
                self._outcomes[run] = outcome
            final = "queued" if run in self._queue else outcome
            self._status_dirty = True
        if writes:
            writes[-1].outcome = final
            for write in writes:
                if write.stored:
                    with self._cond:
                        if write.outcome is not None:
                            self._set_state(run, write.outcome)
                        self._note("engine_results", run, write.names)
                else:
                    self._unsaved.append(write)
            with self._cond:
                if self._store_retry_at is not None and any(w.run == run for w in self._unsaved):
                    self._set_state(run, "unsaved")
        else:
            with self._cond:
                self._set_state(run, final)
        self._flush_writes()

    def _results_of(self, run, job):
        """What to store of one finished job, and whether none of its variables failed."""
        names = job.names
        try:
            result = job.result()
        except TaskStopped as e:
            if str(e) == "cancelled":
                self._log(run, names, "cancelled before it finished\n")
                raise
            error = TimeoutError(f"stopped after {self.timeout:g} s (the table's timeout)")
            self._log(run, names, f"{error}\n")
            return self._partial(run, job, error), False
        except Exception as e:
            self._log(run, names, f"failed: {e}\n")
            return self._partial(run, job, RuntimeError(str(e))), False
        outcome = result.outcome
        keep = set(names)
        results = [r for r in outcome.results if r.name in keep]
        versions = {n: v for n, v in outcome.code_versions.items() if n in keep}
        errors = sum(1 for r in results if r.is_error and not r.skipped)
        self._log(run, names, result.log, errors=errors, took=result.finished - result.started)
        with self._cond:
            self._errors += errors
        return _Write(run, results, versions, list(names), None, result.stored), errors == 0

    def _partial(self, run, job, error):
        """A task that ended without its result (over time, its worker died): keep what it
        finished, blame the variable it was computing (its dependents are skipped), and leave
        the ones it never reached to a new task. When the executor cannot tell which
        variable was running, every variable of the task gets the error."""
        from ..store import prepare_error

        defs = job.task.definitions
        names = list(job.names)
        with self._cond:
            self._errors += 1
        culprit = job.current
        if culprit is None or culprit not in names:
            results = [prepare_error(n, error) for n in names]
            return _Write(run, results, _versions(defs, names), names, None)
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
        rest = [n for n in names if n not in finished and n not in blamed]
        if rest:
            with self._cond:
                self._queue.put(run)  # what is still out of date, in a new task
                self._changed()
        return _Write(run, results, _versions(defs, stored), stored, None)

    def _flush_writes(self, final=False):
        """Store waiting results, oldest first, until the store refuses one (then it is
        tried again after a pause: 1 s, doubling up to a minute). ``final``: one last try
        now, whatever the pause."""
        with self._cond:
            if not self._unsaved:
                return
            if (not final and self._store_retry_at is not None
                    and self._clock() < self._store_retry_at):
                return
        while self._unsaved:
            write = self._unsaved[0]
            try:
                self._store_write(write)
            except Exception as e:
                if not final:
                    self._store_refused(e)
                else:
                    log.error("stopping with %d run(s) computed but not stored (%s): they "
                              "stay out of date and are computed again by the next table",
                              len({w.run for w in self._unsaved}), e)
                return
            self._unsaved.popleft()
            with self._cond:
                if self._store_retry_at is not None:
                    self._store_recovered()
                if write.outcome is not None:
                    self._set_state(write.run, write.outcome)
                self._note("engine_results", write.run, write.names)

    def _store_write(self, write):
        """Write one task's results; values the store cannot hold are stored as their error
        instead. Raises when the store itself is unavailable (nothing was changed)."""
        try:
            self._db.write_results(write.run, write.results, write.versions)
        except Exception as e:
            if store_unavailable(e):
                raise
            # These values cannot be stored (an odd type, a defect): say so in each cell
            # rather than lose the run silently. If even that fails, the store is the problem.
            log.exception("run %s: storing results failed", write.run)
            from ..store import prepare_error

            errors = [prepare_error(r.name, ResultNotStored(e)) for r in write.results]
            self._db.write_results(write.run, errors, write.versions)
            write.results = errors

    def _store_refused(self, error):
        """The store did not answer: pause (1 s, doubling up to a minute), then try again;
        the runs and the status say why."""
        with self._cond:
            pause = self._store_pause
            self._store_pause = min(pause * 2, RETRY_MAX)
            self._store_retry_at = self._clock() + pause
            runs = sorted({w.run for w in self._unsaved})
            for run in runs:
                self._set_state(run, "unsaved")
            held = (f"{len(runs)} run(s) computed and kept in memory, not stored yet"
                    if runs else "processing waits for it")
            self._store_problem = (
                f"the database cannot be used ({type(error).__name__}: {error}); {held}; "
                f"trying again in {pause:g} s. {_store_advice(error)}")
            self._status_dirty = True
        log.warning("the database cannot be used (%s); trying again in %g s", error, pause)

    def _store_recovered(self):
        # Called with the condition held.
        self._store_retry_at = None
        self._store_pause = RETRY_FIRST
        self._store_problem = None
        self._status_dirty = True

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
        now = self._clock()
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
        with self._cond:
            if self._known_runs is None:
                self._known_runs = {r.run for r in self._db.runs() if r.start_time is not None}
            if run in self._known_runs:
                return
        start_time = self._finder.start_time(path)
        self._db.add_run(run, start_time=start_time)
        with self._cond:
            self._known_runs.add(run)
            self._note("engine_run_added", run, start_time)

    def _set_state(self, run, state):
        # Called with the condition held; the listener hears of it from the engine thread.
        if self._states.get(run) != state:
            self._states[run] = state
            self._note("engine_run_state", run, state)
        self._status_dirty = True

    def _status_locked(self):
        problem = (self._store_problem or self._problem
                   or next(iter(self._run_problems.values()), None))
        return EngineStatus(self._state, sorted(self._running), len(self._queue), self._done,
                            self._errors, self._crash, len({w.run for w in self._unsaved}),
                            problem)


def store_unavailable(error):
    """Whether ``error`` (raised by a write) says the store is unavailable right now (locked,
    full, failing, read-only) rather than that the values cannot be stored."""
    from ..store import StoreUnavailableError

    if isinstance(error, (StoreUnavailableError, sqlite3.OperationalError)):
        return True
    return isinstance(error, OSError) and error.errno in _UNAVAILABLE_ERRNOS


_UNAVAILABLE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EACCES,
                       errno.EPERM, errno.EAGAIN, errno.ESTALE}


def _store_advice(error):
    text = str(error).lower()
    if "locked" in text or "busy" in text:
        return ("Another program holds the database (DAMNIT's backend, another kernel, a slow "
                "file system): it goes on by itself once that program lets go.")
    if getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "full" in text:
        return "The disk (or quota) is full: free space and it goes on by itself."
    if "read-only" in text or "readonly" in text or getattr(error, "errno", None) in (
            errno.EROFS, errno.EACCES, errno.EPERM):
        return ("The database or its folder cannot be written (permissions, a read-only file "
                "system): fix that and it goes on by itself.")
    return "It goes on by itself once the database can be written again."


def read_only_message(db):
    """What a table says when its database cannot be written."""
    why = getattr(db, "read_only_reason", None)
    return (f"the database {getattr(db, 'path', '')} is read-only"
            + (f" ({why})" if why else "")
            + ": it is shown as it is and no run is processed")


def _versions(defs, names):
    return {n: defs.versions[n] for n in names if n in defs.versions}


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
