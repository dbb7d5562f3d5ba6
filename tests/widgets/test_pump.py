import logging
import threading
from fractions import Fraction as F

import pytest

from damnit_nb.widgets.pump import UpdatePump, default_pump
from tests.helpers import eventually


class Counter:
    """A component that counts its flushes and where they ran."""

    def __init__(self, pump=None):
        self.flushes = 0
        self.threads = []
        self.echoes = []
        self.pump = pump

    def flush(self):
        self.flushes += 1
        self.threads.append(threading.current_thread())
        if self.pump is not None:
            self.echoes.append(self.pump.is_applying(self))


def drive(pump, clock, wakes_at, component, until, step=F("0.01")):
    """Moves the clock from now to ``until`` seconds later by ``step``, waking ``component``
    at the offsets in ``wakes_at`` and letting the pump do what is due at each step."""
    start = clock.t
    wakes = sorted(wakes_at)
    for i in range(int(until / step) + 1):
        clock.t = start + i * step
        while wakes and wakes[0] <= i * step:
            wakes.pop(0)
            pump.wake(component)
        pump.run_once()


@pytest.mark.parametrize("n", [60, 100])
def test_wakes_every_50_ms_give_at_most_one_flush_per_interval(pump, clock, n):
    c = pump.register(Counter())
    wakes = [i * F("0.05") for i in range(n)]
    drive(pump, clock, wakes, c, until=wakes[-1] + 1)
    # one flush at the first wake, one per interval while wakes come, one for the last ones
    intervals = wakes[-1] / pump.min_interval
    assert intervals <= c.flushes <= intervals + 2  # not n


def test_a_wake_during_the_pause_does_not_end_it_early(pump, clock):
    c = pump.register(Counter())
    pump.wake(c)
    clock.t += F("0.03")
    assert pump.run_once() == 1
    for _ in range(29):  # woken every 10 ms of the pause
        clock.t += F("0.01")
        pump.wake(c)
        pump.run_once()
    assert c.flushes == 1
    assert pump.next_due() == F("0.01")
    clock.t += F("0.01")
    assert pump.run_once() == 1 and c.flushes == 2


def test_after_an_idle_time_a_burst_is_flushed_once_and_promptly(pump, clock):
    c = pump.register(Counter())
    clock.t += 60
    for _ in range(5):
        pump.wake(c)
    assert pump.run_once() == 0  # gathering the burst
    clock.t += F("0.02")
    pump.wake(c)
    assert pump.run_once() == 0
    clock.t += F("0.01")  # latency after the first wake, not the last
    assert pump.run_once() == 1 and c.flushes == 1
    assert pump.run_once() == 0 and pump.next_due() is None


def test_components_have_deadlines_of_their_own(pump, clock):
    a, b = pump.register(Counter()), pump.register(Counter())
    pump.wake(a)
    clock.t += F("0.03")
    pump.run_once()
    clock.t += F("0.1")
    pump.wake(b)  # a's pause does not hold b back
    pump.wake(a)
    clock.t += F("0.03")
    pump.run_once()
    assert (a.flushes, b.flushes) == (1, 1)


def test_pending_skips_empty_flushes_and_asks_for_another(pump, clock):
    class Sliced(Counter):
        left = 0

        def pending(self):
            return self.left > 0

        def flush(self):
            super().flush()
            self.left -= 1

    c = pump.register(Sliced())
    pump.wake(c)  # nothing to do
    clock.t += F("0.03")
    assert pump.run_once() == 0 and c.flushes == 0
    c.left = 3  # three slices, one wake
    pump.wake(c)
    drive(pump, clock, [], c, until=1)
    assert c.flushes == 3 and c.left == 0


def test_a_function_can_be_registered(pump, clock):
    calls = []
    fn = pump.register(lambda: calls.append(1))
    pump.wake(fn)
    clock.t += F("0.03")
    pump.run_once()
    assert calls == [1]
    with pytest.raises(TypeError, match="flush"):
        pump.register(object())


def test_a_failing_component_is_logged_and_neither_stops_the_others_nor_itself(
        pump, clock, caplog):
    class Failing(Counter):
        def flush(self):
            super().flush()
            raise RuntimeError("widget gone")

    bad, good = pump.register(Failing()), pump.register(Counter())
    with caplog.at_level(logging.WARNING, logger="damnit_nb.widgets.pump"):
        start = clock.t
        for i in range(101):
            clock.t = start + i * F("0.01")
            if i % 10 == 0:
                pump.wake(bad)
                pump.wake(good)
            pump.run_once()
    assert good.flushes >= 3 and bad.flushes == good.flushes  # both still served
    errors = [r for r in caplog.records if "widget gone" in (r.exc_text or "")]
    assert len(errors) == 1  # logged once, not at every change


def test_echoes_are_recognised_inside_a_flush_and_not_outside(pump, clock):
    c = pump.register(Counter(pump))
    assert not pump.is_applying(c) and not pump.is_applying()
    pump.wake(c)
    clock.t += F("0.03")
    pump.run_once()
    assert c.echoes == [True]
    assert not pump.is_applying(c)
    with pump.applying(c):
        assert pump.is_applying(c) and pump.is_applying()
        assert not pump.is_applying(Counter())
    assert not pump.is_applying(c)


