"""Catalogues read INDEX arrays, flags and timestamps only when needed, and cache them."""

import os
import pickle
import time

import h5py
import numpy as np
import pytest

from damnit_nb.data import RunDirectory, read_catalogue
from damnit_nb.data import catalogue as catalogue_module
from damnit_nb.data.catalogue import NOT_LOADED, FileCatalogue
from damnit_nb.data.cache import CatalogueCache
from damnit_nb.data.files import default_cache as default_handles

XGM = "SA1_XTD2_XGM/DOOCS/MAIN"
CAM = "SPB_IRU_CAM/CAM/SIDEMIC:daqOutput"


@pytest.fixture
def cache(tmp_path):
    return CatalogueCache(tmp_path / "cache")


def _count_loads(monkeypatch):
    """Record every lazy read from a file (what = 'flag', 'timestamps', a source...)."""
    loads = []
    real = catalogue_module.FileCatalogue._load

    def spy(self, what):
        loads.append((os.path.basename(self.path), what))
        return real(self, what)

    monkeypatch.setattr(catalogue_module.FileCatalogue, "_load", spy)
    return loads


def test_opening_reads_no_index(settled_run, monkeypatch):
    loads = _count_loads(monkeypatch)
    run = RunDirectory(settled_run, cache=False)
    assert run.train_ids  # train IDs and sources are known
    assert XGM in run.all_sources and CAM in run.all_sources
    assert loads == []
    assert all(c.loaded_index() == {} for c in run.files)


def test_reading_a_key_loads_only_its_source(settled_run, monkeypatch):
    loads = _count_loads(monkeypatch)
    run = RunDirectory(settled_run, cache=False)
    run[XGM, "beamPosition.ixPos"].ndarray()
    assert sorted(loads) == [("RAW-R0001-DA01-S00000.h5", XGM), ("RAW-R0001-DA01-S00001.h5", XGM)]
    cam_file = next(c for c in run.files if CAM in c.all_sources)
    assert cam_file.loaded_index() == {}


def test_lazy_values_equal_eager_reading(settled_run):
    path = str(settled_run / "RAW-R0001-DA02-S00000.h5")
    cat = read_catalogue(path)
    with h5py.File(path, "r") as f:
        n = len(cat.train_ids)
        for group in ("data",):
            grp = f[f"INDEX/{CAM}/{group}"]
            first, count = cat.index_for(CAM, group)
            np.testing.assert_array_equal(first, grp["first"][:n])
            np.testing.assert_array_equal(count, grp["count"][:n])
        np.testing.assert_array_equal(cat.flag, f["INDEX/flag"][:n].astype(bool))
        np.testing.assert_array_equal(cat.timestamps, f["INDEX/timestamp"][:n])
        assert cat.format_version == f["METADATA/dataFormatVersion"][0].decode()


def test_what_was_read_is_cached_for_the_next_open(settled_run, cache, monkeypatch):
    run = RunDirectory(settled_run, cache=cache)
    expected = run[XGM].data_counts()
    timestamps = run.train_timestamps()
    # The next open finds the XGM index and the timestamps in the cache: no file is read.
    loads = _count_loads(monkeypatch)
    again = RunDirectory(settled_run, cache=cache)
    default_handles.close()
    assert again[XGM].data_counts().equals(expected)
    np.testing.assert_array_equal(again.train_timestamps(), timestamps)
    assert loads == []
    # Another source is read from its file, and then cached as well.
    again[CAM].data_counts()
    assert [w for _, w in loads] == [CAM]
    loads.clear()
    RunDirectory(settled_run, cache=cache)[CAM].data_counts()
    assert loads == []


def test_two_collections_add_to_one_cache(settled_run, cache, monkeypatch):
    a = RunDirectory(settled_run, cache=cache)
    b = RunDirectory(settled_run, cache=cache)
    a[XGM].data_counts()
    b[CAM].data_counts()  # b's catalogues never saw the XGM index: both are kept
    loads = _count_loads(monkeypatch)
    c = RunDirectory(settled_run, cache=cache)
    c[XGM].data_counts()
    c[CAM].data_counts()
    assert loads == []


