"""DAMNIT itself as a test oracle, run in its own Python environment in a subprocess.

Set DAMNIT_PYTHON to a Python with `damnit` (0.4) installed; tests marked `requires_damnit`
are skipped otherwise.
"""

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

DAMNIT_PYTHON = os.environ.get("DAMNIT_PYTHON")

requires_damnit = pytest.mark.skipif(
    not DAMNIT_PYTHON, reason="set DAMNIT_PYTHON to a Python with damnit installed")


def run_damnit(code, *args):
    """Run `code` with DAMNIT's Python (sys.argv[1:] = args); return the JSON its last
    printed line holds."""
    prelude = textwrap.dedent("""
        import os, sys, json
        from pathlib import Path
        import damnit
        sys.path.insert(0, str(Path(damnit.__file__).parent / "ctxsupport"))
        sys.path.insert(0, {here!r})  # value_repr
    """).format(here=str(Path(__file__).parent))
    proc = subprocess.run([DAMNIT_PYTHON, "-c", prelude + textwrap.dedent(code), *map(str, args)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])
