"""Code versions cover what a variable's code uses: the constants, helper functions, classes
and group methods it refers to, its closure and default arguments, the settings that change
its values, and its dependencies; the same in every process."""

import json
import linecache
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from damnit_nb.context import Definitions, Variable, load_context_file

ROOT = Path(__file__).resolve().parents[2]

CONTEXT = '''
from damnit_ctx import Variable, Group
import numpy as np

SCALE = 1
OFFSET = 10
LIMITS = {"low": (0, 1.5), "high": [2, 3]}
K = 2

def _inner(x):
    return x + OFFSET

def _outer(x):
    return _inner(x) * 2

class Calib:
    gain = 3

    def apply(self, x):
        return x * self.gain

    def unused(self):
        return 0

@Variable(title="Plain")
def plain(run):
    return 1

@Variable(title="Scaled")
def scaled(run):
    return SCALE * 2

@Variable(title="Scaled twice")
def scaled_twice(run, s: "var#scaled"):
    return 2 * s

@Variable(title="Nested")
def nested(run):
    return _outer(1)

@Variable(title="Calibrated")
def calibrated(run):
    return Calib().apply(1)

@Variable(title="Limited")
def limited(run):
    return LIMITS["low"][1] + np.sqrt(4)

@Variable(title="Defaulted")
def defaulted(run, k=K):
    return k

@Group
class Det:
    source: str = "DET"

    def _factor(self):
        return 2

    @Variable(title="Signal")
    def signal(self, run):
        return self._factor()

    @Variable(title="Count")
    def count(self, run):
        return 1

det = Det()
'''

NAMES = ["plain", "scaled", "scaled_twice", "nested", "calibrated", "limited", "defaulted",
         "det.signal", "det.count"]


def versions(tmp_path, text):
    path = tmp_path / "context.py"
    path.write_text(text)
    return dict(load_context_file(path).versions)


def changed(tmp_path, old, new, base=CONTEXT):
    """Names whose version differs once ``old`` is replaced by ``new`` in ``base``."""
    assert old in base
    before = versions(tmp_path, base)
    after = versions(tmp_path, base.replace(old, new))
    assert set(before) == set(after) == set(NAMES)
    return sorted(n for n in NAMES if before[n] != after[n])


def test_an_unchanged_file_gives_the_same_versions(tmp_path):
    assert versions(tmp_path, CONTEXT) == versions(tmp_path, CONTEXT)


def test_adding_a_variable_changes_no_other_version(tmp_path):
    base = CONTEXT + textwrap.dedent('''
        def even(n):
            return n == 0 or odd(n - 1)

        def odd(n):
            return n != 0 and even(n - 1)

        @Variable(title="Parity")
        def parity(run):
            return even(4)
    ''')
    added = base.replace('@Variable(title="Plain")', '@Variable(title="Odd")\n'
                         'def odd_first(run):\n    return odd(3) + _outer(1)\n\n'
                         '@Variable(title="Plain")')
    before, after = versions(tmp_path, base), versions(tmp_path, added)
    assert set(after) - set(before) == {"odd_first"}
    assert {n: after[n] for n in before} == before


def test_a_constant_changes_its_users_and_their_dependents_only(tmp_path):
    assert changed(tmp_path, "SCALE = 1", "SCALE = 1000") == ["scaled", "scaled_twice"]
    assert changed(tmp_path, '"low": (0, 1.5)', '"low": (0, 2.5)') == ["limited"]


def test_a_helper_and_the_helpers_it_calls_change_their_users(tmp_path):
    assert changed(tmp_path, "return _inner(x) * 2", "return _inner(x) * 3") == ["nested"]
    assert changed(tmp_path, "return x + OFFSET", "return x - OFFSET") == ["nested"]
    assert changed(tmp_path, "OFFSET = 10", "OFFSET = 11") == ["nested"]


def test_a_class_method_or_attribute_changes_its_users(tmp_path):
    assert changed(tmp_path, "return x * self.gain", "return x / self.gain") == ["calibrated"]
    assert changed(tmp_path, "gain = 3", "gain = 4") == ["calibrated"]


def test_a_group_method_changes_the_group_variables_using_it(tmp_path):
    assert changed(tmp_path, "return 2\n", "return 5\n") == ["det.signal"]
    assert changed(tmp_path, 'source: str = "DET"', 'source: str = "DET2"') == [
        "det.count", "det.signal"]  # a group's setting: all of its variables


def test_a_default_argument_counts_by_its_value(tmp_path):
    assert changed(tmp_path, "K = 2", "K = 3") == ["defaulted"]


