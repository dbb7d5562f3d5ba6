"""RunPlot fed by model changes, checked through what its widgets send and what a browser
sends back (picker values, selections)."""

import numpy as np
import pytest

from damnit_nb.widgets.cells import Cell
from damnit_nb.widgets.model import RUN_KEY, ColumnSpec, TableModel
from damnit_nb.widgets.plot import RunPlot, numeric_columns, points
from tests.widgets.frontend import Recorder, browser_click, browser_message, browser_update


def flush(pump, clock):
    clock.t += 10
    pump.run_once()


def make_model(runs=range(1, 6)):
    model = TableModel([ColumnSpec("energy", "Beam/Energy", units="keV"),
                        ColumnSpec("delay", "Delay"), ColumnSpec("sample", "Sample")])
    for run in runs:
        model.update({run: {"energy": Cell.number(10.0 + run), "delay": Cell.number(run % 3),
                            "sample": Cell.text(f"s{run}")}})
    return model


def browser_select(mark, indices):
    """The browser selects points (a click, a brush or a lasso): ``selected`` arrives as a
    binary array, as bqplot's front end sends it."""
    data = np.asarray(indices, dtype=np.int32)
    browser_message(mark, {"method": "update",
                           "state": {"selected": {"dtype": "int32", "shape": [len(data)]}},
                           "buffer_paths": [["selected", "value"]]}, [data.tobytes()])


def sent_arrays(recorder):
    """The trait names sent in each update recorded."""
    return [sorted(u) for u in recorder.updates]


def test_points_are_the_runs_with_numbers_in_both_columns():
    model = make_model()
    model.update({6: {"energy": Cell.error("ValueError", "bad")},
                  7: {"energy": Cell.number(float("nan")), "delay": Cell.number(1)}})
    runs, xs, ys, colours = points(model, "delay", "energy")
    assert colours is None
    assert runs.tolist() == [3, 1, 4, 2, 5]  # sorted by x, then run
    assert xs.tolist() == [0, 1, 1, 2, 2] and ys.tolist() == [13, 11, 14, 12, 15]
    runs, *_ = points(model, RUN_KEY, "energy", runs=[1, 2, 3, 6], excluded=[2])
    assert runs.tolist() == [1, 3]
    runs, _, _, colours = points(model, RUN_KEY, "energy", color="delay")
    assert colours.tolist() == [1, 2, 0, 1, 2]


def test_numeric_columns_offer_numbers_only_with_unique_labels():
    model = make_model()
    model.set_column(ColumnSpec("energy2", "Beam/Energy", units="keV"))
    model.update({1: {"energy2": Cell.number(1)}})
    assert numeric_columns(model) == [
        (RUN_KEY, "Run"), ("energy", "Beam/Energy [keV] (energy)"), ("delay", "Delay"),
        ("energy2", "Beam/Energy [keV] (energy2)")]


def test_a_new_run_sends_the_marks_arrays_and_nothing_else(pump, clock):
    model = make_model()
    plot = RunPlot(model, "energy", pump=pump)
    assert plot.scatter.x.tolist() == [1, 2, 3, 4, 5]
    assert plot.scatter.names.tolist() == ["1", "2", "3", "4", "5"]
    assert plot.x_axis.label == "Run" and plot.y_axis.label == "Beam/Energy [keV]"
    scatter, figure, axis = Recorder(plot.scatter), Recorder(plot.figure), Recorder(plot.x_axis)

    model.update({6: {"energy": Cell.number(16.0)}})
    flush(pump, clock)
    assert sent_arrays(scatter) == [["names", "x", "y"]]  # one message: the new arrays
    assert plot.scatter.y.tolist() == [11, 12, 13, 14, 15, 16]
    assert figure.messages == [] and axis.messages == []  # the figure is not rebuilt

    scatter.clear()
    model.update({3: {"sample": Cell.text("changed")}})  # not plotted: nothing sent
    model.update({4: {"delay": Cell.number(7)}})
    flush(pump, clock)
    assert scatter.messages == []


