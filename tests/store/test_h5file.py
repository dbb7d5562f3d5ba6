"""The per-run HDF5 file: DAMNIT's layout, atomic replacement and merging."""

import os

import h5py
import numpy as np
import pytest
import xarray as xr

from damnit_nb.store import prepare_error, prepare_result
from damnit_nb.store.h5file import read_data, run_file_path, write_run_file


@pytest.fixture
def path(tmp_path):
    return run_file_path(tmp_path, 1234, 7)


def test_path(tmp_path):
    assert run_file_path(tmp_path, 1234, 7) == tmp_path / "extracted_data" / "p1234_r7.h5"


def test_layout(path):
    da = xr.DataArray(np.arange(3.0), dims="x", coords={"x": [1, 2, 3]}, attrs={"units": "J"})
    write_run_file(path, [
        prepare_result("num", 1.5, units="mm"),
        prepare_result("line", np.arange(10.0), summary="max", bold=True, background=(1, 2, 3)),
        prepare_result("img", np.ones((4, 5))),
        prepare_result("text", "hello"),
        prepare_result("da", da),
        prepare_result("ds", xr.Dataset({"a": ("t", [1, 2])})),
        prepare_error("bad", KeyError("missing")),
    ])
    with h5py.File(path, "r") as f:
        assert set(f) == {".reduced", ".preview", ".errors", "num", "line", "img", "text",
                          "da", "ds"}
        assert set(f[".reduced"]) == {"num", "line", "img", "text", "da", "ds"}
        assert f["num/data"][()] == 1.5
        assert dict(f[".reduced/num"].attrs) == {"summary_method": "", "units": "mm"}
        line = f[".reduced/line"]
        assert line[()] == 9.0 and line.attrs["summary_method"] == "max"
        assert line.attrs["max_diff"] == 9.0 and line.attrs["bold"]
        np.testing.assert_array_equal(line.attrs["background"], [1, 2, 3])
        assert line.attrs["background"].dtype == np.uint8
        png = f[".reduced/img"]
        assert png.dtype == np.uint8 and png[:8].tobytes() == b"\x89PNG\r\n\x1a\n"
        assert f["text/data"][()].decode() == "hello"
        assert f[".reduced/da"].attrs["summary_type"] == "trendline"
        assert f["da"].attrs["_damnit_objtype"] == "dataarray"
        assert f["ds"].attrs["_damnit_objtype"] == "dataset"
        assert f[".errors/bad"].asstr()[()] == "'missing'"
        assert f[".errors/bad"].attrs["type"] == "KeyError"
    xr.testing.assert_identical(read_data(path, "da"), da)
    assert read_data(path, "text") == "hello"


def test_recompute_one_keeps_the_others(path):
    da = xr.DataArray(np.arange(6.0).reshape(2, 3), dims=("a", "b"),
                      coords={"a": [10, 20]}, name="img")
    write_run_file(path, [prepare_result("x", 1), prepare_result("da", da),
                          prepare_error("e", ValueError("no")), prepare_result("s", "keep")])
    write_run_file(path, [prepare_result("x", 2)])
    write_run_file(path, [prepare_result("e", 3.0)])  # an error replaced by a value
    with h5py.File(path, "r") as f:
        assert f["x/data"][()] == 2 and f[".reduced/x"][()] == 2
        assert "e" not in f[".errors"] and f["e/data"][()] == 3.0
        assert f["s/data"][()].decode() == "keep"
    xr.testing.assert_identical(read_data(path, "da"), da)
    write_run_file(path, [prepare_error("x", ValueError("now broken"))])
    with h5py.File(path, "r") as f:
        assert "x" not in f and "x" not in f[".reduced"] and "x" in f[".errors"]
        assert "s" in f


def test_failed_write_leaves_old_file_and_no_temp(path, monkeypatch):
    write_run_file(path, [prepare_result("x", 1)])
    before = path.read_bytes()

    import damnit_nb.store.h5file as h5file

    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(h5file, "_write_result", boom)
    with pytest.raises(OSError, match="disk full"):
        write_run_file(path, [prepare_result("y", 2)])
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [f".{path.name}.lock", path.name]


def test_preview_is_stored(path):
    write_run_file(path, [prepare_result("x", 5.0, preview=np.arange(4))])
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f[".preview/x"][()], np.arange(4))


