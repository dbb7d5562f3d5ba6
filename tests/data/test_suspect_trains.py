"""Train validity (``inc_suspect_trains``) against EXtra-data, on files with trains the DAQ
flagged invalid, guessed invalid (format 0.5), duplicated or out of order."""

import os
import shutil

import h5py
import numpy as np
import pytest

from damnit_nb import DamnitNbWarning
from damnit_nb.data import RunDirectory, by_id, by_index

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Train validation:UserWarning"),  # EXtra-data, format 1.1
]

XGM = "SA1_XTD2_XGM/DOOCS/MAIN"
CAM = "SPB_IRU_CAM/CAM/SIDEMIC:daqOutput"
XGM_A = "RAW-R0001-DA01-S00001.h5"  # XGM, trains 10000-10024
CAM_FILE = "RAW-R0001-DA02-S00000.h5"  # camera, trains 10020-10079, data every other train


def _copy(example_runs, tmp_path, name):
    dest = tmp_path / "run"
    shutil.copytree(example_runs(name), dest)
    return dest


def _set(path, name, positions, values):
    with h5py.File(path, "r+") as f:
        ds = f[name]
        arr = ds[()]
        arr[positions] = values
        ds[...] = arr


def _selections(train_ids):
    """Train selections as (ours, EXtra-data's) pairs."""
    import extra_data

    tids = np.asarray(train_ids)
    picks = [int(t) for t in tids[1::7]]
    middle = np.s_[int(tids[len(tids) // 3]):int(tids[2 * len(tids) // 3])]
    for kind, value in (("index", np.s_[3:-3]), ("index", np.s_[::4]), ("id", middle),
                        ("id", picks)):
        ours, theirs = (by_index, extra_data.by_index) if kind == "index" else (by_id, extra_data.by_id)
        yield ours[value], theirs[value]
    yield np.s_[5:9], np.s_[5:9]


def _same_key(a, b, where):
    np.testing.assert_array_equal(a.train_ids, b.train_ids, err_msg=where)
    np.testing.assert_array_equal(a.train_id_coordinates(), b.train_id_coordinates(),
                                  err_msg=where)
    np.testing.assert_array_equal(a.data_counts(labelled=False), b.data_counts(labelled=False),
                                  err_msg=where)
    ca, cb = a.data_counts(), b.data_counts()
    np.testing.assert_array_equal(ca.index.values, cb.index.values, err_msg=where)
    np.testing.assert_array_equal(ca.values, cb.values, err_msg=where)
    assert a.xarray().identical(b.xarray()), where


def assert_same_as_extra_data(path, inc_suspect_trains, include="*"):
    """Train IDs, coordinates, counts, values and train selections agree with EXtra-data."""
    import extra_data

    ours = RunDirectory(path, include, inc_suspect_trains=inc_suspect_trains, cache=False)
    theirs = extra_data.RunDirectory(str(path), include, inc_suspect_trains=inc_suspect_trains)
    assert ours.train_ids == theirs.train_ids
    assert ours.all_sources == theirs.all_sources
    for src in sorted(theirs.all_sources):
        np.testing.assert_array_equal(ours[src].data_counts(labelled=False),
                                      theirs[src].data_counts(labelled=False), err_msg=src)
        # Validity works per index group, not per key: a key of each group will do.
        keys = sorted(theirs[src].keys())[:2]
        keys += [theirs[src].one_key(g) for g in sorted(theirs[src].index_groups)]
        for i, key in enumerate(dict.fromkeys(k for k in keys if k is not None)):
            a, b = ours[src, key], theirs[src, key]
            if b.nbytes > 5_000_000:
                continue
            _same_key(a, b, f"{src} {key}")
            if i:
                continue
            for sel, ed_sel in _selections(theirs.train_ids):
                _same_key(a.select_trains(sel), b.select_trains(ed_sel), f"{src} {key} {sel}")
    for sel, ed_sel in _selections(theirs.train_ids):
        sa, sb = ours.select_trains(sel), theirs.select_trains(ed_sel)
        assert sa.train_ids == sb.train_ids, sel
        for src in sorted(theirs.all_sources):
            key = sorted(theirs[src].keys())[0]
            _same_key(sa[src, key], sb[src, key], f"{src} {key} run {sel}")
    return ours


@pytest.fixture(params=[True, False], ids=["inc", "exc"])
def inc(request):
    return request.param


def test_flagged_trains(example_runs, tmp_path, inc):
    run_dir = _copy(example_runs, tmp_path, "uneven-1.0")
    _set(run_dir / CAM_FILE, "INDEX/flag", [0, 1, 2, 21, 40, 41, 42, 59], 0)
    _set(run_dir / XGM_A, "INDEX/flag", [0, 12, 24], 0)
    run = assert_same_as_extra_data(run_dir, inc)
    assert (10061 in run.train_ids) is inc
    assert (10012 in run.train_ids) is inc
    assert 10024 in run.train_ids  # valid in the camera's file


def test_flagged_trains_format_1_2(example_runs, tmp_path, inc):
    run_dir = _copy(example_runs, tmp_path, "fxe-1.2")
    name = sorted(n for n in os.listdir(run_dir) if "DA01" in n)[0]
    _set(run_dir / name, "INDEX/flag", [3, 4, 30], 0)
    assert_same_as_extra_data(run_dir, inc, include="*DA01*")


def test_format_1_1_flag_is_inverted(example_runs, tmp_path, inc):
    """In format 1.1, INDEX/flag is non-zero for invalid trains (EXtra-data's reading)."""
    run_dir = _copy(example_runs, tmp_path, "spb-1.1")
    for name in os.listdir(run_dir):
        if name.endswith(".h5"):
            with h5py.File(run_dir / name, "r+") as f:
                flag = f["INDEX/flag"]
                flag[...] = 0
                flag[5:8] = 1
    run = assert_same_as_extra_data(run_dir, inc)
    assert len(run.train_ids) == (64 if inc else 61)


@pytest.mark.parametrize("positions, values", [
    ([10], [20000]),  # one train ID from the future: the train after it steps down
    ([30, 31], [10000, 10001]),  # two from the past
    ([0, 1, 2], [30000, 30001, 30002]),  # the start of the file is wrong
], ids=["future", "past", "start"])
def test_guessed_validity_format_0_5(example_runs, tmp_path, inc, positions, values):
    run_dir = _copy(example_runs, tmp_path, "uneven-0.5")
    _set(run_dir / CAM_FILE, "INDEX/trainId", positions, values)
    assert_same_as_extra_data(run_dir, inc)


def test_non_monotonic_unique_train_ids(example_runs, tmp_path, inc):
    run_dir = _copy(example_runs, tmp_path, "uneven-1.0")
    # Two blocks of trains swapped: unique but out of order, all flagged valid.
    with h5py.File(run_dir / CAM_FILE, "r+") as f:
        tids = f["INDEX/trainId"][:60]
        f["INDEX/trainId"][:60] = np.concatenate([tids[30:], tids[:30]])
    run = assert_same_as_extra_data(run_dir, inc)
    coords = run[CAM, "data.image.pixels"].train_id_coordinates()
    assert coords[0] == 10051 and not (np.diff(coords.astype(np.int64)) > 0).all()  # file order


def test_duplicate_train_flagged_invalid(example_runs, tmp_path, inc):
    run_dir = _copy(example_runs, tmp_path, "uneven-1.0")
    # Trains 10050/10051 recorded again after 10053, flagged invalid by the DAQ.
    _set(run_dir / CAM_FILE, "INDEX/trainId", [34, 35], [10050, 10051])
    _set(run_dir / CAM_FILE, "INDEX/flag", [34, 35], 0)
    if not inc:
        assert_same_as_extra_data(run_dir, inc)
        return
    import extra_data

    with pytest.raises(ValueError, match="conflicting"):
        extra_data.RunDirectory(str(run_dir))
    # EXtra-data refuses the run; we keep each train's first data, with a warning.
    run = RunDirectory(run_dir, cache=False)
    excluded = RunDirectory(run_dir, inc_suspect_trains=False, cache=False)
    key = (CAM, "data.image.pixels")
    with pytest.warns(DamnitNbWarning, match="same train") as record:
        kd = run[key]
        coords = kd.train_id_coordinates()
        arr = kd.xarray()
        counts = kd.data_counts()
    assert len(record) == 1 and CAM_FILE in str(record[0].message)
    assert len(coords) == len(np.unique(coords))
    # The repeats come later in the file: what is kept is what the valid trains hold.
    np.testing.assert_array_equal(coords, excluded[key].train_id_coordinates())
    assert arr.identical(excluded[key].xarray())
    assert counts.max() == 1


def test_duplicate_train_guessed_format_0_5(example_runs, tmp_path, inc):
    run_dir = _copy(example_runs, tmp_path, "uneven-0.5")
    _set(run_dir / CAM_FILE, "INDEX/trainId", [35], [10051])
    if not inc:
        assert_same_as_extra_data(run_dir, inc)
        return
    with pytest.warns(DamnitNbWarning, match="same train"):
        coords = RunDirectory(run_dir, cache=False)[CAM, "data.image.pixels"].train_id_coordinates()
    assert len(coords) == len(np.unique(coords))


def test_copied_file_with_invalid_flags(example_runs, tmp_path, inc):
    """The same trains in two files, all flagged invalid in one: without suspect trains,
    the run is what EXtra-data reads."""
    run_dir = _copy(example_runs, tmp_path, "uneven-1.0")
    copy = run_dir / "RAW-R0001-DA01-S00009.h5"
    shutil.copy(run_dir / XGM_A, copy)
    _set(copy, "INDEX/flag", slice(None), 0)
    if not inc:
        assert_same_as_extra_data(run_dir, inc)
        return
    clean = RunDirectory(example_runs("uneven-1.0"), cache=False)
    with pytest.warns(DamnitNbWarning, match="same train"):
        arr = RunDirectory(run_dir, cache=False)[XGM, "beamPosition.ixPos"].xarray()
    assert arr.identical(clean[XGM, "beamPosition.ixPos"].xarray())
