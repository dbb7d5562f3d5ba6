"""``damnit-nb dashboard`` under Voila in Chromium: the table and the plot show the database's
runs, and a run another writer adds appears live (a new row counted, a new point drawn)."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from damnit_nb.store import Database, prepare_result

from lab import ARTIFACTS, descendants, free_port, start_time, wait_until

pytestmark = pytest.mark.browser


def write_runs(db_dir, runs):
    with Database(db_dir, proposal=2012) as db:
        db.add_variables({"energy": {"title": "Beam/Energy", "attributes": {"units": "keV"}}})
        for run in runs:
            db.add_run(run, start_time=1.7e9 + 60 * run)
            db.write_results(run, [prepare_result("energy", 9.0 + run / 10)])
        db.set_comment(runs[0], f"run {runs[0]} written by the shift")


@pytest.fixture
def proposal(tmp_path):
    path = tmp_path / "p002012"
    write_runs(path / "usr" / "Shared" / "damnit_nb", [1, 2, 3])
    return path


@pytest.fixture
def dashboard_url(tmp_path, proposal):
    """``damnit-nb dashboard`` running on the proposal; yields the URL it prints."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", JUPYTER_PLATFORM_DIRS="1",
               DAMNIT_NB_CONFIG_DIR=str(tmp_path / "config"))
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[var] = str(tmp_path / "jupyter" / var.lower())
    env.pop("JUPYTER_PATH", None)
    log_path = tmp_path / "voila.log"
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "damnit_nb", "dashboard", str(proposal), "--port", str(port)],
            env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
    kernels = {}

    def url():
        if proc.poll() is not None:
            raise RuntimeError(f"damnit-nb dashboard exited ({proc.returncode}):\n"
                               + log_path.read_text())
        m = re.search(r"Open (http://127\.0\.0\.1:\d+/\?token=\w+)", log_path.read_text())
        if not m:
            return None
        try:
            with urllib.request.urlopen(m.group(1), timeout=2):
                return m.group(1)
        except (urllib.error.URLError, OSError):
            return None

    try:
        found = wait_until(url, 60, "Voila answering")
        yield found, lambda: kernels.update({p: start_time(p) for p in descendants(proc.pid)})
    finally:
        kernels.update({p: start_time(p) for p in descendants(proc.pid)})
        for sig, wait in [(signal.SIGINT, 0.5), (signal.SIGINT, 10), (signal.SIGKILL, 5)]:
            if proc.poll() is not None:
                break
            os.killpg(proc.pid, sig)
            try:
                proc.wait(wait)
            except subprocess.TimeoutExpired:
                pass
        for pid, started in kernels.items():
            if start_time(pid) == started:
                os.kill(pid, signal.SIGKILL)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "dashboard-voila.log").write_text(log_path.read_text(errors="replace"))


def dots(page):
    return page.locator(".bqplot path.dot").count()


def counted(page, runs):
    """True when both the table's count and the plot's note say ``runs`` runs."""
    return page.locator("small", has_text=re.compile(rf"^{runs} runs$")).count() == 2


def test_the_dashboard_follows_a_run_arriving(dashboard_url, chromium, proposal):
    url, remember_kernels = dashboard_url
    page = chromium.pages[0] if chromium.pages else chromium.new_page()
    page.set_default_timeout(60_000)
    page.goto(url, wait_until="domcontentloaded")
    wait_until(lambda: dots(page) == 3, 120, "the plot's 3 points")
    remember_kernels()
    wait_until(lambda: counted(page, 3), 30, "'3 runs' in the table and the plot")
    text = page.inner_text("body")
    assert "following the database, processing nothing" in text
    for absent in ("Reprocess", "Cancel", "Export", "Save"):
        assert page.get_by_role("button", name=absent, exact=True).count() == 0, absent
    time.sleep(1)  # the grid's canvas paints after its data arrives
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-voila--1-three-runs.png"), full_page=True)

    write_runs(proposal / "usr" / "Shared" / "damnit_nb", [4])  # another writer
    wait_until(lambda: dots(page) == 4, 30, "a 4th point")
    wait_until(lambda: counted(page, 4), 30, "'4 runs' in the table and the plot")
    time.sleep(1)
    page.screenshot(path=str(ARTIFACTS / "dashboard-voila--2-run-4-arrived.png"),
                    full_page=True)
