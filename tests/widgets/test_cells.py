import base64

import numpy as np
import pytest

from damnit_nb.store import StoredValue
from damnit_nb.widgets.cells import (
    MISSING, Cell, as_markdown, column_kind, detail_html, from_stored, short_text,
)
from damnit_nb.widgets.model import ColumnSpec

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 20


@pytest.mark.parametrize("value,kind,typed", [
    (np.float32(2.5), "number", 2.5), (np.int64(7), "number", 7), (np.bool_(True), "number", True),
    (1.23456789, "number", 1.23456789), (np.array([4.5]), "number", 4.5),
    ("text", "text", "text"), (1 + 2j, "text", "1+2j"),
    (np.zeros((3, 4)), "text", "float64: (3, 4)"),
])
def test_values_keep_their_type(value, kind, typed):
    cell = from_stored(StoredValue(value))
    assert cell.kind == kind and cell.mark is None
    assert cell.value == typed and type(cell.value) is type(typed)


def test_a_string_starting_with_the_error_sign_is_text():
    cell = from_stored(StoredValue("⚠ ValueError"))
    assert cell.kind == "text" and cell.mark is None and cell.value == "⚠ ValueError"


def test_errors_and_skips_are_marks_without_value():
    err = from_stored(StoredValue(None, error="bad input", error_cls="ValueError"))
    assert (err.mark, err.value, err.error_cls, err.message) == ("error", None, "ValueError",
                                                                  "bad input")
    skip = from_stored(StoredValue(None, error="no XGM", error_cls="Skip"))
    assert (skip.mark, skip.value, skip.message) == ("skipped", None, "no XGM")
    assert from_stored(None) is MISSING


def test_trend_keeps_its_numbers_and_images_their_bytes():
    trend = from_stored(StoredValue(np.array([[0, 1, 2], [5.0, 6.0, 4.0]]), "trendline"))
    assert trend.kind == "trend" and list(trend.value.y) == [5.0, 6.0, 4.0]
    assert not trend.value.y.flags.writeable
    image = from_stored(StoredValue(PNG))
    assert image.kind == "image" and image.value == PNG
    assert base64.b64encode(PNG).decode() in detail_html(image)
    assert "<svg" in detail_html(trend)


def test_marks_beside_the_value():
    cell = from_stored(StoredValue(3.0, attributes={"units": "uJ", "background": [255, 0, 0]},
                                   provenance="manual-input"), max_diff=0.5)
    assert cell.units == "uJ" and cell.background == (255, 0, 0)
    assert cell.provenance == "manual-input" and "manual-input" in detail_html(cell)
    assert cell.varied and cell.shown_bold
    # its own bold setting wins over the data varying, as in DAMNIT's GUI
    assert not from_stored(StoredValue(3.0, attributes={"bold": False}), max_diff=1).shown_bold
    assert not from_stored(StoredValue(3.0), max_diff=0.0).shown_bold
    assert from_stored(StoredValue(3.0, provenance="context.py")).provenance is None


def test_detail_escapes_html():
    cell = from_stored(StoredValue(None, error="x < <script>", error_cls="ValueError"))
    assert "<script>" not in detail_html(cell) and "&lt;script&gt;" in detail_html(cell)


def test_column_kind_ignores_marks():
    assert column_kind([Cell.number(1), Cell.error("E"), MISSING]) == "number"
    assert column_kind([Cell.number(1), Cell.text("a")]) == "text"
    assert column_kind([MISSING]) is None


def test_markdown_escapes_pipes_and_formats_numbers_and_marks():
    columns = [ColumnSpec("#run", "Run", "number"), ColumnSpec("e", "E | total", units="uJ"),
               ColumnSpec("note", "Note")]
    rows = [{"#run": Cell.number(1), "e": Cell.number(1 / 3, units="uJ"),
             "note": Cell.text("a|b\nc")},
            {"#run": Cell.number(2), "e": Cell.error("ValueError"), "note": Cell.skipped()}]
    assert as_markdown(rows, columns).splitlines() == [
        "| Run | E \\| total [uJ] | Note |",
        "|---:|---|---|",
        "| 1 | 0.333333 | a\\|b c |",
        "| 2 | error: ValueError | skipped |",
    ]


def test_short_text():
    assert short_text(Cell.number(1234567.0)) == "1.23457e+06"
    assert short_text(Cell.number(True)) == "True"
    assert short_text(MISSING) == ""
