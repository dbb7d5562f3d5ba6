"""Simulated runs, checked against EXtra-data (the facility's reader) as the oracle."""

import json
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np
import pytest

from damnit_nb.simulate import (
    AGIPD,
    CAMERA,
    MOTOR_X,
    MOTOR_Y,
    XGM,
    XGM_OUTPUT,
    RunExistsError,
    SimulationParameterError,
    Simulator,
    run_parameters,
    simulate_proposal,
    simulate_run,
)

extra_data = pytest.importorskip("extra_data")
from extra_data.validation import FileValidator, RunValidator  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SMALL = dict(trains=30, trains_per_sequence=12, modules=1)


@pytest.fixture(scope="module")
def proposal(tmp_path_factory):
    """A proposal with runs 1-4 written with the defaults (run 3 is a SAMPLE_X scan)."""
    prop = tmp_path_factory.mktemp("proposal") / "p002000"
    for run in range(1, 5):
        simulate_run(prop, run)
    return prop


def open_run(prop, run):
    return extra_data.RunDirectory(str(Path(prop) / "raw" / f"r{run:04d}"))


def file_problems(run_dir):
    problems = []
    for path in sorted(Path(run_dir).glob("*.h5")):
        fa = extra_data.FileAccess(str(path))
        try:
            problems += FileValidator(fa).run_checks()
        finally:
            fa.close()
    return problems


def parse_date(value):
    return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


# --------------------------------------------------------------------------- format


def test_run_passes_extra_data_validation(proposal):
    validator = RunValidator(str(proposal / "raw" / "r0001"))
    assert validator.run_checks() == []


def test_layout_and_file_names(proposal):
    names = sorted(p.name for p in (proposal / "raw" / "r0001").glob("*.h5"))
    expected = sorted(
        f"RAW-R0001-{agg}-S{seq:05d}.h5"
        for agg in ["DA01", "AGIPD00", "AGIPD01", "AGIPD02", "AGIPD03"]
        for seq in (0, 1)
    )
    assert names == expected


def test_sources_keys_shapes_and_units(proposal):
    run = open_run(proposal, 1)
    modules = {AGIPD.format(module=m) for m in range(4)}
    assert run.control_sources == {XGM, MOTOR_X, MOTOR_Y}
    assert run.instrument_sources == {XGM_OUTPUT, CAMERA} | modules
    assert run.train_ids == list(range(run.train_ids[0], run.train_ids[0] + 200))

    xgm = run[XGM]
    assert {"pulseEnergy.photonFlux", "beamPosition.ixPos", "beamPosition.iyPos"} <= xgm.keys(
        inc_timestamps=False
    )
    assert xgm["pulseEnergy.photonFlux"].units == "μJ"
    assert xgm["beamPosition.ixPos"].units == "mm"
    assert run[MOTOR_X, "actualPosition"].units == "mm"
    assert xgm.device_class == "DoocsXGM"

    intensity = run[XGM_OUTPUT, "data.intensityTD"]
    assert intensity.shape == (200, 1000) and intensity.dtype == np.float32
    assert intensity.units == "μJ"

    pixels = run[CAMERA, "data.image.pixels"]
    assert pixels.dtype == np.uint16 and pixels.entry_shape == (64, 64)
    assert 150 <= pixels.shape[0] <= 200  # the camera misses a few trains

    module = run[AGIPD.format(module=0)]
    assert {
        "image.data",
        "image.pulseId",
        "image.cellId",
        "image.trainId",
        "header.pulseCount",
    } <= set(module.keys())
    data = module["image.data"]
    assert data.dtype == np.uint16 and data.entry_shape == (2, 32, 16)
    assert data.shape[0] == 200 * 10
    assert (module["header.pulseCount"].ndarray() == 10).all()
    assert (module["image.data"].data_counts(labelled=False) == 10).all()


