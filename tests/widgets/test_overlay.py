"""RunDataPlot: runs' full data overlaid, read off the update thread, following the model
and the table's selection, checked through what its widgets send."""

import threading

import numpy as np
import xarray as xr

from damnit_nb.widgets.cells import Cell
from damnit_nb.widgets.model import ColumnSpec, TableModel
from damnit_nb.widgets.overlay import MAX_RUNS, RunDataPlot
from tests.helpers import eventually
from tests.widgets.frontend import Recorder


class Store:
    """Runs' data as a table's ``read_data`` gives it, counting reads (and their threads)."""

    def __init__(self):
        self.reads = []
        self.threads = set()
        self.data = {}

    def __call__(self, run, key):
        self.reads.append((run, key))
        self.threads.add(threading.current_thread().name)
        if (run, key) not in self.data:
            raise KeyError(f"No data for {key!r} in run {run}")
        return self.data[(run, key)]


def trace(run, n=5, first=1000, units="uJ"):
    return xr.DataArray(np.arange(n, dtype=float) * run, dims="trainId",
                        coords={"trainId": np.arange(first, first + n)},
                        attrs={"units": units})


def make(runs=(1, 2, 3)):
    model = TableModel([ColumnSpec("xgm", "XGM/Intensity", units="uJ"),
                        ColumnSpec("energy", "Energy", units="keV")])
    store = Store()
    for run in runs:
        model.update({run: {"xgm": Cell.number(float(run)), "energy": Cell.number(9.0)}})
        store.data[(run, "xgm")] = trace(run)
        store.data[(run, "energy")] = trace(run, first=1002, units="keV").copy(
            data=np.full(5, 9.0 + run))
    return model, store


def settle(plot, pump, clock):
    """Flush until the plot has drawn everything it read."""
    def done():
        clock.t += 10
        pump.run_once()
        return not plot.pending()
    assert eventually(done)


def lines(plot):
    return {m.labels[0]: (m.x.tolist(), m.y.tolist()) for m in plot.figure.marks}


def test_given_runs_are_read_off_the_update_thread_and_drawn_one_line_each(pump, clock):
    model, store = make()
    plot = RunDataPlot(model, store, "xgm", runs=[1, 2], pump=pump)
    clock.t += 10
    pump.run_once()
    assert "Loading runs 1, 2" in plot.note.value
    settle(plot, pump, clock)
    assert lines(plot) == {"run 1": ([1000, 1001, 1002, 1003, 1004], [0, 1, 2, 3, 4]),
                           "run 2": ([1000, 1001, 1002, 1003, 1004], [0, 2, 4, 6, 8])}
    assert plot.x_axis.label == "trainId" and plot.y_axis.label == "XGM/Intensity [uJ]"
    assert "Loading" not in plot.note.value
    assert store.threads == {"damnit_nb-overlay"} and sorted(store.reads) == [
        (1, "xgm"), (2, "xgm")]
    colours = [m.colors[0] for m in plot.figure.marks]
    assert len(set(colours)) == 2


def test_a_changed_value_reads_that_run_again_and_sends_only_its_line(pump, clock):
    model, store = make()
    plot = RunDataPlot(model, store, "xgm", runs=[1, 2], pump=pump)
    settle(plot, pump, clock)
    run1, run2 = plot.figure.marks
    sent1, sent2, figure = Recorder(run1), Recorder(run2), Recorder(plot.figure)
    store.reads.clear()

    store.data[(1, "xgm")] = trace(1) + 100
    model.update({1: {"xgm": Cell.number(101.0)}})
    settle(plot, pump, clock)
    assert store.reads == [(1, "xgm")]
    assert [sorted(u) for u in sent1.updates] == [["y"]]  # the same trains: y only
    assert run1.y.tolist() == [100, 101, 102, 103, 104]
    assert sent2.messages == [] and figure.messages == []

    sent1.clear()
    model.update({3: {"energy": Cell.number(1.0)}})  # another run: nothing read or sent
    settle(plot, pump, clock)
    assert store.reads == [(1, "xgm")] and sent1.messages == [] and sent2.messages == []


