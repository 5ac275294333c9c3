from pathlib import Path

import pytest

from core.config import load_settings


def test_the_default_profile_uses_the_real_model_ids():
    settings = load_settings({})
    assert settings.profile == "default"
    assert settings.data_dir == Path("data")
    assert settings.whisper_model == "base"
    assert settings.sd_model == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert settings.clip_model == "openai/clip-vit-base-patch32"
    assert settings.max_audio_seconds == 600


def test_the_tiny_profile_points_at_locally_built_folders():
    settings = load_settings({"V2I_PROFILE": "tiny", "V2I_DATA_DIR": "/srv/v2i"})
    assert settings.whisper_model == "tiny.en"  # the real English whisper an installed package ships
    assert settings.sd_model == "/srv/v2i/tiny-models/sd-tiny-random"
    random = load_settings({"V2I_PROFILE": "tiny", "V2I_DATA_DIR": "/srv/v2i",
                            "V2I_WHISPER_MODEL": "/srv/v2i/tiny-models/whisper-tiny-random.pt"})
    assert random.whisper_is_random and "gibberish" in random.tiny_note


def test_per_model_overrides_win():
    settings = load_settings({"V2I_WHISPER_MODEL": "small", "V2I_SD_MODEL": "/models/sd", "V2I_CLIP_MODEL": "x/y"})
    assert (settings.whisper_model, settings.sd_model, settings.clip_model) == ("small", "/models/sd", "x/y")


def test_an_unknown_profile_lists_the_valid_ones():
    with pytest.raises(ValueError, match="choose one of: default, tiny"):
        load_settings({"V2I_PROFILE": "huge"})


def test_a_non_numeric_audio_limit_is_refused():
    with pytest.raises(ValueError, match="V2I_MAX_AUDIO_SECONDS"):
        load_settings({"V2I_MAX_AUDIO_SECONDS": "ten minutes"})


def test_int8_clip_embeddings_are_kept_apart_from_fp32_ones():
    assert load_settings({}).clip_embedding_id == "openai/clip-vit-base-patch32"
    assert load_settings({"V2I_CLIP_INT8": "1"}).clip_embedding_id == "openai/clip-vit-base-patch32#int8"


def test_the_readme_lists_every_setting_as_the_code_describes_it():
    from core.config import SETTINGS, settings_table
    from helpers import ROOT

    readme = (ROOT / "README.md").read_text()
    assert settings_table() in readme, "README's settings table is out of date: paste core.config.settings_table()"
    assert len(SETTINGS) == len({s.env for s in SETTINGS}) == len({s.field for s in SETTINGS})


def test_every_setting_sets_a_field_and_a_bad_value_names_its_variable():
    from dataclasses import fields

    from core.config import SETTINGS, Settings

    names = {f.name for f in fields(Settings)}
    for setting in SETTINGS:
        assert setting.field in names, setting.env
    with pytest.raises(ValueError, match="V2I_COMPILE='maybe'"):
        load_settings({"V2I_COMPILE": "maybe"})
    with pytest.raises(ValueError, match="V2I_MAX_UPLOAD_MB='-1' must be more than 0"):
        load_settings({"V2I_MAX_UPLOAD_MB": "-1"})


def test_each_default_is_written_once_in_settings_and_is_what_an_unset_variable_gives():
    from dataclasses import fields

    from core.config import SETTINGS, Settings

    assert {f.name for f in fields(Settings)} == {s.field for s in SETTINGS}  # every field is a setting
    unset = load_settings({})
    for setting in SETTINGS:
        typed = setting.parse(setting.env, setting.default)  # the default as a person would type it
        assert getattr(Settings(), setting.field) == typed == getattr(unset, setting.field), setting.env
    assert (Settings().max_audio_seconds, Settings().user, Settings().gpu_batch) == (600.0, "", None)
