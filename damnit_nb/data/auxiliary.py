"""Auxiliary sources (REDUCTION and ERRATA): ``run.auxiliary``.

Besides its CONTROL and INSTRUMENT sources, a file may list auxiliary sources in
``METADATA/auxiliarySources/{REDUCTION,ERRATA}``: what the DAQ's data reduction did
(``/REDUCTION``) and corrections of recording errors (``/ERRATA``). They are not among
``run.all_sources``; ``run.auxiliary`` gives them, with EXtra-data's names:

- a source held by one aggregator (file name part such as ``AGIPD03``) whose name ends with
  one of that aggregator's regular sources keeps its name
  (``PULSE_REDUCTION/SPB_DET_AGIPD1M-1/DET/3CH0:xtdf``);
- otherwise it is named ``<aggregator>@<source>`` (``DA01@TRAINS_OUTSIDE_BUFFER_RANGE``),
  one entry per aggregator holding it.

``run.auxiliary[name]`` is a :class:`~damnit_nb.data.source.SourceData` (``section`` is
``'REDUCTION'`` or ``'ERRATA'``) and ``run.auxiliary[name, key]`` a
:class:`~damnit_nb.data.key.KeyData`, read like any other. The lists and their INDEX arrays
are read when ``run.auxiliary`` is first used (not when the run is opened), once per file.
"""

from __future__ import annotations

import fnmatch
import re
import threading

from .catalogue import AUXILIARY_SECTIONS, FrozenMap, read_auxiliary_index
from .exceptions import SourceNameError
from .source import SourceData, aggregator_of

__all__ = ["AuxiliaryIndexer"]

_lock = threading.Lock()
_index_cache = {}  # (path, size, mtime) -> read_auxiliary_index result
_INDEX_CACHE_MAX = 4096


def _auxiliary_index(cat):
    ck = (cat.path, cat.size, cat.mtime)
    with _lock:
        hit = _index_cache.get(ck)
    if hit is None:
        hit = read_auxiliary_index(cat.path)
        with _lock:
            if len(_index_cache) >= _INDEX_CACHE_MAX:
                _index_cache.clear()
            _index_cache[ck] = hit
    return hit


class _AuxiliaryFile:
    """One file's catalogue seen through its auxiliary sources of one section.

    Trains, flags and file identity are the catalogue's; ``index`` holds the auxiliary
    sources' INDEX arrays instead of the regular ones. Readers take it for a catalogue.
    """

    legacy_sources = FrozenMap()

    def __init__(self, cat, index):
        self._cat = cat
        self.index = FrozenMap({src: FrozenMap(groups) for src, groups in index.items()})
        self.groups = FrozenMap({src: tuple(groups) for src, groups in index.items()})

    path = property(lambda self: self._cat.path)
    size = property(lambda self: self._cat.size)
    mtime = property(lambda self: self._cat.mtime)
    train_ids = property(lambda self: self._cat.train_ids)
    flag = property(lambda self: self._cat.flag)
    filename = property(lambda self: self._cat.path)

    def resolve(self, source):
        return source

    def is_current(self, stat_result=None):
        return self._cat.is_current(stat_result)

    def index_for(self, source, group=""):
        return self.index[source][group]

    def __repr__(self):
        return f"<auxiliary view of {self._cat!r}>"


