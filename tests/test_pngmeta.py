from PIL import Image

from core.history.pngmeta import a1111_parameters, png_bytes, read_parameters

META = {
    "prompt": "a red fox, detailed", "negative_prompt": "blurry", "steps": 25, "scheduler": "dpmpp-2m",
    "guidance": 7.5, "seed": 42, "width": 512, "height": 512, "sd_model": "stable-diffusion-v1-5/stable-diffusion-v1-5",
    "transcript": "a red fox",
}


def test_parameters_follow_automatic1111s_three_line_layout():
    assert a1111_parameters(META) == (
        "a red fox, detailed\n"
        "Negative prompt: blurry\n"
        "Steps: 25, Sampler: DPM++ 2M, CFG scale: 7.5, Seed: 42, Size: 512x512, "
        "Model: stable-diffusion-v1-5/stable-diffusion-v1-5"
    )
    assert a1111_parameters({**META, "recipe": "fast", "deepcache_interval": 3}).endswith(
        "Model: stable-diffusion-v1-5/stable-diffusion-v1-5, Recipe: fast, DeepCache interval: 3")


def test_a_png_info_reader_gets_the_parameters_and_transcript_back():
    data = png_bytes(Image.new("RGB", (8, 8)), {**META, "transcript": "un zorro rojo, ¿verdad?"})
    parsed = read_parameters(data)
    assert parsed["prompt"] == "a red fox, detailed"
    assert parsed["negative_prompt"] == "blurry"
    assert parsed["settings"]["Seed"] == "42"
    assert parsed["settings"]["Sampler"] == "DPM++ 2M"
    assert parsed["settings"]["Size"] == "512x512"
    assert parsed["settings"]["CFG scale"] == "7.5"
    assert parsed["transcript"] == "un zorro rojo, ¿verdad?"


def test_newlines_in_a_prompt_cannot_break_the_layout():
    text = a1111_parameters({**META, "prompt": "line one\nSteps: 1"})
    assert text.split("\n")[0] == "line one Steps: 1"
    assert len(text.split("\n")) == 3
