"""Format details: old index layout, padding, virtual sources, suspect trains, catalogues."""

import json
import os
import pickle
import shutil

import h5py
import numpy as np
import pytest

from damnit_nb.data import FileCatalogue, RunDirectory, read_catalogue

from euxfel_examples import fill_values, make_uneven_run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def uneven_copy(example_runs, tmp_path):
    """A private copy of the uneven example run (tests below modify files)."""
    dest = tmp_path / "run"
    shutil.copytree(example_runs("uneven-1.0"), dest)
    return str(dest)


def _assert_same_as_extra_data(path, **kwargs):
    import extra_data

    ours, theirs = RunDirectory(path, **kwargs), extra_data.RunDirectory(path, **kwargs)
    assert ours.train_ids == theirs.train_ids
    assert ours.all_sources == theirs.all_sources
    for src in theirs.all_sources:
        for key in theirs[src].keys():
            a, b = ours[src, key], theirs[src, key]
            if a.nbytes > 20_000_000:
                continue
            assert a.xarray().identical(b.xarray()), (src, key)
            np.testing.assert_array_equal(a.data_counts(labelled=False),
                                          b.data_counts(labelled=False))
    return ours


def _to_old_index_format(path):
    """Rewrite every INDEX first/count pair as first/last/status."""
    with h5py.File(path, "r+") as f:
        groups = []
        f["INDEX"].visititems(
            lambda name, obj: groups.append(obj) if isinstance(obj, h5py.Group) and "count" in obj else None
        )
        for grp in groups:
            first = grp["first"][()]
            count = grp["count"][()]
            last = np.where(count > 0, first + count - 1, first)
            del grp["count"]
            grp["last"] = last.astype(np.uint64)
            grp["status"] = (count > 0).astype(np.uint32)


def test_old_index_format(uneven_copy):
    for name in os.listdir(uneven_copy):
        if not name.endswith(".h5"):
            continue  # EXtra-data may leave a cache file here
        _to_old_index_format(os.path.join(uneven_copy, name))
    run = _assert_same_as_extra_data(uneven_copy)
    counts = run["SPB_IRU_CAM/CAM/SIDEMIC:daqOutput"].data_counts(labelled=False)
    assert set(counts.tolist()) == {0, 1}


def test_zero_padded_train_ids_ignored(example_runs):
    path = os.path.join(example_runs("uneven-1.0"), "RAW-R0001-DA01-S00000.h5")
    with h5py.File(path, "r") as f:
        raw = f["INDEX/trainId"][()]
    assert len(raw) > 25 and (raw[25:] == 0).all()  # the example pads to a chunk size
    cat = read_catalogue(path)
    np.testing.assert_array_equal(cat.train_ids, np.arange(10025, 10050))
    first, count = cat.index_for("SA1_XTD2_XGM/DOOCS/MAIN")
    assert len(first) == len(count) == 25


@pytest.mark.filterwarnings("ignore:Train validation:UserWarning")
def test_timer_server_source_skipped(example_runs, tmp_path):
    src = example_runs("spb-1.1")
    dest = tmp_path / "run"
    shutil.copytree(src, dest)
    path = dest / "RAW-R0238-DA01-S00000.h5"
    with h5py.File(path, "r+") as f:
        grp = f["METADATA/dataSources"]
        ids = grp["dataSourceId"][()]
        n = int(np.count_nonzero(ids != b""))
        grp["dataSourceId"][n] = b"Karabo_TimerServer"
        grp["deviceId"][n] = b"Karabo_TimerServer"
        grp["root"][n] = b""
    cat = read_catalogue(path)
    assert "Karabo_TimerServer" not in cat.all_sources
    _assert_same_as_extra_data(str(dest))


def test_unknown_category_is_format_error(uneven_copy):
    from damnit_nb.data import FileFormatError

    path = os.path.join(uneven_copy, "RAW-R0001-DA02-S00000.h5")
    with h5py.File(path, "r+") as f:
        f["METADATA/dataSources/dataSourceId"][1] = b"BOGUS/SOMETHING"
    with pytest.raises(FileFormatError, match="BOGUS") as info:
        read_catalogue(path)
    assert info.value.path == os.path.abspath(path)


def test_suspect_trains_flag(uneven_copy):
    path = os.path.join(uneven_copy, "RAW-R0001-DA02-S00000.h5")
    with h5py.File(path, "r+") as f:
        flag = f["INDEX/flag"]
        flag[40:43] = 0  # trains 10060-10062, which only this file has
    everything = RunDirectory(uneven_copy)
    assert 10061 in everything.train_ids
    valid = _assert_same_as_extra_data(uneven_copy, inc_suspect_trains=False)
    assert 10061 not in valid.train_ids
    assert 10063 in valid.train_ids


def test_suspect_trains_guessed_for_format_0_5(example_runs, tmp_path):
    dest = tmp_path / "run"
    shutil.copytree(example_runs("uneven-0.5"), dest)
    path = dest / "RAW-R0001-DA02-S00000.h5"
    with h5py.File(path, "r+") as f:
        tids = f["INDEX/trainId"]
        tids[10] = 20000  # a train ID from the future: the next step goes down
    cat = read_catalogue(path)
    assert not cat.flag[10] and cat.flag[:10].all() and cat.flag[11:60].all()
    valid = _assert_same_as_extra_data(str(dest), inc_suspect_trains=False)
    assert 20000 not in valid.train_ids
    assert 20000 in RunDirectory(str(dest)).train_ids


