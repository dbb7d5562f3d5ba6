"""Simulated European XFEL runs, written the way the DAQ writes them.

A run goes to ``<proposal_dir>/raw/r{run:04d}/`` as HDF5 files in the facility's format
(``dataFormatVersion`` 1.3): one data-aggregator file per sequence (``RAW-R0001-DA01-S00000.h5``)
and one file per detector module and sequence (``RAW-R0001-AGIPD00-S00000.h5``).

What a run holds (every value is deterministic given the run number and the seed):

=========================================  =========================================================
source                                     keys
=========================================  =========================================================
``SA1_XTD2_XGM/DOOCS/MAIN`` (control)      ``pulseEnergy.photonFlux`` (uJ, the train's mean pulse
                                           energy), ``pulseEnergy.wavelengthUsed`` (nm),
                                           ``beamPosition.ixPos`` / ``iyPos`` (mm)
``SA1_XTD2_XGM/DOOCS/MAIN:output``         ``data.intensityTD`` (float32, 1000 per train; the first
                                           ``pulses`` entries are pulse energies in uJ, the rest 0)
``SPB_IRU_MOTORS/MDL/SAMPLE_X`` / ``_Y``   ``actualPosition`` (mm); SAMPLE_X steps through a scan in
                                           every third run
``SPB_EXP_ZYLA/CAM/1:daqOutput``           ``data.image.pixels`` (uint16, 64 x 64, a beam spot);
                                           the camera misses about 2% of trains
``SPB_DET_AGIPD1M-1/DET/{m}CH0:xtdf``      ``image.data`` (uint16, frames x 2 x 32 x 16: data and
                                           gain planes), ``image.pulseId``, ``image.cellId``,
                                           ``image.trainId``, ``header.pulseCount``,
                                           ``header.trainId``; 10 frames per train
=========================================  =========================================================

Run-level parameters drift from run to run (mean photon flux, number of pulses, beam position,
sample and motor positions): :func:`run_parameters` tells what they are for a run.

Train IDs are a clock ticking at 10 Hz: a run starts where the latest earlier run in ``raw/``
ended, plus a gap of 10 to 60 s; with no earlier run, it starts at a fixed time (from
2026-03-02 08:00 UTC, later for higher run numbers). Dates in METADATA and ``INDEX/timestamp``
follow the train IDs, so the same arguments give the same files when ``raw/`` holds the same
earlier runs.

Files are complete once ``METADATA/updateDate`` exists: it is written when a file is closed.
Source names are module constants (:data:`XGM`, :data:`XGM_OUTPUT`, :data:`MOTOR_X`,
:data:`MOTOR_Y`, :data:`CAMERA`, and :data:`AGIPD` with a ``{module}`` field).
"""

import math
import os
import re
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

__all__ = [
    "simulate_run",
    "simulate_proposal",
    "Simulator",
    "run_parameters",
    "SimulationParameterError",
    "RunExistsError",
    "add_arguments",
    "run_cli",
    "XGM",
    "XGM_OUTPUT",
    "MOTOR_X",
    "MOTOR_Y",
    "CAMERA",
    "AGIPD",
]

FORMAT_VERSION = "1.3"
XGM = "SA1_XTD2_XGM/DOOCS/MAIN"
XGM_OUTPUT = "SA1_XTD2_XGM/DOOCS/MAIN:output"
MOTOR_X = "SPB_IRU_MOTORS/MDL/SAMPLE_X"
MOTOR_Y = "SPB_IRU_MOTORS/MDL/SAMPLE_Y"
CAMERA = "SPB_EXP_ZYLA/CAM/1:daqOutput"
AGIPD = "SPB_DET_AGIPD1M-1/DET/{module}CH0:xtdf"

_TRAIN_NS = 100_000_000  # 10 Hz
_BASE_TRAIN_ID = 2_100_000_000
_BASE_TIME_NS = int(datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc).timestamp()) * 10**9
_XGM_SLOTS = 1000
_CAMERA_SHAPE = (64, 64)
_MODULE_SHAPE = (2, 32, 16)
_AGIPD_FRAMES = 10
_PULSE_CHOICES = (25, 50, 50, 50, 100)
_SAMPLES = ("Lysozyme", "Thaumatin", "Buffer only", "Proteinase K", "YAG screen")
_SCAN_STEPS = 11
_RUN_DIR_RE = re.compile(r"r(\d{4})")
_FLUSHES_PER_SECOND = 4


