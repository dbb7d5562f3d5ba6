"""Where a run's variables are computed: kernel threads, worker processes, or Dask.

Every executor has one interface: ``submit(task) -> Job`` (a :class:`~.worker.RunTask`),
``max_workers`` (how many tasks may run at once), ``shutdown()``. A :class:`Job` says when it
is done, gives the :class:`~.worker.TaskResult` or raises why there is none, and can be
stopped (:meth:`Job.stop`: cancel, or give up on a task that overran its time).

- :class:`ThreadExecutor`: threads of the kernel. Cheapest, shares the kernel's memory
  and open files; a task that overruns is interrupted between Python bytecodes (a call
  stuck in C code is abandoned: its thread finishes in the background, its result dropped).
- :class:`ProcessExecutor`: long-lived worker processes (running
  ``damnit_nb.engine.worker.main``), started on demand; variables travel with cloudpickle, so
  functions from notebook cells work. A task that overruns, is cancelled or makes its
  worker die (out of memory, a crash in C code) fails alone: the worker is killed and a
  new one takes the next task.
- :class:`DaskExecutor`: a ``distributed.Client`` (or a scheduler address): tasks run on
  the cluster's workers (for example a dask-jobqueue ``SLURMCluster``). Dask cannot
  interrupt a running task: a stopped job is cancelled and its result dropped.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import replace

from .worker import execute, receive, send

__all__ = [
    "Job", "ThreadExecutor", "ProcessExecutor", "DaskExecutor", "make_executor",
    "TaskFailed", "TaskStopped", "EXECUTORS", "failed_job",
]

EXECUTORS = ("threads", "processes")


class TaskFailed(RuntimeError):
    """A task gave no result: its worker died, or it could not be sent to one."""


class TaskStopped(RuntimeError):
    """A task was stopped (cancelled, or over its time limit) before it finished."""


class Job:
    """One submitted task: ``done()``, ``result()``, ``stop(reason)``."""

    def __init__(self, task, future, stopper=None):
        self.task = task
        self.future = future  # a concurrent.futures.Future
        self.started = time.monotonic()
        self._stopper = stopper
        self.finished = {}  # name -> PreparedResult (False: nothing to store), as they end
        self.current = None  # the variable being computed, when the executor can tell

    def progress(self, name, result, ended=None):
        """Record a variable starting (``result`` None) or ending (what
        :func:`~.processor.compute_run` reports). ``ended`` with ``result`` None: it ended but
        its result was not sent (a task stopped later computes it again)."""
        if ended is None:
            ended = result is not None
        if not ended:
            self.current = name
            return
        if result is not None:
            self.finished[name] = result
        if self.current == name:
            self.current = None

    def done(self):
        return self.future.done()

    def add_done_callback(self, fn):
        self.future.add_done_callback(lambda _: fn(self))

    def result(self):
        """The TaskResult; raises TaskFailed / TaskStopped when there is none."""
        return self.future.result()

    def stop(self, reason):
        """Stop the task; its result (if it comes) is dropped and ``result()`` raises
        TaskStopped(reason)."""
        if self.future.done():
            return
        _set_exception(self.future, TaskStopped(reason))  # first: the stopper's effects lose
        if self._stopper is not None:
            self._stopper(reason)


def failed_job(task, error):
    """A Job that failed before it could start (``result()`` raises TaskFailed)."""
    future = Future()
    future.set_exception(TaskFailed(f"could not be started: {type(error).__name__}: {error}"))
    return Job(task, future)


def _set_exception(future, exc):
    try:
        future.set_exception(exc)
    except Exception:  # already resolved (InvalidStateError): first answer wins
        pass


def _set_result(future, value):
    try:
        future.set_result(value)
    except Exception:
        pass


# --- threads ----------------------------------------------------------------------------


class ThreadExecutor:
    """Computes tasks in threads of this process, ``max_workers`` at a time."""

    kind = "threads"

    def __init__(self, max_workers=1):
        self.max_workers = max(1, int(max_workers))

    def submit(self, task):
        future = Future()
        future.set_running_or_notify_cancel()
        lock = threading.Lock()
        state = {"ident": None, "done": False}

        def finish():
            # No interruption may arrive after this: clear one sent but not yet raised.
            with lock:
                state["done"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(state["ident"]), None)

        def work():
            try:
                with lock:
                    state["ident"] = threading.get_ident()
                try:
                    result = execute(task, lambda name, r: job.progress(name, r))
                    finish()
                    _set_result(future, result)
                except _Interrupted:
                    finish()  # stop() already resolved the future
                except BaseException as e:
                    finish()
                    _set_exception(future, TaskFailed(f"{type(e).__name__}: {e}"))
            except _Interrupted:  # raised between the lines above: nothing left to do
                pass

        def stopper(reason):
            with lock:  # raise in the thread at its next bytecode, unless it has finished
                if state["ident"] is not None and not state["done"]:
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(
                        ctypes.c_ulong(state["ident"]), ctypes.py_object(_Interrupted))

        job = Job(task, future, stopper)
        thread = threading.Thread(target=work, name=f"damnit_nb-run-{task.run}", daemon=True)
        thread.start()
        return job

    def shutdown(self):
        pass


class _Interrupted(BaseException):
    """Raised inside a task's thread to stop it."""


# --- processes --------------------------------------------------------------------------