def test_without_runs_the_plot_follows_the_selected_runs(pump, clock):
    model, store = make()
    plot = RunDataPlot(model, store, "xgm", pump=pump)
    settle(plot, pump, clock)
    assert lines(plot) == {} and "Select runs in the table" in plot.note.value
    plot.selected_runs = [3, 1]
    settle(plot, pump, clock)
    assert list(lines(plot)) == ["run 1", "run 3"]
    plot.selected_runs = [3]
    settle(plot, pump, clock)
    assert list(lines(plot)) == ["run 3"]


def test_a_run_that_cannot_be_drawn_is_named_and_the_others_drawn(pump, clock):
    model, store = make(runs=(1, 2, 3, 4))
    del store.data[(2, "xgm")]
    store.data[(3, "xgm")] = np.zeros((3, 3))
    plot = RunDataPlot(model, store, "xgm", runs=[1, 2, 3, 4], pump=pump)
    settle(plot, pump, clock)
    assert list(lines(plot)) == ["run 1", "run 4"]
    assert "Run 2: No data for &#x27;xgm&#x27; in run 2" in plot.note.value
    assert "Run 3: xgm has 2 dimensions (3, 3)" not in plot.note.value  # says the title
    assert "Run 3: XGM/Intensity has 2 dimensions (3, 3)" in plot.note.value


def test_two_variables_are_paired_on_common_trains(pump, clock):
    model, store = make()
    store.data[(2, "energy")] = np.arange(7.0)  # no trainId, another length
    plot = RunDataPlot(model, store, "xgm", x="energy", runs=[1, 2], pump=pump)
    settle(plot, pump, clock)
    # run 1: energy has trains 1002..1006, xgm 1000..1004: common 1002..1004
    assert lines(plot) == {"run 1": ([10, 10, 10], [2, 3, 4])}
    assert plot.x_axis.label == "Energy [keV]" and plot.y_axis.label == "XGM/Intensity [uJ]"
    assert "Run 2: Energy has 7 values and XGM/Intensity 5" in plot.note.value


def test_histograms_per_run_share_their_bins(pump, clock):
    model, store = make()
    plot = RunDataPlot(model, store, "xgm", runs=[1, 2], kind="histogram", bins=4,
                       pump=pump)
    settle(plot, pump, clock)
    drawn = lines(plot)
    assert drawn["run 1"][0] == drawn["run 2"][0] == [0, 2, 4, 6, 8]  # common edges
    assert drawn["run 1"][1] == [2, 2, 1, 0, 0]  # 0..4 in bins of 2, step-drawn
    assert drawn["run 2"][1] == [1, 1, 1, 2, 2]
    assert all(m.interpolation == "step-after" for m in plot.figure.marks)
    assert plot.y_axis.label == "trains"


def test_at_most_max_runs_are_drawn_with_a_note(pump, clock):
    runs = range(1, MAX_RUNS + 3)
    model, store = make(runs=runs)
    plot = RunDataPlot(model, store, "xgm", runs=list(runs), pump=pump)
    settle(plot, pump, clock)
    assert len(plot.figure.marks) == MAX_RUNS
    assert f"The first {MAX_RUNS} of {MAX_RUNS + 2} runs" in plot.note.value
    plot.close()


def test_marks_no_longer_shown_are_closed(pump, clock):
    model, store = make()
    plot = RunDataPlot(model, store, "xgm", runs=[1, 2], pump=pump)
    settle(plot, pump, clock)
    before = list(plot.figure.marks)
    plot.runs = [2]
    settle(plot, pump, clock)
    assert plot.figure.marks == [before[1]] and before[0].comm is None  # run 1's closed
    plot.kind = "scatter"
    settle(plot, pump, clock)
    assert type(plot.figure.marks[0]).__name__ == "Scatter" and before[1].comm is None
