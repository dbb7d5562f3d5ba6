"""Auxiliary (REDUCTION/ERRATA) sources and RUN-only sources and keys, against EXtra-data."""

import os

import h5py
import numpy as np
import pytest

from damnit_nb.data import PropertyNameError, RunDirectory, SourceNameError, by_index

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _fill_auxiliary(run_dir, seed=1):
    """Distinct values in every REDUCTION/ERRATA dataset (the generator leaves them empty)."""
    rng = np.random.default_rng(seed)
    words = np.array([b"SA1_XTD2_XGM/DOOCS/MAIN", b"pulseEnergy", b"FLOAT", b"1.5"], dtype=object)
    for name in sorted(os.listdir(run_dir)):
        with h5py.File(os.path.join(run_dir, name), "r+") as f:
            datasets = []
            for section in ("REDUCTION", "ERRATA"):
                if section in f:
                    f[section].visititems(
                        lambda _, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) else None)
            for ds in datasets:
                if ds.dtype.kind in "iuf":
                    ds[...] = rng.integers(0, 250, size=ds.shape).astype(ds.dtype)
                else:
                    ds[...] = words[rng.integers(0, 4, size=ds.shape)]


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    import extra_data
    from extra_data.tests import make_examples

    path = str(tmp_path_factory.mktemp("reduced"))
    make_examples.make_reduced_spb_run(path, format_version="1.0", rng=np.random.RandomState(7))
    _fill_auxiliary(path)
    return RunDirectory(path), extra_data.RunDirectory(path)


def _str(x):
    if x.dtype == object:
        return np.vectorize(lambda v: v.decode() if isinstance(v, bytes) else v, otypes=[object])(x)
    return x


def test_auxiliary_source_names_like_extra_data(reduced):
    ours, theirs = reduced
    aux, expected = ours.auxiliary, theirs.auxiliary
    assert aux.all_sources == expected.all_sources
    assert aux.reduction_sources == expected.reduction_sources
    assert aux.errata_sources == expected.errata_sources
    # Named as EXtra-data names them: kept when one aggregator holds them and the name ends
    # with a regular source's, prefixed with the aggregator otherwise.
    assert "PULSE_REDUCTION/SPB_DET_AGIPD1M-1/DET/3CH0:xtdf" in aux.reduction_sources
    assert "AGIPD11@SPB_IRU_AGIPD1M1/REDU/LITFRM:daqFilter" in aux.reduction_sources
    assert aux.errata_sources == {"DA01@TRAINS_OUTSIDE_BUFFER_RANGE"}
    assert len(aux.all_sources) == 33
    # Not regular sources.
    assert aux.all_sources.isdisjoint(ours.all_sources)
    assert ours.all_sources == theirs.all_sources


def test_auxiliary_source_data(reduced):
    ours, theirs = reduced
    sd = ours.auxiliary["DA01@TRAINS_OUTSIDE_BUFFER_RANGE"]
    assert sd.source == "TRAINS_OUTSIDE_BUFFER_RANGE"
    assert sd.section == "ERRATA"
    assert sd.is_errata and sd.is_auxiliary and not sd.is_reduction
    assert not sd.is_control and not sd.is_instrument and not sd.is_run_only
    assert sd.index_groups == {"event"}
    assert sd.keys() == {"event.deviceIds", "event.originalTrainIds", "event.properties",
                         "event.types", "event.values"}
    assert "event.deviceIds" in sd
    assert sd["event.deviceIds"].entry_shape == (11,)
    assert sd["event.deviceIds"].is_errata
    assert len(sd.files) == 2
    assert sd.aggregator == "DA01"
    assert "section=ERRATA" in repr(sd)

    red = ours.auxiliary["AGIPD11@SPB_IRU_AGIPD1M1/REDU/LITFRM:daqFilter"]
    assert red.is_reduction and red.is_auxiliary and not red.is_errata
    assert red.aggregator == "AGIPD11"
    assert ("AGIPD11@SPB_IRU_AGIPD1M1/REDU/LITFRM:daqFilter", "data.dataFramePattern") in ours.auxiliary
    assert ("AGIPD11@SPB_IRU_AGIPD1M1/REDU/LITFRM:daqFilter", "nothing") not in ours.auxiliary
    assert "ABC" not in ours.auxiliary