def test_many_changes_are_one_update(pump, clock):
    model = make_model()
    plot = RunPlot(model, "energy", pump=pump)
    scatter = Recorder(plot.scatter)
    for run in range(10, 60):
        model.update({run: {"energy": Cell.number(run)}})
    flush(pump, clock)
    assert len(scatter.updates) == 1 and len(plot.scatter.x) == 55


def test_pickers_choose_and_swap_the_variables(pump, clock):
    model = make_model()
    plot = RunPlot(model, pump=pump)
    assert "Choose a variable" in plot.note.value and len(plot.scatter.x) == 0
    assert plot.y_picker.options == ("Run", "Beam/Energy [keV]", "Delay")  # no text column
    browser_update(plot.y_picker, value="Beam/Energy [keV]")
    browser_update(plot.x_picker, value="Delay")
    assert (plot.y, plot.x) == ("energy", "delay")
    flush(pump, clock)
    assert plot.scatter.x.tolist() == [0, 1, 1, 2, 2]
    browser_update(plot.y_picker, value="Beam/E")  # still typing: nothing changes
    assert plot.y == "energy"
    browser_click(plot.swap_button)
    flush(pump, clock)
    assert (plot.y, plot.x) == ("delay", "energy")
    assert plot.x_picker.value == "Beam/Energy [keV]" and plot.y_picker.value == "Delay"
    assert plot.scatter.x.tolist() == [11, 12, 13, 14, 15]
    assert plot.x_axis.label == "Beam/Energy [keV]"


def test_colour_by_a_third_variable(pump, clock):
    model = make_model()
    plot = RunPlot(model, "energy", color="delay", pump=pump)
    assert plot.scatter.color.tolist() == [1, 2, 0, 1, 2]
    assert plot.color_axis.visible and plot.color_axis.label == "Delay"
    browser_update(plot.color_picker, value="")
    flush(pump, clock)
    assert plot.scatter.color is None and not plot.color_axis.visible


def test_histogram_counts_and_selects_the_runs_of_a_bar(pump, clock):
    model = make_model()
    plot = RunPlot(model, "delay", kind="histogram", bins=3, pump=pump)
    assert plot.figure.marks == [plot.bars]
    assert plot.bars.y.tolist() == [1, 2, 2]  # delays 0, 1, 1, 2, 2
    assert plot.x_axis.label == "Delay" and plot.y_axis.label == "runs"
    browser_select(plot.bars, [2])
    assert plot.selected_runs == [2, 5]
    browser_update(plot.bins_box, value=1)
    flush(pump, clock)
    assert plot.bins == 1 and plot.bars.y.tolist() == [5]
    browser_update(plot.kind_buttons, index=1)  # line
    flush(pump, clock)
    assert plot.figure.marks == [plot.line, plot.scatter]
    assert plot.line.x.tolist() == [1, 2, 3, 4, 5]


def test_selection_goes_both_ways_by_run(pump, clock):
    model = make_model()
    plot = RunPlot(model, "energy", x="delay", pump=pump)
    browser_select(plot.scatter, [0, 4])  # x order: runs 3, 1, 4, 2, 5
    assert plot.selected_runs == [3, 5]

    plot.selected_runs = [1, 2]  # selected in the table
    flush(pump, clock)
    assert plot.scatter.selected.tolist() == [1, 3]
    model.update({0: {"energy": Cell.number(1), "delay": Cell.number(0)}})  # a new first point
    flush(pump, clock)
    assert plot.scatter.selected.tolist() == [2, 4]  # still runs 1 and 2
    assert plot.selected_runs == [1, 2]  # our own write is not taken for the browser's
    browser_select(plot.scatter, [])
    assert plot.selected_runs == []


def test_brush_and_lasso_selectors(pump, clock):
    model = make_model()
    plot = RunPlot(model, "energy", pump=pump)
    browser_update(plot.select_buttons, index=1)  # brush
    flush(pump, clock)
    brush = plot.figure.interaction
    assert type(brush).__name__ == "BrushSelector" and brush.marks == [plot.scatter]
    browser_update(plot.select_buttons, index=2)  # lasso
    flush(pump, clock)
    assert type(plot.figure.interaction).__name__ == "LassoSelector"
    browser_update(plot.select_buttons, index=0)  # click
    flush(pump, clock)
    assert plot.figure.interaction is None