def test_metadata_in_every_file(proposal):
    run_dir = proposal / "raw" / "r0002"
    creation = []
    for path in sorted(run_dir.glob("*.h5")):
        seq = int(re.search(r"-S(\d{5})\.h5$", path.name).group(1))
        with h5py.File(path, "r") as f:
            meta = f["METADATA"]
            assert meta["dataFormatVersion"][0] == b"1.3"
            assert meta["runNumber"][0] == 2
            assert meta["proposalNumber"][0] == 2000  # from the directory name p002000
            assert meta["sequenceNumber"][0] == seq
            for name in ("daqLibrary", "karaboFramework", "runType", "sample"):
                assert meta[name][0]
            created = parse_date(meta["creationDate"][0].decode())
            updated = parse_date(meta["updateDate"][0].decode())
            assert created < updated
            # Dates follow the trains in the file.
            stamps = f["INDEX/timestamp"][:]
            first = datetime.fromtimestamp(int(stamps[0]) // 10**9, tz=timezone.utc)
            assert created == first
            assert (np.diff(stamps.astype(np.int64)) == 100_000_000).all()
            assert (f["INDEX/flag"][:] == 1).all()
            assert f["INDEX/trainId"].dtype == np.uint64
            ids = [s for s in f["METADATA/dataSources/dataSourceId"].asstr()[:] if s]
            assert all(s.startswith(("CONTROL/", "INSTRUMENT/")) for s in ids)
            creation.append((seq, created))
    run = open_run(proposal, 2)
    stamps = run.train_timestamps(labelled=False)
    assert min(c for _, c in creation) == datetime.fromtimestamp(
        stamps[0].astype("datetime64[s]").astype(int), tz=timezone.utc
    )


def test_sequences_split_trains(proposal):
    run_dir = proposal / "raw" / "r0001"
    run = open_run(proposal, 1)
    seen = []
    for seq in (0, 1):
        with h5py.File(run_dir / f"RAW-R0001-DA01-S{seq:05d}.h5", "r") as f:
            tids = f["INDEX/trainId"][:]
        with h5py.File(run_dir / f"RAW-R0001-AGIPD02-S{seq:05d}.h5", "r") as f:
            assert (f["INDEX/trainId"][:] == tids).all()
        assert len(tids) == 100
        seen.extend(tids.tolist())
    assert seen == run.train_ids
    assert file_problems(run_dir) == []


def test_odd_sequence_sizes_and_no_modules(tmp_path):
    run_dir = simulate_run(tmp_path, 7, trains=25, trains_per_sequence=10, modules=0)
    assert sorted(p.name for p in run_dir.glob("*.h5")) == [
        "RAW-R0007-DA01-S00000.h5",
        "RAW-R0007-DA01-S00001.h5",
        "RAW-R0007-DA01-S00002.h5",
    ]
    run = extra_data.RunDirectory(str(run_dir))
    assert len(run.train_ids) == 25
    assert run[XGM_OUTPUT, "data.intensityTD"].data_counts(labelled=False).tolist() == [1] * 25
    assert RunValidator(str(run_dir)).run_checks() == []


# --------------------------------------------------------------------------- values


def test_values_are_physical_and_consistent(proposal):
    run = open_run(proposal, 1)
    params = run_parameters(1)
    intensity = run[XGM_OUTPUT, "data.intensityTD"].ndarray()
    flux = run[XGM, "pulseEnergy.photonFlux"].ndarray()
    assert ((intensity > 0).sum(axis=1) == params["pulses"]).all()
    assert (intensity[:, params["pulses"] :] == 0).all()
    np.testing.assert_allclose(flux, intensity[:, : params["pulses"]].mean(axis=1), rtol=1e-5)
    assert 200 < flux.mean() < 3000
    assert abs(flux.mean() - params["flux_mean_uj"]) < 0.2 * params["flux_mean_uj"]
    assert np.abs(run[XGM, "beamPosition.ixPos"].ndarray()).max() < 1.0

    # RUN holds the values at the start of the run.
    assert run[XGM].run_value("pulseEnergy.photonFlux") == flux[0]
    x = run[MOTOR_X, "actualPosition"].ndarray()
    assert (x == params["sample_x_mm"][0]).all()
    assert run[MOTOR_Y].run_value("actualPosition") == params["sample_y_mm"]

    pixels = run[CAMERA, "data.image.pixels"].ndarray()
    assert (pixels.max(axis=(1, 2)) > 2000).all()  # a beam spot on a background of ~100
    assert np.median(pixels) < 200

    frames = run[AGIPD.format(module=1), "image.data"].ndarray()
    assert 4000 < np.median(frames[:, 0]) < 6000
    cells = run[AGIPD.format(module=1), "image.cellId"].ndarray()
    assert cells[:10].ravel().tolist() == list(range(1, 11))


def test_scan_run_moves_motor(proposal):
    run = open_run(proposal, 3)
    params = run_parameters(3)
    assert params["scan"] and run.run_metadata()["runType"] == "SAMPLE_X scan"
    x = run[MOTOR_X, "actualPosition"].ndarray()
    assert np.unique(x).tolist() == params["sample_x_mm"]
    assert (np.diff(x) >= 0).all()
    # The timestamp changes only when the motor moves.
    stamps = run[MOTOR_X, "actualPosition.timestamp"].ndarray()
    assert len(np.unique(stamps)) == len(params["sample_x_mm"])


def test_run_level_parameters_vary_between_runs(proposal):
    means = [
        open_run(proposal, r)[XGM, "pulseEnergy.photonFlux"].ndarray().mean() for r in range(1, 5)
    ]
    assert np.std(means) > 20
    samples = {run_parameters(r)["sample"] for r in range(1, 20)}
    assert len(samples) > 2


def test_runs_follow_each_other_in_time(proposal):
    previous_end = None
    for r in range(1, 5):
        run = open_run(proposal, r)
        if previous_end is not None:
            assert run.train_ids[0] == previous_end + 1 + run_parameters(r)["gap_trains"]
        previous_end = run.train_ids[-1]
    first = open_run(proposal, 1).train_timestamps(labelled=False)[-1]
    second = open_run(proposal, 2).train_timestamps(labelled=False)[0]
    assert second > first


def test_deterministic_given_run_and_seed(tmp_path):
    a = simulate_run(tmp_path / "a", 5, **SMALL)
    b = simulate_run(tmp_path / "b", 5, **SMALL)
    c = simulate_run(tmp_path / "c", 5, seed=1, **SMALL)
    ra, rb, rc = (extra_data.RunDirectory(str(p)) for p in (a, b, c))
    assert ra.train_ids == rb.train_ids
    for src, key in [(XGM, "pulseEnergy.photonFlux"), (AGIPD.format(module=0), "image.data")]:
        np.testing.assert_array_equal(ra[src, key].ndarray(), rb[src, key].ndarray())
    assert not np.array_equal(
        ra[XGM, "pulseEnergy.photonFlux"].ndarray(), rc[XGM, "pulseEnergy.photonFlux"].ndarray()
    )


# --------------------------------------------------------------------------- growing files

POLLER = """
import json, sys, time
import h5py
seen, deadline = [], time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        with h5py.File(sys.argv[1], "r") as f:
            seen.append([f["INDEX/trainId"].shape[0], "updateDate" in f["METADATA"]])
    except (OSError, KeyError):
        pass  # not there yet, or caught mid-write
    if seen and seen[-1][1]:
        break
    time.sleep(0.01)
print(json.dumps(seen))
"""


def test_growing_write_is_visible_and_ends_complete(tmp_path):
    kwargs = dict(trains=40, trains_per_sequence=25, modules=1, write_seconds=2.0)
    result = {}

    def write():
        result["path"] = simulate_run(tmp_path / "live", 1, **kwargs)

    first_file = tmp_path / "live" / "raw" / "r0001" / "RAW-R0001-DA01-S00000.h5"
    # Another process polls as a reader would, with HDF5's default file locking.
    poller = subprocess.Popen(
        [sys.executable, "-c", POLLER, str(first_file)], stdout=subprocess.PIPE, text=True
    )
    writer = threading.Thread(target=write)
    writer.start()
    observed = set()  # (trains, has updateDate)
    while writer.is_alive():
        if first_file.exists():
            try:
                # Same process as the writer: HDF5 needs matching locking flags.
                with h5py.File(first_file, "r", locking=False) as f:
                    observed.add((f["INDEX/trainId"].shape[0], "updateDate" in f["METADATA"]))
            except (OSError, KeyError):
                pass  # caught between creation and the first datasets
        time.sleep(0.01)
    writer.join()

    assert any(0 < n < 25 and not closed for n, closed in observed), observed
    seen_elsewhere = json.loads(poller.communicate(timeout=120)[0])
    assert any(0 < n < 25 and not closed for n, closed in seen_elsewhere), seen_elsewhere
    assert seen_elsewhere[-1] == [25, True]
    run_dir = result["path"]
    assert RunValidator(str(run_dir)).run_checks() == []
    with h5py.File(first_file, "r") as f:
        assert f["INDEX/trainId"].shape == (25,) and "updateDate" in f["METADATA"]

    # Written slowly or at once, the run is the same.
    fast = extra_data.RunDirectory(
        str(simulate_run(tmp_path / "fast", 1, **dict(kwargs, write_seconds=0)))
    )
    slow = extra_data.RunDirectory(str(run_dir))
    assert slow.train_ids == fast.train_ids
    for src, key in [(CAMERA, "data.image.pixels"), (AGIPD.format(module=0), "image.data")]:
        np.testing.assert_array_equal(slow[src, key].ndarray(), fast[src, key].ndarray())


# --------------------------------------------------------------------------- many runs


def test_simulator_writes_n_runs_then_stops(tmp_path):
    done = []
    with Simulator(
        tmp_path, runs=3, every=0.0, on_run=lambda r, p: done.append((r, p)), **SMALL
    ) as sim:
        assert sim.join(timeout=60)
    assert sim.runs_written == [1, 2, 3]
    assert [r for r, _ in done] == [1, 2, 3]
    assert sim.error is None and not sim.running
    sim.stop()
    sim.stop()  # safe twice
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["r0001", "r0002", "r0003"]
    run = extra_data.RunDirectory(str(done[-1][1]))
    assert len(run.train_ids) == 30


def test_simulator_stop_finishes_the_current_run(tmp_path):
    simulate_run(tmp_path, 1, **SMALL)
    first = threading.Event()
    sim = Simulator(tmp_path, runs=None, every=0.05, on_run=lambda r, p: first.set(), **SMALL)
    sim.start()
    sim.start()  # no second thread
    assert first.wait(60)
    sim.stop()
    assert sim.join(60)
    written = sim.runs_written
    assert written[0] == 2  # continues after the existing run
    assert written == list(range(2, 2 + len(written)))
    for run in written:
        assert file_problems(tmp_path / "raw" / f"r{run:04d}") == []


def test_simulator_keeps_and_reraises_errors(tmp_path):
    simulate_run(tmp_path, 2, **SMALL)
    sim = Simulator(tmp_path, runs=3, every=0.0, first_run=1, **SMALL).start()
    with pytest.raises(RunExistsError) as info:
        sim.join(60)
    assert isinstance(sim.error, RunExistsError)
    assert info.value.path == tmp_path / "raw" / "r0002"
    assert sim.runs_written == [1]


def test_simulate_proposal_numbers_runs_from_the_next_free(tmp_path):
    simulate_run(tmp_path, 4, **SMALL)
    paths = simulate_proposal(tmp_path, 2, **SMALL)
    assert [p.name for p in paths] == ["r0005", "r0006"]
    assert simulate_proposal(tmp_path, 1, first_run=10, proposal=77, **SMALL)[0].name == "r0010"
    meta = extra_data.RunDirectory(str(tmp_path / "raw" / "r0010")).run_metadata()
    assert meta["proposalNumber"] == 77 and meta["runNumber"] == 10


def test_proposal_number_defaults_to_1234_without_p_directory(tmp_path):
    run_dir = simulate_run(tmp_path / "somewhere", 1, **SMALL)
    assert extra_data.RunDirectory(str(run_dir)).run_metadata()["proposalNumber"] == 1234


# --------------------------------------------------------------------------- errors and CLI


def test_existing_run_is_never_overwritten(tmp_path):
    run_dir = simulate_run(tmp_path, 1, **SMALL)
    with pytest.raises(FileExistsError) as info:
        simulate_run(tmp_path, 1, **SMALL)
    assert isinstance(info.value, RunExistsError) and info.value.path == run_dir
    assert "another run number" in str(info.value)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(run=0), "run"),
        (dict(run=10000), "run"),
        (dict(trains=0), "trains"),
        (dict(modules=17), "modules"),
        (dict(write_seconds=-1), "write_seconds"),
        (dict(seed=-2), "seed"),
        (dict(trains_per_sequence=1.5), "trains_per_sequence"),
        (dict(locking="yes"), "locking"),
    ],
)
def test_bad_parameters(tmp_path, kwargs, name):
    kwargs = dict(dict(run=1), **kwargs)
    with pytest.raises(ValueError) as info:
        simulate_run(tmp_path, kwargs.pop("run"), **kwargs)
    assert isinstance(info.value, SimulationParameterError)
    assert info.value.name == name
    assert not (tmp_path / "raw").exists()