@pytest.mark.parametrize("sel", [None, by_index[3:20], by_index[[0, 5, 40, 63]]])
def test_auxiliary_data_like_extra_data(reduced, sel):
    import extra_data

    ours, theirs = reduced
    if sel is not None:
        ours = ours.select_trains(sel)
        theirs = theirs.select_trains(getattr(extra_data, sel.kind)[sel.value])
    for name in sorted(theirs.auxiliary.all_sources):
        sa, sb = ours.auxiliary[name], theirs.auxiliary[name]
        assert sa.keys() == sb.keys()
        assert sa.index_groups == sb.index_groups
        assert sa.train_ids == sb.train_ids
        if sel is None:  # (EXtra-data drops files without selected trains; we keep them)
            assert [f.path for f in sa.files] == sorted(f.filename for f in sb.files)
        np.testing.assert_array_equal(sa.data_counts(labelled=False),
                                      sb.data_counts(labelled=False))
        for key in sorted(sb.keys()):
            ka, kb = ours.auxiliary[name, key], theirs.auxiliary[name, key]
            assert (ka.shape, ka.dtype) == (kb.shape, kb.dtype)
            np.testing.assert_array_equal(ka.ndarray(), kb.ndarray())
            np.testing.assert_array_equal(ka.train_id_coordinates(), kb.train_id_coordinates())
            assert ka.xarray().identical(kb.xarray())


def test_auxiliary_values_are_the_files(reduced):
    """Not only equal to EXtra-data: the values written into the files."""
    ours, _ = reduced
    kd = ours.auxiliary["DA01@TRAINS_OUTSIDE_BUFFER_RANGE", "event.originalTrainIds"]
    expected = []
    for cat in sorted(kd.files, key=lambda c: c.train_ids[0]):
        with h5py.File(cat.path, "r") as f:
            first = f["INDEX/TRAINS_OUTSIDE_BUFFER_RANGE/event/first"][:]
            count = f["INDEX/TRAINS_OUTSIDE_BUFFER_RANGE/event/count"][:]
            ds = f["ERRATA/TRAINS_OUTSIDE_BUFFER_RANGE/event/originalTrainIds"]
            n = int(np.count_nonzero(f["INDEX/trainId"][:]))
            for a, c in zip(first[:n], count[:n]):
                expected.append(ds[a:a + c])
    expected = np.concatenate(expected)
    got = kd.ndarray()
    assert got.any()
    np.testing.assert_array_equal(got, expected)
    strings = ours.auxiliary["DA01@TRAINS_OUTSIDE_BUFFER_RANGE", "event.properties"].ndarray()
    assert isinstance(strings.flat[0], str)


def test_auxiliary_unknown_names(reduced):
    ours, _ = reduced
    with pytest.raises(SourceNameError, match="run.auxiliary.all_sources") as info:
        ours.auxiliary["ABC"]
    assert info.value.source == "ABC"
    # The unprefixed name of a source several aggregators hold: say to prefix it.
    with pytest.raises(SourceNameError, match="AGIPD00@SPB_IRU_AGIPD1M1"):
        ours.auxiliary["SPB_IRU_AGIPD1M1/REDU/LITFRM:daqFilter"]
    with pytest.raises(TypeError, match="run.auxiliary"):
        ours.auxiliary[3]
    with pytest.raises(PropertyNameError):
        ours.auxiliary["DA01@TRAINS_OUTSIDE_BUFFER_RANGE", "event.nothing"]


def test_auxiliary_info(reduced, capsys):
    ours, _ = reduced
    ours.auxiliary.info(details_for_sources=["DA01*"], with_aggregators=True)
    out = capsys.readouterr().out
    assert "32 reduction sources:" in out and "1 errata sources:" in out
    assert "[DA01] DA01@TRAINS_OUTSIDE_BUFFER_RANGE" in out
    assert "event.originalTrainIds: uint64 (11,)" in out
    assert "33 sources" in repr(ours.auxiliary)


