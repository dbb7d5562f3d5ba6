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


def _str(x):
    """EXtra-data gives bytes for strings train by train (str for whole arrays); we give str."""
    x = np.asarray(x)
    if x.dtype.kind == "S" or (x.dtype == object and x.size and isinstance(x.flat[0], bytes)):
        return np.vectorize(lambda v: v.decode(), otypes=[object])(x)
    return x


def _assert_train_data_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], dict):
            _assert_train_data_equal(a[k], b[k])
        else:
            np.testing.assert_array_equal(a[k], _str(b[k]))
            assert np.shape(a[k]) == np.shape(b[k]), k


def test_key_train_access(runs):
    ours, theirs = runs
    for key in (XGM_OUT, XGM_CTRL, CAM, ("SA1_XTD2_XGM/DOOCS/MAIN", "state")):
        a, b = ours[key], theirs[key]
        for tid in (10000, 10021, 10049, 10070):
            for keep_dims in (False, True):
                ta, tb = a.train_from_id(tid, keep_dims=keep_dims), b.train_from_id(tid, keep_dims=keep_dims)
                if not isinstance(tb, tuple):
                    # EXtra-data gives a bare empty array for trains outside the source's
                    # files; we give (train ID, empty array) as for any other train.
                    assert ta[0] == tid
                    tb = (tid, tb)
                assert ta[0] == tb[0]
                np.testing.assert_array_equal(ta[1], _str(tb[1]))
                assert np.shape(ta[1]) == np.shape(tb[1])
        assert [t for t, _ in a.trains()] == [t for t, _ in b.trains()]
        for (ta, da), (tb, db) in zip(a.trains(), b.trains()):
            np.testing.assert_array_equal(da, _str(db))
        np.testing.assert_array_equal(a.train_from_index(30)[1], _str(b.train_from_index(30)[1]))


def test_run_trains(runs):
    ours, theirs = runs
    sel = [(XGM_CTRL[0], "beamPosition.*"), (CAM[0], "data.image.pixels")]
    a, b = ours.select(sel), theirs.select(sel)
    got = list(a.trains())
    expected = list(b.trains())
    assert [t for t, _ in got] == [t for t, _ in expected]
    for (_, da), (_, db) in zip(got, expected):
        for src in db:
            db[src] = {k: v for k, v in db[src].items() if k == "metadata" or k in a.keys_for_source(src)}
        for src in db:
            db[src]["metadata"] = {k: db[src]["metadata"][k] for k in ("source", "timestamp.tid")}
        _assert_train_data_equal(da, db)
    n_all = len(list(a.trains(require_all=True)))
    assert n_all == len(list(b.trains(require_all=True)))
    counts = a[CAM].data_counts()
    with_data, without = counts[counts > 0].index[0], counts[counts == 0].index[-1]
    tid, flat = a.train_from_id(with_data, flat_keys=True)
    assert (CAM[0], "data.image.pixels") in flat
    assert (CAM[0], "data.image.pixels") not in a.train_from_id(without, flat_keys=True)[1]
    _, d = a.train_from_index(0)
    assert "beamPosition.ixPos.value" in d[XGM_CTRL[0]]
    assert d[CAM[0]].keys() == {"metadata"}  # the camera starts at train 10020


def test_train_id_errors(runs):
    from damnit_nb.data import TrainIDError

    ours, _ = runs
    with pytest.raises(TrainIDError, match="run.train_ids"):
        ours.train_from_id(1)
    with pytest.raises(TrainIDError):
        ours[XGM_CTRL].train_from_id(1)
    tid, empty = ours[CAM].train_from_id(10000)
    assert empty.shape == (0, 8, 6)


def test_names_with_dots_are_read_where_extra_data_fails(example_runs):
    """HDF5 group names containing dots (JUNGFRAU monitor keys): the key name is still
    unambiguous, so we read it (EXtra-data 1.25 cannot)."""
    import os

    import extra_data
    import h5py

    from damnit_nb.data import RunDirectory

    path = example_runs("jungfrau-1.0")
    src, key = "SPB_IRDA_JF4M/MDL/MONITOR", "module1.adcTemperature"
    ours = RunDirectory(path)[src, key]
    assert ours.hdf5_data_path.endswith("module1.adcTemperature/value")
    with h5py.File(os.path.join(path, "RAW-R0012-JNGFRCTRL00-S00000.h5"), "r") as f:
        expected = f[f"CONTROL/{src}/module1.adcTemperature/value"][:]
    np.testing.assert_array_equal(ours.ndarray(), expected[: len(ours.ndarray())])
    with pytest.raises(KeyError):
        extra_data.RunDirectory(path)[src, key].ndarray()


def test_train_data_of_one_key(runs):
    from damnit_nb.data import by_id

    ours, _ = runs
    kd = ours[CAM]
    counts = kd.data_counts()
    with_data, without = int(counts[counts > 0].index[0]), int(counts[counts == 0].index[-1])
    np.testing.assert_array_equal(kd.train_data(with_data), kd.train_from_id(with_data)[1])
    np.testing.assert_array_equal(kd.train_data(with_data, keep_dims=True),
                                  kd.train_from_id(with_data, keep_dims=True)[1])
    assert kd.train_data(without) is None
    assert kd.select_trains(by_id[[without]]).train_data(with_data) is None  # not selected
