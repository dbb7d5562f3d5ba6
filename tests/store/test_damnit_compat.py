"""Round trips with DAMNIT itself, run in its own Python environment.

Set DAMNIT_PYTHON to a Python with `damnit` (0.4) installed to run these; they are skipped
otherwise. DAMNIT is only an oracle here: it runs in a subprocess.
"""

import numpy as np
import xarray as xr

from damnit_nb.store import Database, prepare_error, prepare_result

from damnit_oracle import requires_damnit, run_damnit

pytestmark = requires_damnit


def test_damnit_reads_what_we_write(tmp_path):
    with Database(tmp_path, proposal=1234) as db:
        db.add_variable("energy", title="XGM/Energy", tags=["xgm"])
        db.add_run(1, start_time=1_700_000_000)
        db.set_comment(1, "first run")
        db.write_results(1, [
            prepare_result("energy", 1.5, units="uJ"),
            prepare_result("text", "hello"),
            prepare_result("c", 1 + 2j),
            prepare_result("line", np.arange(300.0)),
            prepare_result("img", np.ones((5, 6))),
            prepare_result("da", xr.DataArray(np.arange(3.0), dims="x", attrs={"units": "J"})),
            prepare_error("bad", ValueError("boom")),
        ])
        db.write_results(1, [prepare_result("energy", 2.5, units="uJ")])  # merge
    out = run_damnit("""
        db = damnit.Damnit(sys.argv[1])
        df = db.table(with_titles=True)
        res = {"runs": db.runs(), "columns": list(df.columns),
               "energy": float(df["XGM/Energy"][0]), "comment": df["comment"][0],
               "units": db[1, "energy"].units, "read": float(db[1, "energy"].read()),
               "text": db[1, "text"].read(), "c": str(db[1, "c"].summary()),
               "line": db[1, "line"].read().tolist()[:3],
               "trend": list(db[1, "line"].summary().shape),
               "img": db[1, "img"].summary()[:4].hex(),
               "da": db[1, "da"].read().values.tolist(), "da_units": db[1, "da"].units}
        print(json.dumps(res))
    """, tmp_path)
    assert out["runs"] == [1]
    assert {"Run", "Timestamp", "comment", "XGM/Energy", "text", "c", "da"} <= set(
        out["columns"])
    assert out["energy"] == 2.5 and out["read"] == 2.5 and out["units"] == "uJ"
    assert out["comment"] == "first run" and out["text"] == "hello"
    assert out["c"] == "(1+2j)" and out["line"] == [0.0, 1.0, 2.0]
    assert out["trend"][0] == 2 and out["img"] == "89504e47"
    assert out["da"] == [0.0, 1.0, 2.0] and out["da_units"] == "J"


