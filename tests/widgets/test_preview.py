"""Previews: what `previewdata.prepare` makes of each kind of data, and `Preview` drawing it,
checked through what its widgets send (loading, the picture, errors)."""

import html
import math
from io import BytesIO

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from PIL import Image as PILImage

from damnit_nb.widgets.preview import Preview
from damnit_nb.widgets.previewdata import MAX_LINES, MAX_PIXELS, MAX_POINTS, prepare
from tests.widgets.frontend import Recorder, browser_update


def flush(pump, clock):
    clock.t += 10
    pump.run_once()


def png_size(data):
    with PILImage.open(BytesIO(data)) as image:
        return image.size  # (width, height)


def png_pixels(data):
    with PILImage.open(BytesIO(data)) as image:
        return np.asarray(image.convert("RGBA"))


# -- preparation --------------------------------------------------------------------------------

def test_1d_data_is_a_line_along_its_coordinate_with_units():
    array = xr.DataArray(np.arange(5.0) ** 2, dims=["delay"], name="signal",
                         coords={"delay": xr.Variable("delay", [0, 2, 4, 6, 8],
                                                      attrs={"units": "ps"})},
                         attrs={"units": "V"})
    drawing = prepare(array)
    assert drawing.kind == "line" and not drawing.two_d
    assert drawing.x.tolist() == [0, 2, 4, 6, 8] and drawing.y.tolist() == [0, 1, 4, 9, 16]
    assert drawing.x_label == "delay [ps]" and drawing.y_label == "signal [V]"
    assert drawing.note == ""
    plain = prepare(np.array([3, 1, 2]), name="Intensity", units="uJ")  # the variable's units
    assert plain.x.tolist() == [0, 1, 2] and plain.y_label == "Intensity [uJ]"


def test_long_lines_keep_each_stretchs_extremes():
    y = np.zeros(1_000_000)
    y[123_457] = 5.0  # a peak between samples a stride would take
    y[800_001] = -3.0
    drawing = prepare(y)
    assert len(drawing.x) <= MAX_POINTS and len(drawing.y) == len(drawing.x)
    assert drawing.y.max() == 5.0 and drawing.y.min() == -3.0
    assert 123_457 in drawing.x.tolist() and np.all(np.diff(drawing.x) > 0)
    assert drawing.note.startswith("1,000,000 points shown as")
    assert drawing.shape == (1_000_000,)


def test_2d_data_is_an_image_with_percentile_limits_and_its_aspect():
    data = np.tile(np.linspace(0, 100, 201), (50, 1))  # 50 rows x 201 columns
    data[0, 0] = np.nan
    drawing = prepare(xr.DataArray(data, dims=["y", "x"], name="frame",
                                   coords={"x": np.arange(201) * 0.5}))
    assert drawing.kind == "image" and drawing.two_d
    assert drawing.limits == pytest.approx((1.0, 99.0))
    assert drawing.aspect == pytest.approx(201 / 50)
    assert drawing.x_range == pytest.approx((-0.25, 100.25))  # pixel edges of the coordinate
    assert drawing.y_range == (-0.5, 49.5)
    assert drawing.x_label == "x" and drawing.y_label == "y" and drawing.value_label == "frame"
    assert png_size(drawing.png) == (201, 50) and drawing.note == ""
    pixels = png_pixels(drawing.png)
    assert pixels[0, 0, 3] == 0 and pixels[1, 0, 3] == 255  # NaN is transparent
    assert tuple(pixels[1, 0, :3]) != tuple(pixels[1, -1, :3])  # low and high colours


def test_big_images_are_averaged_in_blocks_with_a_note():
    data = np.arange(2500 * 1200, dtype=np.float64).reshape(2500, 1200)
    drawing = prepare(data)
    width, height = png_size(drawing.png)
    assert max(width, height) <= MAX_PIXELS and (width, height) == (400, 834)
    assert drawing.note == "2,500 x 1,200 pixels shown as 834 x 400 (means of 3 x 3 blocks)"
    assert drawing.y_range == (-0.5, 2499.5)  # the data's extent, not the picture's
    assert drawing.shape == (2500, 1200)


def test_2d_data_as_lines_draws_at_most_so_many_rows():
    data = np.arange(120 * 30, dtype=float).reshape(120, 30)
    drawing = prepare(data, lines=True)
    assert drawing.kind == "lines" and drawing.two_d
    assert drawing.y.shape == (math.ceil(120 / 3), 30) and len(drawing.y) <= MAX_LINES
    assert drawing.extra["rows"].tolist() == list(range(0, 120, 3))
    assert drawing.y[1].tolist() == data[3].tolist()
    assert drawing.note == "every 3 rows of 120 drawn"


def test_rgb_images_figures_and_png_bytes_are_pictures():
    rgb = np.zeros((20, 30, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    drawing = prepare(rgb)
    assert drawing.kind == "png" and png_size(drawing.png) == (30, 20)
    assert tuple(png_pixels(drawing.png)[0, 0]) == (255, 0, 0, 255)
    floats = prepare(np.ones((10, 10, 4)) * 0.5)
    assert png_pixels(floats.png)[0, 0, 0] == 127
    big = prepare(np.zeros((3000, 1500, 4), dtype=np.uint8))
    assert png_size(big.png) == (500, 1000) and "3,000 x 1,500" in big.note
    png = prepare(drawing.png)
    assert png.kind == "png" and png.png == drawing.png

    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 1), dpi=50)
    figure.add_subplot().plot([1, 2, 3])
    assert png_size(prepare(figure).png) == (100, 50)
    assert prepare(figure.axes[0]).kind == "png"


def test_plotly_figures_are_kept_for_plotlys_renderer():
    go = pytest.importorskip("plotly.graph_objects")
    figure = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    drawing = prepare(figure)
    assert drawing.kind == "plotly" and drawing.figure is figure


