"""damnit_nb.data against EXtra-data (the facility's reader) on the same example runs."""

import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MAX_COMPARE_BYTES = 20_000_000


def _ed_key(ed_run, source, key):
    """EXtra-data's KeyData, or None where EXtra-data cannot open the key.

    (EXtra-data maps key 'a.b' to the HDF5 path 'a/b' and so fails on keys whose HDF5 names
    contain dots, which the JUNGFRAU examples have; damnit_nb reads those.)
    """
    try:
        return ed_run[source, key]
    except KeyError:
        return None


def _first_key(theirs):
    """The first (source, key) in sorted order that EXtra-data can open."""
    for src in sorted(theirs.control_sources) + sorted(theirs.instrument_sources):
        for key in sorted(theirs[src].keys()):
            if _ed_key(theirs, src, key) is not None:
                return src, key
    raise AssertionError("no readable key")


def test_train_ids(run_pair):
    ours, theirs = run_pair
    assert ours.train_ids == theirs.train_ids
    assert all(isinstance(t, np.uint64) for t in ours.train_ids[:3])


def test_sources(run_pair):
    ours, theirs = run_pair
    assert ours.all_sources == theirs.all_sources
    assert ours.control_sources == theirs.control_sources
    assert ours.instrument_sources == theirs.instrument_sources
    assert isinstance(ours.all_sources, frozenset)


def test_keys(run_pair):
    ours, theirs = run_pair
    for src in theirs.all_sources:
        assert ours.keys_for_source(src) == theirs.keys_for_source(src)
        assert ours[src].keys(inc_timestamps=False) == theirs[src].keys(inc_timestamps=False)
        assert ours[src].is_control == theirs[src].is_control
        assert ours[src].is_instrument == theirs[src].is_instrument


def test_run_metadata(run_pair):
    ours, theirs = run_pair
    meta = ours.run_metadata()
    expected = theirs.run_metadata()
    assert meta.keys() == expected.keys()
    # EXtra-data takes these from an arbitrary file; ours from the first file in train
    # order. The example files differ in sequence number and creation time.
    for k in ("sequenceNumber", "creationDate", "updateDate"):
        meta.pop(k, None)
        expected.pop(k, None)
    assert meta == expected
    assert meta["dataFormatVersion"] == theirs.files[0].format_version


def test_key_descriptions(run_pair):
    ours, theirs = run_pair
    for src in theirs.all_sources:
        for key in theirs[src].keys():
            b = _ed_key(theirs, src, key)
            if b is None:
                continue
            a = ours[src, key]
            assert a.key == b.key
            assert a.shape == b.shape, (src, key)
            assert a.dtype == b.dtype, (src, key)
            assert a.entry_shape == b.entry_shape
            assert a.ndim == b.ndim
            assert a.units == b.units, (src, key)
            assert a.units_name == b.units_name


def test_data_counts(run_pair):
    ours, theirs = run_pair
    for src in theirs.all_sources:
        for key in sorted(theirs[src].keys())[:6]:
            b = _ed_key(theirs, src, key)
            if b is None:
                continue
            pd_a, pd_b = ours[src, key].data_counts(), b.data_counts()
            assert pd_a.index.tolist() == pd_b.index.tolist()
            np.testing.assert_array_equal(pd_a.values, pd_b.values)
            np.testing.assert_array_equal(
                ours[src, key].data_counts(labelled=False), b.data_counts(labelled=False)
            )
            np.testing.assert_array_equal(
                ours[src, key].train_id_coordinates(), b.train_id_coordinates()
            )


def test_source_data_counts(run_pair):
    ours, theirs = run_pair
    for src in theirs.all_sources:
        if not theirs[src].keys():
            # A control source with RUN values only: EXtra-data gives zeros labelled by
            # position; we give the INDEX counts labelled by train ID.
            assert ours[src].data_counts().index.tolist() == ours.train_ids
            continue
        try:
            expected = theirs[src].data_counts()
        except KeyError:
            continue  # see _ed_key
        got = ours[src].data_counts()
        assert got.index.tolist() == expected.index.tolist()
        np.testing.assert_array_equal(got.values, expected.values)