def test_we_read_what_damnit_writes(tmp_path):
    run_damnit("""
        import numpy as np, xarray as xr
        from damnit.backend.db import DamnitDB, ReducedData
        from damnit_ctx import Cell
        from damnit_writing import save_fragment
        d = Path(sys.argv[1])
        db = DamnitDB.from_dir(d, create=True)
        db.metameta["proposal"] = 1234
        db.update_computed_variables({"energy": {
            "title": "XGM/Energy", "description": "e", "tags": ["xgm"], "attributes": None,
            "type": None}})
        cells = {"energy": Cell(2.5, units="uJ", bold=True, background="#00ff00"),
                 "da": Cell(xr.DataArray(np.arange(3.0), dims="x", attrs={"units": "J"}))}
        frag = save_fragment(d, 1234, 1, cells, {"bad": ValueError("boom")})
        os.replace(frag, d / "extracted_data" / "p1234_r1.h5")
        db.set_variables(1234, 1, {
            "energy": ReducedData(2.5, attributes={"units": "uJ", "bold": True,
                                                   "background": [0, 255, 0]}),
            "bad": ReducedData(None, attributes={"error": "boom", "error_cls": "ValueError"}),
            "c": ReducedData(1 + 1j)}, provenance="context.py", start_time=1.7e9)
        db.change_run_comment(1234, 1, "from DAMNIT")
        print(json.dumps("ok"))
    """, tmp_path)
    before = (tmp_path / "runs.sqlite").read_bytes()
    with Database(tmp_path) as db:
        assert db.proposal == 1234
        assert [(r.run, r.start_time) for r in db.runs()] == [(1, 1.7e9)]
        assert db.variables()["energy"].tags == ("xgm",)
        vals = db.values()[1]
        assert vals["energy"].value == 2.5
        assert vals["energy"].attributes == {"units": "uJ", "bold": True,
                                             "background": [0, 255, 0]}
        assert vals["bad"].error == "boom" and vals["bad"].error_cls == "ValueError"
        assert vals["c"].value == 1 + 1j and vals["comment"].value == "from DAMNIT"
        assert db.read_data(1, "da").attrs["units"] == "J"
        db.table(), db.dataframe()
        assert db[1, "XGM/Energy"].read() == 2.5 and db[1, "energy"].units == "uJ"
        assert db[1, "da"].preview_data().values.tolist() == [0.0, 1.0, 2.0]
        assert db[1].keys() == ["comment", "da", "energy"]  # "c" is in the database only
    assert (tmp_path / "runs.sqlite").read_bytes() == before


KILLED_WRITER = """
import sys
import numpy as np, xarray as xr
from damnit_nb.store import Database, prepare_result
db = Database(sys.argv[1])
db.write_results(1, [prepare_result("energy", 9.5, units="uJ"),
                     prepare_result("da", xr.DataArray(np.zeros(7), dims="q"))])
"""


def test_damnit_reads_run_files_changed_in_place_and_recovered(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    first = xr.DataArray(np.arange(3.0), dims="x", attrs={"units": "J"})
    second = xr.DataArray(np.arange(6.0).reshape(2, 3), dims=("y", "x"),
                          coords={"y": [10, 20]}, attrs={"units": "mJ"})
    with Database(tmp_path, proposal=1234) as db:
        db.add_run(1, start_time=1_700_000_000)
        db.write_results(1, [prepare_result("energy", 1.5, units="uJ"),
                             prepare_result("da", first), prepare_result("text", "kept")])
        h5 = db.run_file(1)
        inode = h5.stat().st_ino
        db.write_results(1, [prepare_result("energy", 2.5, units="uJ"),  # in place
                             prepare_result("da", second),
                             prepare_result("ds", xr.Dataset({"v": ("t", [1.0, 2.0])}))])
        assert h5.stat().st_ino == inode
    # A writer killed in the middle of changing the file in place...
    child = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(tmp_path)],
                           env={**os.environ, "DAMNIT_NB_KILL_AT": "run-file-write:4"})
    assert child.returncode == -signal.SIGKILL
    with Database(tmp_path) as db:
        db.run_file(1)  # ...is undone by the next reader
    out = run_damnit("""
        db = damnit.Damnit(sys.argv[1])
        df = db.table()
        res = {"energy": float(df["energy"][0]), "read": float(db[1, "energy"].read()),
               "units": db[1, "energy"].units, "text": db[1, "text"].read(),
               "da": db[1, "da"].read().values.tolist(), "da_units": db[1, "da"].units,
               "y": db[1, "da"].read().coords["y"].values.tolist(),
               "ds": db[1, "ds"].read()["v"].values.tolist(),
               "keys": sorted(db[1].keys())}
        print(json.dumps(res))
    """, tmp_path)
    assert out["energy"] == 2.5 and out["read"] == 2.5 and out["units"] == "uJ"
    assert out["text"] == "kept" and out["ds"] == [1.0, 2.0]
    assert out["da"] == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]] and out["y"] == [10, 20]
    assert out["da_units"] == "mJ"
    assert out["keys"] == ["da", "ds", "energy", "text"]
