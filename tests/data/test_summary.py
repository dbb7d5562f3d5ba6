"""run_summary, DataCollection.info() and ``python -m damnit_nb ls``, checked against EXtra-data."""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from damnit_nb.__main__ import main
from damnit_nb.data import RunDirectory
from damnit_nb.data.summary import run_summary

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ROOT = Path(__file__).resolve().parents[2]
_TIME_LINES = ("Duration:", "Start:")


def _without_times(text):
    # Which file's INDEX/timestamp serves a train held by several files differs between the
    # readers; the example makers stamp each file with its own write time.
    return [line for line in text.splitlines() if not line.startswith(_TIME_LINES)]


def _ls(*args, env=None):
    return subprocess.run([sys.executable, "-m", "damnit_nb", "ls", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)


# --- the same text from either reader ------------------------------------------------------


def test_summary_same_for_both_readers(run_pair):
    ours, theirs = run_pair
    assert _without_times(run_summary(ours)) == _without_times(run_summary(theirs))
    try:
        expected = run_summary(theirs, keys=True)
    except KeyError:  # EXtra-data cannot open keys whose HDF5 names contain dots (JUNGFRAU)
        return
    assert _without_times(run_summary(ours, keys=True)) == _without_times(expected)


# --- the numbers, read back from the text --------------------------------------------------


def _sections(text):
    """{'detectors'|'instrument'|'control': [lines]} and the header lines."""
    parts = text.split("\n\n")
    head = parts[0].splitlines()
    sections = {}
    for part in parts[1:]:
        title, *body = part.splitlines()
        kind = ("detectors" if "detector" in title.split(":")[0].split("(")[0]
                else "instrument" if "instrument" in title else "control")
        assert int(title.split()[0]) == sum(1 for b in body if b.startswith("  ")
                                            and not b.startswith("   "))
        sections[kind] = body
    return head, sections


@pytest.mark.parametrize("name", ["spb-1.1", "fxe-1.2", "simulated-1.3"])
def test_numbers_match_extra_data(example_runs, name):
    import extra_data

    path = example_runs(name)
    theirs = extra_data.RunDirectory(path)
    head, sections = _sections(run_summary(RunDirectory(path), keys=True))

    fields = dict(line.split(":", 1) for line in head if ":" in line)
    assert int(fields["# of trains"]) == len(theirs.train_ids)
    assert int(fields["First train ID"]) == theirs.train_ids[0]
    assert int(fields["Last train ID"]) == theirs.train_ids[-1]

    # Detectors: one pattern line, then module count, frames per train and main key
    det = sections["detectors"]
    pattern = det[0].strip()
    modules = {s for s in theirs.instrument_sources
               if re.fullmatch(re.escape(pattern).replace(r"\{n\}", r"\d+"), s)}
    m = re.match(r"(\d+) modules \(0-(\d+)\), (\d+) frames per train, "
                 r"image\.data: (\w+) \(([\d, ]+)\)", det[1].strip())
    assert m, det[1]
    assert int(m[1]) == len(modules) == int(m[2]) + 1
    module0 = pattern.replace("{n}", "0")
    counts = theirs[module0, "image.data"].data_counts(labelled=False)
    assert int(m[3]) == counts.max() == counts.min()
    assert m[4] == str(theirs[module0, "image.data"].dtype)
    assert tuple(int(n) for n in m[5].split(",") if n.strip()) == \
        theirs[module0, "image.data"].entry_shape

    # Sources other than detectors, each with its keys, dtypes and entry shapes
    listed = {}
    for kind in ("instrument", "control"):
        source = None
        for line in sections[kind]:
            if not line.startswith("   "):
                source = line.strip()
                listed[source] = {}
            elif re.match(r"\s+[\w.]+: ", line):
                continue  # an index group's entries per train
            else:
                key, dtype, shape = re.match(r"\s+(\S+)\s+(\S+)\s+(\(.*\))$", line).groups()
                listed[source][key] = (dtype, shape)
    assert set(listed) == theirs.all_sources - modules
    for source, keys in listed.items():
        sd = theirs[source]
        assert set(keys) == sd.keys(inc_timestamps=False)
        for key, (dtype, shape) in keys.items():
            assert dtype == str(sd[key].dtype)
            assert shape == str(tuple(int(n) for n in sd[key].entry_shape))


def test_entries_per_train_and_missing_trains(example_runs):
    # The camera of the uneven run records on every other train of 60 out of 80.
    text = run_summary(RunDirectory(example_runs("uneven-1.0")), keys=True)
    import extra_data

    theirs = extra_data.RunDirectory(example_runs("uneven-1.0"))
    counts = theirs["SPB_IRU_CAM/CAM/SIDEMIC:daqOutput"].data_counts(labelled=False)
    with_data = int((counts > 0).sum())
    assert 0 < with_data < len(theirs.train_ids)
    cam = text.split("SPB_IRU_CAM/CAM/SIDEMIC:daqOutput\n", 1)[1].splitlines()[0]
    assert cam.strip() == (f"data: 1 entry per train, in {with_data} of "
                           f"{len(theirs.train_ids)} trains")


def test_varying_frames_per_train(example_runs):
    import extra_data

    path = example_runs("reduced-spb-1.0")
    theirs = extra_data.RunDirectory(path)
    modules = sorted(s for s in theirs.instrument_sources if "/DET/" in s)
    counts = np.stack([theirs[s].data_counts(labelled=False, index_group="image")
                       for s in modules])
    any_data = (counts > 0).any(axis=0)
    text = run_summary(RunDirectory(path))
    expected = (f"{counts[:, any_data].min()}-{counts.max()} frames per train, "
                f"in {any_data.sum()} of {len(theirs.train_ids)} trains")
    assert expected in text


def test_duration(example_runs):
    # Format 0.5 has no train timestamps: trains x 0.1 s
    text = run_summary(RunDirectory(example_runs("fxe-0.5")))
    assert "Duration:       0:00:48.0" in text and "Start:" not in text
    # The simulator stamps trains at 10 Hz from 2026-03-02 08:00 UTC; 250 trains
    text = run_summary(RunDirectory(example_runs("simulated-1.3")))
    assert "Duration:       0:00:25.0" in text
    assert "Start:          2026-03-02 08:00:00 UTC" in text
    assert "Proposal 1234, run 1" in text


def test_selection_and_key_glob(example_runs):
    run = RunDirectory(example_runs("simulated-1.3"))
    xgm = "SA1_XTD2_XGM/DOOCS/MAIN:output"
    text = run_summary(run.select(xgm, "data.intensityTD").select_trains(np.s_[:10]),
                       keys=True)
    assert "# of trains:    10" in text and "Duration:       0:00:01.0" in text
    assert "data.intensityTD  float32  (1000,)" in text and "data.trainId" not in text
    text = run_summary(run, keys="*XGM*")
    assert "data.intensityTD" in text and "pulseEnergy.photonFlux" in text
    assert "data.image.pixels" not in text and "actualPosition" not in text
    with pytest.raises(TypeError):
        run_summary(run, keys=3)


def test_info_prints_the_summary(example_runs, capsys):
    run = RunDirectory(example_runs("spb-1.1"))
    run.info()
    assert capsys.readouterr().out == run_summary(run) + "\n"
    run.info(details_for_sources="*XGM*")
    assert capsys.readouterr().out == run_summary(run, keys="*XGM*") + "\n"


# --- the command -------------------------------------------------------------------------


def test_ls_command(example_runs):
    path = example_runs("simulated-1.3")
    done = _ls(path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == run_summary(RunDirectory(path)) + "\n"
    done = _ls(path, "--keys")
    assert done.returncode == 0, done.stderr
    assert done.stdout == run_summary(RunDirectory(path), keys=True) + "\n"


def test_ls_proposal_and_run(tmp_path, capsys):
    from damnit_nb.simulate import simulate_run

    prop = tmp_path / "p000777"
    simulate_run(prop, 3, trains=12, modules=1)
    assert main(["ls", str(prop), "3"]) == 0
    out = capsys.readouterr().out
    assert out == run_summary(RunDirectory(prop / "raw" / "r0003")) + "\n"
    assert "Proposal 777, run 3" in out and "# of trains:    12" in out
    assert main(["ls", str(prop), "3", "--data", "raw", "--keys"]) == 0
    assert "image.data" in capsys.readouterr().out
    assert main(["ls", str(prop), "3", "--data", "all"]) == 0  # no proc data: raw alone
    assert capsys.readouterr().out == out
    assert main(["ls", str(prop), "3", "--data", "proc"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "proc/r0003 does not exist" in err and len(err.splitlines()) == 1


def test_ls_proposal_number(tmp_path):
    from damnit_nb.data.run import DATA_ROOT_ENV
    from damnit_nb.simulate import simulate_run

    simulate_run(tmp_path / "SPB" / "202601" / "p001234", 2, trains=8, modules=1)
    done = _ls(1234, 2, env={**os.environ, DATA_ROOT_ENV: str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "Proposal 1234, run 2" in done.stdout and "# of trains:    8" in done.stdout
    line = _error_line(_ls(4321, 2, env={**os.environ, DATA_ROOT_ENV: str(tmp_path)}))
    assert "Proposal 4321 not found" in line and DATA_ROOT_ENV in line


def _error_line(done):
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    return lines[0]


def test_ls_errors(tmp_path, example_runs):
    line = _error_line(_ls(tmp_path / "nowhere"))
    assert "does not exist" in line and "nowhere" in line

    line = _error_line(_ls(tmp_path))
    assert "No data files (*.h5)" in line

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "RAW-R0001-DA01-S00000.h5").write_bytes(b"not HDF5")
    old = time.time() - 600
    os.utime(bad / "RAW-R0001-DA01-S00000.h5", (old, old))
    line = _error_line(_ls(bad))
    assert "RAW-R0001-DA01-S00000.h5" in line and "HDF5" in line

    line = _error_line(_ls(tmp_path, 5))
    assert "r0005" in line


def test_ls_skips_unreadable_files_with_a_warning(tmp_path, example_runs, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(example_runs("uneven-1.0"), run_dir)
    broken = run_dir / "RAW-R0001-DA03-S00000.h5"
    broken.write_bytes(b"\0" * 100)
    old = time.time() - 600
    os.utime(broken, (old, old))
    assert main(["ls", str(run_dir)]) == 1
    out, err = capsys.readouterr()
    assert "# of trains:    80" in out
    assert len(err.splitlines()) == 1 and "warning" in err and "DA03" in err


def test_ls_usage_errors(tmp_path):
    done = _ls(tmp_path, "--data", "proc")
    assert done.returncode == 2 and "--data needs a proposal" in done.stderr
    done = _ls(tmp_path, "x")
    assert done.returncode == 2 and "invalid int value" in done.stderr
