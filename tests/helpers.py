"""Small helpers shared by the tests (import as ``from tests.helpers import ...``)."""

import time


def eventually(check, timeout=10.0, interval=0.05):
    """``check()``'s value as soon as it is true, polling until ``timeout`` seconds have
    passed (then its last value, false). Use as ``assert eventually(...)``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    return check()
