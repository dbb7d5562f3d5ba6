"""The per-run HDF5 file: DAMNIT's layout, atomic replacement and merging."""

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
