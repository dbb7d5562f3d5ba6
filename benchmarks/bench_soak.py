"""Soak benchmark: a kernel showing a live table through a long beamtime stays bounded.

Usage::

    .venv/bin/python benchmarks/bench_soak.py                 # 800 runs, writes BENCHMARKS.md
    .venv/bin/python benchmarks/bench_soak.py --runs 200 --output /tmp/soak.md
    .venv/bin/python benchmarks/bench_soak.py --runs 200 --tracemalloc   # where memory goes

A real IPython kernel is started through jupyter_client (as a notebook does), so the widget
and its comms exist as in a notebook. In it, a ``RunTable`` on an empty simulated proposal
gets four typical variables (a scalar mean, an xarray array summarised by its mean, a 2-D
image, a string) and is displayed. This process then writes runs into the proposal's
``raw/`` with ``damnit_nb.simulate.simulate_run`` (small runs: one file each), the way the
DAQ would from another host, never more than ``--ahead`` runs ahead of the table's
stored results, so runs arrive one by one. The client drains the kernel's IOPub
channel as a browser would, counting the widget messages (comm traffic).

After 50, 100, 200, 400 and 800 runs (those up to ``--runs``), once the table has
processed every run and its view has sent its updates, the kernel reports:

- RSS (psutil) after ``gc.collect()``;
- threads (Python threads, and the process's threads as the OS counts them);
- open file descriptors, and those on HDF5 files: run data files (``raw/``), the table's
  run files (``extracted_data/``), others;
- objects tracked by the garbage collector, by type;
- with ``--tracemalloc``: a tracemalloc snapshot (which costs memory and time itself: the
  RSS figures of such a run are not the ones to quote).

``--max-open N`` limits the reader's cache of open data files to N (its default is 512 or
half the open-files limit), to tell the growth these handles account for from the rest;
such a run, like one with ``--tracemalloc``, prints only unless ``--output`` is given.

The growth between the first and the last checkpoint is printed by type (top growers) and,
with ``--tracemalloc``, by allocating line.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import os.path as osp
import platform
import queue
import sys
import tempfile
import threading
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CHECKPOINTS = (50, 100, 200, 400, 800)
#: From the project's issue: RSS after 800 runs within this of the RSS after 50 runs.
RSS_TARGET_MB = 150

_MARK = "@@soak@@"

# Run in the kernel first: the table, its variables, and the measuring function.
_SETUP = """
import collections, gc, json, os, threading, time
import psutil
from IPython.display import display
from damnit_nb import RunTable

if {max_open!r}:  # a smaller cache of open data files than the default
    from damnit_nb.data import files
    files.default_cache.max_open = {max_open!r}

table = RunTable({proposal!r}, settle={settle!r}, poll={poll!r})

@table.variable(title="XGM/Intensity", summary="mean", units="uJ")
def xgm_intensity(run):
    "An xarray array (trains x pulses), shown as its mean."
    return run["SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD"].xarray()[:, :50]

@table.variable(title="Sample X", units="mm")
def sample_x(run):
    "A scalar: the mean of a control key."
    return run["SPB_IRU_MOTORS/MDL/SAMPLE_X", "actualPosition"].ndarray().mean()

@table.variable(title="Camera")
def camera(run):
    "A 2-D image: the camera's mean frame (a thumbnail in the table)."
    return run["SPB_EXP_ZYLA/CAM/1:daqOutput", "data.image.pixels"].ndarray().mean(axis=0)

@table.variable(title="Run type")
def run_type(run):
    "A string."
    return str(run.run_metadata().get("runType"))

display(table)

_soak_tracing = {tracemalloc!r}
if _soak_tracing:
    import tracemalloc
    tracemalloc.start(8)
_soak_first = None