class SimulationParameterError(ValueError):
    """A simulation parameter is out of range; ``name`` and ``value`` tell which."""

    def __init__(self, name, value, expected):
        self.name = name
        self.value = value
        super().__init__(f"{name}={value!r} is not valid: pass {expected}.")


class RunExistsError(FileExistsError):
    """The run directory already holds data files; runs are never overwritten."""

    def __init__(self, path):
        self.path = Path(path)
        super().__init__(
            f"{self.path} already holds .h5 files: choose another run number "
            "(Simulator and simulate_proposal pick the next free one) or delete the directory."
        )


# --------------------------------------------------------------------------- parameters


def _check_int(name, value, low, high=None):
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if ok and value >= low and (high is None or value <= high):
        return int(value)
    expected = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    raise SimulationParameterError(name, value, expected)


def _check_seconds(name, value):
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not seconds >= 0 or math.isinf(seconds):
        raise SimulationParameterError(name, value, "a finite number of seconds >= 0")
    return seconds


def run_parameters(run, seed=0):
    """The run-level parameters the simulation uses for ``run`` (a dict).

    Keys: ``flux_mean_uj`` (mean pulse energy), ``pulses`` (pulses per train),
    ``wavelength_nm``, ``beam_x_mm`` / ``beam_y_mm`` (mean beam position), ``sample``,
    ``run_type``, ``scan`` (whether SAMPLE_X scans), ``sample_x_mm`` (list of positions:
    one, or one per scan step), ``sample_y_mm``, ``gap_trains`` (trains between the previous run
    and this one).
    """
    run = _check_int("run", run, 1, 9999)
    seed = _check_int("seed", seed, 0)
    phase = np.random.default_rng([seed, 0]).uniform(0, 2 * np.pi, 3)
    rng = np.random.default_rng([seed, run, 1])
    flux = 1500 + 500 * np.sin(2 * np.pi * run / 15 + phase[0]) + rng.normal(0, 40)
    pulses = int(_PULSE_CHOICES[rng.integers(len(_PULSE_CHOICES))])
    beam_x = 0.15 * np.sin(run / 7 + phase[1]) + rng.normal(0, 0.02)
    beam_y = 0.10 * np.sin(run / 5 + phase[2]) + rng.normal(0, 0.02)
    block = (run - 1) // 4
    x0 = round(10.0 + 2.0 * (block % 6), 3)
    scan = run % 3 == 0
    if scan:
        xs = [round(x, 3) for x in np.linspace(x0 - 1.0, x0 + 1.0, _SCAN_STEPS)]
    else:
        xs = [x0]
    return {
        "flux_mean_uj": float(round(max(flux, 200.0), 1)),
        "pulses": pulses,
        "wavelength_nm": 0.13332,
        "beam_x_mm": float(round(beam_x, 4)),
        "beam_y_mm": float(round(beam_y, 4)),
        "sample": _SAMPLES[block % len(_SAMPLES)],
        "run_type": "SAMPLE_X scan" if scan else "Experiment",
        "scan": scan,
        "sample_x_mm": xs,
        "sample_y_mm": round(-3.5 + 0.25 * ((run - 1) % 4), 3),
        "gap_trains": int(rng.integers(100, 601)),
    }


# --------------------------------------------------------------------------- the run plan


def _train_time_ns(train_ids):
    return _BASE_TIME_NS + (np.asarray(train_ids, np.int64) - _BASE_TRAIN_ID) * _TRAIN_NS


