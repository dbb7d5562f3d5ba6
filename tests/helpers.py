"""Small helpers shared by the tests (import as ``from tests.helpers import ...``)."""

import time


def eventually(check, timeout=10.0, interval=0.05):
    """True as soon as ``check()`` is, polling until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return bool(check())
