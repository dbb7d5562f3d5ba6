import os
import time

from damnit_nb.engine import RunFinder


def make_run(raw, run, files=("RAW-R{r:04d}-DA01-S00000.h5",), age=100.0):
    d = raw / f"r{run:04d}"
    d.mkdir(parents=True, exist_ok=True)
    t = time.time() - age
    for name in files:
        f = d / name.format(r=run)
        f.write_bytes(b"x" * 10)
        os.utime(f, (t, t))
    return d


def test_settled_runs_are_reported_once_newest_first(tmp_path):
    raw = tmp_path / "raw"
    make_run(raw, 1)
    make_run(raw, 2)
    (raw / "notes").mkdir()
    (raw / "r0003").mkdir()  # empty: not a run yet
    finder = RunFinder(raw, settle=5)
    assert [r for r, _ in finder.poll()] == [2, 1]
    assert finder.poll() == []


def test_a_run_being_written_waits_until_it_settles(tmp_path):
    raw = tmp_path / "raw"
    d = make_run(raw, 4, age=1.0)
    finder = RunFinder(raw, settle=5)
    now = time.time()
    assert finder.poll(now) == []
    assert finder.poll(now + 5) == [(4, d)]


def test_a_changed_run_is_reported_again(tmp_path):
    raw = tmp_path / "raw"
    make_run(raw, 5)
    finder = RunFinder(raw, settle=5)
    assert len(finder.poll()) == 1
    make_run(raw, 5, files=("RAW-R{r:04d}-DA01-S00001.h5",))  # a late sequence file
    assert [r for r, _ in finder.poll()] == [5]


def test_missing_raw_directory_is_not_an_error(tmp_path):
    assert RunFinder(tmp_path / "raw").poll() == []


def test_runs_still_changing_are_listed_as_unsettled(tmp_path):
    raw = tmp_path / "raw"
    make_run(raw, 1)
    make_run(raw, 2, age=0.0)
    finder = RunFinder(raw, settle=5)
    now = time.time()
    assert [r for r, _ in finder.poll(now)] == [1]
    assert finder.unsettled == {2}
    assert [r for r, _ in finder.poll(now + 5)] == [2]
    assert finder.unsettled == frozenset()
