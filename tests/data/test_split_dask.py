"""split_trains and dask_array, against EXtra-data on the same example runs."""

import pickle
import sys

import numpy as np
import pytest

from damnit_nb.data import RunDirectory, by_id, by_index

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

XGM_CTRL = ("SA1_XTD2_XGM/DOOCS/MAIN", "beamPosition.ixPos")
XGM_OUT = ("SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD")
CAM = ("SPB_IRU_CAM/CAM/SIDEMIC:daqOutput", "data.image.pixels")
STATE = ("SA1_XTD2_XGM/DOOCS/MAIN", "state")


@pytest.fixture(scope="module")
def uneven(example_runs):
    import extra_data

    path = example_runs("uneven-1.0")
    return RunDirectory(path), extra_data.RunDirectory(path)


@pytest.fixture(scope="module")
def fxe(example_runs):
    import extra_data

    path = example_runs("fxe-1.0")
    return RunDirectory(path), extra_data.RunDirectory(path)


def _str(x):
    """EXtra-data's dask arrays hold bytes for strings; ours hold str, as .ndarray() does."""
    if x.dtype == object:
        return np.vectorize(lambda v: v.decode() if isinstance(v, bytes) else v, otypes=[object])(x)
    return x


# --- split_trains -------------------------------------------------------------------


# The uneven run has 80 trains.
SPLITS = [
    {"parts": 1}, {"parts": 3}, {"parts": 7}, {"parts": 80}, {"parts": 500},
    {"trains_per_part": 1}, {"trains_per_part": 8}, {"trains_per_part": 13},
    {"trains_per_part": 80}, {"trains_per_part": 1000},
    {"parts": 3, "trains_per_part": 8}, {"parts": 20, "trains_per_part": 13},
    {"parts": 500, "trains_per_part": 30},
]


