"""Broken files and runs still being written: what is consistent is read, the rest is reported
by an error naming the file; nothing crashes or hangs."""

import os
import shutil
import subprocess
import sys
import textwrap
import time
import warnings

import h5py
import numpy as np
import pytest

from damnit_nb import DamnitNbWarning
from damnit_nb.data import (
    FileFormatError,
    H5File,
    IncompleteFileError,
    PropertyNameError,
    RunDirectory,
    by_id,
)
from damnit_nb.data.cache import CatalogueCache
from damnit_nb.data.files import default_cache as default_handles

from growing_writer import CAMERA, MOTOR, Writer, camera_value, motor_value

XGM = "SA1_XTD2_XGM/DOOCS/MAIN"
CAM = "SPB_IRU_CAM/CAM/SIDEMIC:daqOutput"
CAM_FILE = "RAW-R0001-DA02-S00000.h5"
#: Generous limit for anything that runs in a subprocess: it must never be reached.
TIMEOUT = 120


def _age(path, seconds=600):
    t = time.time() - seconds
    os.utime(path, (t, t))


def _age_all(directory, seconds=600):
    for name in os.listdir(directory):
        _age(os.path.join(directory, name), seconds)


@pytest.fixture
def run_dir(example_runs, tmp_path):
    """A private copy of the uneven example run (DA01: XGM in two files; DA02: camera)."""
    dest = tmp_path / "r0001"
    shutil.copytree(example_runs("uneven-1.0"), dest)
    return dest


@pytest.fixture
def clean(example_runs):
    return RunDirectory(example_runs("uneven-1.0"))


# --- files that cannot be opened ------------------------------------------------------------


def _truncate(path):
    os.truncate(path, os.path.getsize(path) - 1000)


def _not_hdf5(path):
    path.write_text("# a text file that happens to end in .h5\n" * 20)


def _zero_bytes(path):
    path.write_bytes(b"")


def _no_metadata(path):
    with h5py.File(path, "r+") as f:
        del f["METADATA"]


BROKEN = {
    "truncated": (_truncate, IncompleteFileError, "truncated"),
    "not-hdf5": (_not_hdf5, FileFormatError, "cannot open as HDF5"),
    "zero-bytes": (_zero_bytes, IncompleteFileError, "empty file"),
    "no-metadata": (_no_metadata, FileFormatError, "no METADATA"),
}


@pytest.fixture(params=sorted(BROKEN))
def broken(request, run_dir):
    """(run directory, broken file, expected error class, words in its message)."""
    damage, error, words = BROKEN[request.param]
    path = run_dir / CAM_FILE
    damage(path)
    return run_dir, path, error, words


def test_broken_file_alone_raises_naming_it(broken):
    _, path, error, words = broken
    with pytest.raises(error, match=words) as info:
        H5File(path)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.path == str(path) and str(path) in str(err)
    assert "later" in str(err) or "move it out" in str(err)  # says what to do


