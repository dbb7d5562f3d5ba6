"""User-editable variables: columns filled by hand in the table, saved as DAMNIT saves them."""


import pytest

from damnit_nb import RunTable
from damnit_nb.simulate import simulate_run
from tests.helpers import eventually
from tests.widgets.frontend import browser_update
from tests.widgets.gridclient import click_cell
from damnit_nb.store import Database


@pytest.fixture
def proposal(tmp_path):
    path = tmp_path / "p003500"
    for run in (1, 2):
        simulate_run(path, run, trains=10, modules=1)
    return path



def _edit(app, run, key, value):
    click_cell(app, run, key)
    assert eventually(lambda: app.editor_box.layout.display == "flex")
    browser_update(app.editor, value=value)


def test_user_variables_are_edited_in_the_table(proposal):
    db_dir = proposal / "usr" / "Shared" / "damnit_nb"
    with Database(db_dir, proposal=3500) as db:  # as DAMNIT's GUI would have made it
        db.add_variable("good_run", title="Good run", type="boolean")

    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        table.add_user_variable("sample", "string", title="Sample")
        table.add_user_variable("thickness", "number", title="Thickness (um)")
        assert table.wait(30)
        app = table.widget
        titles = {s.key: s.header for s in table._model.columns()}
        assert {"Good run", "Sample", "Thickness (um)"} <= set(titles.values())
        assert eventually(lambda: len(app.grid.view_runs()) == 2)

        _edit(app, 1, "sample", "lysozyme")
        _edit(app, 2, "thickness", "12.5")
        _edit(app, 1, "good_run", "yes")
        _edit(app, 2, "thickness", "thick")  # not a number: refused, said why
        assert eventually(lambda: "number" in app.detail.value.lower()
                          or "thick" in app.detail.value), app.detail.value
        click_cell(app, 1, "#run")  # not editable: no editor
        assert eventually(lambda: app.editor_box.layout.display == "none")

        with Database(db_dir) as db:
            values = db.values()
        assert values[1]["sample"].value == "lysozyme"
        assert values[2]["thickness"].value == pytest.approx(12.5)
        assert values[1]["good_run"].value in (True, 1)
        assert {values[1]["sample"].provenance, values[2]["thickness"].provenance} == {
            "manual-input"}
        assert eventually(lambda: table._model.cell(2, "thickness").value
                          == pytest.approx(12.5))

        table.set_value(2, "sample", "buffer")
        df = table.to_dataframe()
        assert df.loc[2, "Sample"] == "buffer" and df.loc[1, "Sample"] == "lysozyme"
        with pytest.raises(ValueError):
            table.add_user_variable("bad", "colour")


def test_time_comments(proposal):
    with RunTable(proposal, settle=0.1, poll=0.1) as table:
        table.add_time_comment("beam down", timestamp=1.7e9)
        table.add_time_comment("back, new sample")
        notes = table.time_comments()
        assert list(notes["comment"]) == ["beam down", "back, new sample"]
        assert notes["time"].iloc[0].timestamp() == 1.7e9
        status = table._status_html(table.status())
        assert "2 time comment(s)" in status and "beam down" in status
    with Database(proposal / "usr" / "Shared" / "damnit_nb") as db:  # where DAMNIT reads them
        assert [c for _, _, c in db.time_comments()] == ["beam down", "back, new sample"]
