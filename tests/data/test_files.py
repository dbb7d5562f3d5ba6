"""The open-file cache, and reading from several threads."""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from damnit_nb.data import RunDirectory
from damnit_nb.data.files import FileHandleCache, default_cache


def _paths(example_runs):
    d = example_runs("scs-1.0")
    return sorted(os.path.join(d, n) for n in os.listdir(d))


def test_limit_on_open_files(example_runs):
    paths = _paths(example_runs)[:6]
    cache = FileHandleCache(max_open=2)
    for p in paths:
        with cache.handle(p) as f:
            assert f.id.valid
        assert len(cache) <= 2
    assert paths[-1] in cache and paths[0] not in cache
    # A closed handle reopens transparently
    with cache.handle(paths[0]) as f:
        assert "INDEX" in f
    cache.close()
    assert len(cache) == 0


def test_handles_in_use_are_not_closed(example_runs):
    paths = _paths(example_runs)[:4]
    cache = FileHandleCache(max_open=1)
    with cache.handle(paths[0]) as held:
        for p in paths[1:]:
            with cache.handle(p):
                pass
        assert held.id.valid  # still usable although over the limit
        assert "METADATA" in held
    assert len(cache) <= 1


def test_reused_handle(example_runs):
    p = _paths(example_runs)[0]
    cache = FileHandleCache(max_open=4)
    with cache.handle(p) as f1:
        pass
    with cache.handle(p) as f2:
        assert f1 is f2


def test_concurrent_reads_agree(example_runs):
    run = RunDirectory(example_runs("scs-1.0"))
    sources = sorted(run.instrument_sources)
    expected = {s: run[s, "image.cellId"].ndarray() for s in sources}

    def read(src):
        return src, run[src, "image.cellId"].xarray()

    with ThreadPoolExecutor(4) as pool:
        for src, arr in pool.map(read, sources * 3):
            np.testing.assert_array_equal(arr.values, expected[src])
            assert arr.dims[0] == "trainId"


def test_changed_file_is_reopened(tmp_path):
    import h5py

    path = str(tmp_path / "f.h5")
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
    cache = FileHandleCache(max_open=4)
    with cache.handle(path) as f:
        assert f["x"].shape == (3,)
    cache.close()  # let the writer in (HDF5 allows no writer beside a reader in one process)
    with cache.handle(path) as f1:
        pass
    f1.close()  # simulate a handle closed elsewhere
    with cache.handle(path) as f2:
        assert f2.id.valid and f2 is not f1
    cache.close()
    with h5py.File(path, "a") as f:
        f["y"] = np.arange(5)
    with cache.handle(path) as f3:
        assert "y" in f3


def test_opens_file_being_written_without_locking(tmp_path):
    import h5py

    from damnit_nb.data.files import open_h5

    path = str(tmp_path / "growing.h5")
    writer = h5py.File(path, "w", locking=False)
    try:
        writer["x"] = np.arange(4)
        writer.flush()
        reader = open_h5(path)
        assert reader["x"].shape == (4,)
        reader.close()
    finally:
        writer.close()


def test_reopened_when_mtime_changes(tmp_path):
    import h5py

    path = str(tmp_path / "f.h5")
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
    cache = FileHandleCache(max_open=4)
    with cache.handle(path) as f1:
        pass
    with cache.handle(path) as f2:
        assert f2 is f1
    os.utime(path, ns=(0, 10**9))
    with cache.handle(path) as f3:
        assert f3 is not f1 and f3.id.valid


def test_forked_child_opens_its_own_handles(example_runs):
    import multiprocessing

    run = RunDirectory(example_runs("uneven-1.0"))
    key = ("SA1_XTD2_XGM/DOOCS/MAIN", "beamPosition.ixPos")
    expected = run[key].ndarray()  # the parent now holds open handles
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply(_read_in_child, (run, key))
    np.testing.assert_array_equal(got, expected)


def _read_in_child(run, key):
    return run[key].ndarray()


# --- releasing a collection's files ------------------------------------------------------

XGM = ("SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD")


def _open_paths(run):
    return [c.path for c in run.files if c.path in default_cache]


def test_close_releases_the_collections_files(example_runs):
    run = RunDirectory(example_runs("fxe-1.2"))
    before = run[XGM].ndarray()
    assert _open_paths(run)
    run.close()
    assert _open_paths(run) == []
    run.close()  # twice is fine
    np.testing.assert_array_equal(run[XGM].ndarray(), before)  # files reopen when read
    assert _open_paths(run)


def test_close_leaves_other_collections_files_open(example_runs):
    ours, other = RunDirectory(example_runs("fxe-1.2")), RunDirectory(example_runs("fxe-1.0"))
    ours[XGM].ndarray()
    expected = other[XGM].ndarray()
    still_open = _open_paths(other)
    ours.close()
    assert _open_paths(other) == still_open
    np.testing.assert_array_equal(other[XGM].ndarray(), expected)


def test_close_does_not_break_a_collection_on_the_same_files(example_runs):
    a, b = RunDirectory(example_runs("fxe-1.2")), RunDirectory(example_runs("fxe-1.2"))
    expected = b[XGM].xarray()
    a.select_trains(np.s_[:5]).close()  # a derived collection: the files of its sources
    assert b[XGM].xarray().identical(expected)


def test_with_block_closes_files(example_runs):
    with RunDirectory(example_runs("fxe-1.2")) as run:
        run[XGM].ndarray()
        assert _open_paths(run)
    assert _open_paths(run) == []


def test_close_waits_for_a_read_in_progress(example_runs):
    run = RunDirectory(example_runs("fxe-1.2"))
    path = run[XGM].files[0].path
    with default_cache.handle(path) as f:
        run.close()
        assert f.id.valid and "INDEX" in f  # the reader keeps its handle meanwhile
    assert path not in default_cache
