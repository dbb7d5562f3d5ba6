"""An open table follows every writer of its database, and its app's buttons act on the
selected runs: through the messages a browser sends."""

import subprocess
import sys
import textwrap

import pytest

from damnit_nb import RunTable
from damnit_nb.simulate import simulate_run
from damnit_nb.store import Database
from tests.helpers import eventually
from tests.widgets.frontend import Recorder, browser_click, browser_update
from tests.widgets.gridclient import GridClient, click_cell


@pytest.fixture
def proposal(tmp_path):
    path = tmp_path / "p002012"
    for run in (1, 2):
        simulate_run(path, run, trains=5, modules=0)
    return path


def another_process(code):
    """Run ``code`` in a new Python process (another writer of the database)."""
    subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=True, timeout=60)


def test_a_viewer_follows_what_other_processes_write(proposal):
    db_dir = proposal / "usr" / "Shared" / "damnit_nb"
    with RunTable(proposal, settle=0.1, poll=0.1, watch=False) as table:
        client = GridClient(table.widget.grid)
        assert eventually(lambda: sorted(table.widget.grid.view_runs()) == [])
        assert table.run_states() == {}  # nothing is processed
        another_process(f"""
            from damnit_nb.store import Database, prepare_result
            with Database({str(db_dir)!r}, proposal=2012) as db:
                db.add_variables({{"energy": {{"title": "Beam/Energy", "attributes":
                                                {{"units": "keV"}}}}}})
                db.add_run(1, start_time=1.7e9)
                db.add_run(7, start_time=1.7e9 + 60)
                db.write_results(7, [prepare_result("energy", 9.3)])
                db.set_comment(1, "written elsewhere")
                db.add_variable("sample", title="Sample", type="string")
                db.set_user_value(7, "sample", "lysozyme")
        """)
        grid = table.widget.grid
        assert eventually(lambda: grid.view_runs() == [1, 7], 5), grid.view_runs()
        assert eventually(lambda: client.texts("Energy [keV]").get(7) == "9.3", 5)
        assert grid.field_of("energy") == ("Beam", "Energy [keV]")
        assert eventually(lambda: client.texts("Comment").get(1) == "written elsewhere", 5)
        assert eventually(lambda: client.texts("Sample").get(7) == "lysozyme", 5)
        # and what this table writes, another process reads
        table.set_comment(7, "from the viewer")
    with Database(db_dir) as db:
        assert db.values(runs=[7])[7]["comment"].value == "from the viewer"
    assert not (db_dir / "process_logs").exists() or not any((db_dir / "process_logs").iterdir())


def test_the_toolbar_acts_on_the_selected_runs(proposal, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    calls = []
    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        @table.variable(title="Trains", description="How many trains the run has")
        def trains(run):
            calls.append(1)
            return len(run.train_ids)

        assert table.wait(60)
        app = table.widget
        client = GridClient(app.grid)
        assert eventually(lambda: client.texts("Trains") == {1: "5", 2: "5"})
        client.select_rows(app.grid.view_runs().index(2))
        assert table.selected_runs == [2]
        before = len(calls)
        browser_update(app.match, value="Trains")
        browser_click(app.reprocess_button)
        assert "Reprocessing 1 variable(s) of run(s) 2" in app.detail.value or eventually(
            lambda: "Reprocessing 1 variable(s) of run(s) 2" in app.detail.value)
        assert table.wait(60) and eventually(lambda: len(calls) == before + 1)

        browser_click(app.copy_button)
        assert eventually(lambda: "| Run |" in app.markdown.value), app.markdown.value
        lines = app.markdown.value.splitlines()
        assert len(lines) == 3 and lines[2].startswith("| 2 |")  # the selected run only

        browser_update(app.export_kind, index=2)  # Markdown
        browser_click(app.export_button)
        assert eventually(lambda: (tmp_path / "p2012_runs.md").exists())
        assert "| 1 |" in (tmp_path / "p2012_runs.md").read_text()

        table.selected_runs = [1]
        assert app.grid.selections[0]["r1"] == app.grid.view_runs().index(1)
        scrolled = Recorder(app.scroller)
        browser_update(app.newest_first, value=True)  # the jump finds the row in this order
        assert table.sync(10) and app.grid.view_runs() == [2, 1]
        browser_update(app.jump, value="1")
        assert eventually(lambda: table.selected_runs == [1])
        assert {"method": "custom", "content": {"row": 1}} in scrolled.messages
        browser_update(app.newest_first, value=False)
        assert table.sync(10)
        browser_update(app.jump, value="2")
        assert eventually(lambda: table.selected_runs == [2])
        assert scrolled.messages[-1] == {"method": "custom", "content": {"row": 1}}
        browser_update(app.jump, value="1")
        assert scrolled.messages[-1] == {"method": "custom", "content": {"row": 0}}
        browser_update(app.jump, value="99")
        assert eventually(lambda: "not in the table" in app.detail.value)

        # a header click says what the column is
        client.request()
        client.click(0, app.grid.view_keys().index("trains"), region="column-header")
        assert eventually(lambda: "How many trains the run has" in app.detail.value)
        assert "<code>trains</code>" in app.detail.value
        assert "5" in click_cell(app, 1, "trains")


def test_without_selection_the_buttons_say_what_to_do(proposal):
    with RunTable(proposal, settle=0.1, poll=0.1, watch=False) as table:
        app = table.widget
        assert table.sync(10)
        assert app.reprocess_button.disabled and app.cancel_button.disabled  # a viewer
        table.start()
        assert eventually(lambda: not app.reprocess_button.disabled)
        assert table.wait(60) and table.sync(10)
        assert sorted(app.grid.view_runs()) == [1, 2]  # shown once sync() returns
        browser_click(app.reprocess_button)
        assert eventually(lambda: "Select the runs to reprocess first" in app.detail.value)
        browser_click(app.cancel_button)
        assert eventually(lambda: "Select the runs to cancel first" in app.detail.value)