def _soak_measure(runs, last):
    global _soak_first
    if not table.wait(900):
        raise RuntimeError("the table did not catch up in 15 minutes")
    app = table.widget
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the update pump has sent every change
        if not (app.grid.pending() or app.pending()):
            break
        time.sleep(0.1)
    time.sleep(1.0)
    gc.collect()
    proc = psutil.Process()
    fds = collections.Counter()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{{fd}}")
        except OSError:
            continue
        fds["all"] += 1
        if target.endswith(".h5"):
            fds["raw" if "/raw/" in target else
                "extracted" if "/extracted_data/" in target else "other h5"] += 1
    types = collections.Counter(
        f"{{type(o).__module__}}.{{type(o).__qualname__}}" for o in gc.get_objects())
    out = {{
        "runs": runs,
        "rows": app.grid.shown_count,
        "rss": proc.memory_info().rss,
        "threads": threading.active_count(),
        "os_threads": proc.num_threads(),
        "thread_names": sorted(collections.Counter(
            t.name.rstrip("0123456789-_ ") for t in threading.enumerate()).items()),
        "fds": dict(fds),
        "gc_objects": sum(types.values()),
        "types": dict(types),
    }}
    if _soak_tracing:
        snap = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)])
        out["traced"] = tracemalloc.get_traced_memory()[0]
        if _soak_first is None:
            _soak_first = snap
        elif last:
            stats = snap.compare_to(_soak_first, "traceback")[:12]
            out["tracemalloc"] = [
                [s.size_diff, s.count_diff, s.traceback.format(limit=8)] for s in stats]
    print({mark!r} + json.dumps(out))
