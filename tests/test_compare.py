"""Two images compared with a slider: the split shows the left image left of it and the right image right of it."""

import pytest
from apptest import no_exception, open_app
from PIL import Image

from core import contact_sheet


def solid(path, colour, size=(64, 64)):
    Image.new("RGB", size, colour).save(path)
    return path


def test_the_wipe_shows_each_image_on_its_side_of_the_split(tmp_path):
    red, blue = solid(tmp_path / "red.png", (255, 0, 0)), solid(tmp_path / "blue.png", (0, 0, 255), (32, 32))
    out = contact_sheet.wipe(red, blue, 25)
    assert out.size == (64, 64)  # the right image is brought to the left one's size
    assert out.getpixel((5, 30)) == (255, 0, 0) and out.getpixel((60, 30)) == (0, 0, 255)
    assert out.getpixel((16, 30)) == contact_sheet.BACKGROUND  # the line at 25% of the width
    assert contact_sheet.wipe(red, blue, 0).getpixel((0, 0)) == (0, 0, 255)
    assert contact_sheet.wipe(red, blue, 100).getpixel((63, 63)) == (255, 0, 0)
    with pytest.raises(ValueError, match="percentage from 0 to 100, not 120"):
        contact_sheet.wipe(red, blue, 120)


def test_similaritys_compare_tab_offers_a_slider_between_the_two_images(app_env, make_generation):
    for i in range(2):
        make_generation(f"picture {i}", seed=i)
    at = open_app("pages/similarity.py")
    images_side_by_side = len(at.tabs[1].image)
    at.radio(key="compare-view").set_value("Slider")
    no_exception(at.run())
    assert at.slider(key="compare-split").value == 50
    assert len(at.tabs[1].image) == images_side_by_side - 1  # one picture, split, instead of two
    at.slider(key="compare-split").set_value(80)
    no_exception(at.run())
    assert at.slider(key="compare-split").label == "Slide from A (left) to B (right)"
