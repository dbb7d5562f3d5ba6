"""The command line's ``simulate`` and ``ls`` need no psutil (only the demo extra installs it)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Runs ``python -m damnit_nb ARGS`` in a process where ``import psutil`` fails.
_BLOCK_PSUTIL = "import sys; sys.modules['psutil'] = None; "
_WITHOUT_PSUTIL = _BLOCK_PSUTIL + (
    "import runpy; runpy.run_module('damnit_nb', run_name='__main__', alter_sys=True)"
)


def _cli(*args):
    return subprocess.run([sys.executable, "-c", _WITHOUT_PSUTIL, *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def test_psutil_is_blocked():
    out = subprocess.run([sys.executable, "-c", _BLOCK_PSUTIL + "import psutil"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "ModuleNotFoundError: import of psutil halted" in out.stderr


def test_simulate_and_ls_without_psutil(tmp_path):
    prop = tmp_path / "p000900"
    out = _cli("simulate", prop, "--runs", "1", "--every", "0", "--trains", "12",
               "--trains-per-sequence", "8", "--modules", "1")
    assert out.returncode == 0, out.stderr
    run_dir = prop / "raw" / "r0001"
    assert len(list(run_dir.glob("*.h5"))) == 2 * 2  # 2 sequences of DA01 and 1 module

    out = _cli("ls", run_dir)
    assert out.returncode == 0, out.stderr
    assert "# of trains:    12" in out.stdout.splitlines()


def test_demo_without_psutil_says_what_to_install(tmp_path):
    out = _cli("demo", "--dir", tmp_path / "demo", "--port", "1")
    assert out.returncode == 2
    assert "pip install 'damnit_nb[demo]'" in out.stderr
    assert not (tmp_path / "demo").exists()  # nothing started
