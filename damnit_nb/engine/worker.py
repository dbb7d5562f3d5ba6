"""One run's variables as a self-contained task, and the loop of a worker process.

A :class:`RunTask` holds everything needed to compute some variables of one run: the
definitions, the names, where the run is, how to open it. :func:`execute` computes it and
returns a :class:`TaskResult`: the results to store and what the variables printed (their
stdout and stderr, and the tracebacks of those that raised). It runs the same way in a thread
of the kernel, in a worker process started by :class:`~.executors.ProcessExecutor`
(:func:`main`) and on a Dask worker.

Worker processes talk to the kernel over two pipes with length-prefixed pickles
(cloudpickle, so functions defined in notebook cells and context files travel by value).
"""

from __future__ import annotations

import io
import logging
import os
import struct
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RunTask", "TaskResult", "execute"]


@dataclass
class RunTask:
    """Variables ``names`` (execution order) of ``definitions`` to compute for one run."""

    run: int
    path: Path  # the run's raw directory
    definitions: object  # context.Definitions
    names: list
    meta: object  # processor.RunMeta
    reader: str = "damnit_nb"
    params: dict = field(default_factory=dict)
    data: str = "raw"  # "raw", or "all": raw and proc data (proc's files for shared sources)
    mymdc: object = None  # mymdc(proposal, run, field) -> value, for "mymdc#field" arguments
    database: Path | None = None  # a database directory: the task stores its results there


@dataclass
class TaskResult:
    """What computing a task gave: its outcome (results, code versions, errors), its log."""

    run: int
    outcome: object  # processor.RunOutcome
    log: str
    started: float
    finished: float
    stored: bool = False  # the task stored its results (their data is left out of outcome)


def execute(task, progress=None):
    """Compute ``task`` here and now; never raises for a variable's sake.

    ``progress(name, result)``: see :func:`~.processor.compute_run`.
    """
    from .processor import compute_run
    from .readers import run_opener

    started = time.time()
    stored = False
    with capture_output() as out:
        handler = _TracebackHandler(out)
        proc_log = logging.getLogger("damnit_nb.engine.processor")
        if not proc_log.isEnabledFor(logging.INFO):
            proc_log.setLevel(logging.INFO)  # its messages about variables go to the run's log
        proc_log.addHandler(handler)
        try:
            opener = run_opener(task.reader)
            kwargs = {"params": task.params} if task.params else {}
            if progress is not None:
                kwargs["progress"] = progress
            if task.mymdc is not None:
                kwargs["mymdc"] = task.mymdc
            outcome = compute_run(task.definitions, list(task.names),
                                  lambda: opener(task.path, data=task.data), task.meta, **kwargs)
        finally:
            proc_log.removeHandler(handler)
        if task.database is not None and outcome.results:
            stored = _store(task, outcome)
    return TaskResult(task.run, outcome, out.getvalue(), started, time.time(), stored)


_databases = {}  # database directory -> Database, kept open by a worker process


def _store(task, outcome):
    """Store the outcome from here (a worker process, sparing the kernel the work), leaving
    only the summaries in it; False if the store did not take it (the kernel stores it)."""
    from dataclasses import replace

    try:
        db = _databases.get(task.database)
        if db is None:
            from ..store import Database

            db = _databases[task.database] = Database(task.database)
        db.write_results(task.run, outcome.results, outcome.code_versions)
    except Exception as e:
        print(f"storing from the worker failed ({type(e).__name__}: {e}); the kernel stores "
              "the results")
        return False
    outcome.results = [replace(r, data=None, preview=None) for r in outcome.results]
    return True


class _TracebackHandler(logging.Handler):
    """Writes the processor's messages (with tracebacks) about this thread's task to *out*."""

    def __init__(self, out):
        super().__init__(logging.INFO)
        self._out = out
        self._thread = threading.get_ident()
        self.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))

    def emit(self, record):
        if record.thread == self._thread:
            self._out.write(self.format(record) + "\n")


# --- capturing what a task prints, per thread ------------------------------------------