def test_runs_left_out(pump, clock):
    model = make_model()
    plot = RunPlot(model, "energy", pump=pump)
    browser_select(plot.scatter, [1, 2])
    browser_click(plot.leave_out_button)
    flush(pump, clock)
    assert plot.excluded_runs == [2, 3]
    assert plot.scatter.x.tolist() == [1, 4, 5]
    assert "2 left out" in plot.note.value and not plot.put_back_button.disabled
    browser_click(plot.put_back_button)
    flush(pump, clock)
    assert plot.excluded_runs == [] and len(plot.scatter.x) == 5


def test_bad_traits_are_refused(pump):
    model = make_model()
    plot = RunPlot(model, "energy", pump=pump)
    with pytest.raises(ValueError, match="1 to 1000 bins"):
        plot.bins = 0
    with pytest.raises(ValueError, match="No column 'nope'"):
        plot.y = "nope"
    with pytest.raises(Exception, match="kind"):
        plot.kind = "pie"


def test_many_points_are_drawn_on_a_canvas_and_selected_by_run(pump, clock):
    from damnit_nb.widgets.plot import MANY_POINTS

    model = make_model(runs=range(1, MANY_POINTS + 1))
    plot = RunPlot(model, "energy", pump=pump)
    assert plot.children[1] is plot.figure and plot.cloud is None  # SVG, up to MANY_POINTS
    model.update({MANY_POINTS + 1: {"energy": Cell.number(1.0)}})
    flush(pump, clock)
    cloud = plot.cloud
    assert plot.children[1] is cloud
    assert np.frombuffer(cloud.x, "<f8").tolist() == list(range(1, MANY_POINTS + 2))
    assert np.frombuffer(cloud.y, "<f8")[-1] == 1.0
    assert np.frombuffer(cloud.runs, "<f8")[-1] == MANY_POINTS + 1
    assert cloud.y_label == "Beam/Energy [keV]" and cloud.colour == b""

    sent, figure = Recorder(cloud), Recorder(plot.figure)
    model.update({MANY_POINTS + 2: {"energy": Cell.number(2.0)}})
    flush(pump, clock)
    assert len(sent.messages) == 1 and figure.messages == []  # one message: the arrays,
    assert sorted(p[0] for p in sent.messages[0]["buffer_paths"]) == ["runs", "x", "y"]
    assert sent.updates == [{}]  # as binary buffers beside an otherwise empty state

    browser_update(plot.select_buttons, index=1)  # brush: the canvas is told
    flush(pump, clock)
    assert cloud.mode == "brush"
    browser_update(cloud, selected=[0, 2])  # the browser's brush selected two points
    assert plot.selected_runs == [1, 3]
    plot.selected_runs = [5]
    flush(pump, clock)
    assert cloud.selected == [4]

    model.update({MANY_POINTS + 1: {"delay": Cell.number(5)},
                  MANY_POINTS + 2: {"delay": Cell.number(6)}})  # still over MANY_POINTS
    plot.color = "delay"  # coloured: the values and the colour bar's label
    flush(pump, clock)
    assert np.frombuffer(cloud.colour, "<f8")[:3].tolist() == [1, 2, 0]
    assert cloud.colour_label == "Delay"

    plot.kind = "line"  # a line of many points: bqplot, without its points
    flush(pump, clock)
    assert plot.children[1] is plot.figure and list(plot.figure.marks) == [plot.line]
    assert "points not drawn" in plot.note.value
    plot.close()
    assert cloud.comm is None


def test_a_closed_plot_leaves_no_widget_and_is_never_pending(pump, clock):
    from ipywidgets.widgets.widget import _instances

    model = make_model()
    before = set(_instances)
    plot = RunPlot(model, "energy", pump=pump)
    browser_update(plot.select_buttons, index=1)
    flush(pump, clock)
    assert len(set(_instances) - before) > 20
    plot.close()
    left = [type(_instances[k]).__name__ for k in set(_instances) - before]
    assert left == []  # figure, marks, axes, scales, pickers and layouts closed
    model.update({9: {"energy": Cell.number(1.0)}})
    assert not plot.pending()  # a table's sync() does not wait for it
