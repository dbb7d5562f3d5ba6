"""KeyData options beyond plain reading, against EXtra-data."""

import numpy as np
import pytest

from damnit_nb.data import RunDirectory

XGM_OUT = ("SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD")
XGM_CTRL = ("SA1_XTD2_XGM/DOOCS/MAIN", "beamPosition.ixPos")
CAM = ("SPB_IRU_CAM/CAM/SIDEMIC:daqOutput", "data.image.pixels")


@pytest.fixture(scope="module")
def runs(example_runs):
    import extra_data

    path = example_runs("uneven-1.0")
    return RunDirectory(path), extra_data.RunDirectory(path)


@pytest.mark.parametrize("roi", [(), np.s_[:10], np.s_[5], np.s_[::3], np.s_[..., 2:4]])
def test_roi_and_extra_dims(runs, roi):
    ours, theirs = runs
    np.testing.assert_array_equal(ours[XGM_OUT].ndarray(roi=roi), theirs[XGM_OUT].ndarray(roi=roi))
    a = ours[XGM_OUT].xarray(extra_dims=["pulse"], roi=roi)
    b = theirs[XGM_OUT].xarray(extra_dims=["pulse"], roi=roi)
    assert a.identical(b)


def test_2d_roi_on_images(runs):
    ours, theirs = runs
    roi = np.s_[2:5, 1:3]
    a = ours[CAM].xarray(roi=roi, extra_dims=["y", "x"])
    b = theirs[CAM].xarray(roi=roi, extra_dims=["y", "x"])
    assert a.identical(b)
    assert a.shape == (30, 3, 2)


def test_ndarray_out(runs):
    ours, _ = runs
    kd = ours[XGM_OUT]
    out = np.zeros(kd.shape, kd.dtype)
    res = kd.ndarray(out=out)
    assert res is out
    np.testing.assert_array_equal(out, kd.ndarray())
    with pytest.raises(ValueError, match="shape"):
        kd.ndarray(out=np.zeros((1,), kd.dtype))


def test_name_override(runs):
    ours, _ = runs
    assert ours[XGM_CTRL].xarray(name="ixPos").name == "ixPos"


def test_as_single_value(runs):
    ours, theirs = runs
    with pytest.raises(ValueError, match="tolerance"):
        ours[XGM_CTRL].as_single_value()
    with pytest.raises(ValueError):
        theirs[XGM_CTRL].as_single_value()
    for kwargs in ({"atol": 1e4}, {"atol": 1e4, "reduce_by": "mean"},
                   {"atol": 1e4, "reduce_by": "first"}, {"atol": 1e4, "reduce_by": np.max}):
        assert ours[XGM_CTRL].as_single_value(**kwargs) == theirs[XGM_CTRL].as_single_value(**kwargs)
    with pytest.raises(ValueError, match="reduce_by"):
        ours[XGM_CTRL].as_single_value(reduce_by="no_such_function")


def test_as_single_value_strings(runs):
    ours, _ = runs
    state = ours["SA1_XTD2_XGM/DOOCS/MAIN", "state"]
    values = set(state.ndarray().tolist())
    assert values <= {"ON", "OFF", "MOVING", "ERROR"} and len(values) > 1
    with pytest.raises(ValueError, match="several values"):
        state.as_single_value()
    one = state.select_trains(np.s_[:1])
    assert one.as_single_value() == state.ndarray()[0]


def test_as_single_value_no_data(runs):
    ours, _ = runs
    empty = ours[XGM_CTRL].select_trains(np.s_[0:0])
    with pytest.raises(ValueError, match="No data"):
        empty.as_single_value()


def test_run_value_from_key(runs):
    ours, theirs = runs
    assert ours[XGM_CTRL].run_value() == theirs[XGM_CTRL].run_value()


def test_drop_empty_trains(runs):
    ours, theirs = runs
    cam = ours[CAM].drop_empty_trains()
    assert cam.train_ids == theirs[CAM].drop_empty_trains().train_ids
    assert (cam.data_counts() > 0).all()


def test_string_values_are_str(runs):
    ours, theirs = runs
    arr = ours["SA1_XTD2_XGM/DOOCS/MAIN", "state"].ndarray()
    assert arr.dtype == object and all(isinstance(v, str) for v in arr)
    np.testing.assert_array_equal(arr, theirs["SA1_XTD2_XGM/DOOCS/MAIN", "state"].ndarray())
