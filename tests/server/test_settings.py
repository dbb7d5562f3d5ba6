"""The extension's settings and the server's: a JupyterHub-like base URL, roots left to their
default (the server's root directory), notebooks made in a configured directory."""

import json

import pytest
from traitlets.config import Config


@pytest.fixture
def jp_base_url():
    return "/user/alice/"


@pytest.fixture
def jp_server_config(jp_root_dir):
    (jp_root_dir / "SPB" / "202401" / "p007777" / "raw").mkdir(parents=True)
    return Config({
        "ServerApp": {"jpserver_extensions": {"damnit_nb": True}},
        "DamnitNbServer": {"notebook_dir": "beamtimes/2024"},
    })


async def test_default_root_is_the_servers(fetch, jp_serverapp, jp_root_dir, facility):
    assert jp_serverapp.web_app.settings["base_url"] == "/user/alice/"
    found = await fetch("api", "runs", params={"proposal": "7777"})
    assert found.code == 404 and "no database yet" in json.loads(found.body)["message"]
    # the facility's root is not served now
    elsewhere = await fetch("api", "runs", params={"proposal": "1234"})
    assert elsewhere.code == 404 and "No proposal 1234" in json.loads(elsewhere.body)["message"]
    outside = await fetch("api", "runs", params={"proposal": str(facility.p1234)})
    assert outside.code == 403


async def test_notebook_dir_and_base_url(fetch, jp_root_dir):
    response = await fetch("open", params={"proposal": "7777"})
    assert response.code == 302
    assert (response.headers["Location"]
            == "/user/alice/lab/tree/beamtimes/2024/damnit-p7777.ipynb")
    assert (jp_root_dir / "beamtimes" / "2024" / "damnit-p7777.ipynb").is_file()


async def test_nothing_at_the_default_base_url(jp_fetch, http_server_client):
    """The endpoints live below the base URL only."""
    response = await http_server_client.fetch("/damnit-nb/api/runs?proposal=7777",
                                              raise_error=False)
    assert response.code == 404