def test_bad_loop_parameters_fail_before_any_writing(tmp_path):
    with pytest.raises(SimulationParameterError) as info:
        Simulator(tmp_path, every=-1)
    assert info.value.name == "every" and info.value.value == -1
    with pytest.raises(SimulationParameterError) as info:
        Simulator(tmp_path, trains=0)
    assert info.value.name == "trains"
    with pytest.raises(TypeError):
        Simulator(tmp_path, train=10)
    with pytest.raises(SimulationParameterError):
        simulate_proposal(tmp_path, 2, modules=-1)
    assert not (tmp_path / "raw").exists()


def test_cli_writes_runs(tmp_path):
    prop = tmp_path / "p000900"
    out = subprocess.run(
        [sys.executable, "-m", "damnit_nb", "simulate", str(prop), "--runs", "2", "--every", "0",
         "--trains", "20", "--trains-per-sequence", "8", "--modules", "2", "--seed", "3"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2 and "r0001" in lines[0] and "r0002" in lines[1]
    run = extra_data.RunDirectory(str(prop / "raw" / "r0002"))
    assert len(run.train_ids) == 20
    assert len(list((prop / "raw" / "r0002").glob("*.h5"))) == 3 * 3
    assert run.run_metadata()["proposalNumber"] == 900


def test_cli_reports_bad_arguments(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "damnit_nb", "simulate", str(tmp_path), "--runs", "1", "--modules", "99"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2
    assert "modules=99" in out.stderr


def test_cli_ctrl_c_finishes_the_run_being_written(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "damnit_nb", "simulate", str(tmp_path), "--runs", "0", "--every", "0.2",
         "--trains", "20", "--modules", "1", "--write-seconds", "0.5"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout.readline().startswith("run 1:")
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert rest.splitlines()[-1] == "stopped"
    runs = sorted((tmp_path / "raw").iterdir())
    for run_dir in runs:
        assert file_problems(run_dir) == []
        assert len(extra_data.RunDirectory(str(run_dir)).train_ids) == 20


def test_growing_files_readable_in_process_with_default_locking(tmp_path):
    kwargs = dict(trains=30, trains_per_sequence=30, modules=0, write_seconds=1.5, locking=None)
    writer = threading.Thread(target=simulate_run, args=(tmp_path, 1), kwargs=kwargs)
    path = tmp_path / "raw" / "r0001" / "RAW-R0001-DA01-S00000.h5"
    writer.start()
    observed, errors = set(), []
    while writer.is_alive():
        if path.exists():
            try:
                with h5py.File(path, "r") as f:  # HDF5's default locking, as readers use
                    observed.add(f["INDEX/trainId"].shape[0])
            except KeyError:
                pass  # caught between creation and the first datasets
            except OSError as exc:
                errors.append(exc)
        time.sleep(0.01)
    writer.join()
    assert errors == []
    assert any(0 < n < 30 for n in observed), observed
    assert file_problems(path.parent) == []
