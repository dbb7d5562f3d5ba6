"""Example runs for the reader tests, written with EXtra-data's generators.

The generators create datasets without writing values; :func:`fill_values` writes distinct
values into every small dataset so comparisons of data mean something.
"""

import os
import zlib

import h5py
import numpy as np
from extra_data.tests import make_examples
from extra_data.tests.mockdata import write_file
from extra_data.tests.mockdata.basler_camera import BaslerCamera
from extra_data.tests.mockdata.xgm import XGM

__all__ = ["fill_values", "make_uneven_run", "make_examples"]

MAX_FILL_ELEMENTS = 2_000_000


def fill_values(run_dir, seed=0):
    """Write deterministic, distinct values into the CONTROL/INSTRUMENT/RUN datasets.

    Numeric datasets get values depending on the file, the dataset and the row; variable
    length string datasets get short words. Large datasets (detector images) are left empty.
    RUN values are the same in every file of a run, as in real data.
    """
    file_rng = np.random.default_rng(seed)
    for name in sorted(os.listdir(run_dir)):
        if not name.endswith(".h5"):
            continue
        with h5py.File(os.path.join(run_dir, name), "r+") as f:
            datasets = []

            def visit(path, obj):
                if isinstance(obj, h5py.Dataset) and path.split("/")[0] in ("CONTROL", "INSTRUMENT", "RUN"):
                    datasets.append(obj)

            f.visititems(visit)
            for ds in datasets:
                if ds.size == 0 or ds.size > MAX_FILL_ELEMENTS or ds.name.endswith("/trainId"):
                    continue
                if ds.name.startswith("/RUN/"):
                    rng = np.random.default_rng(zlib.crc32(ds.name.encode()))
                else:
                    rng = file_rng
                if ds.dtype.kind in "iuf":
                    hi = 100 if ds.dtype.kind in "iu" else 1000
                    vals = rng.integers(0, hi, size=ds.shape)
                    if ds.dtype.kind == "f":
                        vals = vals + rng.random(ds.shape)
                    ds[...] = vals.astype(ds.dtype)
                elif ds.dtype.kind == "O" or h5py.check_string_dtype(ds.dtype):
                    words = np.array([b"ON", b"OFF", b"MOVING", b"ERROR"], dtype=object)
                    ds[...] = words[rng.integers(0, 4, size=ds.shape)]


def make_uneven_run(path, format_version="1.0"):
    """Sources covering different trains, with file names not in train order.

    DA01 holds an XGM for trains 10000-10049, split over S00000 (trains 10025-10049) and
    S00001 (10000-10024): names deliberately disagree with train order. DA02 holds a camera
    for trains 10020-10079 that records on every other train.
    """
    write_file(os.path.join(path, "RAW-R0001-DA01-S00000.h5"), [XGM("SA1_XTD2_XGM/DOOCS/MAIN")],
               ntrains=25, firsttrain=10025, chunksize=16, format_version=format_version)
    write_file(os.path.join(path, "RAW-R0001-DA01-S00001.h5"), [XGM("SA1_XTD2_XGM/DOOCS/MAIN")],
               ntrains=25, firsttrain=10000, chunksize=16, format_version=format_version)
    write_file(os.path.join(path, "RAW-R0001-DA02-S00000.h5"),
               [BaslerCamera("SPB_IRU_CAM/CAM/SIDEMIC", nsamples=30, sensor_size=(8, 6))],
               ntrains=60, firsttrain=10020, chunksize=16, format_version=format_version)
