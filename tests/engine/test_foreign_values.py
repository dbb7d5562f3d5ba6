"""Values computed by another tool (DAMNIT records no code versions) are taken as they are:
opening such a database recomputes nothing and writes nothing, until the code changes."""

import textwrap

from damnit_nb import RunTable
from damnit_nb.simulate import simulate_run
from damnit_nb.store import Database, prepare_result


def test_values_without_code_versions_are_adopted(tmp_path):
    proposal = tmp_path / "p003600"
    for run in (1, 2):
        simulate_run(proposal, run, trains=10, modules=1)
    db_dir = proposal / "usr" / "Shared" / "damnit_nb"
    with Database(db_dir, proposal=3600) as db:  # as DAMNIT's backend leaves a database
        db.add_variable("trains", title="Trains")
        for run in (1, 2):
            db.add_run(run, start_time=1.7e9 + run)
            db.write_results(run, [prepare_result("trains", 10)])  # no code version
    calls = tmp_path / "calls.txt"
    ctx = tmp_path / "context.py"
    ctx.write_text(textwrap.dedent(f'''
        from damnit_ctx import Variable

        @Variable(title="Trains")
        def trains(run):
            open({str(calls)!r}, "a").write("x")
            return len(run.train_ids)
    '''))
    before = (db_dir / "runs.sqlite").read_bytes()
    with RunTable(proposal, context=ctx, settle=0.1, poll=0.1) as table:
        assert table.wait(60)
        assert not calls.exists()  # nothing recomputed
        assert list(table.to_dataframe()["Trains"]) == [10, 10]
    assert (db_dir / "runs.sqlite").read_bytes() == before  # nothing written

    with RunTable(proposal, context=ctx, settle=0.1, poll=0.1) as table:
        assert table.wait(60)

        @table.variable(title="Trains")
        def trains(run):  # the code changes: now it is recomputed, and recorded
            return len(run.train_ids) + 1

        assert table.wait(60)
        assert list(table.to_dataframe()["Trains"]) == [11, 11]
