import numpy as np
import pytest
import xarray as xr

from damnit_nb.store import prepare_error, prepare_result
from damnit_nb.store.results import PNG_MAGIC, trendline


def test_none_is_not_stored():
    assert prepare_result("x", None) is None


@pytest.mark.parametrize("value, expected", [
    (3, 3), (2.5, 2.5), (np.float32(1.5), 1.5), (np.int64(7), 7), (True, True),
    ("hello", "hello"),
])
def test_scalar_summary_is_the_value(value, expected):
    r = prepare_result("x", value)
    assert r.summary == expected and type(r.summary) is type(expected)
    assert r.summary_type is None and not r.is_error


def test_complex():
    r = prepare_result("x", 1 + 2j)
    assert r.summary == 1 + 2j and r.summary_type == "complex"


def test_summary_reduction_and_method():
    r = prepare_result("x", np.arange(10), summary="mean")
    assert r.summary == 4.5 and r.summary_method == "mean"
    assert r.max_diff == 9.0


def test_unknown_reduction_falls_back_to_default():
    r = prepare_result("x", np.arange(10), summary="no_such_function")
    assert r.summary_type == "trendline" and r.summary_method == ""


def test_1d_gives_trendline_of_about_150_points():
    y = np.sin(np.linspace(0, 20, 10_000))
    y[5000] = 10  # a spike must survive
    r = prepare_result("x", y)
    assert r.summary_type == "trendline"
    assert r.summary.shape[0] == 2 and 100 <= r.summary.shape[1] <= 160
    assert r.summary[1].max() == 10
    assert np.all(np.diff(r.summary[0]) >= 0)


def test_short_list_trendline_keeps_all_points():
    r = prepare_result("x", [1, 5, 2])
    np.testing.assert_array_equal(r.summary, [[0, 1, 2], [1, 5, 2]])
    np.testing.assert_array_equal(r.data, [1, 5, 2])


def test_trendline_uses_dataarray_coords():
    da = xr.DataArray([1.0, 2.0, 3.0], dims="t", coords={"t": [30.0, 10.0, 20.0]})
    np.testing.assert_array_equal(trendline(da), [[10, 20, 30], [2, 3, 1]])


def test_2d_gives_png_thumbnail():
    img = np.random.default_rng(0).random((40, 80))
    img[0, 0] = np.nan
    r = prepare_result("x", img)
    assert isinstance(r.summary, bytes) and r.summary.startswith(PNG_MAGIC)
    assert r.summary_type is None


def test_3d_gives_shape_string():
    r = prepare_result("x", np.zeros((2, 2, 2, 2)))
    assert r.summary == "float64: (2, 2, 2, 2)"


def test_dataarray_units_from_attrs():
    da = xr.DataArray(np.arange(3.0), dims="x", attrs={"units": "mJ"})
    assert prepare_result("x", da, units="J").attributes["units"] == "mJ"
    assert prepare_result("x", da.assign_attrs(units=None), units="J").attributes["units"] == "J"


def test_cell_display_attributes():
    r = prepare_result("x", 1, bold=True, background="#ff0080", summary_value="one")
    assert r.attributes == {"bold": True, "background": [255, 0, 128]}
    assert r.summary == "one"
    assert prepare_result("x", 1, background=(1, 2, 3)).attributes["background"] == [1, 2, 3]
    assert prepare_result("x", 1, background="red").error_cls == "ValueError"


@pytest.mark.parametrize("value", [object(), {"a": 1}, np.array([object()]), [1, "a", None],
                                   b"raw", np.array(["a", "b"])])
def test_unsaveable_values_become_type_errors(value):
    r = prepare_result("myvar", value)
    assert r.is_error and r.error_cls == "TypeError"
    assert "myvar" in r.error and "cannot be saved" in r.error and "instead" in r.error
    assert r.data is None


def test_prepare_error_and_skip():
    r = prepare_error("x", ValueError("boom"))
    assert (r.error, r.error_cls, r.skipped) == ("boom", "ValueError", False)

    class Skip(Exception):
        pass

    s = prepare_error("x", Skip("not for this run"))
    assert s.skipped and s.error_cls == "Skip" and s.error == "not for this run"


class Cell:
    """Stands in for damnit_nb.context.Cell / damnit_ctx.Cell (matched by class name)."""

    def __init__(self, data, summary=None, summary_value=None, bold=None, background=None,
                 *, preview=None, units=None):
        self.data, self.summary, self.summary_value = data, summary, summary_value
        self.bold, self.background, self.preview, self.units = bold, background, preview, units


def test_cell_is_unwrapped():
    r = prepare_result("x", Cell(np.arange(4.0), summary="sum", bold=False, units="V"),
                       summary="mean", units="mV")
    assert r.summary == 6.0 and r.summary_method == "sum"
    assert r.attributes == {"bold": False, "units": "V"}
    np.testing.assert_array_equal(r.data, np.arange(4.0))
    assert prepare_result("x", Cell(None)) is None


def test_units_precedence_cell_dataarray_variable():
    da = xr.DataArray([1.0, 2.0], dims="x", attrs={"units": "da"})
    assert prepare_result("x", Cell(da, units="cell"), units="var").attributes["units"] == "cell"
    assert prepare_result("x", Cell(da), units="var").attributes["units"] == "da"
    assert prepare_result("x", Cell([1, 2]), units="var").attributes["units"] == "var"


def test_cell_preview_drives_default_summary():
    r = prepare_result("x", Cell(5.0, preview=np.ones((8, 8))))
    assert r.summary.startswith(PNG_MAGIC)
    assert prepare_result("x", Cell(5.0, preview=np.ones((2, 2, 2)))).error_cls == "TypeError"


def test_matplotlib_figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 2), dpi=100)
    fig.add_subplot().plot([1, 3, 2])
    r = prepare_result("x", fig.axes[0])  # Axes: the whole figure is saved
    assert r.data.dtype == np.uint8 and r.data.shape == (200, 400, 4)
    assert r.data_type == "image"
    assert r.summary.startswith(PNG_MAGIC)


def test_dataset_summary():
    ds = xr.Dataset({"a": ("x", np.zeros(125_000))})
    r = prepare_result("x", ds)
    assert r.summary == "Dataset (1.00MB)" and r.data is ds


def test_failed_thumbnail_falls_back_to_shape_string(monkeypatch, caplog):
    import damnit_nb.store.results as results

    def broken(*args):
        raise ImportError("no matplotlib")

    monkeypatch.setattr(results, "thumbnail_png", broken)
    r = prepare_result("x", np.ones((3, 4)))
    assert r.summary == "float64: (3, 4)" and not r.is_error
    np.testing.assert_array_equal(r.data, np.ones((3, 4)))


def test_unexpected_failure_is_recorded_not_raised(monkeypatch):
    import damnit_nb.store.results as results

    def broken(*args):
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(results, "_max_diff", broken)
    r = prepare_result("x", np.arange(3))
    assert r.error_cls == "RuntimeError" and r.error == "renderer exploded"
