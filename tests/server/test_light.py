"""Starting a Jupyter server with damnit_nb enabled imports nothing heavy: what reads
databases and shows tables is imported by the first request that needs it."""

import json
import os
import subprocess
import sys

HEAVY = ["numpy", "h5py", "xarray", "pandas", "ipywidgets", "ipydatagrid", "bqplot",
         "matplotlib", "damnit_nb.store", "damnit_nb.table", "damnit_nb.server.runs",
         "damnit_nb.server.notebook"]

SCRIPT = """
import json, sys
from traitlets.config import Config
from jupyter_server.serverapp import ServerApp

app = ServerApp(config=Config({"ServerApp": {"jpserver_extensions": {"damnit_nb": True}}}),
                root_dir=sys.argv[1], open_browser=False)
app.initialize(argv=[], find_extensions=False, new_httpserver=False)

def patterns(router):
    for rule in getattr(router, "rules", []):
        if hasattr(rule.target, "rules"):
            yield from patterns(rule.target)
        elif hasattr(rule.matcher, "regex"):
            yield rule.matcher.regex.pattern

print(json.dumps({
    "loaded": [n for n, e in app.extension_manager.extensions.items() if e.enabled],
    "routes": [p for p in patterns(app.web_app.default_router) if "damnit-nb" in p],
    "heavy": [m for m in json.loads(sys.argv[2]) if m in sys.modules],
}))
"""


def test_loading_the_extension_imports_nothing_heavy(tmp_path):
    env = dict(os.environ, JUPYTER_NO_CONFIG="1", JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
               JUPYTER_DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), json.dumps(HEAVY)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["loaded"] == ["damnit_nb"]
    assert len(result["routes"]) == 4, result["routes"]
    assert result["heavy"] == []
