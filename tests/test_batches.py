"""Painting several images as one batch: each equals the image made alone with its seed (on the CPU, the same
pixels), each keeps its own prompt, seed and guidance, progress and cancel stay per image."""

import numpy as np
import pytest

from core.generation.diffusion import Painting, batch_key, generate_image, generate_images

from core.config.recipes import SCHEDULERS, GenerationOptions
from core.errors import CancelledError, InvalidOptionError

SMALL = dict(steps=3, width=64, height=64)
WORDS = [("a red fox", "blurry"), ("a lighthouse at dusk", ""), ("a cat in the snow", "dark")]


def pixels(made) -> np.ndarray:
    return np.asarray(made.image)


@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
def test_a_batch_gives_each_image_the_pixels_it_has_alone(models, scheduler):
    sd = models.stable_diffusion()
    options = [GenerationOptions(seed=seed, guidance=guidance, scheduler=scheduler, **SMALL)
               for seed, guidance in ((7, 7.5), (8, 3.0), (123456, 12.0))]  # own seed, own guidance
    batch = generate_images(sd.model, [Painting(p, n, o) for (p, n), o in zip(WORDS, options)])
    for (prompt, negative), option, made in zip(WORDS, options, batch):
        alone = generate_image(sd.model, prompt, negative, option)
        assert np.array_equal(pixels(made), pixels(alone)), (scheduler, option.seed)
        assert made.seed == option.seed and made.prompt_tokens == alone.prompt_tokens
    assert not np.array_equal(pixels(batch[0]), pixels(batch[1]))


def test_without_guidance_a_batch_still_equals_each_image_alone(models):
    sd = models.stable_diffusion()
    options = [GenerationOptions(seed=s, guidance=1.0, **SMALL) for s in (1, 2)]
    batch = generate_images(sd.model, [Painting("a red fox", "", o) for o in options])
    for option, made in zip(options, batch):
        assert np.array_equal(pixels(made), pixels(generate_image(sd.model, "a red fox", "", option)))


def test_images_that_differ_in_size_steps_or_recipe_are_not_one_batch(models):
    sd = models.stable_diffusion()
    first = GenerationOptions(seed=1, **SMALL)
    for other in (GenerationOptions(seed=2, steps=4, width=64, height=64),
                  GenerationOptions(seed=2, steps=3, width=72, height=64),
                  GenerationOptions(seed=2, guidance=1.0, **SMALL)):
        assert batch_key(first) != batch_key(other)
        with pytest.raises(InvalidOptionError, match="share recipe"):
            generate_images(sd.model, [Painting("a", "", first), Painting("b", "", other)])
    assert batch_key(first) == batch_key(GenerationOptions(seed=9, guidance=3.0, **SMALL))  # seed, guidance: own


def test_each_image_reports_its_own_progress_and_preview(models):
    sd = models.stable_diffusion()
    steps = {0: [], 1: []}
    previews = {0: 0, 1: 0}

    def painting(i):
        return Painting("a red fox", "", GenerationOptions(seed=i, **SMALL),
                        progress=lambda done, total: steps[i].append((done, total)),
                        preview=lambda rgb: previews.__setitem__(i, previews[i] + 1))

    generate_images(sd.model, [painting(0), painting(1)], preview_interval_s=0.0)
    assert steps[0] == steps[1] == [(1, 3), (2, 3), (3, 3)]
    assert previews == {0: 3, 1: 3}


def test_a_cancelled_image_leaves_the_batch_and_the_others_are_unchanged(models):
    sd = models.stable_diffusion()
    options = [GenerationOptions(seed=s, **SMALL) for s in (11, 12, 13)]
    asked = []

    def cancel_at_two(done, total):
        asked.append(done)
        if done == 2:
            raise CancelledError("cancelled by the person who asked for it")

    batch = generate_images(sd.model, [Painting("a red fox", "", options[0]),
                                       Painting("a cat", "", options[1], progress=cancel_at_two),
                                       Painting("a dog", "", options[2])])
    assert isinstance(batch[1], CancelledError) and asked == [1, 2]  # never asked again after it left
    for made, option, prompt in ((batch[0], options[0], "a red fox"), (batch[2], options[2], "a dog")):
        assert np.array_equal(pixels(made), pixels(generate_image(sd.model, prompt, "", option)))


def test_when_every_image_is_cancelled_the_batch_stops_at_that_step(models):
    sd = models.stable_diffusion()
    seen = []

    def cancel(done, total):
        seen.append(done)
        raise CancelledError("cancelled")

    batch = generate_images(sd.model, [Painting("a", "", GenerationOptions(seed=s, **SMALL), progress=cancel)
                                       for s in (1, 2)])
    assert all(isinstance(made, CancelledError) for made in batch) and seen == [1, 1]
    with pytest.raises(CancelledError):
        generate_image(sd.model, "a", "", GenerationOptions(seed=1, **SMALL), progress=cancel)


def test_a_turbo_batch_equals_each_image_alone(models):
    sd = models.stable_diffusion(recipe="turbo")
    options = [GenerationOptions.from_recipe("turbo", seed=s, width=64, height=64) for s in (3, 4)]
    batch = generate_images(sd.model, [Painting(p, "", o) for (p, _), o in zip(WORDS, options)])
    for (prompt, _), option, made in zip(WORDS, options, batch):
        assert np.array_equal(pixels(made), pixels(generate_image(sd.model, prompt, "", option)))


