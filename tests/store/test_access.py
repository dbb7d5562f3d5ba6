"""db[run], db[run, name] and db.table() give what DAMNIT's API gives on the same database."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.figure import Figure

from damnit_nb.store import Database, prepare_error, prepare_result
from damnit_nb.store.access import DataType

from damnit_oracle import requires_damnit, run_damnit
from value_repr import describe_run, value_repr

PLOTLY_JSON = '{"data": [{"type": "scatter", "x": [1, 2], "y": [3, 4]}], "layout": {}}'


def make_variety(path):
    """A database (written by damnit_nb) with every kind of value DAMNIT stores."""
    fig = Figure(figsize=(2, 1.5), dpi=50)
    fig.add_subplot().plot([1, 3, 2])
    with Database(path, proposal=1234) as db:
        db.add_variable("energy", title="XGM/Energy", tags=["xgm"])
        db.add_variable("sample", title="Sample", type="string")
        db.add_variable("good", title="Good run", type="boolean")
        db.add_variable("shots", title="Shots", type="integer")
        db.add_variable("dose", title="Dose", type="number")
        db.add_variable("never", title="Never set")
        db.add_variable("plot", title="Plot")
        for run in (1, 2, 3):
            db.add_run(run, start_time=1_700_000_000 + 60 * run)
        db.set_comment(1, "first run")
        db.set_user_value(1, "sample", "Fe")
        db.set_user_value(1, "good", "yes")
        db.set_user_value(2, "good", False)
        db.set_user_value(1, "shots", 7)
        db.set_user_value(1, "dose", 0.5)
        db.write_results(1, [
            prepare_result("energy", 1.5, units="uJ"),
            prepare_result("n", np.int64(3)),
            prepare_result("flag", True),
            prepare_result("text", "hello"),
            prepare_result("c", 1 + 2j),
            prepare_result("line", np.arange(300.0)),
            prepare_result("line_mean", np.arange(10.0), summary="mean"),
            prepare_result("img", np.arange(30.0).reshape(5, 6)),
            prepare_result("nd", np.ones((2, 2, 2))),
            prepare_result("da", xr.DataArray(np.arange(3.0), dims="x", name="da",
                                              coords={"x": [10, 20, 30]},
                                              attrs={"units": "J"})),
            prepare_result("da2", xr.DataArray(np.ones((3, 4)), dims=("a", "b"))),
            prepare_result("ds", xr.Dataset({"a": ("x", np.arange(4)), "b": 2.5},
                                            attrs={"note": "hi"})),
            prepare_result("fig", fig),
            prepare_result("prev", 4.5, preview=np.arange(5.0)),
            prepare_error("bad", ValueError("boom")),
            prepare_result("plot", _plotly_figure()),
        ])
        db.write_results(2, [prepare_result("energy", 2.5, units="uJ"),
                             prepare_result("n", 4)])

def _plotly_figure():
    import plotly.io as pio

    return pio.from_json(PLOTLY_JSON)


@pytest.fixture
def variety(tmp_path):
    make_variety(tmp_path / "db")
    return tmp_path / "db"


def test_run_variables(variety):
    with Database(variety) as db:
        run = db[1]
        assert "energy" in run.keys() and "comment" in run.keys() and "bad" not in run.keys()
        assert run.keys() == sorted(run.keys())
        assert "XGM/Energy" in run.titles() and "Comment" in run.titles()
        assert run["XGM/Energy"].name == "energy" and run["energy"].title == "XGM/Energy"
        assert db[1, "energy"].read() == 1.5 and db[1, "energy"].units == "uJ"
        assert db[1234, 1, "energy"].summary() == 1.5
        assert db[1234, 2]["energy"].read() == 2.5
        assert db[1, "sample"].read() == "Fe" and db[1, "comment"].read() == "first run"
        assert db[1, "good"].read() == 1 and db[2, "good"].read() == 0
        assert db[1, "text"].read() == "hello" and db[1, "c"].summary() == 1 + 2j
        assert db[1, "line"].summary().shape[0] == 2
        np.testing.assert_array_equal(db[1, "line"].read(), np.arange(300.0))
        assert db[1, "img"].summary()[:4] == b"\x89PNG"
        assert db[1, "da"].type_hint() is DataType.DataArray
        assert db[1, "da"].read().attrs == {"units": "J"}
        assert db[1, "ds"].preview_data() is None
        assert db[1, "fig"].read().shape[2] == 4
        np.testing.assert_array_equal(db[1, "prev"].preview_data(), np.arange(5.0))
        stored = json.loads(db[1, "plot"].read(deserialize_plotly=False))
        assert stored["data"] == json.loads(PLOTLY_JSON)["data"]
        assert type(db[1, "plot"].read()).__name__ == "Figure"  # plotly's, deserialised
        assert "plot" in db[1] and "Sample" in db[1] and "nothing" not in db[1]
        with pytest.raises(KeyError, match="keys"):
            db[1, "nothing"]
        with pytest.raises(KeyError, match="1-3"):
            db[99]
        with pytest.raises(TypeError):
            db["energy"]


@requires_damnit
def test_same_values_as_damnits_api(variety):
    theirs = run_damnit("""
        from value_repr import describe_run
        db = damnit.Damnit(sys.argv[1])
        print(json.dumps({run: describe_run(db[run]) for run in (1, 2)}))
    """, variety)
    with Database(variety) as db:
        ours = json.loads(json.dumps({run: describe_run(db[run]) for run in (1, 2)}))
    for run in ("1", "2"):
        assert ours[run]["keys"] == theirs[run]["keys"]
        assert ours[run]["titles"] == theirs[run]["titles"]
        for name, found in theirs[run]["vars"].items():
            for what, value in found.items():
                if value and value[0] == "raised":
                    continue  # DAMNIT fails here (e.g. no HDF5 group for a user variable)
                assert ours[run]["vars"][name][what] == value, (run, name, what)


def table_repr(df):
    return {"columns": [str(c) for c in df.columns],
            "dtypes": [str(t) for t in df.dtypes],
            "values": [[repr(v) for v in df[c]] for c in df.columns]}


def damnit_tables(path):
    return run_damnit("""
        db = damnit.Damnit(sys.argv[1])
        def table_repr(df):
            return {"columns": [str(c) for c in df.columns],
                    "dtypes": [str(t) for t in df.dtypes],
                    "values": [[repr(v) for v in df[c]] for c in df.columns]}
        print(json.dumps([table_repr(db.table()), table_repr(db.table(with_titles=True))]))
    """, path)


@requires_damnit
@pytest.mark.parametrize("content", ["variety", "numbers", "empty", "no_values"])
def test_same_table_as_damnits(tmp_path, content):
    path = tmp_path / "db"
    if content == "variety":
        make_variety(path)
    else:
        with Database(path, proposal=1234) as db:
            if content != "empty":
                db.add_variable("x", title="X")
                db.add_variable("u", title="U", type="integer")
                db.add_run(1, start_time=1_700_000_000)
                db.add_run(2, start_time=1_700_000_060)
            if content == "numbers":
                db.write_results(1, [prepare_result("x", 1), prepare_result("y", 2.5)])
                db.set_user_value(2, "u", 5)
    theirs = damnit_tables(path)
    with Database(path) as db:
        ours = [table_repr(db.table()), table_repr(db.table(with_titles=True))]
    for o, t in zip(ours, theirs):
        # DAMNIT adds variables that have no value yet in an arbitrary (set) order.
        n_fixed = len([c for c in t["columns"] if c in o["columns"]])
        assert sorted(o["columns"]) == sorted(t["columns"])
        order = [o["columns"].index(c) for c in t["columns"]]
        assert [o["dtypes"][i] for i in order] == t["dtypes"]
        assert [o["values"][i] for i in order] == t["values"]
        assert n_fixed == len(o["columns"])


def test_table_columns_and_types(variety):
    with Database(variety) as db:
        df = db.table()
        assert list(df.columns[:3]) == ["proposal", "run", "start_time"]
        assert str(df["start_time"].dt.tz) == "Europe/Berlin"
        assert list(df["run"]) == [1, 2, 3]
        assert df["energy"].tolist()[:2] == [1.5, 2.5] and pd.isna(df["energy"][2])
        assert df.loc[0, "img"] == "<thumbnail>" and df.loc[0, "line"] == "<sparkline>"
        assert df.loc[0, "c"] == 1 + 2j and df.loc[0, "bad"] is None
        assert df["never"].isna().all()
        titled = db.table(with_titles=True)
        assert list(titled.columns[:3]) == ["Proposal", "Run", "Timestamp"]
        assert {"XGM/Energy", "Sample", "Good run", "comment"} <= set(titled.columns)


def test_value_repr_is_exact():
    assert value_repr(np.float64(1.0)) != value_repr(1.0)
    assert value_repr(np.arange(3)) != value_repr(np.arange(3.0))
