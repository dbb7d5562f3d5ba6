"""Sharing: two processes writing one database lose nothing and never see "database is
locked"; a run with broken files fails alone while the watcher goes on."""

import subprocess
import sys
import textwrap

import numpy as np

from damnit_nb import RunTable
from damnit_nb.simulate import simulate_run
from damnit_nb.store import Database

WRITER = textwrap.dedent('''
    import sys
    import numpy as np
    from damnit_nb.store import Database, prepare_result

    db = Database(sys.argv[1])
    who, n = sys.argv[2], int(sys.argv[3])
    for i in range(n):
        run = 1 + i % 5
        db.set_comment(run, f"{who} {i}")
        db.write_results(run, [prepare_result(f"{who}_value", float(i)),
                               prepare_result(f"{who}_trace", np.arange(50.0) + i)],
                         {f"{who}_value": "v1", f"{who}_trace": "v1"})
    db.close()
    print("ok")
''')


def test_two_processes_writing_one_database(tmp_path):
    db_dir = tmp_path / "db"
    Database(db_dir, proposal=1234).close()
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    n = 60
    procs = [subprocess.Popen([sys.executable, str(script), str(db_dir), who, str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for who in ("a", "b")]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and "ok" in out, err
        assert "locked" not in err

    with Database(db_dir) as db:
        values = db.values()
        for who in ("a", "b"):
            for run in range(1, 6):
                last = max(i for i in range(n) if 1 + i % 5 == run)
                assert values[run][f"{who}_value"].value == float(last)
                np.testing.assert_array_equal(db.read_data(run, f"{who}_trace"),
                                              np.arange(50.0) + last)
        comments = {run: values[run]["comment"].value for run in range(1, 6)}
        assert all(c.split()[0] in ("a", "b") for c in comments.values())


def test_a_broken_run_fails_alone_and_the_watcher_goes_on(tmp_path):
    proposal = tmp_path / "p003300"
    for run in (1, 2, 3):
        simulate_run(proposal, run, trains=20, modules=1)
    for f in (proposal / "raw" / "r0002").glob("*.h5"):
        f.write_bytes(b"not HDF5 at all")  # every file of run 2 is broken
    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        @table.variable(title="Trains")
        def trains(run):
            return len(run.train_ids)

        assert table.wait(60)
        df = table.to_dataframe()
        assert df.loc[1, "Trains"] == 20 and df.loc[3, "Trains"] == 20
        error = table.errors()[(2, "trains")]
        assert "r0002" in error and "HDF5" in error
        assert table.run_states() == {1: "done", 2: "failed", 3: "done"}

        simulate_run(proposal, 4, trains=20, modules=1)  # the watcher still watches
        assert table.wait(60)
        assert table.to_dataframe().loc[4, "Trains"] == 20