def test_a_whole_batch_through_the_unet_at_once_is_within_a_level_of_each_image_alone(models):
    """DeepCache's batches go through the UNet whole, as every batch does on a GPU: the BLAS rounds a batch of
    several differently from a batch of one (about 1e-6), which may move a pixel by one level, no more."""
    sd = models.stable_diffusion()
    options = [GenerationOptions.from_recipe("fast", seed=s, steps=4, width=64, height=64) for s in (5, 6, 7)]
    batch = generate_images(sd.model, [Painting(p, n, o) for (p, n), o in zip(WORDS, options)])
    for (prompt, negative), option, made in zip(WORDS, options, batch):
        alone = pixels(generate_image(sd.model, prompt, negative, option)).astype(int)
        difference = np.abs(pixels(made).astype(int) - alone)
        assert difference.max() <= 1 and (difference > 0).mean() < 0.01


# -- the worker: batches taken in the queue's fair order ---------------------------------------------------------

from dataclasses import replace  # noqa: E402

from PIL import Image  # noqa: E402

from core.config import gpu_batch, load_settings  # noqa: E402
from core.execution.jobs import CANCELLED, DONE, FAILED, JobQueue  # noqa: E402
from core.execution.worker import Worker
from core.execution.pipeline import run_generation  # noqa: E402
from core.generation.request import GenerationRequest  # noqa: E402

FAST = GenerationOptions(steps=2, width=64, height=64)


def job(prompt: str, options=FAST, **kw) -> GenerationRequest:
    return GenerationRequest(filename="clip.wav", prompt=prompt, transcript=prompt, language="en",
                             options=options, **kw)


@pytest.fixture
def batching(settings, models, store):
    worker = Worker(replace(settings, gpu_batch=3), models, store, embed=False)
    yield worker
    worker.stop()


def test_batching_is_on_by_default_on_cuda_only_and_the_setting_says_how_many():
    auto = load_settings({})
    assert (gpu_batch(auto, "cpu"), gpu_batch(auto, "cuda")) == (1, 4)
    assert gpu_batch(replace(auto, compile_unet=True), "cuda") == 1  # a compiled UNet would recompile per size
    assert gpu_batch(load_settings({"V2I_GPU_BATCH": "2"}), "cpu") == 2
    for bad in ("0", "two", "-3"):
        with pytest.raises(ValueError, match="V2I_GPU_BATCH"):
            load_settings({"V2I_GPU_BATCH": bad})


def test_the_worker_paints_same_recipe_jobs_as_one_batch_in_fair_order(batching, store, wav, settings, models):
    queue = batching.queue
    ids = [queue.submit(wav, job("a red fox", replace(FAST, seed=1)), created_by="ana"),
           queue.submit(wav, job("a grey owl", replace(FAST, seed=2, guidance=3.0)), created_by="bob"),
           queue.submit(wav, job("a blue boat", replace(FAST, seed=3)), created_by="ana"),
           queue.submit(wav, job("a cat", replace(FAST, seed=4)), created_by="cy")]
    claimed = queue.claim_batch(batching.worker_id, 3)
    assert [j["id"] for j in claimed] == [ids[0], ids[1], ids[3]]  # turns: ana, bob, cy; then ana again
    for claimed_job in claimed:
        queue.requeue(claimed_job["id"])
    assert batching.run_pending() == 4
    rows = [store.get_generation(queue.get(i)["generation_id"]) for i in ids]
    assert [r["batch_size"] for r in rows] == [3, 3, 1, 3]
    for row in rows:  # each image is the one made alone from the same words and seed
        alone = run_generation(wav, GenerationRequest.from_row(row), settings=settings, models=models, store=store)
        assert alone["batch_size"] == 1 and alone["seed"] == row["seed"]
        assert np.array_equal(np.asarray(Image.open(store.file_path(row["image_path"])).convert("RGB")),
                              np.asarray(Image.open(store.file_path(alone["image_path"])).convert("RGB")))


def test_a_batch_stops_at_the_first_job_that_cannot_join_it_so_no_turn_is_passed_over(batching, wav):
    queue = batching.queue
    first = queue.submit(wav, job("a", replace(FAST, seed=1)), created_by="ana")
    queue.submit(wav, job("b", replace(FAST, steps=3, seed=2)), created_by="bob")  # other step count
    queue.submit(wav, job("c", replace(FAST, seed=3)), created_by="cy")
    assert [j["id"] for j in queue.claim_batch(batching.worker_id, 3)] == [first]


def test_one_jobs_bad_recording_or_cancel_leaves_the_others_in_the_batch_alone(batching, store, wav, monkeypatch):
    queue = batching.queue
    good = queue.submit(wav, job("a red fox", replace(FAST, seed=1)), created_by="ana")
    unreadable = queue.submit(wav, job("an owl", replace(FAST, seed=2)), created_by="bob")
    cancelled = queue.submit(wav, job("a boat", replace(FAST, seed=3)), created_by="cy")
    store.file_path(queue.get(unreadable)["upload_path"]).write_bytes(b"not a recording at all")
    progress = queue.progress

    def cancel_in_the_middle(job_id, stage, step, total):
        if job_id == cancelled and stage == "generate" and step == 1:
            queue.cancel(job_id)
        return progress(job_id, stage, step, total)

    monkeypatch.setattr(queue, "progress", cancel_in_the_middle)
    assert batching.run_pending() == 3
    assert queue.get(good)["status"] == DONE and store.get_generation(queue.get(good)["generation_id"])["batch_size"] == 2
    assert queue.get(unreadable)["status"] == FAILED and "not an audio file" in queue.get(unreadable)["error"]
    assert queue.get(cancelled)["status"] == CANCELLED and queue.get(cancelled)["generation_id"] is None
    assert store.count_generations() == 1