class AuxiliaryIndexer:
    """The auxiliary sources of a collection: ``run.auxiliary``.

    ``reduction_sources``, ``errata_sources`` and ``all_sources`` are frozensets of names;
    ``aux[name]`` gives a SourceData, ``aux[name, key]`` a KeyData, ``name in aux`` and
    ``(name, key) in aux`` test membership. Don't build one directly.
    """

    def __init__(self, files, *, train_ids, selected, inc_suspect_trains):
        # (source, section) -> aggregator -> [(catalogue, auxiliary view)]
        found = {}
        for cat in files:
            index = _auxiliary_index(cat)
            for section in AUXILIARY_SECTIONS:
                sources = index.get(section)
                if not sources:
                    continue
                view = _AuxiliaryFile(cat, sources)
                for src in sources:
                    found.setdefault((src, section), {}).setdefault(
                        aggregator_of(cat.path), []).append((cat, view))

        self._sources = {}
        for (src, section), by_agg in sorted(found.items()):
            prefix = True
            if len(by_agg) == 1:
                (entries,) = by_agg.values()
                prefix = not any(src.endswith(real) for cat, _ in entries
                                 for real in cat.all_sources)
            for agg, entries in sorted(by_agg.items(), key=lambda kv: str(kv[0])):
                name = f"{agg}@{src}" if prefix else src
                views = sorted((v for _, v in entries), key=lambda v: v.path)
                self._sources[name] = SourceData(
                    src, section=section, files=views, train_ids=train_ids,
                    selected=selected, inc_suspect_trains=inc_suspect_trains,
                )

    @property
    def reduction_sources(self):
        """Names of the REDUCTION sources."""
        return frozenset(n for n, sd in self._sources.items() if sd.is_reduction)

    @property
    def errata_sources(self):
        """Names of the ERRATA sources."""
        return frozenset(n for n, sd in self._sources.items() if sd.is_errata)

    @property
    def all_sources(self):
        """Names of all auxiliary sources."""
        return frozenset(self._sources)

    def _get_source_data(self, name):
        try:
            return self._sources[name]
        except KeyError:
            pass
        prefixed = sorted(n for n in self._sources if n.partition("@")[2] == name)
        if prefixed:
            shown = ", ".join(repr(n) for n in prefixed[:3])
            more = f" ({len(prefixed)} in all)" if len(prefixed) > 3 else ""
            hint = (f"Several aggregators hold an auxiliary source of that name: prefix it "
                    f"with one, as in {shown}{more}. See run.auxiliary.all_sources.")
            raise SourceNameError(name, hint=hint)
        raise SourceNameError(name, self._sources, hint=(
            "See run.auxiliary.all_sources for available auxiliary sources."))

    def __getitem__(self, item):
        if isinstance(item, tuple) and len(item) == 2 and all(isinstance(i, str) for i in item):
            return self._get_source_data(item[0])[item[1]]
        if isinstance(item, str):
            return self._get_source_data(item)
        raise TypeError(
            f"run.auxiliary[...] takes a source name or a (source, key) pair, not {item!r}"
        )

    def __contains__(self, item):
        if isinstance(item, tuple) and len(item) == 2 and all(isinstance(i, str) for i in item):
            return item[0] in self._sources and item[1] in self._sources[item[0]]
        if isinstance(item, str):
            return item in self._sources
        return False

    def _ipython_key_completions_(self):
        return sorted(self._sources)

    def __repr__(self):
        ntrains = len(next(iter(self._sources.values())).train_ids) if self._sources else 0
        return (f"<damnit_nb.data.AuxiliaryIndexer for {len(self._sources)} sources "
                f"and {ntrains} trains>")

    def info(self, details_for_sources=(), with_aggregators=False):
        """Print the reduction and errata sources; keys of those matching a glob in
        *details_for_sources*; the aggregator of each with *with_aggregators*."""
        pats = [re.compile(fnmatch.translate(p)) for p in details_for_sources]
        for label, names in (("reduction", self.reduction_sources),
                             ("errata", self.errata_sources)):
            print(f"{len(names)} {label} sources:")
            for name in sorted(names):
                sd = self._sources[name]
                agg = f" [{sd.aggregator}]" if with_aggregators else ""
                print(f"  -{agg} {name}")
                if any(p.match(name) for p in pats):
                    for key in sorted(sd.keys()):
                        kd = sd[key]
                        print(f"    - {key}: {kd.dtype} {kd.entry_shape}")
            if label == "reduction":
                print()
