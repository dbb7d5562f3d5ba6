"""With ``ServerApp.allow_unauthenticated_access=False`` the server warns about every
handler a verb of which is not authenticated: none of ours."""

import warnings

import pytest
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import JupyterServerAuthWarning
from traitlets.config import Config


class _Careless(APIHandler):
    def get(self):
        self.finish("{}")


def test_every_verb_is_authenticated(jp_configurable_serverapp):
    config = Config({"ServerApp": {"jpserver_extensions": {"damnit_nb": True},
                                   "allow_unauthenticated_access": False}})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app = jp_configurable_serverapp(config=config)
    assert app.extension_manager.extensions["damnit_nb"].enabled
    assert not [w for w in caught if issubclass(w.category, JupyterServerAuthWarning)]
    # the check is live: a handler without @web.authenticated is warned about
    with pytest.warns(JupyterServerAuthWarning, match="_Careless"):
        app.web_app.add_handlers(".*$", [("/careless", _Careless)])
