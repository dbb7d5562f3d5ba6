"""Reading European XFEL runs (HDF5), with EXtra-data's names and semantics.

Opening a run reads each file's METADATA and INDEX into a catalogue; ``run[source, key]``
reads data only when asked (``.ndarray()``, ``.xarray()``, ``.series()``)::

    from damnit_nb.data import open_run
    run = open_run(proposal=1234, run=5)
    xgm = run["SA1_XTD2_XGM/DOOCS/MAIN", "pulseEnergy.photonFlux"].xarray()

``run.split_trains(parts=..., trains_per_part=...)`` (also on sources and keys) divides the
trains into parts; ``run[source, key].dask_array()`` gives a lazy dask array (needs
``dask[array]``); ``run.auxiliary`` holds the REDUCTION/ERRATA sources.

Where EXtra-data cannot read what a file holds but the meaning is unambiguous, we read it:
keys stored under HDF5 names that contain dots (``module1.adcTemperature/value`` in
JUNGFRAU monitor data) are listed and read like any other key; runs still being written are
read as far as they are consistent, and what is not is reported naming the file.

Modules: ``catalogue`` (what a file holds), ``cache`` (catalogues kept between opens, in the
user's cache directory), ``files`` (shared open-file cache), ``run`` (``DataCollection`` and
opening functions), ``source`` (``SourceData``), ``key`` (``KeyData``), ``h5access``
(reading inside one file: key lists, RUN values), ``selection`` (``by_id``, ``by_index``),
``auxiliary`` (``run.auxiliary``), ``exceptions``.

The catalogue cache is written in the background and, at the latest, when the process exits;
``flush_cache(timeout)`` writes it now (call it before ending a process with ``os._exit``).
``run.close()`` (or ``with RunDirectory(...) as run:``) closes the run's open files.

Environment: ``DAMNIT_NB_DATA_ROOT`` (where ``open_run`` looks for proposals, default
``/gpfs/exfel/exp``), ``DAMNIT_NB_CACHE_DIR`` (catalogue cache location).
"""

from .cache import flush as flush_cache
from .catalogue import FileCatalogue, read_catalogue
from .exceptions import (
    FileFormatError,
    IncompleteFileError,
    NoDataError,
    PropertyNameError,
    SourceNameError,
    TrainIDError,
)
from .key import KeyData
from .run import DataCollection, H5File, RunDirectory, open_run
from .selection import by_id, by_index
from .source import SourceData

__all__ = [
    "RunDirectory",
    "open_run",
    "H5File",
    "DataCollection",
    "SourceData",
    "KeyData",
    "FileCatalogue",
    "read_catalogue",
    "flush_cache",
    "by_id",
    "by_index",
    "SourceNameError",
    "PropertyNameError",
    "TrainIDError",
    "FileFormatError",
    "IncompleteFileError",
    "NoDataError",
]