"""


class _Kernel:
    """An IPython kernel and one client whose IOPub channel is drained all the time, as a
    browser's would be (a subscriber left unread makes the kernel queue messages for it);
    widget (comm) messages are counted."""

    def __init__(self, tmp, env):
        from jupyter_client import KernelManager
        from jupyter_client.kernelspec import KernelSpecManager

        spec_dir = osp.join(tmp, "kernels", "soak")
        os.makedirs(spec_dir)
        with open(osp.join(spec_dir, "kernel.json"), "w") as f:
            json.dump({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f",
                                "{connection_file}"],
                       "display_name": "soak", "language": "python"}, f)
        ksm = KernelSpecManager(kernel_dirs=[osp.join(tmp, "kernels")])
        self.km = KernelManager(kernel_name="soak", kernel_spec_manager=ksm)
        self.km.start_kernel(env=env, cwd=tmp)
        self.kc = self.km.client()
        self.kc.start_channels(stdin=False, hb=False, control=False)
        self.kc.wait_for_ready(timeout=120)
        self.comm_messages = 0
        self.comm_bytes = 0
        self._outputs = {}  # msg_id -> [(stream name, text)] of an execution
        self._idle = set()  # msg_ids of finished executions
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self):
        while not self._stop.is_set():
            try:
                msg = self.kc.get_iopub_msg(timeout=0.5)
            except queue.Empty:
                continue
            except Exception:  # the kernel went away
                return
            t, c = msg["msg_type"], msg["content"]
            parent = msg["parent_header"].get("msg_id")
            with self._cond:
                if t in ("comm_open", "comm_msg"):
                    self.comm_messages += 1
                    self.comm_bytes += len(json.dumps(c, default=str)) + sum(
                        len(b) for b in msg.get("buffers") or [])
                elif t == "stream":
                    self._outputs.setdefault(parent, []).append((c["name"], c["text"]))
                elif t == "error":
                    self._outputs.setdefault(parent, []).append(
                        ("stderr", "\n".join(c["traceback"])))
                elif t == "status" and c["execution_state"] == "idle":
                    self._idle.add(parent)
                    self._cond.notify_all()

    def take_comm(self):
        with self._cond:
            out = (self.comm_messages, self.comm_bytes)
            self.comm_messages = self.comm_bytes = 0
        return out

    def execute(self, code, timeout=1800):
        """Run ``code``; return what it printed; raise if it failed."""
        msg_id = self.kc.execute(code, store_history=False)
        deadline = time.monotonic() + timeout
        while True:
            reply = self.kc.get_shell_msg(timeout=max(1, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        with self._cond:
            self._cond.wait_for(lambda: msg_id in self._idle, max(1, deadline - time.monotonic()))
            self._idle.discard(msg_id)
            outputs = self._outputs.pop(msg_id, [])
        out = "".join(text for name, text in outputs if name == "stdout")
        err = "".join(text for name, text in outputs if name != "stdout")
        if reply["content"]["status"] != "ok":
            raise RuntimeError("the kernel failed:\n" + err)
        if err:
            print(err, file=sys.stderr)
        return out

    def shutdown(self):
        self._stop.set()
        self._thread.join(5)
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=False)


def _measure(kernel, runs, last):
    text = kernel.execute(f"_soak_measure({runs}, {last})")
    line = next(ln for ln in text.splitlines() if ln.startswith(_MARK))
    return json.loads(line[len(_MARK):])


def _stored(db_dir, proposal, run):
    return osp.exists(osp.join(db_dir, "extracted_data", f"p{proposal}_r{run}.h5"))


def soak(runs, *, trains, every, ahead, settle, poll, tracemalloc, max_open=None, log=print):
    """Drive a kernel through ``runs`` runs; returns the list of checkpoint figures."""
    from damnit_nb.simulate import simulate_run

    points = [c for c in CHECKPOINTS if c < runs] + [runs]
    proposal_number = 1234
    with tempfile.TemporaryDirectory(prefix="damnit_nb_soak_") as tmp:
        proposal = osp.join(tmp, f"p{proposal_number:06d}")
        os.makedirs(osp.join(proposal, "raw"))
        db_dir = osp.join(proposal, "usr", "Shared", "damnit_nb")
        env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
                   DAMNIT_NB_CACHE_DIR=osp.join(tmp, "cache"), MPLBACKEND="agg")
        kernel = _Kernel(tmp, env)
        results = []
        try:
            kernel.execute(_SETUP.format(proposal=proposal, settle=settle, poll=poll,
                                         tracemalloc=tracemalloc, max_open=max_open,
                                         mark=_MARK))
            kernel.take_comm()
            t0 = time.monotonic()
            written = 0
            for point in points:
                while written < point:
                    waited = time.monotonic()
                    behind = written + 1 - ahead
                    while (behind >= 1 and not _stored(db_dir, proposal_number, behind)
                           and time.monotonic() - waited < 120):
                        time.sleep(0.02)
                    simulate_run(proposal, written + 1, trains=trains, modules=0,
                                 seed=written)
                    written += 1
                    if every:
                        time.sleep(every)
                m = _measure(kernel, point, point == points[-1])
                m["elapsed"] = time.monotonic() - t0
                m["comm_messages"], m["comm_bytes"] = kernel.take_comm()
                results.append(m)
                log(f"{point:4d} runs: RSS {m['rss'] / 2**20:7.1f} MB, "
                    f"threads {m['threads']} ({m['os_threads']} OS), "
                    f"open .h5 raw {m['fds'].get('raw', 0)} "
                    f"extracted {m['fds'].get('extracted', 0)}, fds {m['fds'].get('all', 0)}, "
                    f"gc objects {m['gc_objects']}, {m['elapsed']:.0f} s"
                    + (f", traced {m['traced'] / 2**20:.1f} MB" if "traced" in m else ""))
        finally:
            kernel.shutdown()
    return results


def growers(first, last, top=15):
    """[(type, count at first, count at last)] of the types that grew most."""
    a, b = first["types"], last["types"]
    diff = sorted(((b.get(t, 0) - a.get(t, 0), t) for t in set(a) | set(b)), reverse=True)
    return [(t, a.get(t, 0), b.get(t, 0)) for d, t in diff[:top] if d > 0]


def _mb(n):
    return f"{n / 2**20:.1f}"


def table(results):
    lines = ["| runs | RSS (MB) | RSS - RSS at first (MB) | Python threads | OS threads "
             "| open fds | open .h5: raw | open .h5: extracted_data | gc objects "
             "| widget messages (since previous) | widget MB (since previous) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    base = results[0]
    for m in results:
        lines.append(
            f"| {m['runs']} | {_mb(m['rss'])} | {_mb(m['rss'] - base['rss'])} "
            f"| {m['threads']} | {m['os_threads']} | {m['fds'].get('all', 0)} "
            f"| {m['fds'].get('raw', 0)} | {m['fds'].get('extracted', 0)} | {m['gc_objects']} "
            f"| {m['comm_messages']} | {_mb(m['comm_bytes'])} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=800, help="runs to write (default 800)")
    p.add_argument("--trains", type=int, default=20, help="trains per run (default 20)")
    p.add_argument("--every", type=float, default=0.0,
                   help="seconds between runs written, at least (default 0)")
    p.add_argument("--ahead", type=int, default=2,
                   help="runs written before the table has stored them, at most (default 2)")
    p.add_argument("--settle", type=float, default=0.3, help="the table's settle (default 0.3)")
    p.add_argument("--poll", type=float, default=0.2, help="the table's poll (default 0.2)")
    p.add_argument("--tracemalloc", action="store_true",
                   help="trace allocations in the kernel (its RSS figures are then inflated)")
    p.add_argument("--max-open", type=int,
                   help="open data files the kernel keeps at most (default: the reader's "
                   "limit), to tell the growth they account for from the rest")
    p.add_argument("--output", help="Markdown file to write (default BENCHMARKS.md in the "
                   "repository root for a run of 800 runs or more without --tracemalloc)")
    args = p.parse_args(argv)
    output = args.output or (osp.join(REPO, "BENCHMARKS.md") if args.runs >= 800 and not (
        args.tracemalloc or args.max_open) else None)

    results = soak(args.runs, trains=args.trains, every=args.every, ahead=args.ahead,
                   settle=args.settle, poll=args.poll, tracemalloc=args.tracemalloc,
                   max_open=args.max_open, log=lambda s: print(s, file=sys.stderr, flush=True))
    first, last = results[0], results[-1]
    md = table(results)
    grow = growers(first, last)
    grow_md = "\n".join(["| type | objects after {} runs | after {} runs |".format(
        first["runs"], last["runs"]), "|---|---:|---:|"]
        + [f"| `{t}` | {a} | {b} |" for t, a, b in grow])
    print(md)
    print()
    print(grow_md)
    for size, count, tb in last.get("tracemalloc", []):
        print(f"\n{size / 2**20:+.2f} MB in {count:+d} blocks, allocated at:")
        print("\n".join(tb))
    if output is None:
        return

    rss_growth = (last["rss"] - first["rss"]) / 2**20
    threads_ok = last["threads"] <= first["threads"] and last["os_threads"] <= first["os_threads"]
    raw_open = last["fds"].get("raw", 0)
    verdict = [
        f"- RSS after {last['runs']} runs within {RSS_TARGET_MB} MB of RSS after "
        f"{first['runs']}: {rss_growth:+.1f} MB, "
        f"{'met' if rss_growth <= RSS_TARGET_MB else 'not met'}.",
        f"- No thread growth: {first['threads']} -> {last['threads']} Python threads, "
        f"{first['os_threads']} -> {last['os_threads']} OS threads, "
        f"{'met' if threads_ok else 'not met'}.",
        f"- Finished runs' data files released: {raw_open} open after the last run was "
        f"processed, {'met' if raw_open == 0 else 'not met'}.",
    ]
    cmd = ".venv/bin/python benchmarks/bench_soak.py" + (
        " " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = f"""## Soak: a kernel showing the table through {last['runs']} runs

One IPython kernel, started through jupyter_client, shows a live `RunTable` with four
variables (a scalar, an xarray array shown as its mean, a 2-D image, a string). Runs of
{args.trains} trains (one file each) arrive one by one: run n is written once the table has
stored run n - {args.ahead}. The client drains the kernel's IOPub channel all the time, as a
browser would. Figures are taken in the kernel once every run is processed and shown, after
`gc.collect()`. Generated by:

    {cmd}

- Date: {now}; {os.cpu_count()} cores, Linux {platform.release()}, Python
  {platform.python_version()}.
- The table: `settle={args.settle}`, `poll={args.poll}`, threads executor;
  {last['elapsed']:.0f} s for {last['runs']} runs.
- Widget messages and MB: what the kernel sent to the browser since the previous row (the
  grid, a streaming grid, sends a new run's row and its changed cells, and the status line;
  this client asks for no rows, as a browser that does not scroll).

{md}

{verdict[0]}
{verdict[1]}
{verdict[2]}

Objects that grew most (tracked by the garbage collector, by type):

{grow_md}
"""
    sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
    from _report import write_section

    write_section(output, "soak", text)
    print(f"wrote {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
