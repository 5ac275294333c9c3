import numpy as np
import pytest

from core.errors import CancelledError, InvalidOptionError
from core.generation.diffusion import generate_image
from core.config.recipes import SCHEDULERS, GenerationOptions, check_inputs

SMALL = dict(steps=2, width=64, height=64)


@pytest.mark.parametrize("field, value", [
    ("steps", 0), ("steps", 10_000), ("steps", 2.5), ("steps", "20"), ("steps", True),
    ("guidance", -1.0), ("guidance", "high"), ("guidance", float("nan")), ("guidance", 1e6),
    ("seed", -1), ("seed", 2**32), ("seed", "42"),
    ("width", 500), ("height", 8), ("width", 4096),
    ("scheduler", "magic"),
])
def test_check_inputs_names_the_bad_argument_and_value(field, value):
    with pytest.raises(InvalidOptionError) as err:
        check_inputs(GenerationOptions(**{field: value}))
    assert field in str(err.value)
    assert repr(value) in str(err.value)


def test_an_unknown_scheduler_lists_the_valid_ones():
    with pytest.raises(InvalidOptionError) as err:
        check_inputs(GenerationOptions(scheduler="magic"))
    for name in SCHEDULERS:
        assert name in str(err.value)


def test_the_defaults_are_dpm_solver_at_20_steps_guidance_7_5_512_square():
    options = check_inputs(GenerationOptions())
    assert (options.scheduler, options.steps, options.guidance, options.width, options.height) == ("dpmpp-2m", 20, 7.5, 512, 512)


def test_a_missing_seed_is_drawn_at_random_and_then_kept():
    options = GenerationOptions().with_seed()
    assert 0 <= options.seed <= 2**32 - 1
    assert options.with_seed() is options


def test_the_same_seed_gives_the_same_image(models):
    sd = models.stable_diffusion()
    options = GenerationOptions(seed=7, **SMALL)
    first = generate_image(sd.model, "a red fox", "blurry", options)
    second = generate_image(sd.model, "a red fox", "blurry", options)
    other = generate_image(sd.model, "a red fox", "blurry", GenerationOptions(seed=8, **SMALL))
    assert first.image.size == (64, 64)
    assert np.array_equal(np.asarray(first.image), np.asarray(second.image))
    assert not np.array_equal(np.asarray(first.image), np.asarray(other.image))


@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
def test_every_scheduler_runs_and_reports_its_sampler_name(models, scheduler):
    sd = models.stable_diffusion()
    result = generate_image(sd.model, "a cat", "", GenerationOptions(seed=1, scheduler=scheduler, **SMALL))
    assert result.sampler == SCHEDULERS[scheduler].sampler
    assert result.nsfw is None  # the safety checker is off by default


def test_the_cached_pipeline_keeps_its_own_scheduler(models):
    sd = models.stable_diffusion()
    before = type(sd.model.scheduler).__name__
    generate_image(sd.model, "a cat", "", GenerationOptions(seed=1, scheduler="euler", **SMALL))
    assert type(sd.model.scheduler).__name__ == before


def test_progress_is_reported_after_every_step(models):
    seen = []
    generate_image(models.stable_diffusion().model, "a cat", "", GenerationOptions(seed=1, steps=3, width=64, height=64),
                   progress=lambda step, total: seen.append((step, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_a_progress_callback_can_cancel_between_steps(models):
    def cancel(step, total):
        raise CancelledError("cancelled by the person")

    with pytest.raises(CancelledError):
        generate_image(models.stable_diffusion().model, "a cat", "", GenerationOptions(seed=1, **SMALL), progress=cancel)


def test_with_the_safety_checker_on_its_verdict_is_returned(models):
    sd = models.stable_diffusion(safety_checker=True)
    assert sd.model.safety_checker is not None
    result = generate_image(sd.model, "a cat", "", GenerationOptions(seed=1, safety_checker=True, **SMALL))
    assert result.nsfw in (True, False)


def test_the_prompt_token_count_uses_the_pipelines_tokenizer(models):
    sd = models.stable_diffusion()
    result = generate_image(sd.model, "abc", "", GenerationOptions(seed=1, **SMALL))
    assert result.prompt_tokens == 3  # the tiny tokenizer is byte-level: a token per character


def test_the_fast_recipe_runs_deepcache_and_leaves_the_unet_as_it_was(models):
    sd = models.stable_diffusion()
    forward = sd.model.unet.forward
    options = GenerationOptions.from_recipe("fast", seed=3, width=64, height=64, steps=6)
    assert options.deepcache_interval == 3
    cached = generate_image(sd.model, "a cat", "", options)
    plain = generate_image(sd.model, "a cat", "", GenerationOptions(seed=3, width=64, height=64, steps=6))
    assert cached.image.size == (64, 64)
    assert not np.array_equal(np.asarray(cached.image), np.asarray(plain.image))  # steps really were skipped
    assert sd.model.unet.forward == forward


def test_recipes_set_scheduler_steps_and_caching_and_unknown_ones_list_the_valid():
    assert GenerationOptions.from_recipe("original").scheduler == "pndm"
    assert GenerationOptions.from_recipe("original").steps == 50
    assert GenerationOptions.from_recipe("default").steps == 20
    with pytest.raises(InvalidOptionError, match="default, fast, original, turbo"):
        GenerationOptions.from_recipe("warp")


def test_the_same_prompt_is_encoded_once(models, monkeypatch):
    sd = models.stable_diffusion()
    calls = []
    real = type(sd.model).encode_prompt

    def counting(self, *args, **kwargs):
        if args[0] is not None:  # the pipeline itself calls it again with the ready embeddings
            calls.append(args[0])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(sd.model), "encode_prompt", counting)
    for seed in (1, 2):
        generate_image(sd.model, "a very particular prompt", "", GenerationOptions(seed=seed, **SMALL))
    assert calls == ["a very particular prompt"]
