"""``open`` (the link to a proposal's notebook) and ``POST api/notebooks``."""

import ast
import json
import os
import secrets
from types import SimpleNamespace

import nbformat
import pytest

from damnit_nb.server.notebook import frontend

NO_AUTH = {"Authorization": ""}


def _call(nb):
    """The arguments of the notebook's ``RunTable(...)`` call, as values."""
    (call,) = [n for c in nb.cells if c.cell_type == "code" for n in ast.walk(ast.parse(c.source))
               if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "RunTable"]
    return ([ast.literal_eval(a) for a in call.args],
            {k.arg: ast.literal_eval(k.value) for k in call.keywords})


def _read(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    return nb


async def test_open_makes_the_notebook_and_redirects(fetch, facility, jp_root_dir, jp_base_url):
    response = await fetch("open", params={"proposal": "1234"})
    assert response.code == 302
    assert response.headers["Location"] == f"{jp_base_url}lab/tree/damnit-p1234.ipynb"
    nb = _read(jp_root_dir / "damnit-p1234.ipynb")
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "markdown"]
    assert nb.cells[0].source.startswith("# Proposal 1234")
    assert "DAMNIT processes this proposal's runs" in nb.cells[2].source
    args, kwargs = _call(nb)
    amore = os.path.realpath(facility.amore)
    assert args == [os.path.realpath(facility.p1234)]
    assert kwargs == {"context": os.path.join(amore, "context.py"), "database": amore,
                      "watch": False}


async def test_the_notebook_shows_the_proposal(fetch, jp_root_dir):
    """Its code cell, run, is a table of the proposal's runs with the context file's
    variables."""
    await fetch("open", params={"proposal": "1234"})
    nb = _read(jp_root_dir / "damnit-p1234.ipynb")
    namespace = {}
    exec(nb.cells[1].source, namespace)
    table = namespace["table"]
    try:
        assert table.context_error is None
        assert "run_number" in table.variables
        assert list(table.to_dataframe().index) == [1, 2, 3]
    finally:
        table.close()


async def test_a_proposal_without_a_database(fetch, facility, jp_root_dir):
    response = await fetch("open", params={"proposal": str(facility.p2000)})
    assert response.code == 302
    nb = _read(jp_root_dir / "damnit-p2000.ipynb")
    # RunTable's own default database; the table processes runs
    assert _call(nb) == ([os.path.realpath(facility.p2000)], {})
    assert "processes each new run in this kernel" in nb.cells[2].source
    assert not (facility.p2000 / "usr").exists()


async def test_an_existing_notebook_is_never_changed(fetch, jp_root_dir, jp_base_url):
    path = jp_root_dir / "damnit-p1234.ipynb"
    await fetch("open", params={"proposal": "1234"})
    nb = _read(path)
    nb.cells.append(nbformat.v4.new_code_cell("my_own_analysis()"))
    nbformat.write(nb, path)
    mine = path.read_bytes()
    for given in ("1234", "p001234"):
        response = await fetch("open", params={"proposal": given})
        assert response.code == 302
        assert response.headers["Location"] == f"{jp_base_url}lab/tree/damnit-p1234.ipynb"
    assert path.read_bytes() == mine


async def test_a_directory_in_the_way(fetch, jp_root_dir):
    (jp_root_dir / "damnit-p1234.ipynb").mkdir()
    response = await fetch("open", params={"proposal": "1234"})
    assert response.code == 409
    assert b"is a directory, in the way" in response.body
    assert list((jp_root_dir / "damnit-p1234.ipynb").iterdir()) == []


@pytest.mark.parametrize("ui, place", [("lab", "lab/tree"), ("notebook", "notebooks")])
async def test_front_end_asked_for(fetch, jp_base_url, ui, place):
    response = await fetch("open", params={"proposal": "1234", "ui": ui})
    assert response.headers["Location"] == f"{jp_base_url}{place}/damnit-p1234.ipynb"