@pytest.mark.parametrize("kwargs", SPLITS, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_split_trains_like_extra_data(uneven, kwargs):
    ours, theirs = uneven
    assert len(ours.train_ids) == 80

    def tids(parts):
        return [list(p.train_ids) for p in parts]

    expected = tids(theirs.split_trains(**kwargs))
    assert tids(ours.split_trains(**kwargs)) == expected
    assert tids(ours[CAM[0]].split_trains(**kwargs)) == tids(theirs[CAM[0]].split_trains(**kwargs))
    assert tids(ours[CAM].split_trains(**kwargs)) == tids(theirs[CAM].split_trains(**kwargs))
    # Every train exactly once, in order, across parts.
    assert [t for part in expected for t in part] == list(theirs.train_ids)


def test_split_trains_after_selection(uneven):
    ours, theirs = uneven
    import extra_data

    a = ours.select_trains(by_id[10010:10061]).split_trains(parts=4, trains_per_part=9)
    b = theirs.select_trains(extra_data.by_id[10010:10061]).split_trains(parts=4,
                                                                        trains_per_part=9)
    assert [p.train_ids for p in a] == [p.train_ids for p in b]


def test_split_parts_read_their_share(uneven):
    ours, theirs = uneven
    parts = list(ours[CAM].split_trains(trains_per_part=16))
    whole = ours[CAM].ndarray()
    np.testing.assert_array_equal(np.concatenate([p.ndarray() for p in parts]), whole)
    counts = [len(p.ndarray()) for p in parts]
    expected = [len(p.ndarray()) for p in theirs[CAM].split_trains(trains_per_part=16)]
    assert counts == expected
    # A collection part keeps all sources, each limited to the part's trains.
    first = next(ours.split_trains(parts=3))
    assert first.all_sources == ours.all_sources
    assert first[XGM_OUT].train_ids == first.train_ids


def test_split_no_trains(uneven):
    ours, theirs = uneven
    empty = ours.select_trains(by_index[0:0])
    assert list(empty.split_trains(parts=3)) == []
    assert list(empty[CAM].split_trains(trains_per_part=5)) == []
    assert list(theirs.select_trains(np.s_[0:0]).split_trains(parts=3)) == []


@pytest.mark.parametrize("kwargs, error", [
    ({}, ValueError),
    ({"parts": 0}, ValueError),
    ({"trains_per_part": 0}, ValueError),
    ({"parts": -2, "trains_per_part": 5}, ValueError),
    ({"parts": 2.5}, TypeError),
    ({"trains_per_part": "8"}, TypeError),
])
def test_split_bad_arguments(uneven, kwargs, error):
    ours, _ = uneven
    # Checked when called, not when the first part is asked for.
    for obj in (ours, ours[CAM[0]], ours[CAM]):
        with pytest.raises(error, match="part"):
            obj.split_trains(**kwargs)


def test_split_missing_arguments_like_extra_data(uneven):
    _, theirs = uneven
    with pytest.raises(ValueError):
        list(theirs.split_trains())


# --- dask_array ---------------------------------------------------------------------


def _has_dask():
    import importlib.util

    return importlib.util.find_spec("dask") is not None


requires_dask = pytest.mark.skipif(not _has_dask(), reason="needs dask")


@requires_dask
@pytest.mark.parametrize("key", [XGM_CTRL, XGM_OUT, CAM, STATE, XGM_CTRL[0:1] + ("beamPosition.ixPos.timestamp",)])
@pytest.mark.parametrize("sel", [None, by_index[5:40], by_id[10018:10031], by_index[[0, 3, 60, 79]]])
def test_dask_array_like_ndarray_and_extra_data(uneven, key, sel):
    import extra_data

    ours, theirs = uneven
    ka, kb = ours[key], theirs[key]
    if sel is not None:
        ka = ka.select_trains(sel)
        ed_sel = getattr(extra_data, sel.kind)[sel.value]
        kb = kb.select_trains(ed_sel)
    arr = ka.dask_array()
    expected = kb.dask_array()
    assert arr.shape == expected.shape == ka.shape
    assert arr.dtype == expected.dtype == ka.dtype
    values = arr.compute()
    np.testing.assert_array_equal(values, ka.ndarray())
    np.testing.assert_array_equal(values, _str(expected.compute()))
    assert values.dtype == ka.ndarray().dtype


@requires_dask
def test_dask_blocks_follow_files(uneven):
    ours, _ = uneven
    # The XGM's 50 trains sit in two files of 25 trains each.
    assert ours[XGM_CTRL].dask_array().chunks == ((25, 25),)
    cam = ours[CAM]
    assert cam.dask_array().chunks[1:] == tuple((n,) for n in cam.entry_shape)
    assert sum(cam.dask_array().chunks[0]) == cam.shape[0]


@requires_dask
def test_dask_blocks_split_at_the_size_limit(uneven, monkeypatch):
    from damnit_nb.data import key as key_module

    ours, _ = uneven
    kd = ours[CAM]
    row_bytes = int(np.prod(kd.entry_shape)) * kd.dtype.itemsize
    monkeypatch.setattr(key_module, "DASK_BLOCK_BYTES", 4 * row_bytes)
    arr = kd.dask_array()
    assert max(arr.chunks[0]) == 4 and sum(arr.chunks[0]) == kd.shape[0]
    np.testing.assert_array_equal(arr.compute(), kd.ndarray())


@requires_dask
def test_dask_array_labelled(uneven):
    ours, theirs = uneven
    for key in (XGM_CTRL, XGM_OUT, CAM):
        kd = ours[key].select_trains(by_index[10:50])
        lazy = kd.dask_array(labelled=True)
        assert type(lazy.data).__name__ == "Array"  # still lazy
        eager = kd.xarray()
        assert lazy.dims == eager.dims
        assert lazy.name == eager.name
        assert lazy.attrs == eager.attrs
        assert lazy.compute().identical(eager)
        ed = theirs[key].dask_array(labelled=True)
        full = ours[key].dask_array(labelled=True)
        np.testing.assert_array_equal(full.trainId.values, ed.trainId.values)
        assert full.dims == ed.dims


@requires_dask
def test_dask_array_empty(uneven):
    ours, theirs = uneven
    kd = ours[CAM].select_trains(by_index[0:0])
    arr = kd.dask_array()
    assert arr.shape == (0,) + kd.entry_shape
    assert arr.dtype == kd.dtype
    assert arr.compute().shape == arr.shape
    labelled = kd.dask_array(labelled=True)
    assert labelled.shape == arr.shape and len(labelled.trainId) == 0


@requires_dask
def test_dask_array_structured(example_runs):
    import extra_data

    path = example_runs("remi-1.0")
    ours, theirs = RunDirectory(path), extra_data.RunDirectory(path)
    src = "SQS_REMI_DLD6/DET/TOP:output"
    for key in ("rec.hits", "rec.signals"):
        arr = ours[src, key].dask_array()
        assert arr.dtype.names is not None
        np.testing.assert_array_equal(arr.compute(), theirs[src, key].dask_array().compute())
        ds = ours[src, key].dask_array(labelled=True)
        assert ds.compute().identical(ours[src, key].xarray())


@requires_dask
def test_dask_threads_with_small_handle_cache(fxe, monkeypatch):
    """Blocks from 18 files, read by threads through a cache that holds one file open."""
    import dask

    from damnit_nb.data import files

    ours, theirs = fxe
    small = files.FileHandleCache(max_open=1)
    monkeypatch.setattr(files, "default_cache", small)
    keys = [(src, "header.dataId") for src in sorted(ours.instrument_sources)
            if src.startswith("FXE_DET_LPD1M-1")]
    keys += [XGM_CTRL, XGM_OUT]
    assert len(keys) == 18
    arrays = [ours[k].dask_array() for k in keys]
    with dask.config.set(scheduler="threads", num_workers=4):
        got = dask.compute(*arrays)
    assert len(small) <= 1
    for k, value in zip(keys, got):
        np.testing.assert_array_equal(value, theirs[k].ndarray())
    # The graph carries only paths and numbers: it pickles (process or cluster schedulers).
    again = pickle.loads(pickle.dumps(arrays[-1]))
    np.testing.assert_array_equal(again.compute(scheduler="sync"), got[-1])


def test_dask_missing_says_what_to_install(uneven, monkeypatch):
    ours, _ = uneven
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(ImportError, match=r"pip install dask\[array\]"):
        ours[XGM_CTRL].dask_array()