def test_no_auxiliary_sources(example_runs):
    run = RunDirectory(example_runs("uneven-1.0"))
    assert run.auxiliary.all_sources == frozenset()
    assert run.auxiliary.reduction_sources == frozenset()


def test_auxiliary_split_and_dask(reduced):
    pytest.importorskip("dask.array")
    ours, theirs = reduced
    name, key = "PULSE_REDUCTION/SPB_DET_AGIPD1M-1/DET/3CH0:xtdf", "image.data.reductionRatio"
    kd = ours.auxiliary[name, key]
    np.testing.assert_array_equal(kd.dask_array().compute(), kd.ndarray())
    parts = list(ours.auxiliary[name].split_trains(parts=3))
    expected = list(theirs.auxiliary[name].split_trains(parts=3))
    assert [p.train_ids for p in parts] == [p.train_ids for p in expected]
    np.testing.assert_array_equal(np.concatenate([p[key].ndarray() for p in parts]),
                                  kd.ndarray())


# --- RUN-only sources and keys --------------------------------------------------------

XGM = "SA1_XTD2_XGM/DOOCS/MAIN"
RUN_ONLY = "SA1_XTD2_XGM/DOOCS/RUNONLY"  # listed, INDEX with no data, no CONTROL group
RUN_ONLY_EMPTY = "SA1_XTD2_XGM/DOOCS/RUNONLY_EMPTY"  # the same with an empty CONTROL group
UNLISTED = "SA1_XTD2_XGM/DOOCS/UNLISTED"  # in RUN only, not in METADATA


def _add_run_value(f, source, key, value):
    path = f"RUN/{source}/{key.replace('.', '/')}"
    f.create_dataset(f"{path}/value", data=[value])
    f.create_dataset(f"{path}/timestamp", data=np.array([1_600_000_000_000_000_000], "u8"))


def _list_control_source(f, source):
    """Add CONTROL/<source> to METADATA/dataSources (format >= 1.0), in padding or grown."""
    grp = f["METADATA/dataSources"]
    n = sum(1 for v in grp["dataSourceId"][:] if v)
    if n >= grp["dataSourceId"].shape[0]:
        for name in ("dataSourceId", "root", "deviceId"):
            grp[name].resize((n + 16,))
    grp["dataSourceId"][n] = f"CONTROL/{source}".encode()
    grp["root"][n] = b"CONTROL"
    grp["deviceId"][n] = source.encode()
    ntrains = len(f["INDEX/trainId"])
    f.create_dataset(f"INDEX/{source}/first", data=np.zeros(ntrains, "u8"))
    f.create_dataset(f"INDEX/{source}/count", data=np.zeros(ntrains, "u8"))


@pytest.fixture(scope="module")
def run_only(tmp_path_factory):
    """The uneven example run, its XGM files given RUN-only keys and sources."""
    import extra_data
    from euxfel_examples import fill_values, make_uneven_run

    path = str(tmp_path_factory.mktemp("run_only"))
    make_uneven_run(path)
    fill_values(path)
    for name in ("RAW-R0001-DA01-S00000.h5", "RAW-R0001-DA01-S00001.h5"):
        with h5py.File(os.path.join(path, name), "r+") as f:
            _add_run_value(f, XGM, "serverId", b"xgm_server")
            _add_run_value(f, XGM, "settings.gain.level", np.float32(3.5))
            for src in (RUN_ONLY, RUN_ONLY_EMPTY):
                _list_control_source(f, src)
                _add_run_value(f, src, "classId", b"MotorDevice")
                _add_run_value(f, src, "position", np.float32(1.25))
                _add_run_value(f, src, "limits", np.array([-5.0, 5.0]))
            f.create_group(f"CONTROL/{RUN_ONLY_EMPTY}")
            _add_run_value(f, UNLISTED, "classId", b"Ghost")
    return RunDirectory(path, cache=False), extra_data.RunDirectory(path)


