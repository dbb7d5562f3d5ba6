"""``python -m damnit_nb demo``: JupyterLab on a live simulated proposal, the quickstart open.

The demo makes a work directory (default ``./demo-proposal``) holding a simulated proposal
``p002012`` with a few runs, copies the tutorials (the package's, `tutorials`) next to it, then starts two child
processes: the simulator, which keeps writing new runs every few seconds, and JupyterLab on
127.0.0.1, whose kernels find the proposal through ``DAMNIT_NB_DEMO_PROPOSAL``. It prints the
URL to open; Ctrl-C stops both.
"""

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from . import tutorials
from ._processes import descendants, start_time

__all__ = ["add_arguments", "run_cli", "DemoError", "PROPOSAL", "ENV_PROPOSAL"]

PROPOSAL = 2012
ENV_PROPOSAL = "DAMNIT_NB_DEMO_PROPOSAL"
NOTEBOOK = tutorials.QUICKSTART.name


class DemoError(RuntimeError):
    """The demo could not start; the message says what to do. ``value`` is what went wrong."""

    def __init__(self, message, value=None):
        super().__init__(message)
        self.value = value


def add_arguments(parser):
    """Add the demo's options to an ``argparse`` (sub)parser."""
    parser.add_argument(
        "--dir",
        default="demo-proposal",
        help="work directory for the proposal and the notebook (default: ./demo-proposal)",
    )
    parser.add_argument(
        "--port", type=int, default=8888, help="JupyterLab port on 127.0.0.1 (default: 8888)"
    )
    parser.add_argument(
        "--every",
        type=float,
        default=20,
        help="seconds between new simulated runs (default: 20)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=30,
        help="runs in the proposal when the simulator stops writing (default: 30)",
    )
    parser.add_argument(
        "--initial",
        type=int,
        default=3,
        help="runs written at once before JupyterLab starts (default: 3)",
    )


def run_cli(args):
    """Run the demo until Ctrl-C (or until JupyterLab exits); return an exit code."""
    try:
        demo = _Demo(
            Path(args.dir),
            port=args.port,
            every=args.every,
            runs=args.runs,
            initial=args.initial,
        )
    except DemoError as e:
        print(f"damnit_nb demo: {e}", file=sys.stderr)
        return 2
    return demo.run()


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