@pytest.mark.parametrize("default_url, enabled, expected", [
    ("/lab", {"notebook": True, "jupyterlab": True}, "lab"),
    ("/tree", {"notebook": True, "jupyterlab": True}, "notebook"),  # jupyter notebook
    ("/", {"jupyterlab": True}, "lab"),
    ("/", {"notebook": True}, "notebook"),
    ("/", {"notebook": True, "jupyterlab": False}, "notebook"),
    ("/", {}, "lab"),
])
def test_front_end_in_use(default_url, enabled, expected):
    server = SimpleNamespace(default_url=default_url, jpserver_extensions=enabled)
    assert frontend(server) == expected
    assert frontend(server, "notebook") == "notebook"


async def test_bad_requests_make_nothing(fetch, facility, jp_root_dir):
    cases = [({"proposal": "1234", "ui": "voila"}, 400, "ui must be one of lab, notebook"),
             ({}, 400, "Say which proposal"),
             ({"proposal": "8888"}, 404, "No proposal 8888"),
             ({"proposal": str(facility.outside)}, 403, "outside the proposal directories"),
             ({"proposal": "../elsewhere/SPB/202401/p009999"}, 403, "outside"),
             ({"proposal": "5555"}, 403, "outside")]
    for params, status, says in cases:
        page = await fetch("open", params=params)
        assert page.code == status, params
        assert says in page.body.decode(), params
        api = await fetch("api", "notebooks", params=params, method="POST", body="")
        assert api.code == status, params
        assert says in json.loads(api.body)["message"]
    assert list(jp_root_dir.iterdir()) == []


async def test_open_needs_a_login(fetch, jp_root_dir, jp_base_url):
    """A browser not logged in is sent to the login page, and back to the link after."""
    response = await fetch("open", params={"proposal": "1234"}, headers=NO_AUTH)
    assert response.code == 302
    assert response.headers["Location"].startswith(f"{jp_base_url}login?next=")
    assert "damnit-nb%2Fopen" in response.headers["Location"]
    assert list(jp_root_dir.iterdir()) == []


async def test_post_makes_the_notebook_once(fetch, jp_root_dir, jp_base_url):
    first = await fetch("api", "notebooks", params={"proposal": "1234"}, method="POST", body="")
    assert first.code == 201
    assert json.loads(first.body) == {"path": "damnit-p1234.ipynb", "created": True,
                                      "url": f"{jp_base_url}lab/tree/damnit-p1234.ipynb"}
    made = (jp_root_dir / "damnit-p1234.ipynb").read_bytes()
    again = await fetch("api", "notebooks", params={"proposal": "1234", "ui": "notebook"},
                        method="POST", body="")
    assert again.code == 200
    assert json.loads(again.body) == {"path": "damnit-p1234.ipynb", "created": False,
                                      "url": f"{jp_base_url}notebooks/damnit-p1234.ipynb"}
    assert (jp_root_dir / "damnit-p1234.ipynb").read_bytes() == made


async def test_post_needs_authentication_and_the_xsrf_token(fetch, jp_root_dir):
    params = {"proposal": "1234"}
    no_auth = await fetch("api", "notebooks", params=params, method="POST", body="",
                          headers=NO_AUTH)
    assert no_auth.code == 403
    # A browser's login cookie, as the server sets it for a token-authenticated request
    login = await fetch("api", "runs", params=params)
    cookies = [c.split(";")[0] for c in login.headers.get_list("Set-Cookie")]
    assert any(c.startswith("username-") for c in cookies)
    cookie = "; ".join(cookies)
    # ...sent by a page of another site: no XSRF token
    forged = await fetch("api", "notebooks", params=params, method="POST", body="",
                         headers={**NO_AUTH, "Cookie": cookie})
    assert forged.code == 403
    assert list(jp_root_dir.iterdir()) == []
    # ...sent by the server's own pages, which echo the _xsrf cookie in a header
    xsrf = secrets.token_hex(16)
    mine = await fetch("api", "notebooks", params=params, method="POST", body="",
                       headers={**NO_AUTH, "Cookie": f"{cookie}; _xsrf={xsrf}",
                                "X-XSRFToken": xsrf})
    assert mine.code == 201
    assert (jp_root_dir / "damnit-p1234.ipynb").is_file()