def test_settings_that_change_values_count_and_titles_do_not(tmp_path):
    assert changed(tmp_path, '@Variable(title="Plain")',
                   '@Variable(title="Plain", summary="max")') == ["plain"]
    assert changed(tmp_path, '@Variable(title="Plain")',
                   '@Variable(title="Plain", transient=True)') == ["plain"]
    assert changed(tmp_path, '@Variable(title="Plain")',
                   '@Variable(title="Just plain", tags=["x"], cluster=True)') == []
    assert changed(tmp_path, "return 1\n\n@Variable(title=\"Scaled\")",
                   "return 1  # a comment\n\n@Variable(title=\"Scaled\")") == ["plain"]


def test_an_imported_module_counts_by_its_name(tmp_path):
    text = CONTEXT.replace("import numpy as np", "import numpy as np\nimport math")
    assert changed(tmp_path, "import numpy as np\n", "import math as np\n", base=text) == [
        "limited"]


def test_a_file_saved_while_it_loads_gives_the_version_of_the_code_that_ran(tmp_path):
    path = tmp_path / "context.py"
    path.write_text(textwrap.dedent('''
        from pathlib import Path
        from damnit_ctx import Variable

        @Variable
        def x(run):
            return 1

        Path(__file__).write_text(Path(__file__).read_text().replace("return 1", "return 2"))
    '''))
    first = load_context_file(path)  # ran "return 1"; the file now says "return 2"
    assert "return 1" in first["x"].source()
    assert load_context_file(path).versions["x"] != first.versions["x"]


def test_a_closure_counts_by_its_values():
    def make(factor):
        def f(run):
            return factor
        return Variable(f)

    def version(var):
        return Definitions([var]).versions["f"]

    assert version(make(2)) == version(make(2)) != version(make(3))


def test_a_cell_variable_counts_the_namespace_it_was_defined_in():
    """Cells run in the kernel's namespace, their source registered in linecache."""
    user_ns = {"Variable": Variable}

    def run_cell(source, number):
        name = f"<cell-{number}>"
        lines = source.splitlines(True)
        linecache.cache[name] = (len(source), None, lines, name)
        exec(compile(source, name, "exec"), user_ns)

    cell = 'def _calib(x):\n    return x * SCALE\n\n@Variable\ndef v(run):\n    return _calib(1)\n'
    run_cell("SCALE = 1\n", 1)
    run_cell(cell, 2)
    first = Definitions([user_ns["v"]]).versions["v"]
    run_cell(cell, 3)
    assert Definitions([user_ns["v"]]).versions["v"] == first
    run_cell("SCALE = 2\n", 4)
    run_cell(cell, 5)
    assert Definitions([user_ns["v"]]).versions["v"] != first


STABILITY = r'''
import json, sys, threading
from damnit_nb.context import Definitions, Variable, load_context_file

out = dict(load_context_file(sys.argv[1]).versions)
ns = {"Variable": Variable, "LOCK": threading.Lock(), "TAGS": {"a", "b", "c", "d"}}
exec(compile(
    "def made(run):\n"
    "    pick = lambda x: x in {'p', 'q', 'r', 's'}\n"
    "    with LOCK:\n"
    "        return pick('p') and len(TAGS)\n", "<no source>", "exec"), ns)
out["made"] = Definitions([Variable(ns["made"])]).versions["made"]
print(json.dumps(out))
'''

STABLE_CONTEXT = CONTEXT + '''
import threading
import numpy
KINDS = {"x", "y", "z", "w"}
TABLE = numpy.arange(12.0).reshape(3, 4)
LOCK = threading.Lock()

class Shape:
    def __init__(self, n):
        self.n = n

SQUARE = Shape(4)
CHAIN = None
for i in range(3000):  # deeper than the describing goes
    CHAIN = [i, CHAIN]

class Odd:
    def __getattr__(self, name):
        raise KeyError(name)

ODD = Odd()

def even(n):
    return n == 0 or odd(n - 1)

def odd(n):
    return n != 0 and even(n - 1)

@Variable(title="Everything")
def everything(run):
    with LOCK:
        return len(KINDS) + TABLE.sum() + SQUARE.n + (lambda: 1)() + even(2), CHAIN, ODD
'''


def _versions_in_subprocess(path, seed):
    env = dict(os.environ, PYTHONHASHSEED=str(seed), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", STABILITY, str(path)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_versions_are_the_same_in_fresh_processes(tmp_path):
    path = tmp_path / "context.py"
    path.write_text(STABLE_CONTEXT)
    here = dict(load_context_file(path).versions)
    one = _versions_in_subprocess(path, 1)
    two = _versions_in_subprocess(path, 2)
    assert one == two
    assert {n: one[n] for n in here} == here
    assert "made" in one and "everything" in one  # the one without source is stable too
