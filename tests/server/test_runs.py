"""``api/runs`` and thumbnails, through the server as a front end calls them."""

import json
import math
from urllib.parse import quote, urlsplit

import pytest

from damnit_nb.store import Database

NO_AUTH = {"Authorization": ""}


def _json(response):
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.body)


async def test_runs_of_a_proposal(fetch, facility):
    response = await fetch("api", "runs", params={"proposal": "1234"})
    assert response.code == 200
    table = _json(response)
    db = Database(facility.amore)
    try:
        stored = db.values()
        infos = db.runs()
    finally:
        db.close()

    assert table["proposal"] == 1234
    columns = {c["name"]: c for c in table["columns"]}
    assert "comment" not in columns
    assert columns["energy"] == {"name": "energy", "title": "XGM/Energy", "units": "uJ",
                                 "tags": ["beam", "xgm"], "description": "Pulse energy",
                                 "type": None}
    assert columns["good"]["type"] == "boolean"
    assert columns["sample"]["title"] == "sample" and columns["sample"]["tags"] == []

    runs = {r["run"]: r for r in table["runs"]}
    assert sorted(runs) == [i.run for i in infos] == [1, 2, 3]
    for info in infos:
        assert runs[info.run]["start_time"] == info.start_time
        assert set(runs[info.run]) == {"run", "start_time", "comment", *columns}
    r1, r2, r3 = runs[1], runs[2], runs[3]
    assert r1["comment"] == "first run" and r2["comment"] is None
    assert r1["energy"] == stored[1]["energy"].value == 1.5
    assert r1["shots"] == 7 and isinstance(r1["shots"], int)
    assert r1["sample"] == "Fe" and r2["sample"] == "Co"
    assert r1["good"] is True
    assert r1["phase"] == format(1 + 2j, ".6g")
    # not JSON numbers: infinity, NaN (a DAMNIT .npy value), errors, trendlines, missing
    assert stored[2]["energy"].value == math.inf and r2["energy"] is None
    assert math.isnan(stored[2]["spread"].value) and r2["spread"] is None
    assert r1["broken"] is None and r1["line"] is None and r3["sample"] is None
    # an image is not inline: a link to its thumbnail, for the same proposal
    url = urlsplit(r1["image"])
    assert url.path.endswith("/damnit-nb/api/runs/1/image/thumbnail")
    assert url.query == "proposal=1234"


async def test_the_json_is_strict(fetch):
    """What a browser's JSON.parse takes: no NaN or Infinity anywhere."""
    response = await fetch("api", "runs", params={"proposal": "1234"})

    def refuse(constant):
        raise AssertionError(f"{constant} in the JSON")

    json.loads(response.body, parse_constant=refuse)


@pytest.mark.parametrize("given", ["1234", "p001234", "p1234", " 1234 "])
async def test_proposal_by_number(fetch, given):
    response = await fetch("api", "runs", params={"proposal": given})
    assert _json(response)["proposal"] == 1234


async def test_proposal_by_directory(fetch, facility):
    by_path = await fetch("api", "runs", params={"proposal": str(facility.p1234)})
    relative = await fetch("api", "runs", params={"proposal": "SPB/202401/p001234"})
    by_number = await fetch("api", "runs", params={"proposal": "1234"})
    tables = [_json(r) for r in (by_path, relative, by_number)]
    images = [t["runs"][0].pop("image") for t in tables]
    assert tables[0] == tables[1] == tables[2]
    # each thumbnail link names the proposal as the request did
    assert [urlsplit(i).query for i in images] == [
        "proposal=" + quote(p, safe="") for p in (str(facility.p1234), "SPB/202401/p001234",
                                                 "1234")]


async def test_unpadded_directory_and_damnit_nb_database(fetch):
    table = _json(await fetch("api", "runs", params={"proposal": "3000"}))
    assert table == {"proposal": 3000, "columns": [], "runs": []}


async def test_thumbnail(fetch, jp_fetch, jp_base_url):
    table = _json(await fetch("api", "runs", params={"proposal": "1234"}))
    url = urlsplit(table["runs"][0]["image"])
    assert url.path.startswith(jp_base_url)
    proposal = url.query.removeprefix("proposal=")
    response = await jp_fetch(url.path.removeprefix(jp_base_url), params={"proposal": proposal})
    assert response.code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.body.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("run, name, status, says", [
    ("1", "energy", 404, "not an image"),
    ("3", "image", 404, "no value"),
    ("9", "image", 404, "no run 9"),
    ("1", "unknown", 404, "no value"),
    ("one", "image", 400, "a number"),
])
async def test_no_thumbnail(fetch, run, name, status, says):
    response = await fetch("api", "runs", run, name, "thumbnail", params={"proposal": "1234"})
    assert response.code == status
    assert says in _json(response)["message"]


@pytest.mark.parametrize("given, status, says", [
    ("", 400, "which proposal"),
    ("p12x", 404, "No proposal directory at p12x"),
    ("8888", 404, "No proposal 8888"),
    ("2000", 404, "no database yet"),
    ("4000", 409, "not a readable SQLite database"),
    ("4001", 409, "older DAMNIT data format (v2)"),
    ("4002", 404, "is empty"),
])
async def test_bad_proposals(fetch, facility, given, status, says):
    response = await fetch("api", "runs", params={"proposal": given})
    assert response.code == status
    assert says in _json(response)["message"]


async def test_a_request_changes_no_database(fetch, facility):
    """Old, empty and damaged databases are refused, not upgraded, filled or replaced."""
    dirs = [facility.corrupt, facility.older, facility.empty, facility.p2000]
    before = {p: sorted((f, f.read_bytes()) for f in p.rglob("*") if f.is_file())
              for p in dirs}
    for number in ("4000", "4001", "4002", "2000"):
        await fetch("api", "runs", params={"proposal": number})
        await fetch("api", "runs", "1", "image", "thumbnail", params={"proposal": number})
    after = {p: sorted((f, f.read_bytes()) for f in p.rglob("*") if f.is_file()) for p in dirs}
    assert after == before
    assert not (facility.p2000 / "usr").exists()


@pytest.mark.parametrize("given", [
    "{outside}",                       # an absolute path outside the root
    "{root}/../elsewhere/SPB/202401/p009999",
    "../elsewhere/SPB/202401/p009999",  # relative to the root
    "SPB/202401/p001234/../../../../elsewhere/SPB/202401/p009999",
    "{root}/SPB/202401/p005555",       # a link out of the root
    "5555",                            # found by number, a link out of the root
    "6666",                            # its database is out of the root
    "/etc",
    "/nonexistent/p001234",            # refused, not looked for
])
async def test_outside_the_roots(fetch, facility, given):
    given = given.format(outside=facility.outside, root=facility.root)
    for parts in (("api", "runs"), ("api", "runs", "1", "image", "thumbnail")):
        response = await fetch(*parts, params={"proposal": given})
        assert response.code == 403, (parts, response.body)
        assert "outside the proposal directories" in _json(response)["message"]


async def test_authentication_is_required(fetch):
    for parts in (("api", "runs"), ("api", "runs", "1", "image", "thumbnail")):
        response = await fetch(*parts, params={"proposal": "1234"}, headers=NO_AUTH)
        assert response.code == 403
        assert b"Fe" not in response.body and not response.body.startswith(b"\x89PNG")
        wrong = await fetch(*parts, params={"proposal": "1234"},
                            headers={"Authorization": "token wrong"})
        assert wrong.code == 403