class _Worker:
    """One worker process and its pipes."""

    def __init__(self):
        task_r, task_w = os.pipe()
        res_r, res_w = os.pipe()
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from damnit_nb.engine.worker import main; main()",
             str(task_r), str(res_w)],
            pass_fds=(task_r, res_w), stdin=subprocess.DEVNULL, env=env,
        )
        os.close(task_r)
        os.close(res_w)
        self.inbox = os.fdopen(task_w, "wb")
        self.outbox = os.fdopen(res_r, "rb")
        self.definitions = None  # the definitions this worker has (sent with a task)
        send(self.inbox, list(sys.path))
        reply = receive(self.outbox)
        if not reply or reply[0] != "ready":
            self.kill()
            raise TaskFailed("a worker process failed to start: see the kernel's log")

    def kill(self):
        try:
            self.proc.kill()
        except OSError:
            pass
        for f in (self.inbox, self.outbox):
            try:
                f.close()
            except OSError:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def close(self, timeout=6.0):
        """Let the worker end by itself (what it has to write, such as the catalogue cache,
        is written at its exit), killing it if it takes longer than ``timeout``."""
        try:
            self.inbox.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def describe_death(self):
        try:
            code = self.proc.wait(5)
        except subprocess.TimeoutExpired:
            code = None
        if code is None:
            return "stopped answering"
        if code < 0:
            import signal

            name = signal.Signals(-code).name
            hint = " (possibly out of memory)" if name == "SIGKILL" else ""
            return f"was killed by {name}{hint}"
        return f"exited with code {code}"


class ProcessExecutor:
    """Computes tasks in up to ``max_workers`` worker processes, one task per worker at a
    time. Workers are started when first needed and reused; a worker whose task fails or is
    stopped is replaced."""

    kind = "processes"

    def __init__(self, max_workers=1):
        self.max_workers = max(1, int(max_workers))
        self._lock = threading.Lock()
        self._idle = []  # _Worker
        self._closed = False

    def _take_worker(self):
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return _Worker()

    def _give_back(self, worker):
        with self._lock:
            if not self._closed:
                self._idle.append(worker)
                return
        worker.kill()

    def submit(self, task):
        future = Future()
        future.set_running_or_notify_cancel()
        state = {"worker": None}

        def work():
            try:
                worker = state["worker"] = self._take_worker()
            except Exception as e:
                _set_exception(future, TaskFailed(f"no worker process: {e}"))
                return
            if future.done():  # stopped before it started
                self._give_back(worker)
                return
            try:
                if worker.definitions is task.definitions:  # it has them: not sent again
                    send(worker.inbox, replace(task, definitions=None))
                else:
                    worker.definitions = None
                    send(worker.inbox, task)
                    worker.definitions = task.definitions
            except Exception as e:
                worker.kill()
                _set_exception(future, TaskFailed(
                    f"the variables could not be sent to a worker process ({type(e).__name__}: "
                    f"{e}); use executor='threads' for variables that cannot be pickled"))
                return
            while True:
                try:
                    reply = receive(worker.outbox)
                except Exception:
                    reply = None
                if reply is None or reply[0] != "progress":
                    break
                job.progress(*reply[1:])
            if reply is None:
                if not future.done():
                    _set_exception(future, TaskFailed(
                        f"the worker process computing run {task.run} "
                        f"{worker.describe_death()}"))
                worker.kill()
                return
            kind, value = reply
            if kind == "result":
                _set_result(future, value)
            else:
                _set_exception(future, TaskFailed(value.strip().splitlines()[-1]))
            self._give_back(worker)

        def stopper(reason):
            worker = state["worker"]
            if worker is not None:
                worker.kill()  # work() sees the pipe close and finishes

        job = Job(task, future, stopper)
        threading.Thread(target=work, name=f"damnit_nb-run-{task.run}", daemon=True).start()
        return job

    def shutdown(self):
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        threads = [threading.Thread(target=w.close, daemon=True) for w in idle]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


# --- Dask -------------------------------------------------------------------------------


class DaskExecutor:
    """Computes tasks on a Dask cluster through ``distributed.Client``.

    ``client``: a Client, or a scheduler address (a Client is made and closed with the
    executor). ``max_workers``: tasks submitted at once (default: the cluster's threads).
    """

    kind = "dask"

    def __init__(self, client, max_workers=None):
        from distributed import Client

        self._own = not isinstance(client, Client)
        self.client = Client(client) if self._own else client
        if max_workers is None:
            try:
                max_workers = sum(self.client.nthreads().values()) or 1
            except Exception:
                max_workers = 1
        self.max_workers = max(1, int(max_workers))

    def submit(self, task):
        future = Future()
        future.set_running_or_notify_cancel()
        dask_future = self.client.submit(execute, task, pure=False,
                                         key=f"damnit_nb-r{task.run}-{time.monotonic_ns()}")

        def finished(f):
            if future.done():
                return
            try:
                _set_result(future, f.result())
            except BaseException as e:
                _set_exception(future, TaskFailed(f"on the Dask cluster: {type(e).__name__}: {e}"))

        dask_future.add_done_callback(finished)
        return Job(task, future, lambda reason: dask_future.cancel())

    def shutdown(self):
        if self._own:
            try:
                self.client.close()
            except Exception:
                pass


def make_executor(kind="threads", workers=1):
    """An executor by name (``"threads"``, ``"processes"``), or an executor given as is."""
    if not isinstance(kind, str):
        return kind
    if kind == "threads":
        return ThreadExecutor(workers)
    if kind == "processes":
        return ProcessExecutor(workers)
    raise ValueError(f"unknown executor {kind!r}: choose one of "
                     + ", ".join(repr(k) for k in EXECUTORS)
                     + " (and pass cluster=... for Dask)")
