"""The engine thread: finds settled runs, computes their variables, stores the results.

It never touches widgets: it reports to a listener, whose methods must be thread-safe.
"""

import logging
import threading
import time
from datetime import datetime, timezone

from .processor import RunMeta, compute_run
from .readers import DEFAULT_READER, run_opener
from .watcher import RunFinder

__all__ = ["Engine", "EngineStatus"]

log = logging.getLogger(__name__)


class EngineStatus:
    """A snapshot of what the engine is doing."""

    __slots__ = ("state", "running", "queued", "done", "errors", "error")

    def __init__(self, state, running=None, queued=0, done=0, errors=0, error=None):
        self.state = state  # "starting", "watching", "processing", "stopped", "crashed"
        self.running = running  # run number being processed
        self.queued = queued  # runs waiting
        self.done = done  # runs processed since the last idle moment
        self.errors = errors  # variable errors since the engine started
        self.error = error  # why the engine crashed

    def __repr__(self):
        return ("EngineStatus(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
                + ")")


class _WorkQueue:
    """Runs waiting, each with the variables asked for (None: whatever is out of date).

    Requests for one run merge; the newest run is served first.
    """

    def __init__(self, cond):
        self._cond = cond
        self._items = {}  # run -> set of names | None

    def put(self, run, names=None):
        with self._cond:
            if run in self._items:
                old = self._items[run]
                self._items[run] = None if old is None or names is None else old | set(names)
            else:
                self._items[run] = None if names is None else set(names)
            self._cond.notify_all()

    def pop(self):
        """The newest waiting run and its names, or None. Call with the condition held."""
        if not self._items:
            return None
        run = max(self._items)
        return run, self._items.pop(run)

    def __len__(self):
        return len(self._items)


class Engine:
    """Processes a proposal's runs in a daemon thread.

    ``definitions()`` returns the current ``Definitions`` (called for every run, so new
    variables apply at once); ``listener`` gets ``engine_run_added(run, start_time)``,
    ``engine_results(run, names)`` and ``engine_status(status)`` from the engine thread.
    ``open_run(path)`` opens a run directory (default: damnit_nb's reader; see
    :func:`.readers.run_opener` for EXtra-data's).
    """

    def __init__(self, proposal_dir, db, definitions, listener, *, proposal=None, settle=5.0,
                 poll=1.0, open_run=None):
        self.proposal_dir = proposal_dir
        self._db = db
        self._definitions = definitions
        self._listener = listener
        self._proposal = proposal
        self._poll_interval = float(poll)
        self._finder = RunFinder(proposal_dir / "raw", settle=settle)
        self._open_run = open_run or run_opener(DEFAULT_READER)
        self._paths = {}  # run -> path, for runs found on disk
        self._known_runs = {r.run for r in db.runs()}  # runs in the database (engine thread)
        self._cond = threading.Condition()
        self._queue = _WorkQueue(self._cond)
        self._stop = threading.Event()
        self._thread = None
        self._busy = None  # run being processed
        self._polls = 0
        self._done = 0
        self._errors = 0
        self._state = "starting"
        self._crash = None

    # -- control (any thread) -----------------------------------------------------------------
    def start(self):
        """Start the engine thread; calling it again does nothing."""
        with self._cond:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._main, name="damnit_nb-engine",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout=10.0):
        """Stop once the run being processed is stored; safe to call twice."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)

    def request(self, runs=None, names=None):
        """Queue runs (all known runs if None) for the variables ``names`` (None: out of date)."""
        if runs is None:
            with self._cond:
                runs = list(self._paths)
        for run in runs:
            self._queue.put(run, names)
        self._announce()

    def status(self):
        with self._cond:
            return self._status_locked()

    def wait(self, timeout=None):
        """Block until every run on disk has settled and been processed.

        Returns True when idle, False on timeout. Raises RuntimeError if the engine crashed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            polls = self._polls
            while not (self._polls > polls and self._busy is None and not len(self._queue)
                       and not self._finder.unsettled):
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
                with self._cond:
                    item = self._queue.pop()
                    if item is None:
                        self._done = 0  # "n of m" counts from the last idle moment
                        self._state = "watching"
                        self._cond.notify_all()
                        status = self._status_locked()
                    else:
                        self._busy = item[0]
                        self._state = "processing"
                        status = self._status_locked()
                self._listener.engine_status(status)
                if item is None:
                    with self._cond:
                        if not len(self._queue) and not self._stop.is_set():
                            self._cond.wait(max(0.0, next_poll - time.monotonic()))
                    continue
                try:
                    self._process(*item)
                except Exception:  # the engine never dies on a bad run
                    log.exception("run %s: processing failed", item[0])
                with self._cond:
                    self._busy = None
                    self._done += 1
                    self._cond.notify_all()
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

    def _scan(self):
        try:
            found = self._finder.poll()
        except OSError as e:
            log.warning("cannot look for runs in %s: %s", self._finder.raw_dir, e)
            found = []
        with self._cond:
            for run, path in found:
                self._paths[run] = path
                self._queue.put(run)
            self._polls += 1
            self._cond.notify_all()

    def _process(self, run_number, names):
        with self._cond:
            path = self._paths.get(run_number)
        if path is None:
            return
        opened = []

        def open_run():
            if not opened:
                opened.append(self._open_run(path))
            return opened[0]

        if run_number not in self._known_runs:
            try:
                start_time = _start_time(open_run(), path)
            except Exception as e:  # the variables will record the error
                log.warning("run %s: cannot read its start time: %s", run_number, e)
                start_time = _oldest_mtime(path)
            self._db.add_run(run_number, start_time=start_time)
            self._known_runs.add(run_number)
            self._listener.engine_run_added(run_number, start_time)

        defs = self._definitions()
        if names is None:
            todo = defs.with_ancestors(defs.stale(self._db.code_versions(run_number)))
        else:
            todo = defs.with_ancestors([n for n in names if n in defs])
        if not todo:
            return
        meta = RunMeta(run_number, self._proposal, self.proposal_dir)
        outcome = compute_run(defs, todo, open_run, meta)
        try:
            self._db.write_results(run_number, outcome.results, outcome.code_versions)
        except Exception as e:  # say so in every cell rather than lose the run silently
            from ..store import prepare_error

            log.exception("run %s: storing results failed", run_number)
            failed = [prepare_error(r.name, ResultNotStored(e)) for r in outcome.results]
            outcome.errors = len(failed)
            self._db.write_results(run_number, failed, outcome.code_versions)
        with self._cond:
            self._errors += outcome.errors
        self._listener.engine_results(run_number, todo)

    def _status_locked(self):
        return EngineStatus(self._state, self._busy, len(self._queue), self._done,
                            self._errors, self._crash)

    def _announce(self):
        with self._cond:
            status = self._status_locked()
        self._listener.engine_status(status)


class ResultNotStored(Exception):
    """The results were computed but could not be stored."""

    def __init__(self, cause):
        super().__init__(f"the result could not be stored: {type(cause).__name__}: {cause}")


def _start_time(run, path):
    """The run's start as seconds since the epoch, from its METADATA, else its files."""
    created = run.run_metadata().get("creationDate")
    if created:
        text = created.decode() if isinstance(created, bytes) else str(created)
        return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
    return _oldest_mtime(path)


def _oldest_mtime(path):
    mtimes = [p.stat().st_mtime for p in path.glob("*.h5")]
    return min(mtimes) if mtimes else None