def test_values(run_pair):
    """ndarray() and xarray() give identical values, coordinates, names and attributes."""
    ours, theirs = run_pair
    for src in sorted(theirs.all_sources):
        if src in theirs.legacy_sources:
            continue  # same data as the real name
        for key in sorted(theirs[src].keys()):
            b = _ed_key(theirs, src, key)
            if b is None:
                continue
            a = ours[src, key]
            if a.nbytes > MAX_COMPARE_BYTES:
                continue
            xa, xb = a.xarray(), b.xarray()
            assert xa.identical(xb), (src, key)
            np.testing.assert_array_equal(a.ndarray(), b.ndarray())
            assert a.ndarray().dtype == b.ndarray().dtype


def test_series(run_pair):
    ours, theirs = run_pair
    for src in sorted(theirs.control_sources)[:3]:
        for key in sorted(theirs[src].keys())[:5]:
            b = _ed_key(theirs, src, key)
            if b is None or b.ndim > 1:
                continue
            sa, sb = ours[src, key].series(), b.series()
            assert sa.name == sb.name
            assert sa.index.name == sb.index.name
            assert sa.equals(sb)


def test_run_values(run_pair):
    ours, theirs = run_pair
    for src in sorted(theirs.control_sources):
        try:
            expected = theirs[src].run_values()
        except KeyError:
            continue  # see _ed_key
        got = ours[src].run_values()
        assert got.keys() == expected.keys()
        for k, v in expected.items():
            np.testing.assert_array_equal(got[k], v)
            assert type(got[k]) is type(v), (src, k)
        assert ours[src].device_class == theirs[src].device_class
        for k in list(theirs[src].keys(inc_timestamps=False))[:3]:
            try:
                ev = theirs.get_run_value(src, k)
            except KeyError:
                continue
            np.testing.assert_array_equal(ours.get_run_value(src, k), ev)


def test_select_trains(run_pair):
    from extra_data import by_id as ed_by_id, by_index as ed_by_index

    from damnit_nb.data import by_id, by_index

    ours, theirs = run_pair
    tids = theirs.train_ids
    if len(tids) < 10:
        pytest.skip("too few trains")
    cases = [
        (by_index[3:17], ed_by_index[3:17]),
        (by_id[tids[5]:tids[30]], ed_by_id[tids[5]:tids[30]]),
        (by_id[[tids[1], tids[4], tids[9]]], ed_by_id[[tids[1], tids[4], tids[9]]]),
        (slice(-5, None), slice(-5, None)),
    ]
    src, key = _first_key(theirs)
    for sel_ours, sel_theirs in cases:
        a, b = ours.select_trains(sel_ours), theirs.select_trains(sel_theirs)
        assert a.train_ids == b.train_ids
        ka, kb = a[src, key], b[src, key]
        assert ka.shape == kb.shape
        if ka.nbytes < MAX_COMPARE_BYTES:
            assert ka.xarray().identical(kb.xarray())
        assert ours[src, key].select_trains(sel_ours).shape == kb.shape


def test_select_sources(run_pair):
    ours, theirs = run_pair
    src, _ = _first_key(theirs)
    prefix = src.split("/")[0]
    a, b = ours.select(f"{prefix}*"), theirs.select(f"{prefix}*")
    assert a.all_sources == b.all_sources
    assert a.train_ids == b.train_ids
    keys = sorted(theirs[src].keys())
    pattern = keys[0].split(".")[0] + ".*"
    a, b = ours.select(src, pattern), theirs.select(src, pattern)
    assert a.all_sources == {src}
    assert a.keys_for_source(src) == b.keys_for_source(src)
    assert ours.deselect(src).all_sources == theirs.deselect(src).all_sources


def test_pickle(run_pair):
    import pickle

    ours, theirs = run_pair
    copy = pickle.loads(pickle.dumps(ours))
    assert copy.train_ids == ours.train_ids
    assert copy.all_sources == ours.all_sources
    src, key = _first_key(theirs)
    kd = ours[src, key]
    if kd.nbytes < MAX_COMPARE_BYTES:
        assert pickle.loads(pickle.dumps(kd)).xarray().identical(kd.xarray())
