"""Fixtures for browser tests: a JupyterLab server, Debian's Chromium, and a page on the Lab.

A test (or module) overrides the ``lab_env`` fixture to pass environment variables to the
server and its kernels, and writes its notebooks into ``lab_server.root_dir``.
"""

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from lab import ARTIFACTS, LabPage, LabServer, chromium_context  # noqa: E402


@pytest.fixture
def lab_env():
    """Extra environment variables for the Lab server and its kernels (override to set some)."""
    return {}


@pytest.fixture
def lab_server(tmp_path, lab_env):
    """A running JupyterLab server with its root dir at ``tmp_path/lab/root``."""
    server = LabServer(tmp_path / "lab", env=lab_env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def chromium(tmp_path):
    """A persistent headless Chromium context (Debian's /usr/bin/chromium)."""
    try:
        with chromium_context(tmp_path / "chromium-profile") as context:
            yield context
    except FileNotFoundError as e:
        pytest.fail(str(e))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


_REPORTS = pytest.StashKey()


@pytest.fixture
def lab_page(request, lab_server, chromium):
    """A :class:`lab.LabPage` on the Lab; its screenshots are named after the test.

    When the test fails, a screenshot and the server's log go to ``test-artifacts/`` too.
    """
    page = chromium.pages[0] if chromium.pages else chromium.new_page()
    page.set_default_timeout(60_000)
    prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name) + "--"
    lab_page = LabPage(page, lab_server, prefix=prefix)
    yield lab_page
    report = request.node.stash.get(_REPORTS, {}).get("call")
    if report is not None and report.failed:
        try:
            lab_page.screenshot("failure")
        except Exception as e:  # the page may be gone; the log still helps
            print(f"no failure screenshot: {e}")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{prefix}jupyter-lab.log").write_text(lab_server.log())
