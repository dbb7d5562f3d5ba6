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


def _age_dir(d, age=3600.0):
    t = time.time() - age
    for f in d.iterdir():
        os.utime(f, (t, t))
    os.utime(d, (t, t))


def _count_signatures(monkeypatch):
    from damnit_nb.engine import watcher

    calls = []
    real = watcher._signature

    def spy(path):
        calls.append(os.path.basename(path))
        return real(path)

    monkeypatch.setattr(watcher, "_signature", spy)
    return calls


def test_old_unchanged_runs_are_not_rescanned_every_poll(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    for run in range(1, 41):
        _age_dir(make_run(raw, run, age=3600))
    finder = RunFinder(raw, settle=5, recheck=4)
    assert len(finder.poll()) == 40
    calls = _count_signatures(monkeypatch)
    finder.poll()
    assert len(calls) == 4  # only this poll's share of the round of rechecks
    for _ in range(9):
        finder.poll()
    assert sorted(calls) == sorted(f"r{run:04d}" for run in range(1, 41))  # all, once


def test_new_file_in_an_old_run_is_found_at_the_next_poll(tmp_path):
    raw = tmp_path / "raw"
    d = make_run(raw, 7, age=3600)
    _age_dir(d)
    finder = RunFinder(raw, settle=5, recheck=0)
    assert len(finder.poll()) == 1
    make_run(raw, 7, files=("RAW-R{r:04d}-DA01-S00001.h5",), age=100)  # touches the directory
    assert [r for r, _ in finder.poll()] == [7]


def test_file_rewritten_in_place_is_found_by_the_recheck_round(tmp_path):
    raw = tmp_path / "raw"
    dirs = [make_run(raw, run, age=3600) for run in range(1, 11)]
    for d in dirs:
        _age_dir(d)
    finder = RunFinder(raw, settle=5, recheck=2)
    assert len(finder.poll()) == 10
    f = next(dirs[3].iterdir())
    f.write_bytes(b"y" * 20)  # rewritten in place: the directory's mtime does not move
    t = time.time() - 100
    os.utime(f, (t, t))
    os.utime(dirs[3], (time.time() - 3600,) * 2)
    found = []
    for _ in range(5):  # one full round of 10 runs, 2 per poll
        found += finder.poll()
    assert [r for r, _ in found] == [4]


def test_vanished_runs_are_listed(tmp_path):
    import shutil

    raw = tmp_path / "raw"
    make_run(raw, 1)
    d = make_run(raw, 2)
    finder = RunFinder(raw, settle=5)
    finder.poll()
    shutil.rmtree(d)
    assert finder.poll() == []
    assert finder.vanished == {2}


def test_the_finder_says_when_the_first_settling_run_is_due(tmp_path):
    raw = tmp_path / "raw"
    make_run(raw, 1, age=1.0)
    make_run(raw, 2, age=3.0)
    finder = RunFinder(raw, settle=5)
    now = time.time()
    finder.poll(now)
    newest = os.stat(raw / "r0002" / "RAW-R0002-DA01-S00000.h5").st_mtime
    assert finder.next_settle == newest + 5
    finder.poll(now + 10)
    assert finder.next_settle is None
