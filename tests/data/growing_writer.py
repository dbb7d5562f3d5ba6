"""A run file written step by step by another process, for tests of files being written.

Run as ``python growing_writer.py PATH LOCKING``; LOCKING is ``true``, ``false`` or ``default``
(as h5py's ``locking``). The process creates PATH (format 1.0: one control source
:data:`MOTOR` and one instrument source :data:`CAMERA` with two entries per train), prints
``ready`` and then obeys one command per line on stdin, answering ``ok`` after each:

- ``append N``: write N more trains completely (data, then index, train IDs last) and flush;
- ``data N``: write only the data of the next N trains (datasets longer than the index);
- ``index N``: write index and train IDs for the next N trains (without their data unless
  ``data`` wrote it): INDEX points past the data;
- ``quiet N``: like ``append`` but without flushing;
- ``close``: close the file and exit.

Values are functions of the train ID (:func:`motor_value`, :func:`camera_value`), so readers
can check what they get. Test code talks to the process with :class:`Writer`.
"""

import select
import subprocess
import sys

import numpy as np

MOTOR = "SPB_IRU_MOTORS/MDL/SAMPLE_X"
CAMERA = "SPB_EXP_CAM/CAM/1:daqOutput"
FIRST_TRAIN = 10000
PER_TRAIN = 2  # camera entries per train
IMAGE_SHAPE = (4, 3)


def motor_value(train_ids):
    return np.asarray(train_ids, dtype=np.float64) * 0.5


def camera_value(train_ids):
    """Camera images of *train_ids*, PER_TRAIN per train."""
    tids = np.repeat(np.asarray(train_ids, dtype=np.int64), PER_TRAIN)
    entry = np.tile(np.arange(PER_TRAIN), len(train_ids))
    base = (tids - FIRST_TRAIN) * 10 + entry
    return (base[:, None, None] + np.zeros(IMAGE_SHAPE, np.int64)).astype(np.uint16)


def _create(path, locking):
    import h5py

    f = h5py.File(path, "w", locking=locking)
    ids = [f"CONTROL/{MOTOR}", f"INSTRUMENT/{CAMERA}/data"]
    padded = ids + [""] * (8 - len(ids))
    f["METADATA/dataFormatVersion"] = [b"1.0"]
    for name, values in (
        ("dataSourceId", padded),
        ("root", [i.partition("/")[0] if i else "" for i in padded]),
        ("deviceId", [i.partition("/")[2] if i else "" for i in padded]),
    ):
        f.create_dataset(f"METADATA/dataSources/{name}", data=[v.encode() for v in values],
                         dtype=h5py.string_dtype("ascii"))

    def growing(name, dtype, shape=()):
        f.create_dataset(name, (0,) + shape, dtype, maxshape=(None,) + shape,
                         chunks=(8,) + shape)

    for name, dtype in (("trainId", "u8"), ("flag", "i4"), ("timestamp", "u8")):
        growing(f"INDEX/{name}", dtype)
    for grp in (f"INDEX/{MOTOR}", f"INDEX/{CAMERA}/data"):
        growing(f"{grp}/first", "u8")
        growing(f"{grp}/count", "u8")
    growing(f"CONTROL/{MOTOR}/actualPosition/value", "f8")
    growing(f"CONTROL/{MOTOR}/actualPosition/timestamp", "u8")
    f[f"RUN/{MOTOR}/actualPosition/value"] = [0.0]
    f[f"RUN/{MOTOR}/actualPosition/timestamp"] = np.zeros(1, "u8")
    growing(f"INSTRUMENT/{CAMERA}/data/trainId", "u8")
    growing(f"INSTRUMENT/{CAMERA}/data/image/pixels", "u2", IMAGE_SHAPE)
    return f


def _extend(ds, values):
    n = ds.shape[0]
    ds.resize(n + len(values), axis=0)
    ds[n:] = values


class _File:
    def __init__(self, f):
        self.f = f
        self.indexed = 0  # trains in the index
        self.written = 0  # trains with data written

    def data(self, n):
        f, tids = self.f, FIRST_TRAIN + np.arange(self.written, self.written + n, dtype=np.uint64)
        _extend(f[f"CONTROL/{MOTOR}/actualPosition/value"], motor_value(tids))
        _extend(f[f"CONTROL/{MOTOR}/actualPosition/timestamp"], tids)
        _extend(f[f"INSTRUMENT/{CAMERA}/data/trainId"], np.repeat(tids, PER_TRAIN))
        _extend(f[f"INSTRUMENT/{CAMERA}/data/image/pixels"], camera_value(tids))
        self.written += n

    def index(self, n):
        f, i0 = self.f, self.indexed
        tids = FIRST_TRAIN + np.arange(i0, i0 + n, dtype=np.uint64)
        _extend(f[f"INDEX/{MOTOR}/first"], np.arange(i0, i0 + n, dtype=np.uint64))
        _extend(f[f"INDEX/{MOTOR}/count"], np.ones(n, np.uint64))
        _extend(f[f"INDEX/{CAMERA}/data/first"],
                PER_TRAIN * np.arange(i0, i0 + n, dtype=np.uint64))
        _extend(f[f"INDEX/{CAMERA}/data/count"], np.full(n, PER_TRAIN, np.uint64))
        _extend(f["INDEX/flag"], np.ones(n, np.int32))
        _extend(f["INDEX/timestamp"], tids)
        _extend(f["INDEX/trainId"], tids)
        self.indexed += n


def main(path, locking):
    locking = {"true": True, "false": False, "default": None}[locking]
    w = _File(_create(path, locking))
    w.f.flush()
    print("ready", flush=True)
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        n = int(arg or 0)
        if cmd == "close":
            w.f.close()
            print("ok", flush=True)
            return
        if cmd in ("append", "quiet"):
            w.data(n)
            w.index(n)
        elif cmd == "data":
            w.data(n)
        elif cmd == "index":
            w.index(n)
        else:
            raise SystemExit(f"unknown command {cmd!r}")
        if cmd != "quiet":
            w.f.flush()
        print("ok", flush=True)


class Writer:
    """Test side: start the writer process, send commands, wait for answers (with a timeout)."""

    def __init__(self, path, locking="false", timeout=60):
        self.timeout = timeout
        self.proc = subprocess.Popen(
            [sys.executable, __file__, str(path), locking],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self._expect("ready")

    def _expect(self, word):
        ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout)
        if not ready:
            self.proc.kill()
            raise TimeoutError(f"writer did not answer within {self.timeout} s")
        line = self.proc.stdout.readline().strip()
        if line != word:
            self.proc.kill()
            raise RuntimeError(f"writer answered {line!r}, expected {word!r}")

    def send(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        self._expect("ok")

    def close(self):
        """Let the writer close the file and exit."""
        if self.proc.poll() is None:
            self.send("close")
        self._end()

    def _end(self):
        self.proc.stdin.close()
        self.proc.wait(self.timeout)
        self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.close()
        else:
            self.proc.kill()
            self._end()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