def test_netcdf_unfriendly_names_and_attrs(path):
    da = xr.DataArray(np.arange(3.0), dims="trainId",
                      coords={"trainId": [1, 2, 3], "a/b": ("trainId", [4, 5, 6])},
                      name="SA1_XTD2_XGM/DOOCS/MAIN:output.data.intensityTD",
                      attrs={"units": "uJ", "none": None, "flag": True, "meta": {"k": 1}})
    (stored,) = write_run_file(path, [prepare_result("x", da)])
    assert not stored.is_error
    back = read_data(path, "x")
    assert back.name == "SA1_XTD2_XGM_DOOCS_MAIN:output.data.intensityTD"
    np.testing.assert_array_equal(back.coords["a_b"], [4, 5, 6])
    assert back.attrs == {"units": "uJ", "flag": 1, "meta": "{'k': 1}"}


def test_a_result_that_cannot_be_written_becomes_its_error(path):
    bad = xr.DataArray(np.arange(2.0), dims="x",
                       coords={"x": np.array([{"a": 1}, {"b": 2}], dtype=object)})
    stored = write_run_file(path, [prepare_result("bad", bad), prepare_result("good", 1)])
    assert stored[0].is_error and stored[0].error.startswith("The result could not be saved")
    assert not stored[1].is_error
    with h5py.File(path, "r") as f:
        assert "bad" not in f and "bad" not in f[".reduced"] and "bad" in f[".errors"]
        assert f["good/data"][()] == 1


def _offset(path, dataset):
    with h5py.File(path, "r") as f:
        return f[dataset].id.get_offset()


def test_a_write_changes_the_file_in_place(path):
    big = np.random.default_rng(0).random((512, 1024))  # 4 MiB
    write_run_file(path, [prepare_result("img", big), prepare_result("x", 1)])
    inode, size, offset = path.stat().st_ino, path.stat().st_size, _offset(path, "img/data")
    write_run_file(path, [prepare_result("x", 2)])
    assert path.stat().st_ino == inode  # not a new file renamed over it
    assert _offset(path, "img/data") == offset  # the image was not copied
    assert path.stat().st_size - size < 64 * 1024
    assert read_data(path, "x") == 2
    np.testing.assert_array_equal(read_data(path, "img"), big)
    assert sorted(p.name for p in path.parent.iterdir()) == [f".{path.name}.lock", path.name]


def test_netcdf_groups_replaced_in_place(path):
    first = xr.DataArray(np.arange(4.0), dims="x", coords={"x": [1, 2, 3, 4]}, name="a")
    ds = xr.Dataset({"v": ("t", [1.0, 2.0])}, coords={"t": [5, 6]})
    write_run_file(path, [prepare_result("da", first), prepare_result("ds", ds),
                          prepare_result("n", 1)])
    inode = path.stat().st_ino
    second = xr.DataArray(np.arange(6.0).reshape(2, 3), dims=("y", "z"),
                          coords={"y": [10, 20]}, attrs={"units": "mJ"})
    write_run_file(path, [prepare_result("da", second), prepare_result("n", 2)])
    assert path.stat().st_ino == inode
    xr.testing.assert_identical(read_data(path, "da"), second)
    xr.testing.assert_identical(read_data(path, "ds"), ds)
    with h5py.File(path, "r") as f:
        assert f["da"].attrs["_damnit_objtype"] == "dataarray"
        assert f[".reduced/da"].attrs["units"] == "mJ"


def _unused(path):
    """The bytes of the run file its objects do not take, as the file counts them."""
    from damnit_nb.store.h5file import USED_ATTR

    with h5py.File(path, "r") as f:
        used = f.attrs.get(USED_ATTR)
    return None if used is None else path.stat().st_size - int(used)


def test_unused_space_is_counted_and_compacted(path):
    rng = np.random.default_rng(1)
    write_run_file(path, [prepare_result(f"s{i}", float(i)) for i in range(20)])
    for mb in (1, 3, 1, 4, 1, 3):
        # Each image is written after the scalars' new copies: the old one's space is left.
        write_run_file(path, [prepare_result("img", rng.random((mb * 128, 1024))),
                              *(prepare_result(f"s{i}", float(mb + i)) for i in range(20))])
        unused = _unused(path) or 0
        assert unused <= max(path.stat().st_size / 2, 1 << 20)  # compacted when it grows
    live = 3 * 2**20 + 64 * 1024
    assert path.stat().st_size < 2 * live + (1 << 20)
    assert read_data(path, "s19") == 22.0 and read_data(path, "img").shape == (384, 1024)


