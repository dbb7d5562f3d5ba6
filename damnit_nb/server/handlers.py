"""The ``{base_url}damnit-nb/`` endpoints. Every verb is ``@web.authenticated`` (and
authorized on the server's "contents", since it reads or writes files); reading runs and
finding proposals happens on a worker thread, never on the server's event loop.

- ``GET api/runs?proposal=P``: the proposal's run table as JSON (`runs.read_runs`).
- ``GET api/runs/<run>/<name>/thumbnail?proposal=P``: a PNG summary (image/png).
- ``POST api/notebooks?proposal=P[&ui=lab|notebook]``: make the proposal's notebook if it does
  not exist yet; answers ``{"path", "url", "created"}`` (201 when made). XSRF-checked.
- ``GET open?proposal=P[&ui=lab|notebook]``: the same, then a redirect (302) to the notebook
  in the front end: the link a proposal page or JupyterHub's ``/hub/user-redirect/damnit-nb/
  open?proposal=P`` points at. It is a page, not an API: a browser not logged in is sent to
  the login page and back (an API handler would answer 403), as nbgitpuller's link does. A
  GET that makes a file is safe here: the file's name and content are ours, it is made only
  for a proposal under the roots, and an existing notebook is never changed.

Errors are ``{"message": ...}`` with the status of the `errors` class (a page for ``open``).
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.utils import url_escape, url_path_join
from tornado import web
from tornado.httputil import responses

from .errors import BadRequestError, ServerError
from .proposals import find_proposal

__all__ = ["handlers", "PREFIX"]

#: The extension's URL prefix, below the server's base URL.
PREFIX = "damnit-nb"


class _Handler:
    """What the handlers share: the settings, finding the request's proposal."""

    auth_resource = "contents"

    def initialize(self, server):
        self.server = server  # the DamnitNbServer

    def find(self, given):
        return find_proposal(given, self.server.proposal_roots)

    async def make_notebook(self):
        from .notebook import ensure_notebook, frontend, notebook_url

        ui = frontend(self.serverapp, self.get_argument("ui", None))
        given = self.get_argument("proposal", "")
        proposal = await asyncio.to_thread(self.find, given)
        path, created = await ensure_notebook(self.contents_manager, self.server.notebook_dir,
                                              proposal)
        return {"path": path, "url": notebook_url(self.base_url, path, ui),
                "created": created}


class _APIHandler(_Handler, APIHandler):
    def fail(self, error):
        self.set_status(error.status)
        self.finish(json.dumps({"message": str(error), "reason": type(error).__name__}))


class RunsHandler(_APIHandler):
    @web.authenticated
    @authorized
    async def get(self):
        given = self.get_argument("proposal", "")

        def thumbnail_url(run, name):
            return (url_path_join(self.base_url, PREFIX, "api", "runs", str(run),
                                  url_escape(name), "thumbnail")
                    + "?proposal=" + quote(given, safe=""))

        def read():
            from .runs import read_runs

            return read_runs(self.find(given), thumbnail_url)

        try:
            table = await asyncio.to_thread(read)
        except ServerError as e:
            return self.fail(e)
        self.finish(json.dumps(table, allow_nan=False))


class ThumbnailHandler(_APIHandler):
    @web.authenticated
    @authorized
    async def get(self, run, name):
        given = self.get_argument("proposal", "")

        def read():
            from .runs import read_thumbnail

            if not run.isdigit():
                raise BadRequestError(f"A run is a number, not {run!r}.", run)
            return read_thumbnail(self.find(given), int(run), name)

        try:
            png = await asyncio.to_thread(read)
        except ServerError as e:
            return self.fail(e)
        self.finish(png, set_content_type="image/png")


class NotebooksHandler(_APIHandler):
    @web.authenticated
    @authorized("write")
    async def post(self):
        try:
            made = await self.make_notebook()
        except ServerError as e:
            return self.fail(e)
        self.set_status(201 if made["created"] else 200)
        self.finish(json.dumps(made))


class OpenHandler(_Handler, JupyterHandler):
    @web.authenticated
    @authorized("write")
    async def get(self):
        try:
            made = await self.make_notebook()
        except ServerError as e:  # a page saying what went wrong (even for a 404)
            self.set_status(e.status)
            return self.finish(self.render_template(
                "error.html", status_code=e.status, status_message=responses[e.status],
                message=str(e), exception=e))
        self.redirect(made["url"])


def handlers(base_url, server):
    """The routes below *base_url*, for ``web_app.add_handlers``; *server* is the
    `config.DamnitNbServer`."""
    def route(*parts):
        return url_path_join(base_url, PREFIX, *parts)

    kwargs = {"server": server}
    return [
        (route("api", "runs"), RunsHandler, kwargs),
        (route("api", "runs", "([^/]+)", "([^/]+)", "thumbnail"), ThumbnailHandler, kwargs),
        (route("api", "notebooks"), NotebooksHandler, kwargs),
        (route("open"), OpenHandler, kwargs),
    ]