def _date(ns):
    stamp = datetime.fromtimestamp(int(ns) // 10**9, tz=timezone.utc)
    return stamp.strftime("%Y%m%dT%H%M%SZ")


class _Plan:
    """Everything per train for one run; the large arrays are made per chunk from it."""

    def __init__(self, run, trains, first_train, seed, params):
        self.run = run
        self.seed = seed
        self.params = params
        self.ntrains = trains
        self.train_ids = np.arange(first_train, first_train + trains, dtype=np.uint64)
        self.timestamps = _train_time_ns(self.train_ids).astype(np.uint64)
        rng = np.random.default_rng([seed, run, 2])
        p = params

        # Pulse energies: SASE fluctuations around a slowly wandering train mean.
        wander = 1 + np.clip(np.cumsum(rng.normal(0, 0.004, trains)), -0.15, 0.15)
        self.energies = (
            p["flux_mean_uj"] * wander[:, None] * rng.gamma(40.0, 1 / 40.0, (trains, p["pulses"]))
        ).astype(np.float32)
        self.flux = self.energies.mean(axis=1, dtype=np.float64).astype(np.float32)
        self.beam_x = (p["beam_x_mm"] + rng.normal(0, 0.01, trains)).astype(np.float32)
        self.beam_y = (p["beam_y_mm"] + rng.normal(0, 0.01, trains)).astype(np.float32)
        self.camera_present = rng.random(trains) >= 0.02

        # Motors: a value and the time it was last updated, per train.
        settled = int(self.timestamps[0]) - int(rng.integers(20, 300)) * 10**9
        xs = np.asarray(p["sample_x_mm"], np.float64)
        step = np.minimum(np.arange(trains) * len(xs) // trains, len(xs) - 1)
        self.motor_x = xs[step]
        step_start = np.searchsorted(step, step)  # first train of each train's step
        self.motor_x_ts = np.where(step == 0, settled, self.timestamps[step_start].astype(np.int64))
        self.motor_x_ts = self.motor_x_ts.astype(np.uint64)
        self.motor_y = np.full(trains, p["sample_y_mm"], np.float64)
        self.motor_y_ts = np.full(trains, settled - 7 * 10**9, np.uint64)

        # Fixed detector and camera properties (per proposal seed, not per run).
        drng = np.random.default_rng([seed, 3])
        self.camera_noise = drng.poisson(4.0, (16,) + _CAMERA_SHAPE).astype(np.uint16)
        self._modules = {}

    def module_constants(self, module):
        """Offset, gain plane, scattering pattern and a noise bank for one AGIPD module."""
        if module not in self._modules:
            rng = np.random.default_rng([self.seed, 4, module])
            rows, cols = np.mgrid[0 : _MODULE_SHAPE[1], 0 : _MODULE_SHAPE[2]]
            # Modules sit around the beam; the pattern is a diffuse ring.
            angle = 2 * np.pi * module / 16
            r = np.hypot(rows + 20 * np.cos(angle) + 10, cols + 20 * np.sin(angle) + 10)
            pattern = np.exp(-(((r - 30) / 8) ** 2)) + 0.05
            offset = rng.normal(5000, 150, _MODULE_SHAPE[1:]).astype(np.float32)
            gain = rng.normal(4300, 60, _MODULE_SHAPE[1:]).astype(np.float32)
            noise = rng.normal(0, 12, (37,) + _MODULE_SHAPE).astype(np.float32)
            self._modules[module] = (offset, gain, (pattern * 0.2).astype(np.float32), noise)
        return self._modules[module]


# --------------------------------------------------------------------------- sources


class _Control:
    """A control source: keys with a value and a timestamp per train, mirrored in RUN."""

    def __init__(self, name, keys, class_id):
        self.name = name
        self.keys = keys  # key path -> (values, timestamps, dtype, (prefix, unit))
        self.class_id = class_id

    def datasource_ids(self):
        return [f"CONTROL/{self.name}"]


class _Instrument:
    """An output channel: ``groups`` maps index group -> {key: (dtype, entry shape, units)};
    ``rows(plan, i0, i1)`` gives, per group, the counts per train and the key arrays."""

    def __init__(self, name, groups, rows, rows_per_train):
        self.name = name
        self.groups = groups
        self.rows = rows
        self.rows_per_train = rows_per_train  # group -> most rows one train can have

    def datasource_ids(self):
        return [f"INSTRUMENT/{self.name}/{g}" for g in self.groups]


def _xgm_rows(plan, i0, i1):
    n = i1 - i0
    intensity = np.zeros((n, _XGM_SLOTS), np.float32)
    intensity[:, : plan.energies.shape[1]] = plan.energies[i0:i1]
    return {
        "data": (
            np.ones(n, np.uint64),
            {"trainId": plan.train_ids[i0:i1], "intensityTD": intensity},
        )
    }


def _camera_rows(plan, i0, i1):
    present = plan.camera_present[i0:i1]
    idx = np.arange(i0, i1)[present]
    h, w = _CAMERA_SHAPE
    cx = w / 2 + 40 * plan.beam_x[idx] + 3 * np.sin(plan.motor_x[idx])
    cy = h / 2 + 40 * plan.beam_y[idx]
    gx = np.exp(-(((np.arange(w)[None, :] - cx[:, None]) / 6.0) ** 2) / 2)
    gy = np.exp(-(((np.arange(h)[None, :] - cy[:, None]) / 5.0) ** 2) / 2)
    amp = (8.0 * plan.flux[idx])[:, None, None]
    image = amp * gy[:, :, None] * gx[:, None, :] + 100.0
    image += plan.camera_noise[idx % len(plan.camera_noise)]
    pixels = np.clip(image, 0, 65535).astype(np.uint16)
    return {
        "data": (
            present.astype(np.uint64),
            {"trainId": plan.train_ids[idx], "image/pixels": pixels},
        )
    }


def _agipd_rows(module):
    def rows(plan, i0, i1):
        n = i1 - i0
        frames = _AGIPD_FRAMES
        offset, gain, pattern, noise = plan.module_constants(module)
        energies = plan.energies[i0:i1, :frames].reshape(-1)
        bank = (np.arange(i0 * frames, i1 * frames) * 7 + module) % len(noise)
        data = noise[bank]  # a copy: (n * frames, 2, rows, cols)
        data[:, 0] += offset + energies[:, None, None] * pattern
        data[:, 1] += gain
        pulse = np.tile(np.arange(frames, dtype=np.uint64), n)[:, None]
        image = {
            "trainId": np.repeat(plan.train_ids[i0:i1], frames)[:, None],
            "pulseId": pulse,
            "cellId": (pulse + 1).astype(np.uint16),
            "data": np.clip(data, 0, 65535).astype(np.uint16),
        }
        header = {
            "trainId": plan.train_ids[i0:i1],
            "pulseCount": np.full(n, frames, np.uint64),
        }
        return {
            "image": (np.full(n, frames, np.uint64), image),
            "header": (np.ones(n, np.uint64), header),
        }

    return rows


def _sources(plan, modules):
    """Sources per aggregator: {aggregator: [source, ...]}."""
    um, mm, nm = ("u", "J"), ("m", "m"), ("n", "m")
    ts = plan.timestamps
    xgm = _Control(
        XGM,
        {
            "pulseEnergy/photonFlux": (plan.flux, ts, "f4", um),
            "pulseEnergy/wavelengthUsed": (
                np.full(plan.ntrains, plan.params["wavelength_nm"], np.float32),
                ts,
                "f4",
                nm,
            ),
            "beamPosition/ixPos": (plan.beam_x, ts, "f4", mm),
            "beamPosition/iyPos": (plan.beam_y, ts, "f4", mm),
        },
        "DoocsXGM",
    )
    motors = [
        _Control(
            MOTOR_X, {"actualPosition": (plan.motor_x, plan.motor_x_ts, "f8", mm)}, "SimulatedMotor"
        ),
        _Control(
            MOTOR_Y, {"actualPosition": (plan.motor_y, plan.motor_y_ts, "f8", mm)}, "SimulatedMotor"
        ),
    ]
    xgm_out = _Instrument(
        XGM_OUTPUT,
        {"data": {"trainId": ("u8", (), None), "intensityTD": ("f4", (_XGM_SLOTS,), um)}},
        _xgm_rows,
        {"data": 1},
    )
    camera = _Instrument(
        CAMERA,
        {"data": {"trainId": ("u8", (), None), "image/pixels": ("u2", _CAMERA_SHAPE, None)}},
        _camera_rows,
        {"data": 1},
    )
    by_agg = {"DA01": [xgm, *motors, xgm_out, camera]}
    for m in range(modules):
        by_agg[f"AGIPD{m:02d}"] = [
            _Instrument(
                AGIPD.format(module=m),
                {
                    "image": {
                        "trainId": ("u8", (1,), None),
                        "pulseId": ("u8", (1,), None),
                        "cellId": ("u2", (1,), None),
                        "data": ("u2", _MODULE_SHAPE, None),
                    },
                    "header": {"trainId": ("u8", (), None), "pulseCount": ("u8", (), None)},
                },
                _agipd_rows(m),
                {"image": _AGIPD_FRAMES, "header": 1},
            )
        ]
    return by_agg


# --------------------------------------------------------------------------- file writing


def _set_units(obj, units):
    if units:
        prefix, unit = units
        obj.attrs["metricPrefixSymbol"] = prefix.encode("ascii")
        obj.attrs["unitSymbol"] = unit.encode("ascii")


def _chunk_rows(dtype, entry_shape, expected_rows):
    row_bytes = np.dtype(dtype).itemsize * int(np.prod(entry_shape, dtype=np.int64))
    return max(1, min(65536 // max(row_bytes, 1), max(expected_rows, 1)))


def _extend(ds, values):
    old = ds.shape[0]
    ds.resize(old + len(values), axis=0)
    ds[old:] = values


class _SequenceFile:
    """One open file of the run, growing as trains are appended."""

    def __init__(self, path, plan, sources, meta, seq, expected_trains, locking):
        import h5py

        self.plan = plan
        self.sources = sources
        self.ntrains = 0
        self.rows = {}  # (source, group) -> rows written
        self.f = f = h5py.File(path, "w", locking=locking)

        ids = [d for s in sources for d in s.datasource_ids()]
        padded = len(ids) + (-len(ids)) % 8
        vlen = h5py.string_dtype("ascii")
        for name, values in (
            ("dataSourceId", ids),
            ("root", [d.split("/", 1)[0] for d in ids]),
            ("deviceId", [d.split("/", 1)[1] for d in ids]),
        ):
            ds = f.create_dataset(f"METADATA/dataSources/{name}", (padded,), vlen, maxshape=(None,))
            ds[: len(values)] = values
        for name, value in meta.items():
            if isinstance(value, str):
                f.create_dataset(f"METADATA/{name}", data=[value.encode("ascii")])
            else:
                f.create_dataset(f"METADATA/{name}", data=[value], dtype=np.uint32)
        f.create_dataset("METADATA/sequenceNumber", data=[seq], dtype=np.uint32)

        def growing(path, dtype, entry_shape=(), expected=expected_trains):
            chunks = (_chunk_rows(dtype, entry_shape, expected),) + tuple(entry_shape)
            return f.create_dataset(
                path,
                (0,) + tuple(entry_shape),
                dtype,
                maxshape=(None,) + tuple(entry_shape),
                chunks=chunks,
            )

        for name, dtype in (
            ("trainId", "u8"),
            ("flag", "i4"),
            ("timestamp", "u8"),
            ("origin", "i4"),
        ):
            growing(f"INDEX/{name}", dtype)
        for src in sources:
            if isinstance(src, _Control):
                growing(f"INDEX/{src.name}/first", "u8")
                growing(f"INDEX/{src.name}/count", "u8")
                for key, (values, stamps, dtype, units) in src.keys.items():
                    _set_units(f.require_group(f"CONTROL/{src.name}/{key}"), units)
                    growing(f"CONTROL/{src.name}/{key}/value", dtype)
                    growing(f"CONTROL/{src.name}/{key}/timestamp", "u8")
                    run_group = f.require_group(f"RUN/{src.name}/{key}")
                    _set_units(run_group, units)
                    run_group.create_dataset(
                        "value", data=values[:1].astype(dtype), maxshape=(None,)
                    )
                    run_group.create_dataset(
                        "timestamp", data=stamps[:1].astype(np.uint64), maxshape=(None,)
                    )
                f.create_dataset(
                    f"RUN/{src.name}/classId/value", data=[src.class_id.encode("ascii")]
                )
                f.create_dataset(
                    f"RUN/{src.name}/classId/timestamp", data=[plan.timestamps[0]], dtype="u8"
                )
            else:
                for group, keys in src.groups.items():
                    growing(f"INDEX/{src.name}/{group}/first", "u8")
                    growing(f"INDEX/{src.name}/{group}/count", "u8")
                    self.rows[(src.name, group)] = 0
                    expected = expected_trains * src.rows_per_train[group]
                    for key, (dtype, shape, units) in keys.items():
                        ds = growing(f"INSTRUMENT/{src.name}/{group}/{key}", dtype, shape, expected)
                        _set_units(ds, units)

    def append(self, i0, i1):
        """Write trains ``i0:i1`` of the run: data first, then index, train IDs last."""
        f, plan, n = self.f, self.plan, i1 - i0
        for src in self.sources:
            if isinstance(src, _Control):
                for key, (values, stamps, dtype, _units) in src.keys.items():
                    _extend(f[f"CONTROL/{src.name}/{key}/value"], values[i0:i1].astype(dtype))
                    _extend(f[f"CONTROL/{src.name}/{key}/timestamp"], stamps[i0:i1])
                _extend(
                    f[f"INDEX/{src.name}/first"],
                    np.arange(self.ntrains, self.ntrains + n, dtype=np.uint64),
                )
                _extend(f[f"INDEX/{src.name}/count"], np.ones(n, np.uint64))
            else:
                for group, (counts, arrays) in src.rows(plan, i0, i1).items():
                    for key, values in arrays.items():
                        _extend(f[f"INSTRUMENT/{src.name}/{group}/{key}"], values)
                    start = self.rows[(src.name, group)]
                    firsts = start + np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.uint64)
                    _extend(f[f"INDEX/{src.name}/{group}/first"], firsts)
                    _extend(f[f"INDEX/{src.name}/{group}/count"], counts)
                    self.rows[(src.name, group)] = start + int(counts.sum())
        _extend(f["INDEX/flag"], np.ones(n, np.int32))
        _extend(f["INDEX/origin"], np.full(n, -1, np.int32))
        _extend(f["INDEX/timestamp"], plan.timestamps[i0:i1])
        _extend(f["INDEX/trainId"], plan.train_ids[i0:i1])
        self.ntrains += n

    def flush(self):
        self.f.flush()

    def close(self, last_train_index):
        end = int(self.plan.timestamps[last_train_index]) + 10**9
        self.f.create_dataset("METADATA/updateDate", data=[_date(end).encode("ascii")])
        self.f.close()


# --------------------------------------------------------------------------- runs


def _proposal_number(proposal_dir):
    m = re.fullmatch(r"p(\d+)", Path(proposal_dir).name)
    return int(m.group(1)) if m else 1234


def _existing_runs(proposal_dir):
    raw = Path(proposal_dir) / "raw"
    if not raw.is_dir():
        return []
    found = []
    for entry in os.scandir(raw):
        m = _RUN_DIR_RE.fullmatch(entry.name)
        if m and entry.is_dir():
            found.append(int(m.group(1)))
    return sorted(found)


def _next_free_run(proposal_dir):
    runs = _existing_runs(proposal_dir)
    return runs[-1] + 1 if runs else 1


def _last_train_before(proposal_dir, run):
    """Last train ID of the latest run before ``run`` in raw/, or None if there is none."""
    import h5py

    earlier = [r for r in _existing_runs(proposal_dir) if r < run]
    for prev in reversed(earlier):
        run_dir = Path(proposal_dir) / "raw" / f"r{prev:04d}"
        last = 0
        for path in run_dir.glob("*-DA*-S*.h5"):
            tids = None
            # HDF5 refuses a second open in one process with other locking flags than the
            # first: try the default (as readers use), then none (as this writer uses).
            for locking in (None, False):
                try:
                    with h5py.File(path, "r", locking=locking) as f:
                        tids = f["INDEX/trainId"][:]
                    break
                except (OSError, KeyError):
                    continue
            if tids is None:
                continue
            if tids.size:
                last = max(last, int(tids.max()))
        if last:
            return last
    return None


def _check_run_args(
    *,
    trains=200,
    trains_per_sequence=100,
    modules=4,
    write_seconds=0.0,
    seed=0,
    proposal=None,
    locking=False,
):
    """Checked keyword arguments of :func:`simulate_run`, as a dict of all of them."""
    if locking not in (False, None, True, "best-effort"):
        raise SimulationParameterError(
            "locking", locking, "False, None, True or 'best-effort' (as for h5py.File)"
        )
    return {
        "trains": _check_int("trains", trains, 1),
        "trains_per_sequence": _check_int("trains_per_sequence", trains_per_sequence, 1),
        "modules": _check_int("modules", modules, 0, 16),
        "write_seconds": _check_seconds("write_seconds", write_seconds),
        "seed": _check_int("seed", seed, 0),
        "proposal": None if proposal is None else _check_int("proposal", proposal, 0),
        "locking": locking,
    }


def simulate_run(
    proposal_dir,
    run,
    *,
    trains=200,
    trains_per_sequence=100,
    modules=4,
    write_seconds=0.0,
    seed=0,
    proposal=None,
    locking=False,
):
    """Write run ``run`` into ``<proposal_dir>/raw/r{run:04d}/`` and return that directory.

    ``trains`` trains go into sequence files of ``trains_per_sequence`` trains each, one DA01
    file and ``modules`` AGIPD module files per sequence. ``proposal`` defaults to the number
    in a directory named ``p<digits>``, else 1234.

    With ``write_seconds=0`` the files are written as fast as possible. With
    ``write_seconds>0`` they are written as the DAQ does, over about that time: the files of a
    sequence are created, trains are appended in chunks with a flush after each, and
    ``METADATA/updateDate`` is written when a file is closed. A reader polling meanwhile sees
    files grow and may find them incomplete.

    ``locking`` is the HDF5 file locking used while writing (as for ``h5py.File``). The
    default, False, takes no lock, so other processes can read the files while they grow, as
    with the DAQ. HDF5 refuses to open one file twice in a process with different locking
    flags, so a reader in the same process gets an ``OSError`` for a file being written
    unless it opens it with ``locking=False`` too. ``locking=None`` follows HDF5's default:
    readers in this process then open growing files normally, but other processes cannot
    open them until they are closed. Closed files open normally either way.

    Raises :class:`SimulationParameterError` for out-of-range arguments and
    :class:`RunExistsError` if the run directory already holds data files.
    """
    run = _check_int("run", run, 1, 9999)
    checked = _check_run_args(
        trains=trains,
        trains_per_sequence=trains_per_sequence,
        modules=modules,
        write_seconds=write_seconds,
        seed=seed,
        proposal=proposal,
        locking=locking,
    )
    trains, trains_per_sequence = checked["trains"], checked["trains_per_sequence"]
    modules, write_seconds, seed = checked["modules"], checked["write_seconds"], checked["seed"]
    proposal = checked["proposal"]
    if proposal is None:
        proposal = _proposal_number(proposal_dir)

    run_dir = Path(proposal_dir) / "raw" / f"r{run:04d}"
    if run_dir.is_dir() and any(run_dir.glob("*.h5")):
        raise RunExistsError(run_dir)

    params = run_parameters(run, seed)
    last = _last_train_before(proposal_dir, run)
    if last is None:
        first_train = _BASE_TRAIN_ID + (run - 1) * (trains + 400)
    else:
        first_train = last + 1 + params["gap_trains"]
    plan = _Plan(run, trains, first_train, seed, params)
    sources = _sources(plan, modules)
    run_dir.mkdir(parents=True, exist_ok=True)

    # Chunks of trains to append between flushes, cut at sequence boundaries.
    if write_seconds > 0:
        per_chunk = max(1, math.ceil(trains / max(1, round(write_seconds * _FLUSHES_PER_SECOND))))
    else:
        per_chunk = trains
    started = time.monotonic()
    written = 0
    for seq, s0 in enumerate(range(0, trains, trains_per_sequence)):
        s1 = min(s0 + trains_per_sequence, trains)
        meta = {
            "dataFormatVersion": FORMAT_VERSION,
            "creationDate": _date(plan.timestamps[s0]),
            "daqLibrary": "damnit_nb.simulate",
            "karaboFramework": "2.20 (simulated)",
            "proposalNumber": proposal,
            "runNumber": run,
            "runType": params["run_type"],
            "sample": params["sample"],
        }
        files = [
            _SequenceFile(
                run_dir / f"RAW-R{run:04d}-{agg}-S{seq:05d}.h5",
                plan,
                srcs,
                meta,
                seq,
                s1 - s0,
                locking,
            )
            for agg, srcs in sources.items()
        ]
        try:
            for c0 in range(s0, s1, per_chunk):
                c1 = min(c0 + per_chunk, s1)
                for f in files:
                    f.append(c0, c1)
                if write_seconds > 0:
                    for f in files:
                        f.flush()
                    written += c1 - c0
                    delay = started + write_seconds * written / trains - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
        finally:
            for f in files:
                f.close(s1 - 1)
    return run_dir


def _write_runs(proposal_dir, runs, every, first_run, stop, run_kwargs):
    """Generator: write runs one every ``every`` seconds, yield ``(run, path)`` after each."""
    done = 0
    next_start = time.monotonic()
    number = first_run
    while runs is None or done < runs:
        if done and stop.wait(max(0.0, next_start - time.monotonic())):
            return
        if stop.is_set():
            return
        run = _next_free_run(proposal_dir) if number is None else number
        next_start = time.monotonic() + every
        path = simulate_run(proposal_dir, run, **run_kwargs)
        done += 1
        if number is not None:
            number += 1
        yield run, path


def _check_loop_args(runs, every, first_run):
    if runs is not None:
        runs = _check_int("runs", runs, 0)
    every = _check_seconds("every", every)
    if first_run is not None:
        first_run = _check_int("first_run", first_run, 1, 9999)
    return runs, every, first_run


def simulate_proposal(proposal_dir, runs, every=0.0, *, first_run=None, on_run=None, **run_kwargs):
    """Write ``runs`` runs, one every ``every`` seconds, blocking; return their directories.

    Run numbers continue from ``first_run``, by default from the next free number in raw/.
    ``on_run(run, path)`` is called after each run. Other keyword arguments go to
    :func:`simulate_run`. ``runs=None`` writes runs until interrupted.
    """
    runs, every, first_run = _check_loop_args(runs, every, first_run)
    _check_run_args(**run_kwargs)
    paths = []
    for run, path in _write_runs(
        proposal_dir, runs, every, first_run, threading.Event(), run_kwargs
    ):
        paths.append(path)
        if on_run is not None:
            on_run(run, path)
    return paths


class Simulator:
    """Writes one run every ``every`` seconds into ``proposal_dir`` in a daemon thread.

    ``runs`` runs are written (``None``: until stopped), numbered from ``first_run`` (default:
    the next free number in raw/). Other keyword arguments go to :func:`simulate_run`;
    ``on_run(run, path)`` is called from the thread after each run. :meth:`stop` lets the run
    being written finish, so every run on disk is complete. An exception in the thread is kept
    in :attr:`error` and raised again by :meth:`join`. Use as a context manager to start on
    entry and stop and join on exit.

    Files being written are not locked (``locking=False``, see :func:`simulate_run`), for
    readers in other processes; pass ``locking=None`` when the readers are in this process.
    """

    def __init__(
        self, proposal_dir, runs=5, every=10.0, first_run=None, *, on_run=None, **run_kwargs
    ):
        self.proposal_dir = Path(proposal_dir)
        self.runs, self.every, self.first_run = _check_loop_args(runs, every, first_run)
        _check_run_args(**run_kwargs)  # fail here rather than in the thread
        self.on_run = on_run
        self.run_kwargs = run_kwargs
        self.error = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._written = []
        self._thread = None

    @property
    def runs_written(self):
        """Run numbers written so far (a copy)."""
        with self._lock:
            return list(self._written)

    @property
    def running(self):
        """Whether the writing thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self):
        """Start writing; calling it again does nothing. Returns the simulator."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work,
                    name=f"damnit_nb-simulator-{self.proposal_dir.name}",
                    daemon=True,
                )
                self._thread.start()
        return self

    def stop(self):
        """Ask the thread to stop after the run being written; safe to call more than once."""
        self._stop.set()

    def join(self, timeout=None):
        """Wait for the thread; re-raise its exception. Returns True once it has finished."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return not self.running

    def _work(self):
        try:
            for run, path in _write_runs(
                self.proposal_dir,
                self.runs,
                self.every,
                self.first_run,
                self._stop,
                self.run_kwargs,
            ):
                with self._lock:
                    self._written.append(run)
                if self.on_run is not None:
                    self.on_run(run, path)
        except BaseException as exc:  # kept for join()
            self.error = exc

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        if exc_type is None:
            self.join()
        else:
            self._thread.join()

    def __repr__(self):
        return (
            f"<Simulator {str(self.proposal_dir)!r} runs={self.runs} every={self.every}s "
            f"written={self.runs_written}>"
        )


# --------------------------------------------------------------------------- command line


def add_arguments(parser):
    """Add the ``simulate`` options to an argparse parser."""
    parser.add_argument(
        "proposal_dir", metavar="DIR", help="proposal directory; runs go to DIR/raw/rNNNN"
    )
    parser.add_argument(
        "--runs", type=int, default=5, help="number of runs to write; 0: until Ctrl-C (default 5)"
    )
    parser.add_argument(
        "--every", type=float, default=10.0, help="seconds from one run to the next (default 10)"
    )
    parser.add_argument(
        "--first-run", type=int, default=None, help="first run number (default: next free)"
    )
    parser.add_argument("--trains", type=int, default=200, help="trains per run (default 200)")
    parser.add_argument(
        "--trains-per-sequence",
        type=int,
        default=100,
        help="trains per sequence file (default 100)",
    )
    parser.add_argument("--modules", type=int, default=4, help="AGIPD modules, 0-16 (default 4)")
    parser.add_argument(
        "--write-seconds",
        type=float,
        default=0.0,
        help="spread writing each run over this many seconds, as the DAQ does (default 0: at once)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--proposal", type=int, default=None, help="proposal number (default: from DIR)"
    )
    return parser


def run_cli(args):
    """Run ``python -m damnit_nb simulate``: print one line per run written.

    The first Ctrl-C (SIGINT) lets the run being written finish, then exits with status 0;
    a second one interrupts at once.
    """
    import signal

    stop = threading.Event()

    def on_sigint(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread: Ctrl-C raises KeyboardInterrupt as usual
        previous = None
    run_kwargs = dict(
        trains=args.trains,
        trains_per_sequence=args.trains_per_sequence,
        modules=args.modules,
        write_seconds=args.write_seconds,
        seed=args.seed,
        proposal=args.proposal,
    )
    try:
        runs, every, first_run = _check_loop_args(
            None if args.runs == 0 else args.runs, args.every, args.first_run
        )
        for run, path in _write_runs(args.proposal_dir, runs, every, first_run, stop, run_kwargs):
            print(f"run {run}: {path}", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        return 130
    except (SimulationParameterError, RunExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if stop.is_set():
        print("stopped", flush=True)
    return 0