class _ThreadRouter(io.TextIOBase):
    """Stands in for sys.stdout/sys.stderr: writes from a thread that is capturing go to its
    buffer, everything else to the stream it replaced."""

    def __init__(self, stream, local):
        self._stream = stream
        self._local = local

    def _target(self):
        return getattr(self._local, "buffer", None) or self._stream

    def write(self, text):
        return self._target().write(text)

    def flush(self):
        target = self._target()
        if hasattr(target, "flush"):
            target.flush()

    def writable(self):
        return True

    def __getattr__(self, name):  # encoding, fileno, isatty... of the real stream
        return getattr(self._stream, name)


_local = threading.local()
_install_lock = threading.Lock()


@contextmanager
def capture_output():
    """Collect what this thread prints (stdout and stderr) into a StringIO, yielded."""
    with _install_lock:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if not isinstance(stream, _ThreadRouter):
                setattr(sys, name, _ThreadRouter(stream, _local))
    buf = io.StringIO()
    previous = getattr(_local, "buffer", None)
    _local.buffer = buf
    try:
        yield buf
    finally:
        _local.buffer = previous


# --- the worker process ----------------------------------------------------------------

_HEADER = struct.Struct("<Q")

#: Bytes of data above which a finished variable's result is not sent as progress (only in the
#: task's result): what a task stopped midway keeps is what was sent.
PROGRESS_LIMIT = 1 << 20


def _nbytes(result):
    total = 0
    for value in (result.data, result.summary, result.preview):
        total += getattr(value, "nbytes", 0) or (len(value) if isinstance(value, bytes) else 0)
    return total


def send(stream, obj, by_value=True):
    """Write one message to a binary stream: cloudpickled (functions travel by value), or
    with ``by_value=False`` pickled (faster: for values the other side can import)."""
    import pickle

    import cloudpickle

    if by_value:
        data = cloudpickle.dumps(obj)
    else:
        try:
            data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            data = cloudpickle.dumps(obj)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def receive(stream):
    """Read one message; None at the end of the stream."""
    import pickle

    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    (n,) = _HEADER.unpack(head)
    data = stream.read(n)
    if len(data) < n:
        return None
    return pickle.loads(data)


def main(argv=None):
    """A worker process: read tasks from the fd in argv[0], answer on the fd in argv[1].

    A task whose ``definitions`` is None uses those of the task before it (the kernel sends
    definitions only when they change). The first message is the kernel's ``sys.path`` (so variables defined in importable
    modules resolve the same way); then tasks, each answered with ``("result", TaskResult)``
    or ``("error", text)``, after ``("progress", name, result, ended)`` messages as each
    variable starts and ends (``result`` None at its end: not sent, being over
    :data:`PROGRESS_LIMIT` or not picklable).
    """
    argv = sys.argv[1:] if argv is None else argv
    inbox = os.fdopen(int(argv[0]), "rb")
    outbox = os.fdopen(int(argv[1]), "wb")
    paths = receive(inbox)
    if paths is None:
        return
    sys.path[:] = list(dict.fromkeys([*paths, *sys.path]))
    send(outbox, ("ready", os.getpid()))
    definitions = None  # the last definitions received: tasks without them use these
    while True:
        task = receive(inbox)
        if task is None:
            return
        if task.definitions is None:
            task.definitions = definitions
        definitions = task.definitions
        def progress(name, result):
            ended = result is not None
            if ended and result is not False and _nbytes(result) > PROGRESS_LIMIT:
                result = None  # too big to send twice: a task stopped midway computes it again
            try:
                send(outbox, ("progress", name, result, ended), by_value=False)
            except Exception:  # a result that cannot be pickled: it comes with the rest
                send(outbox, ("progress", name, None, ended), by_value=False)

        try:
            reply = ("result", execute(task, progress))
        except BaseException:  # report, and stay alive for the next task
            reply = ("error", traceback.format_exc())
        try:
            send(outbox, reply, by_value=False)
        except Exception:  # e.g. a result that cannot be pickled
            send(outbox, ("error", traceback.format_exc()))