def test_file_order_is_by_train_not_name(example_runs):
    run = RunDirectory(example_runs("uneven-1.0"))
    xgm_files = [os.path.basename(c.path) for c in run["SA1_XTD2_XGM/DOOCS/MAIN"].files]
    assert xgm_files == ["RAW-R0001-DA01-S00001.h5", "RAW-R0001-DA01-S00000.h5"]
    coords = run["SA1_XTD2_XGM/DOOCS/MAIN", "beamPosition.ixPos"].train_id_coordinates()
    np.testing.assert_array_equal(coords, np.arange(10000, 10050))


def test_catalogue_pickles_and_round_trips(example_runs):
    path = os.path.join(example_runs("fxe-1.2"), "RAW-R0450-DA01-S00001.h5")
    cat = read_catalogue(path)
    for copy in (pickle.loads(pickle.dumps(cat)),
                 FileCatalogue.from_dict(json.loads(json.dumps(cat.to_dict())))):
        assert copy.path == cat.path and copy.size == cat.size and copy.mtime == cat.mtime
        np.testing.assert_array_equal(copy.train_ids, cat.train_ids)
        np.testing.assert_array_equal(copy.flag, cat.flag)
        np.testing.assert_array_equal(copy.timestamps, cat.timestamps)
        assert copy.control_sources == cat.control_sources
        assert copy.instrument_sources == cat.instrument_sources
        assert dict(copy.metadata) == dict(cat.metadata)
        for src, groups in cat.index.items():
            for g, (first, count) in groups.items():
                np.testing.assert_array_equal(copy.index[src][g][0], first)
                np.testing.assert_array_equal(copy.index[src][g][1], count)
    assert cat.is_current()


def test_catalogue_is_immutable(example_runs):
    cat = read_catalogue(os.path.join(example_runs("uneven-1.0"), "RAW-R0001-DA02-S00000.h5"))
    with pytest.raises(AttributeError):
        cat.train_ids = None
    with pytest.raises(ValueError):
        cat.train_ids[0] = 1
    with pytest.raises(TypeError):
        cat.index["x"] = {}


def test_catalogue_metadata_by_version(example_runs):
    cat05 = read_catalogue(os.path.join(example_runs("fxe-0.5"), "RAW-R0450-DA01-S00000.h5"))
    assert cat05.format_version == "0.5"
    assert dict(cat05.metadata) == {"dataFormatVersion": "0.5"}
    assert cat05.timestamps is None
    cat12 = read_catalogue(os.path.join(example_runs("fxe-1.2"), "RAW-R0450-DA01-S00001.h5"))
    assert cat12.format_version == "1.2"
    assert cat12.metadata["runNumber"] == 450
    assert cat12.metadata["sequenceNumber"] == 1
    assert cat12.metadata["proposalNumber"] == 700000
    assert isinstance(cat12.metadata["creationDate"], str)
    assert cat12.timestamps is not None and len(cat12.timestamps) == 80


def test_catalogue_is_stale_after_change(tmp_path):
    make_uneven_run(str(tmp_path))
    fill_values(str(tmp_path))
    path = tmp_path / "RAW-R0001-DA02-S00000.h5"
    cat = read_catalogue(path)
    assert cat.is_current()
    with h5py.File(path, "r+") as f:
        f["extra"] = np.zeros(1000)
    os.utime(path, ns=(0, 10**9))
    assert not cat.is_current()


def test_train_timestamps(example_runs):
    import extra_data

    from damnit_nb.data import H5File

    # One file: the example files of a run disagree on timestamps of the same train.
    path = os.path.join(example_runs("fxe-1.2"), "RAW-R0450-DA01-S00001.h5")
    ours = H5File(path).train_timestamps()
    theirs = extra_data.H5File(path).train_timestamps()
    assert ours.dtype == np.dtype("datetime64[ns]")
    np.testing.assert_array_equal(ours, theirs)
    labelled = H5File(path).train_timestamps(labelled=True)
    assert labelled.index.tolist() == H5File(path).train_ids
    # Format 0.5 has no timestamps: NaT
    path05 = os.path.join(example_runs("fxe-0.5"), "RAW-R0450-DA01-S00001.h5")
    assert np.isnat(H5File(path05).train_timestamps()).all()


def test_duplicate_file_warns_and_keeps_first(example_runs, tmp_path):
    from damnit_nb import DamnitNbWarning

    dest = tmp_path / "run"
    shutil.copytree(example_runs("uneven-1.0"), dest)
    shutil.copy(dest / "RAW-R0001-DA01-S00000.h5", dest / "RAW-R0001-DA01-S00000-copy.h5")
    run = RunDirectory(dest)
    clean = RunDirectory(example_runs("uneven-1.0"))
    key = ("SA1_XTD2_XGM/DOOCS/MAIN", "beamPosition.ixPos")
    with pytest.warns(DamnitNbWarning, match="several files"):
        kd = run[key]
        arr = kd.xarray()
    assert arr.identical(clean[key].xarray())
    np.testing.assert_array_equal(kd.data_counts(labelled=False),
                                  clean[key].data_counts(labelled=False))