def test_broken_file_on_error_modes(broken, clean):
    run_dir, path, error, words = broken
    _age_all(run_dir)  # an old broken file is reported...
    with pytest.warns(DamnitNbWarning, match=CAM_FILE):
        run = RunDirectory(run_dir, cache=False)
    _check_rest_is_read(run, clean)
    with pytest.raises(error, match=words) as info:
        RunDirectory(run_dir, on_error="raise", cache=False)
    assert info.value.path == str(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_rest_is_read(RunDirectory(run_dir, on_error="ignore", cache=False), clean)
        os.utime(path)  # ... a file just written to is taken as being written: skipped quietly
        _check_rest_is_read(RunDirectory(run_dir, cache=False), clean)


def _check_rest_is_read(run, clean):
    assert [os.path.basename(c.path) for c in run.files] == [
        "RAW-R0001-DA01-S00001.h5", "RAW-R0001-DA01-S00000.h5"
    ]
    assert CAM not in run.all_sources
    key = (XGM, "beamPosition.ixPos")
    assert run[key].xarray().identical(clean[key].xarray())


def test_broken_file_is_never_cached(broken, tmp_path, clean):
    run_dir, path, _, _ = broken
    _age_all(run_dir)
    cache = CatalogueCache(tmp_path / "cache")
    with pytest.warns(DamnitNbWarning):
        RunDirectory(run_dir, cache=cache)
    assert sorted(cache.load(run_dir)) == ["RAW-R0001-DA01-S00000.h5", "RAW-R0001-DA01-S00001.h5"]
    # Repaired (e.g. the copy finished): read, not hidden by the cache.
    shutil.copy(os.path.join(os.path.dirname(clean.files[0].path), CAM_FILE), path)
    _age(path, 300)
    run = RunDirectory(run_dir, cache=cache)
    assert run[CAM, "data.image.pixels"].xarray().identical(clean[CAM, "data.image.pixels"].xarray())
    assert CAM_FILE in cache.load(run_dir)


def test_cached_file_that_breaks_is_dropped_from_cache(run_dir, tmp_path):
    _age_all(run_dir)
    cache = CatalogueCache(tmp_path / "cache")
    RunDirectory(run_dir, cache=cache)
    assert CAM_FILE in cache.load(run_dir)
    default_handles.close()
    _truncate(run_dir / CAM_FILE)
    _age(run_dir / CAM_FILE, 300)
    with pytest.warns(DamnitNbWarning, match="truncated"):
        run = RunDirectory(run_dir, cache=cache)
    assert CAM not in run.all_sources
    assert CAM_FILE not in cache.load(run_dir)


# --- files that open, with INDEX and data disagreeing -----------------------------------------


def _shorten(f, path, n):
    """Keep only the first *n* rows of dataset *path* (attributes kept)."""
    ds = f[path]
    data, attrs = ds[:n], dict(ds.attrs)
    del f[path]
    new = f.create_dataset(path, data=data, maxshape=(None,) + data.shape[1:])
    new.attrs.update(attrs)


@pytest.mark.parametrize("source, key, filename, keep_rows, first_missing", [
    (CAM, "data.image.pixels", CAM_FILE, 20, 10061),  # the camera records every other train
    (XGM, "beamPosition.ixPos.value", "RAW-R0001-DA01-S00000.h5", 10, 10035),
])
def test_index_past_written_data(run_dir, clean, source, key, filename, keep_rows, first_missing):
    path = run_dir / filename
    dataset = f"{'CONTROL' if source == XGM else 'INSTRUMENT'}/{source}/{key.replace('.', '/')}"
    with h5py.File(path, "r+") as f:
        _shorten(f, dataset, keep_rows)
    run = RunDirectory(run_dir, cache=False)
    kd = run[source, key]
    assert kd.train_ids == clean[source, key].train_ids  # the index is read as it is
    reads = [kd.ndarray, kd.xarray, lambda: list(kd.trains()),
             lambda: kd.train_from_id(first_missing),
             lambda: list(run.select(source, key).trains())]
    reads.append(kd.series if kd.ndim == 1 else lambda: kd.ndarray(roi=np.s_[:1]))
    for read in reads:
        with pytest.raises(IncompleteFileError) as info:
            read()
        err = info.value
        assert isinstance(err, FileFormatError) and err.path == str(path)
        assert str(path) in str(err) and "later" in str(err)
        assert err.train_id == first_missing
    assert err.dataset == dataset
    # What is written can be read, as the message suggests
    sel = by_id[:first_missing]
    assert kd.select_trains(sel).xarray().identical(clean[source, key].select_trains(sel).xarray())
    assert run.select_trains(sel)[source, key].ndarray().shape[0] > 0
    # Other keys and sources are not affected
    other = (XGM, "beamPosition.iyPos") if source == XGM else (CAM, "data.image.flipX")
    assert run[other].xarray().identical(clean[other].xarray())
    np.testing.assert_array_equal(kd.data_counts(labelled=False),
                                  clean[source, key].data_counts(labelled=False))


def test_dataset_longer_than_index(run_dir, clean):
    import extra_data

    path = run_dir / CAM_FILE
    with h5py.File(path, "r+") as f:  # rows written whose index is not (yet) written
        for name in ("image/pixels", "trainId"):
            ds = f[f"INSTRUMENT/{CAM}/data/{name}"]
            n = ds.shape[0]
            data = np.concatenate([ds[()], ds[:5]])
            del f[ds.name]
            f[f"INSTRUMENT/{CAM}/data/{name}"] = data
            assert f[f"INSTRUMENT/{CAM}/data/{name}"].shape[0] == n + 5
    run = RunDirectory(run_dir, cache=False)
    theirs = extra_data.RunDirectory(str(run_dir))
    for key in ("data.image.pixels", "data.trainId"):
        assert run[CAM, key].xarray().identical(clean[CAM, key].xarray())
        assert run[CAM, key].xarray().identical(theirs[CAM, key].xarray())


def test_train_ids_shorter_than_index(run_dir, clean):
    path = run_dir / CAM_FILE
    with h5py.File(path, "r+") as f:  # first/count written, train IDs not yet
        tids = f["INDEX/trainId"][()]
        tids[50:] = 0
        f["INDEX/trainId"][...] = tids
    run = RunDirectory(run_dir, cache=False)
    assert run.train_ids == list(range(10000, 10070))
    sel = by_id[:10070]
    for key in ("data.image.pixels", "data.image.flipX"):
        assert run[CAM, key].xarray().identical(clean[CAM, key].select_trains(sel).xarray())
    np.testing.assert_array_equal(run[CAM].data_counts(labelled=False),
                                  clean[CAM].select_trains(sel).data_counts(labelled=False))


def test_index_shorter_than_train_ids(run_dir, clean):
    path = run_dir / CAM_FILE
    with h5py.File(path, "r+") as f:  # train IDs written, this source's index not yet
        for name in ("first", "count"):
            _shorten(f, f"INDEX/{CAM}/data/{name}", 40)
    run = RunDirectory(run_dir, cache=False)
    assert run.train_ids == clean.train_ids == list(range(10000, 10080))
    counts = run[CAM].data_counts(labelled=False)
    assert (counts[60:] == 0).all()
    np.testing.assert_array_equal(counts[:60], clean[CAM].data_counts(labelled=False)[:60])
    key = (CAM, "data.image.pixels")
    assert run[key].xarray().identical(clean[key].select_trains(by_id[:10060]).xarray())


def test_dataset_missing_from_one_file(run_dir):
    path = run_dir / "RAW-R0001-DA01-S00000.h5"  # the second file of the XGM, in train order
    with h5py.File(path, "r+") as f:
        del f[f"CONTROL/{XGM}/beamPosition/ixPos"]
    run = RunDirectory(run_dir, cache=False)
    kd = run[XGM, "beamPosition.ixPos"]
    with pytest.raises(FileFormatError, match="no dataset") as info:
        kd.ndarray()
    assert info.value.path == str(path)
    assert kd.select_trains(by_id[:10025]).ndarray().shape == (25,)


def _append_rows(f, path, n):
    ds = f[path]
    data = np.concatenate([ds[()], ds[:n]])
    del f[path]
    f[path] = data


CAM_PIXELS = f"INSTRUMENT/{CAM}/data/image/pixels"
INCONSISTENT = {
    "index-past-data": lambda f: _shorten(f, CAM_PIXELS, 20),
    "data-past-index": lambda f: _append_rows(f, CAM_PIXELS, 5),
    "train-ids-short": lambda f: f["INDEX/trainId"].__setitem__(np.s_[50:], 0),
    "index-short": lambda f: [_shorten(f, f"INDEX/{CAM}/data/{n}", 40) for n in ("first", "count")],
    "dataset-missing": lambda f: f.__delitem__(CAM_PIXELS),
}


@pytest.mark.parametrize("damage", sorted(INCONSISTENT))
@pytest.mark.parametrize("on_error", ["warn", "raise", "ignore"])
def test_inconsistent_file_opens_in_every_mode(run_dir, clean, damage, on_error):
    """A file that opens but whose INDEX and data disagree: opening is no problem in any
    mode; reading gives consistent data or an error naming the file."""
    path = run_dir / CAM_FILE
    with h5py.File(path, "r+") as f:
        INCONSISTENT[damage](f)
    _age_all(run_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = RunDirectory(run_dir, on_error=on_error, cache=False)
    assert len(run.files) == 3
    xgm = (XGM, "beamPosition.ixPos")
    assert run[xgm].xarray().identical(clean[xgm].xarray())
    try:
        kd = run[CAM, "data.image.pixels"]
        arr = kd.xarray()
    except PropertyNameError:  # the source's only file lacks the key
        assert damage == "dataset-missing"
    except FileFormatError as e:
        assert e.path == str(path) and str(path) in str(e)
        assert damage == "index-past-data"
    else:
        expected = clean[CAM, "data.image.pixels"].xarray()
        assert arr.identical(expected.sel(trainId=arr.trainId.values))
        assert len(arr) == kd.data_counts(labelled=False).sum()


# --- reads overlapping a write ------------------------------------------------------------------


@pytest.fixture
def small_file(tmp_path):
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
    return path


def _touch_during(path, times, fail=False):
    """A read function that changes the file (as a writer would) during its first *times*
    calls, and optionally fails then."""
    calls = []

    def read(f):
        calls.append(1)
        if len(calls) <= times:
            with open(path, "ab") as g:
                g.write(b"\0")  # bytes after HDF5's end of file are harmless
            if fail:
                raise OSError("Can't synchronously read data (addr overflow)")
        return f["x"][()]

    return read, calls


@pytest.mark.parametrize("fail", [False, True], ids=["changed", "failed"])
def test_read_overlapping_a_write_is_repeated(small_file, fail):
    from damnit_nb.data.files import read_unchanged

    read, calls = _touch_during(small_file, 1, fail=fail)
    assert read_unchanged(small_file, read).tolist() == [0, 1, 2]
    assert len(calls) == 2


def test_read_of_file_changing_all_the_time_gives_up(small_file):
    from damnit_nb.data.files import READ_ATTEMPTS, read_unchanged

    read, calls = _touch_during(small_file, 100)
    with pytest.raises(IncompleteFileError, match="changed while it was read") as info:
        read_unchanged(small_file, read)
    assert info.value.path == str(small_file) and len(calls) == READ_ATTEMPTS


def test_read_of_settled_file_is_not_checked(small_file):
    from damnit_nb.data.files import read_unchanged

    _age(small_file)
    read, calls = _touch_during(small_file, 1)
    read_unchanged(small_file, read)
    assert len(calls) == 1  # no stat after reading files not modified for a while
    with pytest.raises(KeyError):  # errors of reads the file did not change under: as they are
        read_unchanged(small_file, lambda f: f["nothing"])


# --- a file being written by another process -------------------------------------------------


@pytest.mark.parametrize("locking", ["false", "true"])
def test_file_being_written(tmp_path, locking):
    run_dir = tmp_path / "r0001"
    run_dir.mkdir()
    path = run_dir / "RAW-R0001-DA01-S00000.h5"
    cache = CatalogueCache(tmp_path / "cache")

    def check(run, n):
        tids = np.arange(10000, 10000 + n, dtype=np.uint64)
        assert run.train_ids == tids.tolist()
        np.testing.assert_array_equal(run[MOTOR, "actualPosition"].ndarray(), motor_value(tids))
        np.testing.assert_array_equal(run[CAMERA, "data.image.pixels"].ndarray(),
                                      camera_value(tids))

    with Writer(path, locking, timeout=TIMEOUT) as w:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a file being written is no reason to warn
            check(RunDirectory(run_dir, cache=cache), 0)
            w.send("append 5")
            check(RunDirectory(run_dir, cache=cache), 5)
            w.send("data 3")  # data ahead of the index: what the index says is read
            check(RunDirectory(run_dir, cache=cache), 5)
            w.send("index 3")
            check(RunDirectory(run_dir, cache=cache), 8)
            w.send("index 2")  # index ahead of the data
            run = RunDirectory(run_dir, cache=cache)
            with pytest.raises(IncompleteFileError) as info:
                run[CAMERA, "data.image.pixels"].ndarray()
            assert info.value.path == str(path) and info.value.train_id == 10008
            check(run.select_trains(by_id[:10008]), 8)
            w.send("data 2")
            check(RunDirectory(run_dir, cache=cache), 10)
            w.send("quiet 4")  # not flushed: the last flushed state is read, or an error
            for on_error in ("warn", "ignore", "raise"):
                try:
                    run = RunDirectory(run_dir, cache=cache, on_error=on_error)
                except FileFormatError as e:
                    assert e.path == str(path)
                else:
                    assert len(run.train_ids) in (10, 14)
            w.send("append 1")
            _age(path)  # even when not modified for a while, an open file's state may change
            check(RunDirectory(run_dir, cache=cache), 15)
            if locking == "true":
                assert cache.load(run_dir) == {}  # a file locked by its writer is not cached
            w.send("append 1")  # changed since: never the cached state
            check(RunDirectory(run_dir, cache=cache), 16)
    _age(path)
    check(RunDirectory(run_dir, cache=cache), 16)
    assert list(cache.load(run_dir)) == [path.name]


READER = """
import sys, warnings
import numpy as np
sys.path.insert(0, {tests!r})
from growing_writer import CAMERA, MOTOR, camera_value, motor_value
from damnit_nb.data import RunDirectory, FileFormatError, NoDataError

warnings.simplefilter("ignore")
ok = errors = 0
for i in range(20):
    try:
        run = RunDirectory({run_dir!r}, cache=False, on_error={on_error!r})
        for src, key, expected in ((MOTOR, "actualPosition", motor_value),
                                   (CAMERA, "data.image.pixels", camera_value)):
            kd = run[src, key]
            data = kd.ndarray()
            tids = np.unique(kd.train_id_coordinates())
            assert np.array_equal(data, expected(tids)), (src, i)
        ok += 1
    except (FileFormatError, FileNotFoundError, NoDataError) as e:
        assert {run_dir!r} in str(e), e
        errors += 1
print(ok, errors)
"""


@pytest.mark.parametrize("locking, on_error", [("false", "warn"), ("true", "raise")])
def test_reading_while_written_never_crashes_or_hangs(tmp_path, locking, on_error):
    run_dir = tmp_path / "r0001"
    run_dir.mkdir()
    path = run_dir / "RAW-R0001-DA01-S00000.h5"
    tests = os.path.dirname(__file__)
    script = READER.format(tests=tests, run_dir=str(run_dir), on_error=on_error)
    with Writer(path, locking, timeout=TIMEOUT) as w:
        w.send("append 1")
        written = 1
        reader = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)],
                                  cwd=os.path.dirname(os.path.dirname(tests)),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            for _ in range(2000):  # the writer keeps writing while the reader reads
                if reader.poll() is not None:
                    break
                w.send("append 3")
                written += 3
            out, err = reader.communicate(timeout=TIMEOUT)
        finally:
            if reader.poll() is None:
                reader.kill()
                reader.communicate()
    assert reader.returncode == 0, err
    ok, errors = map(int, out.split())
    assert ok + errors == 20  # each read gave the right data or an error naming the file
    tids = np.arange(10000, 10000 + written, dtype=np.uint64)
    run = RunDirectory(run_dir, cache=False)  # complete now
    np.testing.assert_array_equal(run[MOTOR, "actualPosition"].ndarray(), motor_value(tids))
    np.testing.assert_array_equal(run[CAMERA, "data.image.pixels"].ndarray(), camera_value(tids))
