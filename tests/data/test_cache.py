"""The persistent catalogue cache: used when current, ignored when stale or broken."""

import os
import shutil
import time

import h5py
import numpy as np
import pytest

import damnit_nb.data.run as run_module
from damnit_nb.data import RunDirectory
from damnit_nb.data.cache import CatalogueCache, flush
from damnit_nb.data.files import default_cache as default_handles


def _age(directory, seconds=60):
    t = time.time() - seconds
    for name in os.listdir(directory):
        os.utime(os.path.join(directory, name), (t, t))


@pytest.fixture
def cache(tmp_path):
    return CatalogueCache(tmp_path / "cache")


def _no_reading(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("a file was read although the cache is current")

    monkeypatch.setattr(run_module, "_read_files", fail)


def _same(a, b):
    assert a.train_ids == b.train_ids
    assert a.all_sources == b.all_sources
    assert a.control_sources == b.control_sources
    assert a.run_metadata() == b.run_metadata()
    for src in ("SA1_XTD2_XGM/DOOCS/MAIN", "SPB_IRU_CAM/CAM/SIDEMIC:daqOutput"):
        for key in sorted(a[src].keys())[:4]:
            assert a[src, key].xarray().identical(b[src, key].xarray())
        np.testing.assert_array_equal(a[src].data_counts(), b[src].data_counts())


def test_second_open_uses_cache(settled_run, cache, monkeypatch):
    first = RunDirectory(settled_run, cache=cache)
    flush()  # the cache file is written in the background
    assert os.path.isfile(cache.path_for(settled_run))
    _no_reading(monkeypatch)
    second = RunDirectory(settled_run, cache=cache)
    _same(first, second)


def test_cached_equals_uncached(settled_run, cache):
    RunDirectory(settled_run, cache=cache)
    cached = RunDirectory(settled_run, cache=cache)
    _same(cached, RunDirectory(settled_run, cache=False))
    assert cached.train_timestamps().tolist() == RunDirectory(settled_run, cache=False).train_timestamps().tolist()


def test_changed_file_is_read_again(settled_run, cache):
    RunDirectory(settled_run, cache=cache)
    path = settled_run / "RAW-R0001-DA02-S00000.h5"
    default_handles.close()  # HDF5 won't open a file for writing that is open for reading
    with h5py.File(path, "r+") as f:
        f["INDEX/trainId"][0] = 9000  # looks like a different file now
    _age(settled_run, 30)
    run = RunDirectory(settled_run, cache=cache)
    assert run.train_ids[0] == 9000


def test_new_and_removed_files(settled_run, cache, example_runs):
    RunDirectory(settled_run, cache=cache)
    os.unlink(settled_run / "RAW-R0001-DA02-S00000.h5")
    run = RunDirectory(settled_run, cache=cache)
    assert "SPB_IRU_CAM/CAM/SIDEMIC:daqOutput" not in run
    shutil.copy(os.path.join(example_runs("uneven-1.0"), "RAW-R0001-DA02-S00000.h5"), settled_run)
    run = RunDirectory(settled_run, cache=cache)
    assert "SPB_IRU_CAM/CAM/SIDEMIC:daqOutput" in run


def test_fresh_files_not_stored(example_runs, tmp_path, cache):
    dest = tmp_path / "live"
    shutil.copytree(example_runs("uneven-1.0"), dest)
    for name in os.listdir(dest):
        os.utime(dest / name)  # written just now
    RunDirectory(dest, cache=cache)
    assert cache.load(dest) == {}


def test_broken_cache_ignored(settled_run, cache):
    RunDirectory(settled_run, cache=cache)
    flush()
    with open(cache.path_for(settled_run), "r+b") as f:
        f.seek(20)
        f.write(b"garbage garbage")
    assert cache.load(settled_run) == {}
    _same(RunDirectory(settled_run, cache=cache), RunDirectory(settled_run, cache=False))
    assert len(cache.load(settled_run)) == 3  # rewritten


def test_unwritable_cache_dir(settled_run, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    cache = CatalogueCache(blocker)
    run = RunDirectory(settled_run, cache=cache)
    assert len(run.files) == 3


def test_include_filter_keeps_other_entries(settled_run, cache):
    RunDirectory(settled_run, include="*DA01*", cache=cache)
    assert set(cache.load(settled_run)) == {"RAW-R0001-DA01-S00000.h5", "RAW-R0001-DA01-S00001.h5"}
    RunDirectory(settled_run, include="*DA02*", cache=cache)
    assert len(cache.load(settled_run)) == 3


def test_clear(settled_run, cache):
    RunDirectory(settled_run, cache=cache)
    flush()
    cache.clear(settled_run)
    assert not os.path.exists(cache.path_for(settled_run))


def _loaded_parts(cat):
    """Everything a catalogue holds, loaded or not (to_dict() without loading anything)."""
    d = cat.to_dict()
    d["first_train"] = cat.first_train
    return d


@pytest.mark.parametrize("name", ["fxe-0.5", "spb-1.1", "reduced-spb-1.0", "modern-spb-proc-1.2",
                                  "jungfrau-1.0", "uneven-1.0", "uneven-0.5"])
def test_stored_catalogues_come_back_as_they_were(example_runs, tmp_path, name, cache):
    run_dir = tmp_path / name
    shutil.copytree(example_runs(name), run_dir)
    _age(run_dir)
    cats = RunDirectory(run_dir, cache=False, on_error="ignore").files
    for i, c in enumerate(cats):  # some parts loaded in some files, not in others
        if i % 2 == 0:
            c.flag, c.timestamps
            for src in list(c.groups)[::2]:
                c.index[src]
    expected = {os.path.basename(c.path): _loaded_parts(c) for c in cats}
    assert cache.store(run_dir, cats)
    loaded = CatalogueCache(cache._directory).load(run_dir)  # a fresh cache: read from disk
    assert {n: _loaded_parts(c) for n, c in loaded.items()} == expected
