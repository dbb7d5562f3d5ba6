"""Session fixtures: example runs written once, opened with damnit_nb and EXtra-data."""

import os

import numpy as np
import pytest

pytest.importorskip("extra_data")

from euxfel_examples import fill_values, make_examples, make_uneven_run  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def private_catalogue_cache(tmp_path_factory):
    """Keep the catalogue cache of these tests out of the user's cache directory."""
    from damnit_nb.data.cache import CACHE_DIR_ENV

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_DIR_ENV, str(tmp_path_factory.mktemp("cache")))
        yield


def _make(tmp_path_factory, name, func, **kwargs):
    d = tmp_path_factory.mktemp(name)
    result = func(str(d), **kwargs)
    if result is not None:
        return str(result)  # the maker chose the run directory and wrote real values
    fill_values(str(d))
    return str(d)


def make_simulated_run(path):
    """A run from damnit_nb's own simulator (format 1.3, realistic values)."""
    from damnit_nb.simulate import simulate_run

    return simulate_run(os.path.join(path, "p001234"), 1, trains=250, trains_per_sequence=100,
                        modules=2)


RUN_MAKERS = {
    "fxe-0.5": (make_examples.make_fxe_run, {"format_version": "0.5"}),
    "fxe-1.0": (make_examples.make_fxe_run, {"format_version": "1.0"}),
    "fxe-1.2": (make_examples.make_fxe_run, {"format_version": "1.2"}),
    "spb-0.5": (make_examples.make_spb_run, {"format_version": "0.5", "sensor_size": (16, 12)}),
    "spb-1.1": (make_examples.make_spb_run, {"format_version": "1.1", "sensor_size": (16, 12)}),
    "reduced-spb-1.0": (make_examples.make_reduced_spb_run,
                        {"format_version": "1.0", "rng": np.random.RandomState(4)}),
    "modern-spb-proc-1.2": (make_examples.make_modern_spb_proc_run, {"format_version": "1.2"}),
    "scs-1.0": (make_examples.make_scs_run, {}),
    "jungfrau-1.0": (make_examples.make_jungfrau_run, {}),
    "remi-1.0": (make_examples.make_remi_run, {}),  # structured dtypes
    "simulated-1.3": (make_simulated_run, {}),
    "uneven-1.0": (make_uneven_run, {"format_version": "1.0"}),
    "uneven-0.5": (make_uneven_run, {"format_version": "0.5"}),
}


@pytest.fixture(scope="session")
def example_runs(tmp_path_factory):
    """Lazily generated example run directories, keyed like RUN_MAKERS (one per session)."""
    made = {}

    def get(name):
        if name not in made:
            func, kwargs = RUN_MAKERS[name]
            made[name] = _make(tmp_path_factory, name.replace(".", "_"), func, **kwargs)
        return made[name]

    return get


@pytest.fixture(scope="session", params=sorted(RUN_MAKERS))
def run_pair(request, example_runs):
    """(damnit_nb run, EXtra-data run) opened on the same example directory."""
    import extra_data

    from damnit_nb.data import RunDirectory

    path = example_runs(request.param)
    return RunDirectory(path), extra_data.RunDirectory(path)


@pytest.fixture
def settled_run(example_runs, tmp_path):
    """A copy of the uneven example run whose files look written a minute ago (so caches
    store them: files still settling are left out)."""
    import shutil
    import time

    dest = tmp_path / "r0001"
    shutil.copytree(example_runs("uneven-1.0"), dest)
    t = time.time() - 60
    for name in os.listdir(dest):
        os.utime(dest / name, (t, t))
    return dest
