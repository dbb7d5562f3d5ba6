"""Errors say what went wrong and where to look."""

import os
import shutil
import time
import warnings

import h5py
import numpy as np
import pytest

from damnit_nb import DamnitNbWarning
from damnit_nb.data import (
    FileFormatError,
    H5File,
    NoDataError,
    PropertyNameError,
    RunDirectory,
    SourceNameError,
)


@pytest.fixture(scope="module")
def run(example_runs):
    return RunDirectory(example_runs("uneven-1.0"))


def test_unknown_source(run):
    with pytest.raises(SourceNameError) as info:
        run["SA1_XTD2_XGM/DOOCS/MAINN"]
    err = info.value
    assert isinstance(err, KeyError)
    assert err.source == "SA1_XTD2_XGM/DOOCS/MAINN"
    msg = str(err)
    assert "run.all_sources" in msg
    assert "'SA1_XTD2_XGM/DOOCS/MAIN'" in msg  # a close match


def test_unknown_source_with_key(run):
    with pytest.raises(SourceNameError):
        run["NOPE", "x"]
    assert ("NOPE", "x") not in run
    assert "NOPE" not in run


def test_unknown_key(run):
    src = "SA1_XTD2_XGM/DOOCS/MAIN"
    with pytest.raises(PropertyNameError) as info:
        run[src, "beamPosition.ixPoss"]
    err = info.value
    assert isinstance(err, KeyError)
    assert err.key == "beamPosition.ixPoss" and err.source == src
    assert "'beamPosition.ixPos'" in str(err)
    assert "keys()" in str(err)
    with pytest.raises(PropertyNameError):
        run[src]["nothing.here"]
    with pytest.raises(PropertyNameError):
        run[src].run_value("nothing.here")


def test_control_key_spellings(run):
    src = "SA1_XTD2_XGM/DOOCS/MAIN"
    assert (src, "beamPosition.ixPos") in run
    assert (src, "beamPosition.ixPos.value") in run
    assert (src, "beamPosition.ixPos.timestamp") in run
    assert (src, "beamPosition") not in run
    assert run[src, "beamPosition.ixPos"].key == "beamPosition.ixPos.value"
    np.testing.assert_array_equal(
        run[src, "beamPosition.ixPos"].ndarray(), run[src, "beamPosition.ixPos.value"].ndarray()
    )
    assert "beamPosition.ixPos" in run[src]


def test_bad_getitem_type(run):
    with pytest.raises(TypeError, match="source name"):
        run[3]


def test_series_of_2d_data(run):
    with pytest.raises(TypeError, match="xarray"):
        run["SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD"].series()


def test_not_hdf5(tmp_path):
    path = tmp_path / "RAW-R0001-DA01-S00000.h5"
    path.write_text("this is not HDF5")
    with pytest.raises(FileFormatError) as info:
        H5File(path)
    assert isinstance(info.value, ValueError)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)


def test_hdf5_without_metadata(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(FileFormatError, match="METADATA") as info:
        H5File(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        H5File(tmp_path / "nothing.h5")


def test_empty_directory(tmp_path):
    with pytest.raises(NoDataError) as info:
        RunDirectory(tmp_path)
    assert isinstance(info.value, FileNotFoundError)
    assert str(tmp_path) in str(info.value)


def test_missing_directory(tmp_path):
    with pytest.raises(NoDataError, match="does not exist"):
        RunDirectory(tmp_path / "r0001")


def test_broken_file_in_run(example_runs, tmp_path):
    dest = tmp_path / "run"
    shutil.copytree(example_runs("uneven-1.0"), dest)
    broken = dest / "RAW-R0001-DA03-S00000.h5"
    broken.write_bytes(b"\0" * 100)
    # Just written: probably still being written, so skipped quietly
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(RunDirectory(dest).files) == 3
    old = time.time() - 600
    os.utime(broken, (old, old))
    with pytest.warns(DamnitNbWarning, match="DA03"):
        run = RunDirectory(dest)
    assert len(run.files) == 3
    with pytest.raises(FileFormatError, match="DA03"):
        RunDirectory(dest, on_error="raise")
    assert len(RunDirectory(dest, on_error="ignore").files) == 3
    with pytest.raises(ValueError, match="on_error"):
        RunDirectory(dest, on_error="sometimes")


def test_only_broken_files(tmp_path):
    (tmp_path / "RAW-R0001-DA01-S00000.h5").write_bytes(b"nope")
    with pytest.raises(FileFormatError):
        RunDirectory(tmp_path, on_error="ignore")


def test_missing_index_group_is_format_error(example_runs, tmp_path):
    src = os.path.join(example_runs("uneven-1.0"), "RAW-R0001-DA02-S00000.h5")
    path = tmp_path / "RAW-R0001-DA02-S00000.h5"
    shutil.copy(src, path)
    with h5py.File(path, "r+") as f:
        del f["INDEX/SPB_IRU_CAM/CAM/SIDEMIC:daqOutput/data"]
    run = H5File(path)  # opening reads no index: the rest of the file stays readable
    assert run.train_ids
    with pytest.raises(FileFormatError, match="SIDEMIC") as info:
        run["SPB_IRU_CAM/CAM/SIDEMIC:daqOutput", "data.image.pixels"].ndarray()
    assert info.value.path == str(path)


def test_index_beyond_data_is_format_error(example_runs, tmp_path):
    src = os.path.join(example_runs("uneven-1.0"), "RAW-R0001-DA01-S00000.h5")
    path = tmp_path / "RAW-R0001-DA01-S00000.h5"
    shutil.copy(src, path)
    with h5py.File(path, "r+") as f:
        f["INDEX/SA1_XTD2_XGM/DOOCS/MAIN/first"][-1] = 10_000
    run = H5File(path)
    with pytest.raises(FileFormatError, match="INDEX locates") as info:
        run["SA1_XTD2_XGM/DOOCS/MAIN", "beamPosition.ixPos"].ndarray()
    assert info.value.path == str(path)
