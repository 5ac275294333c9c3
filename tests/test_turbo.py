"""The turbo recipe: the LCM-LoRA on the shared UNet (fused for streaks of turbo runs on the CPU), the
LCM scheduler, 4 steps without guidance and the tiny decoder TAESD, through the same loading code on the tiny profile's random LoRA and AutoencoderTiny."""

import json

import numpy as np
import pytest
from apptest import button, no_exception, open_app
from helpers import wait_until

from core import InvalidOptionError, JobQueue, Store, load_settings, read_parameters, run_generation
from core.cli import main
from core.models.adapters import lora_weights
from core.config.recipes import RECIPES, GenerationOptions
from core.generation.request import GenerationRequest
from core.generation.synth import recording


def test_the_turbo_recipe_is_lcm_at_4_steps_without_guidance():
    options = GenerationOptions.from_recipe("turbo", guidance=7.5)  # the default guidance gives way to the recipe's
    assert (options.scheduler, options.steps, options.guidance, options.recipe) == ("lcm", 4, 1.0, "turbo")
    assert RECIPES["turbo"].adapter.setting == "lcm_lora" and RECIPES["turbo"].decoder.setting == "taesd"
    assert RECIPES["default"].adapter is None and RECIPES["default"].decoder is None
    assert GenerationOptions.from_recipe("turbo", steps=8).steps == 8


def test_more_than_8_steps_is_refused_for_turbo():
    from core import check_inputs

    with pytest.raises(InvalidOptionError, match="at most 8 with the turbo recipe, not 9"):
        check_inputs(GenerationOptions.from_recipe("turbo", steps=9))


def test_a_turbo_generation_stores_its_recipe_lora_and_decoder(settings, models, store):
    request = GenerationRequest("a.wav", transcript="a red fox", language="en",
                                options=GenerationOptions.from_recipe("turbo", seed=1, width=64, height=64))
    row = run_generation(recording("wav"), request, settings=settings, models=models, store=store)
    assert (row["recipe"], row["scheduler"], row["steps"], row["guidance"]) == ("turbo", "lcm", 4, 1.0)
    assert row["lora"] == settings.lcm_lora and row["decoder"] == settings.taesd
    parsed = read_parameters(store.file_path(row["image_path"]).read_bytes())["settings"]
    assert (parsed["Recipe"], parsed["Sampler"], parsed["Lora"], parsed["Decoder"]) == (
        "turbo", "LCM", settings.lcm_lora, settings.taesd)
    default = run_generation(recording("wav"), GenerationRequest(
        "a.wav", transcript="a red fox", options=GenerationOptions(steps=2, seed=1, width=64, height=64)),
        settings=settings, models=models, store=store)
    assert (default["lora"], default["decoder"]) == (None, "vae")


def test_turbo_shares_the_unet_and_its_lora_changes_turbo_runs_only(models):
    import torch

    from core.generation.diffusion import generate_image

    from core.config.recipes import GenerationOptions

    plain = models.stable_diffusion()
    default = GenerationOptions(steps=2, seed=3, width=64, height=64)
    with plain.lock:
        before = np.asarray(generate_image(plain.model, "a red fox", "", default).image)
    turbo = models.stable_diffusion(recipe="turbo")
    assert turbo.model.unet is plain.model.unet and turbo.lock is plain.lock  # one UNet in memory, one lock
    assert type(turbo.model.vae).__name__ == "AutoencoderTiny" and type(plain.model.vae).__name__ == "AutoencoderKL"
    fast = GenerationOptions.from_recipe("turbo", seed=3, width=64, height=64)
    with turbo.lock:
        with_lora = np.asarray(generate_image(turbo.model, "a red fox", "", fast).image)
        assert turbo.model.unet.active_adapters() == ["lcm"]
        turbo.model.disable_lora()  # the same run without the LoRA, to see that the LoRA is what turbo runs use
        without = turbo.model.unet(torch.zeros(1, 4, 8, 8), 1, torch.zeros(1, 77, turbo.model.text_encoder.config.hidden_size)).sample
        turbo.model.enable_lora()
        assert not torch.equal(without, turbo.model.unet(torch.zeros(1, 4, 8, 8), 1, torch.zeros(
            1, 77, turbo.model.text_encoder.config.hidden_size)).sample)
    with plain.lock:
        after = np.asarray(generate_image(plain.model, "a red fox", "", default).image)
    assert np.array_equal(before, after)  # the default recipe's image is exactly what it was before turbo ran
    assert with_lora.shape == before.shape


def sharing_pipelines(sd_model: str, settings):
    """A plain pipeline and a turbo one sharing its UNet, fresh (the session's are shared by other tests)."""
    from core.models.cache import add_adapter, load_stable_diffusion

    plain = load_stable_diffusion(sd_model, "cpu")
    return plain, add_adapter(plain, settings.lcm_lora, settings.taesd, "cpu")


def fused(unet) -> bool:
    """Whether the LoRA is fused into the UNet's weights (peft's layers say so)."""
    from core.models.adapters import lora_layers

    return any(layer.merged for _, layer in lora_layers(unet))