def _same_value(a, b):
    np.testing.assert_array_equal(a, b)
    assert type(a) is type(b)


def test_run_only_keys(run_only):
    ours, theirs = run_only
    for key in ("serverId", "settings.gain.level", "serverId.value", "classId"):
        _same_value(ours.get_run_value(XGM, key), theirs.get_run_value(XGM, key))
        _same_value(ours[XGM].run_value(key), theirs[XGM].run_value(key))
    assert ours.get_run_value(XGM, "serverId") == "xgm_server"
    # In RUN only: not keys of the source's data.
    assert "serverId.value" not in ours.keys_for_source(XGM)
    assert ours.keys_for_source(XGM) == theirs.keys_for_source(XGM)
    assert (XGM, "serverId") not in ours and (XGM, "serverId") not in theirs
    with pytest.raises(PropertyNameError):
        ours[XGM, "serverId"]
    run_values = ours.get_run_values(XGM)
    expected = theirs.get_run_values(XGM)
    assert run_values.keys() == expected.keys()
    assert "settings.gain.level.value" in run_values
    for k in expected:
        _same_value(run_values[k], expected[k])
    assert ours[XGM].run_keys() == theirs[XGM].run_keys()
    assert ours[XGM].run_keys(inc_timestamps=False) == theirs[XGM].run_keys(inc_timestamps=False)
    assert ours[XGM].run_values(inc_timestamps=False).keys() == \
        theirs[XGM].run_values(inc_timestamps=False).keys()
    assert not ours[XGM].is_run_only


@pytest.mark.parametrize("source", [RUN_ONLY, RUN_ONLY_EMPTY])
def test_run_only_sources(run_only, source):
    ours, theirs = run_only
    assert ours.all_sources == theirs.all_sources
    assert source in ours.control_sources and source in theirs.control_sources
    sd = ours[source]
    assert sd.is_control and sd.is_run_only
    assert sd.keys() == set()
    assert sd.device_class == theirs[source].device_class == "MotorDevice"
    for key in ("position", "limits", "classId.value"):
        _same_value(ours.get_run_value(source, key), theirs.get_run_value(source, key))
    got, expected = ours.get_run_values(source), theirs.get_run_values(source)
    assert got.keys() == expected.keys()
    for k in expected:
        _same_value(got[k], expected[k])
    assert sd.run_keys(inc_timestamps=False) == {"classId", "position", "limits"}
    counts = sd.data_counts(labelled=False)
    assert len(counts) == len(ours.train_ids) and not counts.any()
    # EXtra-data reads these for a source with an (empty) CONTROL group; without one it
    # fails to list keys, where ours answers as for the empty group.
    ref = theirs[RUN_ONLY_EMPTY]
    assert ref.is_run_only and ref.keys() == set()
    np.testing.assert_array_equal(counts, ref.data_counts(labelled=False))
    assert ours.keys_for_source(source) == theirs.keys_for_source(RUN_ONLY_EMPTY)
    with pytest.raises(PropertyNameError, match="run_keys"):
        sd.run_value("speed")
    # Selecting a RUN-only source keeps the run's trains.
    assert ours.select(source).train_ids == theirs.select(source).train_ids


def test_sources_only_in_run_but_not_listed(run_only):
    ours, theirs = run_only
    assert UNLISTED not in ours.all_sources and UNLISTED not in theirs.all_sources
    with pytest.raises(SourceNameError):
        ours.get_run_value(UNLISTED, "classId")
    with pytest.raises(KeyError):  # EXtra-data's own SourceNameError
        theirs.get_run_value(UNLISTED, "classId")


def test_run_values_of_sources_without_run(run_only):
    ours, theirs = run_only
    src = XGM + ":output"
    for call in (lambda r: r.get_run_value(src, "x"), lambda r: r.get_run_values(src),
                 lambda r: r[src].run_keys()):
        with pytest.raises(ValueError, match="no RUN values"):
            call(ours)
        with pytest.raises(ValueError, match="no RUN values"):
            call(theirs)
    assert ours[src].device_class is None