def test_suspect_train_flags_are_read_and_cached(settled_run, cache, monkeypatch):
    path = settled_run / "RAW-R0001-DA02-S00000.h5"
    with h5py.File(path, "r+") as f:
        f["INDEX/flag"][55] = 0  # a train only this file has
        tid = int(f["INDEX/trainId"][55])
    t = time.time() - 60
    os.utime(path, (t, t))
    assert tid not in RunDirectory(settled_run, cache=cache, inc_suspect_trains=False).train_ids
    loads = _count_loads(monkeypatch)
    valid = RunDirectory(settled_run, cache=cache, inc_suspect_trains=False)
    assert tid not in valid.train_ids
    assert tid in RunDirectory(settled_run, cache=cache).train_ids
    assert loads == []


def test_growing_file_index_is_cut_to_the_catalogue(settled_run):
    path = str(settled_run / "RAW-R0001-DA01-S00000.h5")
    cat = read_catalogue(path)
    n = len(cat.train_ids)
    with h5py.File(path, "r+") as f:
        for name in ("INDEX/trainId", f"INDEX/{XGM}/first", f"INDEX/{XGM}/count"):
            old = f[name][()]
            del f[name]
            f[name] = np.concatenate([old, old[-1:] + 1])  # one more train written
    first, count = cat.index_for(XGM)
    assert len(first) == len(count) == n


def test_pickle_keeps_what_was_loaded(settled_run, cache):
    RunDirectory(settled_run, cache=cache)[XGM].data_counts()
    run = RunDirectory(settled_run, cache=cache)
    cat = next(c for c in run.files if XGM in c.all_sources)
    copy = pickle.loads(pickle.dumps(cat))
    assert XGM in copy.loaded_index()
    np.testing.assert_array_equal(copy.index_for(XGM)[1], cat.index_for(XGM)[1])


def test_missing_index_is_reported_when_read(settled_run):
    path = settled_run / "RAW-R0001-DA02-S00000.h5"
    with h5py.File(path, "r+") as f:
        del f[f"INDEX/{CAM}/data/count"]
    run = RunDirectory(settled_run, cache=False)
    run[XGM, "beamPosition.ixPos"].ndarray()  # other sources are unaffected
    with pytest.raises(Exception) as info:
        run[CAM].data_counts()
    assert type(info.value).__name__ == "FileFormatError" and str(path) in str(info.value)


def test_state_rebuilds_the_catalogue_without_reading(settled_run, monkeypatch):
    path = str(settled_run / "RAW-R0001-DA01-S00000.h5")
    cat = read_catalogue(path)
    state = cat.state()
    assert state["flag"] is NOT_LOADED and state["timestamps"] is NOT_LOADED
    assert state["index"] == {}
    cat.flag, cat.timestamps, cat.index[XGM]
    loads = _count_loads(monkeypatch)
    copy = FileCatalogue(**cat.state())
    assert copy.to_dict() == cat.to_dict()
    assert copy.first_train == cat.first_train
    assert loads == []
    # What neither has read yet, the copy reads from the file like the original.
    other = next(s for s in cat.groups if s != XGM)
    assert copy.index[other].keys() == cat.index[other].keys()
    assert [w for _, w in loads] == [other, other]


def test_cache_bookkeeping_and_absorb(settled_run, monkeypatch, cache):
    path = str(settled_run / "RAW-R0001-DA02-S00000.h5")
    a, b = read_catalogue(path), read_catalogue(path)
    assert a.cache is None and not a.unsaved
    a.attach(cache)
    assert a.cache is cache
    b.flag, b.index[CAM]
    assert b.unsaved  # read since it was built
    b.mark_saved()
    assert not b.unsaved
    loads = _count_loads(monkeypatch)
    a.absorb(b)
    np.testing.assert_array_equal(a.flag, b.flag)
    assert a.loaded_index().keys() == {CAM}
    np.testing.assert_array_equal(a.index_for(CAM, "data")[1], b.index_for(CAM, "data")[1])
    assert loads == []
    assert a.state()["timestamps"] is NOT_LOADED  # b had not read them either
    assert not a.unsaved  # taken over, not read: nothing new for the cache
