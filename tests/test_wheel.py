"""The wheel, installed as a user installs it: into a fresh virtual environment, not editable.

The wheel is installed without its dependencies (numpy, h5py, the widgets...), plus
jupyter_server from the package index pip is set up for (its cache makes this quick after the
first run): what is checked needs no more, which also shows that enabling the server extension
and the CLI's ``demo --help`` and ``notebooks`` import nothing heavy.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def run(*cmd, env=None, cwd=None, timeout=600):
    out = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True,
                         text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, f"{cmd} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh virtual environment with the wheel installed; returns its bin directory and
    the environment variables to run it with (nothing of this checkout on the path)."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"  # what the build reads, copied: the checkout gets no build/
    for name in ("pyproject.toml", "README.md"):
        source.mkdir(exist_ok=True)
        shutil.copyfile(REPO / name, source / name)
    for name in ("damnit_nb", "jupyter-config"):
        shutil.copytree(REPO / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", base / "dist", source)
    [wheel] = (base / "dist").glob("damnit_nb-*.whl")
    venv = base / "venv"
    bin_dir = venv / "bin"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
               JUPYTER_CONFIG_DIR=str(base / "jupyter-config"),
               JUPYTER_DATA_DIR=str(base / "jupyter-data"), JUPYTER_PLATFORM_DIRS="1")
    run(sys.executable, "-m", "venv", venv, env=env)
    run(bin_dir / "python", "-m", "pip", "install", "-q", "--no-deps", wheel, env=env, cwd=base)
    run(bin_dir / "python", "-m", "pip", "install", "-q", "jupyter_server>=2.20", env=env,
        cwd=base)
    return bin_dir, env, base


def test_the_wheel_enables_the_server_extension(installed):
    bin_dir, env, base = installed
    out = run(bin_dir / "jupyter", "server", "extension", "list", env=env, cwd=base)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)  # no colours
    assert str(bin_dir.parent / "etc" / "jupyter") in text
    assert "damnit_nb enabled" in text and "damnit_nb 0.1.0 OK" in text, text


def test_the_installed_cli_works(installed):
    bin_dir, env, base = installed
    out = run(bin_dir / "damnit-nb", "demo", "--help", env=env, cwd=base)
    assert "usage: damnit-nb demo" in out.stdout
    out = run(bin_dir / "damnit-nb", "notebooks", base / "tutorials", env=env, cwd=base)
    copied = sorted(p.name for p in (base / "tutorials").glob("*.ipynb"))
    shipped = sorted(p.name for p in (REPO / "damnit_nb" / "notebooks" / "tutorials")
                     .glob("*.ipynb"))
    assert copied == shipped and "01-quickstart.ipynb" in copied
    out = run(bin_dir / "python", "-c",
              "import damnit_nb.tutorials as t, damnit_nb.serve_dashboard as d; "
              "print(t.TUTORIALS_DIR); print(d.NOTEBOOK.is_file())", env=env, cwd=base)
    where, notebook = out.stdout.split()
    assert where.startswith(str(bin_dir.parent)) and notebook == "True"  # not this checkout
