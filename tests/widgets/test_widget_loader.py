"""Loader: reads on a thread of their own, in order, each waiting key once."""

import threading

from damnit_nb.widgets.loader import Loader
from tests.helpers import eventually


def test_reads_run_in_order_on_the_loaders_thread_and_errors_are_handed_on():
    got = []
    loader = Loader(lambda key, value, error: got.append(
        (key, value, type(error).__name__ if error else None,
         threading.current_thread().name)), name="reader")
    gate = threading.Event()
    loader.request("a", lambda: gate.wait(5) and 1)
    loader.request("b", lambda: 2)
    loader.request("b", lambda: 99)  # waiting already: read once, as first asked
    loader.request("c", lambda: {}["missing"])
    loader.request("a", lambda: 99)  # being read (or waiting): not again
    assert loader.busy()
    gate.set()
    assert eventually(lambda: not loader.busy())
    assert got == [("a", 1, None, "reader"), ("b", 2, None, "reader"),
                   ("c", None, "KeyError", "reader")]


def test_cancel_and_close_drop_waiting_reads():
    got = []
    gate, started = threading.Event(), threading.Event()

    def slow():
        started.set()
        return gate.wait(5)
    loader = Loader(lambda key, value, error: got.append(key))
    loader.request("slow", slow)
    assert started.wait(5)
    loader.request("x", lambda: 1)
    loader.request("y", lambda: 2)
    loader.cancel(keep={"y"})
    gate.set()
    assert eventually(lambda: not loader.busy())
    assert got == ["slow", "y"]

    gate.clear()
    started.clear()
    loader.request("slow2", slow)
    assert started.wait(5)
    loader.request("z", lambda: 3)
    loader.close()
    gate.set()
    assert eventually(lambda: got[-1] == "slow2" and not loader.busy())  # it ends
    loader.request("after", lambda: 4)  # closed: ignored
    assert not loader.busy() and "z" not in got and "after" not in got