TURBO, DEFAULT = (GenerationOptions.from_recipe(r, seed=3, width=64, height=64, steps=2) for r in ("turbo", "default"))


def test_turbo_runs_in_a_row_fuse_into_the_shared_unet_and_other_recipes_get_the_checkpoints_weights_back(settings):
    import torch

    from core.generation.diffusion import generate_image
    from core.models.cache import load_stable_diffusion

    plain, turbo = sharing_pipelines(settings.sd_model, settings)
    checkpoint = {k: v.clone() for k, v in load_stable_diffusion(settings.sd_model, "cpu").unet.state_dict().items()}

    def base_weights():  # the UNet's own weights under the adapter's wrappers, by the checkpoint's names
        return {k.replace(".base_layer", ""): v for k, v in plain.unet.state_dict().items() if "lora_" not in k}

    generate_image(turbo, "a red fox", "", TURBO)
    assert not fused(plain.unet)  # a first turbo run: the adapter beside the layers
    lora = {k: v.clone() for k, v in lora_weights(plain.unet).items()}
    generate_image(turbo, "a red fox", "", TURBO)
    assert fused(plain.unet)  # the second in a row: fused, no adapter beside the layers
    assert any(not torch.equal(base_weights()[k], checkpoint[k]) for k in checkpoint)
    assert all(v.numel() == 0 for v in lora_weights(plain.unet).values())  # the LoRA's own weights parked
    generate_image(turbo, "a red fox", "", TURBO)  # turbo again: still fused, nothing to do
    assert fused(plain.unet)
    generate_image(plain, "a red fox", "", DEFAULT)
    assert not fused(plain.unet)
    assert all(torch.equal(base_weights()[k], checkpoint[k]) for k in checkpoint)  # bit for bit
    assert all(v.numel() == 0 for v in lora_weights(plain.unet).values())  # still parked: not needed
    generate_image(turbo, "a red fox", "", TURBO)  # a lone turbo run: the adapter beside the layers again
    assert not fused(plain.unet)
    assert all(torch.equal(v, lora[k]) for k, v in lora_weights(plain.unet).items())  # read back bit for bit
    assert len(lora) == len(lora_weights(plain.unet)) > 0


def test_a_known_streak_fuses_at_its_first_run_when_the_switch_pays_and_never_when_it_does_not(settings):
    from core.models.adapters import FUSE_FROM_STREAK, UNetAdapters
    from core.generation.diffusion import generate_image

    assert FUSE_FROM_STREAK == 3
    plain, turbo = sharing_pipelines(settings.sd_model, settings)

    def run(pipe, ahead):
        UNetAdapters.of(plain.unet).expect(ahead)  # what the worker says is coming
        generate_image(pipe, "a red fox", "", TURBO if pipe is turbo else DEFAULT)
        return fused(plain.unet)

    assert not run(turbo, ["turbo", "default", "turbo", "turbo"])  # a streak of 2: the adapter costs less
    assert not run(turbo, ["default", "turbo", "turbo"])  # the second in a row, yet its streak ends here
    assert not run(plain, ["turbo", "turbo", "turbo"])
    assert run(turbo, ["turbo", "turbo"])  # a streak of 3: fused at its first run
    assert run(turbo, ["turbo"]) and run(turbo, [])  # and stays fused to the streak's end
    assert not run(plain, ["turbo", "turbo"])  # the checkpoint's weights back
    assert not run(turbo, ["no-such-recipe", "turbo", "turbo"])  # what is not a turbo recipe ends a streak


def test_the_worker_tells_the_models_the_recipes_queued_after_each_job_in_the_fair_order(settings, models, store,
                                                                                        monkeypatch):
    from core.models.adapters import UNetAdapters
    from core.execution.worker import Worker

    seen: list = []
    real = UNetAdapters.prepare

    def spy(self, pipe):  # what the shared UNet's adapters were told when each image is painted
        seen.append(list(self.coming) if self.coming is not None else None)
        return real(self, pipe)

    monkeypatch.setattr(UNetAdapters, "prepare", spy)
    queue = JobQueue(store)
    for person, recipe in (("ana", "turbo"), ("ana", "turbo"), ("bo", "default")):
        options = GenerationOptions.from_recipe(recipe, width=64, height=64, steps=2)
        queue.submit(recording("wav"), GenerationRequest("a.wav", transcript="a red fox", options=options),
                     created_by=person)
    assert Worker(settings, models, store).run_pending() == 3
    assert seen == [["default", "turbo"], ["turbo"], []]  # people take turns: ana, bo, ana


def test_where_the_lora_cannot_be_parked_it_stays_in_memory_and_turbo_still_runs(settings, monkeypatch):
    from core.generation.diffusion import generate_image
    from core.models.weights import ParkedTensors

    def full_disk(self, tensors):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ParkedTensors, "_write", full_disk)
    plain, turbo = sharing_pipelines(settings.sd_model, settings)
    for run in (turbo, turbo, plain, turbo):
        generate_image(run, "a red fox", "", TURBO if run is turbo else DEFAULT)
        assert all(v.numel() > 0 for v in lora_weights(plain.unet).values())


