"""Settings for the whole test suite (tests/ and the notebooks run by nbval)."""

import os
import tempfile

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_catalogue_cache():
    """Catalogue caches go to a folder of the test session, never to the user's cache dir."""
    if "DAMNIT_NB_CACHE_DIR" in os.environ:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="damnit_nb-cache-") as d:
        os.environ["DAMNIT_NB_CACHE_DIR"] = d
        try:
            yield
        finally:
            del os.environ["DAMNIT_NB_CACHE_DIR"]
