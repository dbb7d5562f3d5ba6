"""What the widget tests share: a clock moved by hand and an update pump driven by it."""

from fractions import Fraction as F

import pytest

from damnit_nb.widgets.pump import UpdatePump


class Clock:
    """A clock the test moves by hand, counting in exact fractions of a second."""

    def __init__(self):
        self.t = F(1000)

    def __call__(self):
        return self.t


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def pump(clock):
    """A pump with no thread: tests flush it with ``run_once()`` after moving ``clock``."""
    p = UpdatePump(clock=clock, min_interval=F("0.3"), latency=F("0.03"), autostart=False)
    yield p
    p.close()
