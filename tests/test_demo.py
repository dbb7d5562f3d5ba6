"""``python -m damnit_nb demo``: a live proposal, JupyterLab answering, and Ctrl-C ends it all."""

import argparse
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from damnit_nb import demo
from damnit_nb._processes import descendants as _descendants
from damnit_nb._processes import start_time as _start_time
from tests.helpers import eventually

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _end(proc):
    """After a failure: stop the demo as Ctrl-C would, then kill whatever is left."""
    if proc.poll() is not None:
        return
    left = {pid: _start_time(pid) for pid in _descendants(proc.pid)}
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for pid, started in left.items():
        if started is not None and _start_time(pid) == started:
            os.kill(pid, signal.SIGKILL)


def _runs(proposal_dir):
    raw = proposal_dir / "raw"
    return sorted(p.name for p in raw.iterdir()) if raw.is_dir() else []


def _args(tmp_path, **kw):
    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    argv = ["--dir", str(tmp_path / "work")]
    for k, v in kw.items():
        argv += [f"--{k}", str(v)]
    return parser.parse_args(argv)


def test_missing_notebooks_say_so(tmp_path, monkeypatch, capsys):
    from damnit_nb import tutorials

    empty = tmp_path / "installed-without-package-data"
    monkeypatch.setattr(tutorials, "TUTORIALS_DIR", empty)
    assert demo.run_cli(_args(tmp_path)) == 2
    err = capsys.readouterr().err
    assert str(empty) in err and "reinstall" in err
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize("option, value", [("every", 0), ("runs", 0)])
def test_bad_options_say_so(tmp_path, capsys, option, value):
    assert demo.run_cli(_args(tmp_path, **{option: value})) == 2
    assert f"--{option}" in capsys.readouterr().err


def test_demo_serves_a_live_proposal_and_stops_on_ctrl_c(tmp_path):
    port = _free_port()
    work = tmp_path / "work"
    proc = subprocess.Popen(
        [sys.executable, "-m", "damnit_nb", "demo", "--dir", str(work), "--port", str(port),
         # (enough runs that the simulator is still writing when the test looks, however
         # slowly JupyterLab starts)
         "--every", "1", "--runs", "200", "--initial", "2"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group, as a terminal's foreground job is
    )  # fmt: skip
    lines = queue.Queue()
    output = []

    def read():
        for line in proc.stdout:
            output.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    started = {}
    try:
        pattern = re.compile(rf"http://127\.0\.0\.1:{port}/lab/tree/01-quickstart\.ipynb\?token=\w+")
        url = None
        deadline = time.monotonic() + 120
        while url is None:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                pytest.fail(f"the demo printed no URL; output:\n{''.join(output)}")
            m = pattern.search(line)
            url = m and m.group(0)

        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200
        assert (work / "01-quickstart.ipynb").is_file()
        assert (work / "02-context-and-processing.ipynb").is_file()  # the next tutorial too

        proposal = work / "p002012"
        assert len(_runs(proposal)) >= 2  # written before the URL was printed
        # The simulator keeps going: more runs arrive while the Lab runs.
        assert eventually(lambda: len(_runs(proposal)) >= 3, 60, 0.25), \
            "no run came from the live simulator in 60 s"

        started = {pid: _start_time(pid) for pid in [proc.pid, *_descendants(proc.pid)]}
        # JupyterLab (and so its kernels) is told where the proposal is.
        lab_envs = []
        for pid in started:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            # `python -m jupyter lab` execs the `jupyter-lab` script
            if any(part.endswith(b"jupyter-lab") for part in cmdline):
                lab_envs.append(environ)
        assert len(lab_envs) == 1
        assert f"DAMNIT_NB_DEMO_PROPOSAL={proposal}".encode() in lab_envs[0]
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C at a terminal
        assert proc.wait(60) == 0, "".join(output)
    finally:
        _end(proc)
    left = [pid for pid, t in started.items() if t is not None and _start_time(pid) == t]
    assert left == [], f"processes left after Ctrl-C: {left}"
    assert len(started) >= 3  # the demo, the simulator and JupyterLab at least


def test_taken_port_says_so_and_leaves_nothing_running(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        work = tmp_path / "work"
        proc = subprocess.Popen(
            [sys.executable, "-m", "damnit_nb", "demo", "--dir", str(work), "--port", str(port),
             "--every", "1", "--runs", "50", "--initial", "1"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )  # fmt: skip
        seen = {}

        def watch():
            for pid in _descendants(proc.pid):
                seen.setdefault(pid, _start_time(pid))

        try:
            while proc.poll() is None:
                watch()
                time.sleep(0.1)
            out = proc.stdout.read()
        finally:
            _end(proc)
    assert proc.returncode == 2, out
    assert f"Port {port} is taken" in out and "--port" in out
    left = [pid for pid, t in seen.items() if t is not None and _start_time(pid) == t]
    assert left == []