def test_scalars_strings_and_what_cannot_be_drawn_are_text():
    assert prepare(np.float64(0.125), units="mJ").text == "0.125 mJ"
    assert prepare(7).text == "7" and prepare("sample A").text == "sample A"
    assert prepare(xr.DataArray(3.5, attrs={"units": "keV"})).text == "3.5 keV"
    assert prepare(np.array(["a", "b"])).kind == "text"
    series = prepare(pd.Series([1.0, 2.0, 4.0], index=[10, 20, 30], name="xgm"))
    assert series.kind == "line" and series.x.tolist() == [10, 20, 30]
    nd = prepare(np.zeros((4, 5, 6)))
    assert nd.kind == "message" and "shape (4, 5, 6)" in nd.text and "Cell(" in nd.text
    assert prepare(None).kind == "message"


# -- the widget ---------------------------------------------------------------------------------

def image_array():
    return xr.DataArray(np.random.default_rng(1).random((40, 60)), dims=["slow", "fast"],
                        name="frame", attrs={"units": "ADU"})


def test_a_preview_says_it_is_loading_then_draws_the_image(pump, clock):
    started, release = __import__("threading").Event(), __import__("threading").Event()

    def fetch():
        started.set()
        release.wait(10)
        return image_array()

    preview = Preview(pump=pump)
    message, content = Recorder(preview.message), Recorder(preview.content)
    preview.show(fetch, title="Run 3 · Frame")
    assert started.wait(10)
    flush(pump, clock)  # while the data loads
    assert preview.state == "loading" and "Loading" in message.state["value"]
    assert "Run 3 · Frame" in preview.heading.value
    release.set()
    assert preview.wait()
    flush(pump, clock)
    assert preview.state == "shown" and message.state["value"] == ""
    (figure,) = preview.content.children
    assert content.state["children"] == [f"IPY_MODEL_{figure.model_id}"]
    image, = figure.marks
    assert type(image).__name__ == "Image" and image.image.format == "png"
    assert png_size(image.image.value) == (60, 40)
    x_axis, y_axis, colour_axis = figure.axes
    assert y_axis.scale.reverse and image.y.tolist() == [39.5, -0.5]  # first row on top
    assert colour_axis.label == "frame [ADU]" and colour_axis.scale.scheme == "viridis"
    assert figure.min_aspect_ratio == figure.max_aspect_ratio == pytest.approx((390 * 1.5 + 180) / 460)
    assert preview.mode_buttons.layout.display == "flex"


def test_the_lines_toggle_draws_2d_data_again_as_lines(pump, clock):
    preview = Preview(image_array, pump=pump)
    assert preview.wait()
    flush(pump, clock)
    image_figure = preview.content.children[0]
    browser_update(preview.mode_buttons, index=1)  # "lines"
    assert preview.as_lines
    assert preview.wait()
    flush(pump, clock)
    (figure,) = preview.content.children
    assert figure is not image_figure and image_figure.comm is None  # the old one is closed
    (lines,) = figure.marks
    assert lines.y.shape == (40, 60) and len(lines.colors) == 40
    assert figure.axes[0].label == "fast" and figure.axes[1].label == "frame [ADU]"


def test_a_line_preview_and_a_note_when_downsampled(pump, clock):
    preview = Preview(lambda: np.sin(np.arange(50_000) / 10), name="Trace", units="V",
                      pump=pump)
    assert preview.wait()
    flush(pump, clock)
    (figure,) = preview.content.children
    assert len(figure.marks[0].x) <= MAX_POINTS
    assert figure.axes[1].label == "Trace [V]"
    assert "50,000 points shown as" in preview.message.value
    assert preview.mode_buttons.layout.display == "none"


@pytest.mark.parametrize("error, said", [
    (KeyError("No variable 'x' with data for p2012, r3: see .keys()"), "No variable 'x'"),
    (FileNotFoundError(2, "No such file", "/data/p2012_r3.h5"), "data file is missing"),
    (OSError("Unable to open file (truncated file)"), "OSError: Unable to open file"),
])
def test_errors_are_said_in_the_widget(pump, clock, error, said):
    def fetch():
        raise error

    preview = Preview(fetch, pump=pump)
    assert preview.wait()
    flush(pump, clock)
    assert preview.state == "error" and said in html.unescape(preview.message.value)
    assert preview.content.children == ()


def test_a_newer_preview_replaces_one_still_loading(pump, clock):
    import threading

    release = threading.Event()

    def slow():
        release.wait(10)
        return "old"

    preview = Preview(slow, pump=pump)
    preview.show(lambda: "new text")
    release.set()
    assert preview.wait()
    flush(pump, clock)
    (text,) = preview.content.children
    assert "new text" in text.value and preview.state == "shown"


def test_pictures_and_text(pump, clock):
    preview = Preview(lambda: np.zeros((8, 9, 3), dtype=np.uint8), pump=pump)
    assert preview.wait()
    flush(pump, clock)
    (picture,) = preview.content.children
    assert type(picture).__name__ == "Image" and png_size(picture.value) == (9, 8)
    preview.show(lambda: 2.5, units="keV")
    assert preview.wait()
    flush(pump, clock)
    assert "2.5 keV" in preview.content.children[0].value


def test_plotly_figures_use_plotlys_widget(pump, clock):
    go = pytest.importorskip("plotly.graph_objects")
    preview = Preview(lambda: go.Figure(go.Bar(y=[1, 3])), pump=pump)
    assert preview.wait()
    flush(pump, clock)
    (shown,) = preview.content.children
    assert isinstance(shown, go.FigureWidget) and shown.data[0].y == (1, 3)