def test_a_write_from_another_thread_during_a_flush_is_not_an_echo():
    pump = UpdatePump(min_interval=0.01, latency=0.0)
    seen = []
    inside, done = threading.Event(), threading.Event()

    def flush():
        inside.set()
        done.wait(10)

    pump.register(flush)
    try:
        pump.wake(flush)
        assert inside.wait(10)
        t = threading.Thread(target=lambda: seen.append(pump.is_applying(flush)))
        t.start()
        t.join(10)
        assert seen == [False]
    finally:
        done.set()
        pump.close()


def test_ipydatagrid_echo_of_our_write_is_told_from_a_browser_edit():
    pd = pytest.importorskip("pandas")
    ipydatagrid = pytest.importorskip("ipydatagrid")

    class Grid:
        """A component writing one cell per flush, as a grid view would."""

        def __init__(self, pump):
            self.pump = pump
            self.grid = ipydatagrid.DataGrid(pd.DataFrame({"x": [1.0, 2.0]},
                                                          index=pd.Index([7, 8], name="run")),
                                             editable=True)
            self.grid.comm.send = lambda *a, **k: None  # no browser attached
            self.grid.on_cell_change(self.changed)
            self.todo = []
            self.edits = []
            self.echoes = 0

        def flush(self):
            while self.todo:
                self.grid.set_cell_value("x", *self.todo.pop())

        def changed(self, change):
            if self.pump.is_applying(self):
                self.echoes += 1
            else:
                self.edits.append((change["row"], change["value"]))

    pump = UpdatePump(min_interval=0.01, latency=0.0)
    g = pump.register(Grid(pump))
    try:
        g.todo.append((8, 5.0))
        pump.wake(g)
        assert eventually(lambda: g.echoes == 1)
        # a user edit, as the browser sends it through the grid's comm
        g.grid.comm.handle_msg({"content": {"data": {"method": "custom", "content": {
            "event_type": "cell-changed", "row": 0, "column_index": 1, "value": 3.0}}},
            "buffers": []})
        assert g.edits == [(0, 3.0)] and g.echoes == 1
    finally:
        pump.close()


def test_flushes_run_on_the_pump_thread_and_close_is_safe_twice():
    pump = UpdatePump(min_interval=0.01, latency=0.0)
    c = pump.register(Counter())
    assert pump.running
    pump.wake(c)
    assert eventually(lambda: c.flushes >= 1)
    assert c.threads[0] is not threading.current_thread()
    assert c.threads[0].daemon and c.threads[0].name == "damnit_nb-updates"
    pump.close()
    pump.close()
    assert not pump.running and not c.threads[0].is_alive()
    pump.wake(c)  # starts again
    assert eventually(lambda: c.flushes >= 2)
    pump.close()
    assert not pump.running


def test_no_flush_begins_after_unregister(pump, clock):
    c = pump.register(Counter())
    pump.wake(c)
    pump.unregister(c)
    pump.unregister(c)  # unknown: ignored
    pump.wake(c)
    clock.t += 1
    assert pump.run_once() == 0 and c.flushes == 0


def test_unregister_waits_for_a_flush_under_way():
    pump = UpdatePump(min_interval=0.01, latency=0.0)
    inside, release = threading.Event(), threading.Event()
    finished = []

    def flush():
        inside.set()
        release.wait(10)
        finished.append(1)

    pump.register(flush)
    try:
        pump.wake(flush)
        assert inside.wait(10)
        threading.Timer(0.05, release.set).start()
        pump.unregister(flush)
        assert finished == [1]
    finally:
        release.set()
        pump.close()


def test_the_lock_is_free_during_a_flush(pump, clock):
    other = pump.register(Counter())

    class Reentrant(Counter):
        def flush(self):
            super().flush()
            # callbacks may wake, register and unregister without deadlock
            pump.wake(other)
            pump.register(Counter())
            pump.unregister(self)

    r = pump.register(Reentrant())
    pump.wake(r)
    clock.t += F("0.03")
    assert pump.run_once() == 1 and r.flushes == 1
    clock.t += F("0.03")
    assert pump.run_once() == 1 and other.flushes == 1


def test_default_pump_is_shared_and_restartable():
    p = default_pump()
    assert default_pump() is p
    c = p.register(Counter())
    try:
        p.wake(c)
        assert eventually(lambda: c.flushes == 1)
        p.close()
        p.wake(c)
        assert eventually(lambda: c.flushes == 2)
    finally:
        p.unregister(c)


def test_wakes_from_many_threads_are_never_lost_and_are_coalesced():
    pump = UpdatePump(min_interval=0.05, latency=0.01)

    class Model:
        def __init__(self):
            self.lock = threading.Lock()
            self.posted = 0
            self.shown = 0
            self.flushes = 0

        def flush(self):
            with self.lock:
                self.shown = self.posted
            self.flushes += 1

    m = pump.register(Model())

    def writer():
        for _ in range(500):
            with m.lock:
                m.posted += 1
            pump.wake(m)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert eventually(lambda: m.shown == 8 * 500)  # the last change is shown
        assert m.flushes < 8 * 500
    finally:
        pump.close()