class _Demo:
    def __init__(self, work_dir, port, every, runs, initial):
        if runs < 1 or initial < 0:
            raise DemoError(f"--runs must be at least 1 and --initial at least 0 (got {runs}, {initial})", runs)
        if every <= 0:
            raise DemoError(f"--every must be a positive number of seconds (got {every})", every)
        try:
            self.notebooks = tutorials.tutorials()
        except FileNotFoundError as e:
            raise DemoError(str(e), tutorials.TUTORIALS_DIR) from e
        if tutorials.QUICKSTART not in self.notebooks:
            raise DemoError(f"the quickstart notebook {tutorials.QUICKSTART} is missing: "
                            "reinstall damnit_nb", tutorials.QUICKSTART)
        self.work_dir = work_dir.resolve()
        self.proposal_dir = self.work_dir / f"p{PROPOSAL:06d}"
        self.port = port
        self.every = every
        self.runs = runs
        self.initial = min(initial, runs)
        self.token = secrets.token_hex(24)
        self.simulator = None
        self.lab = None
        self._kernels = {}  # pid -> start time, so a reused PID is never signalled

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/lab/tree/{NOTEBOOK}?token={self.token}"

    # --- steps --------------------------------------------------------------------------------

    def prepare(self):
        self.proposal_dir.mkdir(parents=True, exist_ok=True)
        # The quickstart (opened in the browser), and the other tutorials beside it.
        for item in tutorials.copy_tutorials(self.work_dir):
            if item.action == "kept":
                print(f"Keeping the existing notebook {item.path} (changed)")
        existing = self.existing_runs()
        if self.initial > existing:
            print(f"Writing {self.initial - existing} simulated run(s) into {self.proposal_dir} ...")
            cmd = self._simulate_cmd(self.initial - existing, every=0)
            done = subprocess.run(cmd, stdin=subprocess.DEVNULL, start_new_session=True)
            if done.returncode:
                raise DemoError(
                    f"the simulator failed (exit code {done.returncode}): {' '.join(cmd)}",
                    done.returncode,
                )

    def existing_runs(self):
        raw = self.proposal_dir / "raw"
        if not raw.is_dir():
            return 0
        return sum(1 for p in raw.iterdir() if p.is_dir() and p.name.startswith("r"))

    def _simulate_cmd(self, runs, every=None):
        cmd = [sys.executable, "-m", "damnit_nb", "simulate", str(self.proposal_dir), "--runs", str(runs)]
        if every is not None:
            cmd += ["--every", str(every)]
        return cmd

    def start_simulator(self):
        remaining = self.runs - self.existing_runs()
        if remaining <= 0:
            print(f"{self.runs} runs exist already: no new runs will arrive (raise --runs).")
            return
        self.simulator = subprocess.Popen(
            self._simulate_cmd(remaining, self.every),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def start_lab(self, timeout=120):
        env = dict(os.environ)
        env[ENV_PROPOSAL] = str(self.proposal_dir)
        env["PYTHONUNBUFFERED"] = "1"
        cmd = [
            sys.executable, "-m", "jupyter", "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.work_dir}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]  # fmt: skip
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        self.log_path = self.work_dir / "jupyter-lab.log"
        with open(self.log_path, "ab") as log:
            self.lab = subprocess.Popen(
                cmd,
                env=env,
                cwd=self.work_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        status = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/status",
            headers={"Authorization": f"token {self.token}"},
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.lab.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                hint = ""
                if "already in use" in tail.lower():
                    hint = f" Port {self.port} is taken: pass another one with --port."
                raise DemoError(
                    f"JupyterLab exited (code {self.lab.returncode}).{hint} "
                    f"Its log is {self.log_path}:\n{tail}",
                    self.lab.returncode,
                )
            try:
                with urllib.request.urlopen(status, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise DemoError(
                    f"JupyterLab did not answer within {timeout} s; see its log {self.log_path}",
                    timeout,
                )
            time.sleep(0.25)

    def run(self):
        # Ctrl-C must reach us (and, as the default, our children) even when started from a
        # shell that ignores SIGINT for background jobs.
        previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            self.prepare()
            self.start_simulator()
            print(f"Starting JupyterLab (log: {self.work_dir / 'jupyter-lab.log'}) ...", flush=True)
            self.start_lab()
            print(
                "\n"
                f"  damnit_nb demo: proposal {self.proposal_dir}\n"
                f"  a new run every {self.every:g} s, up to {self.runs} runs.\n"
                "  Open the quickstart in your browser:\n\n"
                f"    {self.url}\n\n"
                "  Press Ctrl-C to stop.\n",
                flush=True,
            )
            while self.lab.poll() is None:
                self._remember_kernels()
                if self.simulator is not None and self.simulator.poll() is not None:
                    print(f"The simulator has finished (exit code {self.simulator.returncode}).")
                    self.simulator = None
                time.sleep(1)
            print(f"JupyterLab exited (code {self.lab.returncode}); stopping.", file=sys.stderr)
            return 1
        except DemoError as e:
            print(f"damnit_nb demo: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("\nStopping the demo ...", flush=True)
            return 0
        finally:
            # A second Ctrl-C while stopping must not leave children behind.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                self.stop()
            finally:
                signal.signal(signal.SIGINT, previous_int)
                signal.signal(signal.SIGTERM, previous)

    def _remember_kernels(self):
        if self.lab is not None and self.lab.poll() is None:
            for pid in descendants(self.lab.pid):
                self._kernels.setdefault(pid, start_time(pid))

    def stop(self):
        """Stop the simulator and JupyterLab (with its kernels); safe to call twice."""
        self._remember_kernels()
        _stop_group(self.simulator, [(signal.SIGINT, 5), (signal.SIGTERM, 5), (signal.SIGKILL, 5)])
        # JupyterLab shuts down (kernels included) on a second SIGINT, or on SIGTERM.
        steps = [(signal.SIGINT, 0.5), (signal.SIGINT, 10), (signal.SIGTERM, 10), (signal.SIGKILL, 5)]
        _stop_group(self.lab, steps)
        for pid, started in self._kernels.items():
            if start_time(pid) == started:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        self._kernels.clear()
        self.simulator = self.lab = None


def _stop_group(proc, steps):
    """Signal *proc*'s process group step by step until it has exited."""
    if proc is None:
        return
    for sig, wait in steps:
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # anything left in the group
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
