"""A large v4 database made fast (one transaction, rows written directly), for the tests and
timings of following a database: `make_big_database(path, runs=9000, variables=20)`.

The rows are as DAMNIT's backend writes them: numbers, strings, a thumbnail (PNG-sized blob)
and a trendline blob per run, a comment on every tenth run, start times one minute apart.
"""

import io
import os
import sqlite3
import statistics
import sys
import tempfile
import time

import numpy as np

from damnit_nb.store import Database

PROPOSAL = 1234
THUMBNAIL_BYTES = 12_000  # a DAMNIT thumbnail (150 px PNG) is ~5-30 kB: past a page


def make_big_database(path, runs=9000, variables=20, thumbnail_bytes=THUMBNAIL_BYTES):
    """A database directory at `path` holding `runs` runs with `variables` variables each
    (names v00, v01, ...; v00 a thumbnail, v01 a trendline, v02 a string, the rest numbers).
    Returns the path. Values are stamped long before any test runs."""
    Database(path, proposal=PROPOSAL).close()
    names = [f"v{i:02d}" for i in range(variables)]
    thumb = os.urandom(thumbnail_bytes)
    buf = io.BytesIO()
    np.save(buf, np.vstack([np.arange(50.0), np.random.default_rng(0).random(50)]))
    trend = buf.getvalue()
    t0 = 1.7e9
    stamp = t0 + runs * 60.0  # the last run's start: long before any test runs
    conn = sqlite3.connect(os.path.join(path, "runs.sqlite"), isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO run_info (proposal, run, start_time, added_at) VALUES (?, ?, ?, ?)",
            [(PROPOSAL, r, t0 + r * 60.0, t0 + r * 60.0 + 5) for r in range(1, runs + 1)])
        conn.executemany(
            "INSERT INTO variables (name, type, title, description, attributes)"
            " VALUES (?, NULL, ?, NULL, NULL)", [(n, f"Group/{n}") for n in names])

        def rows():
            for r in range(1, runs + 1):
                for i, n in enumerate(names):
                    if i == 0:
                        value, stype = thumb, None
                    elif i == 1:
                        value, stype = trend, "trendline"
                    elif i == 2:
                        value, stype = f"mode {r % 7}", None
                    else:
                        value, stype = r * 0.5 + i, None
                    yield (PROPOSAL, r, n, 1, value, stamp, None, "context.py", stype,
                           "" if i < 2 else None, None)
                if r % 10 == 0:
                    yield (PROPOSAL, r, "comment", 1, f"run {r} looks fine", stamp, None,
                           "manual-input", None, "", None)

        conn.executemany(
            "INSERT INTO run_variables (proposal, run, name, version, value, timestamp,"
            " max_diff, provenance, summary_type, summary_method, attributes)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows())
        conn.execute("COMMIT")
    finally:
        conn.close()
    with Database(path) as db:  # the views, as after DAMNIT added the variables
        db.add_variable("comment")
    return path


def _median_ms(fn, reps):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main(argv=None):
    """Time following a large database: `python tests/store/big_database.py [runs vars]`."""
    from damnit_nb.store import prepare_result

    argv = sys.argv[1:] if argv is None else argv
    runs, variables = (int(argv[0]), int(argv[1])) if argv else (9000, 20)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        make_big_database(tmp, runs, variables)
        made = time.perf_counter() - t0
        size = os.path.getsize(os.path.join(tmp, "runs.sqlite")) / 1e6
        print(f"{runs} runs x {variables} variables ({size:.0f} MB) made in {made:.1f} s")
        with Database(tmp) as db, Database(tmp) as writer:
            print(f"change_cursor():                     {_median_ms(db.change_cursor, 5):8.2f} ms")
            cursor = db.change_cursor()
            print(f"data_version(), nothing changed:     {_median_ms(db.data_version, 200):8.3f} ms")
            print(f"changes_since(), nothing changed:    "
                  f"{_median_ms(lambda: db.changes_since(cursor), 200):8.3f} ms")
            cells = iter(range(10**6))

            def after(write):
                nonlocal cursor
                write(next(cells))
                t0 = time.perf_counter()
                changes, cursor = db.changes_since(cursor)
                assert len(changes.values) == 1, changes
                return time.perf_counter() - t0

            for label, write in [
                    ("one value changed", lambda i: writer.write_results(
                        runs // 2, [prepare_result("v05", float(i))])),
                    ("one comment set", lambda i: writer.set_comment(runs // 3, f"c{i}"))]:
                times = sorted(after(write) for _ in range(9))
                print(f"changes_since(), {label + ':':20s}{times[4] * 1e3:8.2f} ms (median of 9)")


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
    main()