def test_turbo_runs_between_other_recipes_keep_the_adapter_and_pay_no_switch(settings):
    from core.generation.diffusion import generate_image

    plain, turbo = sharing_pipelines(settings.sd_model, settings)
    painted = []
    for _ in range(2):  # as a fair queue interleaves two people's recipes
        painted.append(np.asarray(generate_image(turbo, "a red fox", "", TURBO).image))
        assert not fused(plain.unet) and plain.unet.active_adapters() == ["lcm"]
        assert all(v.numel() > 0 for v in lora_weights(plain.unet).values())
        generate_image(plain, "a red fox", "", DEFAULT)
        assert all(v.numel() == 0 for v in lora_weights(plain.unet).values())  # idle: parked in its file
    assert np.array_equal(painted[0], painted[1])  # the adapter read back from its file paints as it did


def test_without_its_checkpoint_on_disk_the_lora_stays_an_adapter(settings, tmp_path):
    import shutil

    from core.generation.diffusion import generate_image

    shutil.copytree(settings.sd_model, tmp_path / "sd")
    plain, turbo = sharing_pipelines(str(tmp_path / "sd"), settings)
    (tmp_path / "sd" / "unet" / "diffusion_pytorch_model.safetensors").unlink()  # nothing to read back from
    for _ in range(2):  # in a row, yet nothing to read the weights back from
        generate_image(turbo, "a red fox", "", TURBO)
    assert not fused(plain.unet) and plain.unet.active_adapters() == ["lcm"]


def test_fused_turbo_has_a_unet_of_its_own_that_paints_as_the_adapter_does(models, settings):
    """The GPU's form (own_unet defaults to True on CUDA), run here on the CPU through the same code."""
    import torch

    from core.generation.diffusion import generate_image

    from core.config.recipes import GenerationOptions
    from core.models.cache import add_adapter, load_stable_diffusion

    base = load_stable_diffusion(settings.sd_model, "cpu")
    fused = add_adapter(base, settings.lcm_lora, settings.taesd, "cpu", own_unet=True)
    assert fused.unet is not base.unet and fused.text_encoder is base.text_encoder
    assert not getattr(fused.unet, "_hf_peft_config_loaded", False)  # fused into the weights: no adapter layers
    assert not getattr(base.unet, "_hf_peft_config_loaded", False)  # and the plain UNet is untouched
    fast = GenerationOptions.from_recipe("turbo", seed=3, width=64, height=64)
    adapter = models.stable_diffusion(recipe="turbo")
    with adapter.lock:
        expected = np.asarray(generate_image(adapter.model, "a red fox", "", fast).image, dtype=int)
    painted = np.asarray(generate_image(fused, "a red fox", "", fast).image, dtype=int)
    assert np.abs(painted - expected).max() <= 2  # the same image, to float rounding
    plain_unet = load_stable_diffusion(settings.sd_model, "cpu").unet
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    text = torch.zeros(1, 77, base.text_encoder.config.hidden_size)
    with torch.inference_mode():
        assert torch.equal(base.unet(latents, 1, text).sample, plain_unet(latents, 1, text).sample)
        assert not torch.equal(fused.unet(latents, 1, text).sample, plain_unet(latents, 1, text).sample)


def test_the_command_line_runs_turbo_and_v2i_recipe_sets_the_default(tiny_env, tmp_path, capsys, monkeypatch):
    path = tmp_path / "a.wav"
    path.write_bytes(recording("wav"))
    assert main(["generate", str(path), "--recipe", "turbo", "--size", "64", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["recipe"] == "turbo"
    monkeypatch.setenv("V2I_RECIPE", "turbo")
    assert main(["generate", str(path), "--size", "64", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 4
    monkeypatch.setenv("V2I_RECIPE", "warp")
    with pytest.raises(ValueError, match="V2I_RECIPE='warp' is not a recipe; choose one of: default, fast"):
        load_settings()


def test_the_generate_page_offers_turbo_and_starts_from_v2i_recipe(app_env, data_dir, monkeypatch):
    monkeypatch.setenv("V2I_RECIPE", "turbo")
    at = open_app("pages/generate.py")
    assert at.selectbox(key="opt-recipe").value == "turbo"
    at.selectbox(key="opt-size").set_value(64)
    at.file_uploader[0].set_value([("a.wav", recording("wav"), "audio/wav")])
    no_exception(at.run())
    no_exception(button(at, "Generate").click().run())
    queue = JobQueue(Store(data_dir))
    assert wait_until(lambda: queue.list()[0]["status"] == "done", timeout=120)
    row = Store(data_dir).get_generation(queue.list()[0]["generation_id"])
    assert (row["recipe"], row["steps"], row["decoder"]) == ("turbo", 4, load_settings().taesd)
