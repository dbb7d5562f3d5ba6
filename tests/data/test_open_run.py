"""open_run: finding proposals and runs; raw, proc and both."""

import os
import shutil

import numpy as np
import pytest

from damnit_nb.data import NoDataError, open_run
from damnit_nb.data.run import DATA_ROOT_ENV


@pytest.fixture(scope="module")
def facility(example_runs, tmp_path_factory):
    """A facility tree: <root>/SPB/202401/p700000/{raw,proc}/r0238 (+ raw/r0001)."""
    root = tmp_path_factory.mktemp("exp")
    prop = root / "SPB" / "202401" / "p700000"
    shutil.copytree(example_runs("spb-1.1"), prop / "raw" / "r0238")
    shutil.copytree(example_runs("uneven-1.0"), prop / "raw" / "r0001")
    # "Calibrated" data: a copy of the camera file with its pixels changed.
    proc = prop / "proc" / "r0238"
    proc.mkdir(parents=True)
    import h5py

    for name in os.listdir(prop / "raw" / "r0238"):
        if "DA01" in name:
            shutil.copy(prop / "raw" / "r0238" / name, proc / name.replace("RAW", "CORR"))
    for name in os.listdir(proc):
        with h5py.File(proc / name, "r+") as f:
            f["INSTRUMENT/SPB_IRU_CAM/CAM/SIDEMIC:daqOutput/data/image/pixels"][...] = 7
    return root, prop


def test_open_by_number(facility, monkeypatch):
    root, prop = facility
    monkeypatch.setenv(DATA_ROOT_ENV, str(root))
    run = open_run(700000, 238)
    assert os.path.dirname(run.files[0].path) == str(prop / "raw" / "r0238")
    assert len(run.train_ids) == 64
    run1 = open_run("p700000", "1")
    assert len(run1.files) == 3


def test_open_by_proposal_dir(facility, monkeypatch):
    root, prop = facility
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    run = open_run(str(prop), 1)
    assert "SA1_XTD2_XGM/DOOCS/MAIN" in run
    run = open_run(prop, 1)  # a Path works too
    assert "SA1_XTD2_XGM/DOOCS/MAIN" in run


def test_proc_and_all(facility, monkeypatch):
    root, prop = facility
    monkeypatch.setenv(DATA_ROOT_ENV, str(root))
    key = ("SPB_IRU_CAM/CAM/SIDEMIC:daqOutput", "data.image.pixels")
    raw = open_run(700000, 238, data="raw")
    proc = open_run(700000, 238, data="proc")
    both = open_run(700000, 238, data="all")
    assert not (raw[key].ndarray() == 7).all()
    assert (proc[key].ndarray() == 7).all()
    assert (both[key].ndarray() == 7).all()  # proc serves sources it has
    assert both.all_sources == raw.all_sources  # raw serves the rest
    assert any("AGIPD" in s for s in both.all_sources)
    np.testing.assert_array_equal(
        both["SPB_DET_AGIPD1M-1/DET/0CH0:xtdf", "image.cellId"].ndarray(),
        raw["SPB_DET_AGIPD1M-1/DET/0CH0:xtdf", "image.cellId"].ndarray(),
    )
    # A run without proc data opens as raw with data="all"
    assert open_run(700000, 1, data="all").all_sources == open_run(700000, 1).all_sources


def test_errors(facility, monkeypatch, tmp_path):
    root, prop = facility
    monkeypatch.setenv(DATA_ROOT_ENV, str(root))
    with pytest.raises(NoDataError, match=DATA_ROOT_ENV):
        open_run(123456, 1)
    with pytest.raises(NoDataError, match="r0099"):
        open_run(700000, 99)
    with pytest.raises(NoDataError, match="does not exist"):
        open_run(700000, 1, data="proc")
    with pytest.raises(ValueError, match="raw"):
        open_run(700000, 1, data="calibrated")
    with pytest.raises(ValueError, match="proposal"):
        open_run("not a proposal", 1)
    with pytest.raises(NoDataError):
        open_run(str(tmp_path / "nowhere"), 1)
