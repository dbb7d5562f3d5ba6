"""The catalogue cache across processes: a short-lived process leaves it written, and its
exit stays bounded when the cache cannot be written."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from damnit_nb.data.cache import CACHE_DIR_ENV, CatalogueCache

REPO = Path(__file__).resolve().parents[2]
#: Generous limit for a subprocess: reaching it means an exit hung.
NEVER = 120
XGM_KEY = ("SA1_XTD2_XGM/DOOCS/MAIN", "beamPosition.ixPos")

#: Opens the run in argv[1], reads XGM_KEY, exits at once; counts the files' reads.
OPEN_AND_READ = f"""
import sys
import damnit_nb.data.cache as cache
import damnit_nb.data.catalogue as catalogue
import damnit_nb.data.run as run_module
from damnit_nb.data import RunDirectory

reads = {{"catalogues": 0, "index": 0}}
read_catalogue, load = run_module.read_catalogue, catalogue.FileCatalogue._load

def counted_read(*args, **kwargs):
    reads["catalogues"] += 1
    return read_catalogue(*args, **kwargs)

def counted_load(self, what):
    reads["index"] += 1
    return load(self, what)

run_module.read_catalogue = counted_read
catalogue.FileCatalogue._load = counted_load
exec(sys.argv[2] if len(sys.argv) > 2 else "")  # the test's changes
run = RunDirectory(sys.argv[1])
run[{XGM_KEY!r}].ndarray()
print(len(run.files), reads["catalogues"], reads["index"])
"""


def _run(script, *args, cache_dir):
    env = dict(os.environ, **{CACHE_DIR_ENV: str(cache_dir)})
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *map(str, args)],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=NEVER)
    assert out.returncode == 0, out.stderr
    return [int(x) for x in out.stdout.split()]


def test_short_lived_process_leaves_a_warm_cache(settled_run, tmp_path):
    cache_dir = tmp_path / "cache"
    n_files, catalogues, index = _run(OPEN_AND_READ, settled_run, cache_dir=cache_dir)
    assert (n_files, catalogues) == (3, 3) and index > 0  # a cold open, then INDEX read

    stored = CatalogueCache(cache_dir).load(settled_run)  # what the process left behind
    assert sorted(stored) == sorted(os.listdir(settled_run))
    assert all(c.is_current() for c in stored.values())
    xgm_files = [c for c in stored.values() if XGM_KEY[0] in c.control_sources]
    assert len(xgm_files) == 2
    assert all(XGM_KEY[0] in c.loaded_index() for c in xgm_files)  # read lazily, stored too

    # A second process opens warm and finds the key's INDEX in the cache: no file is read.
    assert _run(OPEN_AND_READ, settled_run, cache_dir=cache_dir) == [3, 0, 0]


HANG_WRITES = """
import threading
import damnit_nb.data.cache as cache
cache.EXIT_FLUSH_SECONDS = 0.5
def hang(*args, **kwargs):
    threading.Event().wait()  # a write that never ends (a hung file system)
cache.CatalogueCache.store = hang
"""


def test_exit_is_bounded_when_a_write_hangs(settled_run, tmp_path):
    # _run's timeout fails the test if the exit waits for the hung write.
    assert _run(OPEN_AND_READ, settled_run, HANG_WRITES, cache_dir=tmp_path / "c") == [3, 3, 2]
    assert not (tmp_path / "c").exists()


def test_exit_with_an_unwritable_cache_dir(settled_run, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    assert _run(OPEN_AND_READ, settled_run, cache_dir=blocker) == [3, 3, 2]
    assert blocker.read_text() == ""


#: A multiprocessing child (which leaves through os._exit, skipping atexit) opens the run.
IN_A_CHILD = f"""
import multiprocessing
import sys
from damnit_nb.data import RunDirectory

def work(path):
    RunDirectory(path)[{XGM_KEY!r}].ndarray()

child = multiprocessing.get_context("fork").Process(target=work, args=(sys.argv[1],))
child.start()
child.join()
print(child.exitcode)
"""


def test_multiprocessing_child_leaves_a_warm_cache(settled_run, tmp_path):
    assert _run(IN_A_CHILD, settled_run, cache_dir=tmp_path / "cache") == [0]
    stored = CatalogueCache(tmp_path / "cache").load(settled_run)
    assert len(stored) == 3
    assert any(XGM_KEY[0] in c.loaded_index() for c in stored.values())
