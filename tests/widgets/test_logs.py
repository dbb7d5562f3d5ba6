"""LogPane follows the selected run's log as it grows, reading the file off the pump."""

import threading

from damnit_nb.widgets.logs import LogPane, read_tail
from damnit_nb.widgets.pump import UpdatePump
from tests.helpers import eventually


def test_read_tail(tmp_path):
    path = tmp_path / "log"
    assert read_tail(path) == ""
    path.write_text("".join(f"line {i}\n" for i in range(1000)))
    tail = read_tail(path, lines=5)
    assert tail.splitlines() == ["…", "line 995", "line 996", "line 997", "line 998", "line 999"]
    assert read_tail(path, lines=5, max_bytes=30).splitlines()[-1] == "line 999"


def test_the_pane_follows_the_selected_runs_log(tmp_path):
    pump = UpdatePump(min_interval=0.05)
    paths = {run: tmp_path / f"r{run}.log" for run in (1, 2)}
    reads = []

    def log_path(run):
        reads.append(threading.current_thread().name)
        return paths[run]

    pane = LogPane(log_path, pump=pump, interval=0.05)
    try:
        paths[1].write_text("starting\n")
        pane.run = 1
        assert eventually(lambda: "starting" in pane.text.value), pane.text.value
        assert "run 1" in pane.title.value
        with paths[1].open("a") as f:
            f.write("computing the mean <&>\n")
        assert eventually(lambda: "computing the mean &lt;&amp;&gt;" in pane.text.value)
        pane.run = 2  # no log yet
        assert eventually(lambda: "nothing printed yet" in pane.text.value)
        paths[2].write_text("run two\n")
        assert eventually(lambda: "run two" in pane.text.value)
        pane.run = None
        assert eventually(lambda: pane.text.value == "" and "Select a run" in pane.title.value)
        assert set(reads) == {"damnit_nb-log"}  # files read on the pane's thread only
    finally:
        pane.close()
        pump.close()
    assert not any(t.name == "damnit_nb-log" and t.is_alive() for t in threading.enumerate())