def test_compacting_frees_what_is_counted(path):
    from damnit_nb.store.h5file import USED_ATTR

    write_run_file(path, [prepare_result(f"s{i}", float(i)) for i in range(30)])
    for k in range(60):
        write_run_file(path, [prepare_result(f"s{k % 30}", float(k))])
    unused, size = _unused(path), path.stat().st_size
    assert unused > size / 2
    write_run_file(path, [], in_place=False)
    assert path.stat().st_size == pytest.approx(size - unused, rel=0.2)
    with h5py.File(path, "r") as f:
        assert USED_ATTR not in f.attrs  # a file written whole is all used
        assert f["s29/data"][()] == 59.0


@pytest.mark.parametrize("hdf5_locking", [True, False])
def test_readers_wait_while_a_writer_changes_the_file(path, monkeypatch, hdf5_locking):
    import fcntl
    import threading
    import time

    import damnit_nb.store.h5file as h5file
    from tests.helpers import eventually

    write_run_file(path, [prepare_result("x", 1)])
    if not hdf5_locking:  # as often on GPFS: HDF5 takes no lock, ours still does
        real_open = h5file._open
        monkeypatch.setattr(h5file, "_open", lambda p, m: real_open(p, m) if m != "r"
                            else h5py.File(p, m, locking=False))
    waited = []
    real_sleep = time.sleep

    def sleep(seconds):
        waited.append(threading.current_thread().name)
        real_sleep(seconds)

    monkeypatch.setattr(h5file.time, "sleep", sleep)
    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a writer changing it in place
    got = []
    reader = threading.Thread(target=lambda: got.append(read_data(path, "x")), name="reader")
    reader.start()
    try:
        assert eventually(lambda: waited.count("reader") >= 2)  # it waits, and tries again
        assert not got
    finally:
        os.close(fd)  # the writer is done
    reader.join(10)
    assert got == [1]


def test_a_file_kept_open_by_a_reader_is_replaced_instead(path, monkeypatch):
    import damnit_nb.store.h5file as h5file

    monkeypatch.setattr(h5file, "LOCK_WAIT", 0.01)
    write_run_file(path, [prepare_result("x", 1), prepare_result("y", "kept")])
    inode = path.stat().st_ino
    with h5py.File(path, "r", locking="best-effort") as reader:  # HDF5 takes a shared lock
        write_run_file(path, [prepare_result("x", 2)])
        assert reader["x/data"][()] == 1  # it still reads the file it opened
    assert path.stat().st_ino != inode
    assert read_data(path, "x") == 2 and read_data(path, "y") == "kept"
    assert sorted(p.name for p in path.parent.iterdir()) == [f".{path.name}.lock", path.name]


def test_a_killed_write_is_rolled_back_by_the_next(path):
    from damnit_nb.store.h5file import journal_path
    from damnit_nb.store.journal import JournaledFile

    write_run_file(path, [prepare_result("x", 1), prepare_result("y", 2)])
    before = path.read_bytes()
    # A writer that got halfway: the file is changed, the journal is left behind.
    f = JournaledFile(path, journal_path(path), "0123456789abcdef")
    f.seek(0)
    f.write(b"\0" * 4096)
    f.seek(0, os.SEEK_END)
    f.write(b"garbage" * 1000)
    f.close()
    write_run_file(path, [prepare_result("z", 3)])
    assert not journal_path(path).exists()
    assert read_data(path, "x") == 1 and read_data(path, "y") == 2 and read_data(path, "z") == 3
    assert len(path.read_bytes()) < len(before) + 64 * 1024


def test_run_file_locks_are_not_kept_after_use(tmp_path):
    # One lock per run file written would grow with a beamtime's runs.
    from damnit_nb.store import Database, h5file, prepare_result

    with Database(tmp_path / "db", proposal=1) as db:
        for run in range(1, 30):
            db.write_results(run, [prepare_result("x", float(run))])
        assert h5file._FILE_LOCKS == {}
        assert db.values()[29]["x"].value == 29.0
