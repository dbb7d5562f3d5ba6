"""Runs' full data as the series an overlay draws: along a coordinate, paired on train IDs,
thinned, as histograms on common bins, and refused with a reason."""

import numpy as np
import pytest
import xarray as xr

from damnit_nb.widgets.series import (MAX_POINTS, NotASeriesError, histograms, paired,
                                      series_of)


def trains(values, first=1000, units=None, step=1):
    ids = np.arange(first, first + step * len(values), step)
    return xr.DataArray(np.asarray(values, dtype=float), dims="trainId",
                        coords={"trainId": ids}, attrs={"units": units} if units else {})


def test_a_data_array_is_drawn_along_its_coordinate_with_units():
    delay = xr.DataArray([0.1, 0.2], dims="delay", coords={"delay": [5, 6]},
                         attrs={"units": "uJ"})
    delay.coords["delay"].attrs["units"] = "ps"
    s = series_of(delay, "Intensity")
    assert s.x.tolist() == [5, 6] and s.y.tolist() == [0.1, 0.2]
    assert (s.x_label, s.y_label) == ("delay [ps]", "Intensity [uJ]")
    assert s.thinned is None


def test_an_array_without_a_coordinate_is_drawn_along_its_index():
    s = series_of(np.array([3, 1, 2]), "counts", units="ph")
    assert s.x.tolist() == [0, 1, 2] and s.y.tolist() == [3, 1, 2]
    assert (s.x_label, s.y_label) == ("index", "counts [ph]")


def test_a_long_series_is_thinned_and_says_so():
    s = series_of(np.arange(25_000.0), "y")
    assert len(s.y) <= MAX_POINTS and s.thinned == 25_000
    assert s.y[0] == 0 and s.y[1] == 3  # every third point


@pytest.mark.parametrize("data, words", [
    (np.float64(3.0), "single number per run"),
    (np.zeros((4, 4)), "2 dimensions"),
    ("text", "text"),
    (np.array(["a", "b"]), "not numbers"),
    (xr.Dataset({"a": ("x", [1, 2])}), "Dataset"),
])
def test_what_is_not_a_series_is_refused_with_the_reason(data, words):
    with pytest.raises(NotASeriesError, match=words):
        series_of(data, "y")


def test_two_variables_are_aligned_on_their_common_trains():
    x = trains([1, 2, 3, 4], first=1000, units="keV")
    y = trains([20, 30, 40], first=1001, step=2)  # trains 1001, 1003, 1005
    s = paired(x, y, "energy", "signal")
    assert s.x.tolist() == [2, 4] and s.y.tolist() == [20, 30]
    assert (s.x_label, s.y_label) == ("energy [keV]", "signal")


def test_no_common_train_is_a_clear_message():
    with pytest.raises(NotASeriesError, match="no train ID in common"):
        paired(trains([1, 2], first=10), trains([1, 2], first=20))


def test_same_lengths_without_train_ids_are_paired_in_order():
    s = paired(np.array([1, 2, 3]), np.array([4, 5, 6]))
    assert s.x.tolist() == [1, 2, 3] and s.y.tolist() == [4, 5, 6]


def test_different_lengths_without_train_ids_cannot_be_aligned():
    with pytest.raises(NotASeriesError, match="3 values and y 2.*trainId"):
        paired(np.array([1, 2, 3]), trains([4, 5]).rename(trainId="pulse"))


def test_histograms_of_runs_share_their_bins():
    edges, counts = histograms({1: np.array([0.0, 1, 1, np.nan]), 2: np.array([3.0, 4])},
                               bins=4)
    assert edges.tolist() == [0, 1, 2, 3, 4]
    assert counts[1].tolist() == [1, 2, 0, 0] and counts[2].tolist() == [0, 0, 0, 2]
    assert sum(counts[1]) == 3  # NaN left out
