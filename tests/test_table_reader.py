"""RunTable(reader=...): variables get EXtra-data's DataCollection or ours, with equal results."""

import builtins
import shutil
import sys
import threading

import pytest

from damnit_nb import RunTable
from damnit_nb.engine import READERS, UnknownReaderError, run_opener
from damnit_nb.simulate import simulate_run

XGM = ("SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD")
MOTOR = ("SPB_IRU_MOTORS/MDL/SAMPLE_X", "actualPosition")

CONTEXT = '''
from damnit_ctx import Variable

@Variable(title="Reader")
def reader(run):
    return type(run).__module__.split(".")[0] + "." + type(run).__name__

@Variable(title="XGM", summary="mean")
def xgm(run):
    return run["SA1_XTD2_XGM/DOOCS/MAIN:output", "data.intensityTD"].xarray()[:, :50]

@Variable(title="Motor", data="proc")
def motor(run):
    return float(run["SPB_IRU_MOTORS/MDL/SAMPLE_X", "actualPosition"].ndarray().mean())

@Variable(title="Frames")
def frames(run):
    return int(run["SPB_DET_AGIPD1M-1/DET/0CH0:xtdf", "image.data"].data_counts().sum())
'''


@pytest.fixture
def proposal(tmp_path):
    path = tmp_path / "p002012"
    for run in (1, 2):
        simulate_run(path, run, trains=20, modules=1)
        # proc data for the data="proc" variable (a copy: calibration keeps the layout)
        shutil.copytree(path / "raw" / f"r{run:04d}", path / "proc" / f"r{run:04d}")
    (tmp_path / "context.py").write_text(CONTEXT)
    return path


def _table(proposal, name, **kwargs):
    return RunTable(proposal, context=proposal.parent / "context.py", settle=0.1, poll=0.1,
                    database=proposal.parent / f"db-{name}", **kwargs)


def test_extra_data_reader_gives_extra_data_runs_and_same_values(proposal):
    pytest.importorskip("extra_data")
    import extra_data

    seen = []
    lock = threading.Lock()
    # One table after the other: two engine threads importing xarray for the first time at
    # once can see it partly initialised (Python resolves the import deadlock that way).
    with _table(proposal, "ed", reader="extra_data") as ed:
        assert ed.reader == "extra_data"

        @ed.variable(title="Run type")
        def run_type(run):
            with lock:
                seen.append(run)
            return type(run).__name__

        assert ed.wait(60)
        assert ed.errors() == {}
        a = ed.to_dataframe()
    with _table(proposal, "ours") as ours:
        assert ours.reader == "damnit_nb"
        assert ours.wait(60)
        assert ours.errors() == {}
        b = ours.to_dataframe()

    assert len(seen) == 2 and all(isinstance(r, extra_data.DataCollection) for r in seen)
    assert a["Reader"].tolist() == ["extra_data.DataCollection"] * 2
    assert b["Reader"].tolist() == ["damnit_nb.DataCollection"] * 2
    assert list(a.index) == list(b.index) == [1, 2]
    for col in ("XGM", "Motor", "Frames"):
        assert a[col].tolist() == pytest.approx(b[col].tolist(), rel=1e-6)
    assert a["Timestamp"].tolist() == b["Timestamp"].tolist()
    assert a["Frames"].tolist() == [200, 200]  # 20 trains of 10 frames
    # and what was stored is what EXtra-data reads directly
    run = extra_data.RunDirectory(proposal / "raw" / "r0002")
    assert a.loc[2, "XGM"] == pytest.approx(float(run[XGM].ndarray()[:, :50].mean()), rel=1e-6)
    assert a.loc[2, "Motor"] == pytest.approx(float(run[MOTOR].ndarray().mean()))


def test_unknown_reader(proposal):
    with pytest.raises(UnknownReaderError) as info:
        RunTable(proposal, reader="h5py", watch=False)
    assert isinstance(info.value, ValueError) and info.value.reader == "h5py"
    assert "'damnit_nb'" in str(info.value) and "'extra_data'" in str(info.value)
    assert not (proposal / "usr").exists()  # failed before making the database
    assert READERS == ("damnit_nb", "extra_data")


def test_extra_data_reader_without_extra_data(proposal, monkeypatch):
    real_import = builtins.__import__

    def no_extra_data(name, *args, **kwargs):
        if name == "extra_data" or name.startswith("extra_data."):
            raise ModuleNotFoundError("No module named 'extra_data'", name="extra_data")
        return real_import(name, *args, **kwargs)

    for mod in [m for m in sys.modules if m == "extra_data" or m.startswith("extra_data.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(builtins, "__import__", no_extra_data)
    with pytest.raises(ImportError, match=r"pip install extra-data") as info:
        RunTable(proposal, reader="extra_data", watch=False)
    assert info.value.name == "extra_data"
    assert callable(run_opener("damnit_nb"))  # ours needs nothing more
