import threading

import pytest

from core.config import Settings
from core.errors import ModelLoadError
from core.models.cache import ModelCache, best_device, load_stable_diffusion, load_whisper


def test_without_a_gpu_the_best_device_is_the_cpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert best_device() in ("cpu", "mps")


def test_an_unknown_whisper_size_lists_the_valid_ones():
    with pytest.raises(ModelLoadError) as err:
        load_whisper("enormous", "cpu")
    assert "'enormous'" in str(err.value) and "base" in str(err.value) and "tiny" in str(err.value)


def test_a_model_neither_cached_nor_downloadable_names_the_model_the_cache_and_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(ModelLoadError) as err:
        load_stable_diffusion("stable-diffusion-v1-5/stable-diffusion-v1-5", "cpu")
    message = str(err.value)
    assert "stable-diffusion-v1-5/stable-diffusion-v1-5" in message
    assert str(tmp_path / "hf") in message
    assert "Fix:" in message and "V2I_PROFILE=tiny" in message


def test_whisper_base_without_network_or_cache_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    import urllib.request

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(ModelLoadError) as err:
        load_whisper("base", "cpu")
    assert "'base'" in str(err.value) and str(tmp_path / "whisper") in str(err.value)


def test_a_corrupt_local_model_folder_is_a_clear_error(tmp_path):
    (tmp_path / "model_index.json").write_text("{ not json")
    with pytest.raises(ModelLoadError, match="could not load the Stable Diffusion model folder"):
        load_stable_diffusion(str(tmp_path), "cpu")


def test_each_model_loads_once_even_when_many_threads_ask_at_once(settings, monkeypatch):
    import core.models.cache

    calls = []
    real = core.models.cache.load_whisper

    def counting(name, device, **kwargs):
        calls.append(name)
        return real(name, device, **kwargs)

    monkeypatch.setattr(core.models.cache, "load_whisper", counting)
    cache = ModelCache(settings, device="cpu")
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.whisper())) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert all(r is results[0] for r in results)


def test_the_tiny_profile_builds_its_models_on_first_use(tmp_path):
    from core.config import load_settings

    settings = load_settings({"V2I_PROFILE": "tiny", "V2I_DATA_DIR": str(tmp_path)})
    assert settings.tiny_models_dir == tmp_path / "tiny-models"
    cache = ModelCache(settings, device="cpu")
    assert cache.whisper("openai").model.dims.n_mels == 80  # the bundled tiny.en, converted for openai-whisper
    assert type(cache.whisper().model).__name__ == "SteadyWhisperModel"  # read as it is by faster-whisper (auto)
    cache.stable_diffusion()
    assert (tmp_path / "tiny-models" / "sd-tiny-random" / "model_index.json").is_file()


def test_settings_are_hashable_so_one_cache_serves_one_configuration():
    assert hash(Settings()) == hash(Settings())


def test_int8_whisper_on_the_cpu_quantises_its_linear_layers(settings):
    import torch

    model = load_whisper(settings.whisper_model, "cpu", int8=True)
    quantized = [m for m in model.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
    assert len(quantized) > 10
    assert not any(isinstance(m, torch.nn.Linear) for m in model.modules())


def test_int8_flags_come_from_the_environment():
    from core.config import load_settings

    assert load_settings({"V2I_WHISPER_INT8": "1"}).whisper_int8
    assert not load_settings({}).clip_int8
    with pytest.raises(ValueError, match="V2I_CLIP_INT8"):
        load_settings({"V2I_CLIP_INT8": "maybe"})


def test_warm_up_is_for_gpus_only(settings):
    from core.generation.diffusion import warm_up

    cache = ModelCache(settings, device="cpu")
    assert warm_up(cache) is False
    assert cache._models == {}  # nothing was loaded for it


@pytest.mark.parametrize("recipe, warmed", [("default", [(False, "default")]),
                                            ("turbo", [(False, "default"), (True, "turbo")])])
def test_a_gpu_warms_up_the_pipelines_the_server_starts_from(settings, monkeypatch, recipe, warmed):
    """The loading and painting are stand-ins (no GPU here): what is checked is which pipelines get warmed."""
    from dataclasses import replace

    import core.generation.diffusion
    import core.models.cache

    painted = []
    monkeypatch.setattr(core.models.cache, "load_stable_diffusion", lambda *args, **kwargs: "sd")
    monkeypatch.setattr(core.models.cache, "add_adapter", lambda pipe, *args, **kwargs: f"{pipe}+turbo")
    monkeypatch.setattr(core.generation.diffusion, "generate_image",
                        lambda pipe, prompt, negative, options: painted.append((pipe, options.recipe, options.steps)))
    cache = ModelCache(replace(settings, recipe=recipe), device="cuda")
    assert core.generation.diffusion.warm_up(cache) is True
    assert painted == [("sd+turbo" if turbo else "sd", name, 2) for turbo, name in warmed]
