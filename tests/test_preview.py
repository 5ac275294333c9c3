"""The image as it forms: a cheap projection of the latents after each step, shown while the job runs and
never stored."""

import numpy as np
from apptest import no_exception, open_app
from helpers import files_under

from core import PREVIEWS, JobQueue, Store, Worker
from core.generation.diffusion import generate_image, latent_preview
from core.config.recipes import GenerationOptions
from core.generation.request import GenerationRequest
from core.generation.synth import recording


def previews_of_a_3_step_image(models, interval_s: float) -> list:
    shown = []
    sd = models.stable_diffusion()
    with sd.lock:
        generate_image(sd.model, "a red fox", "", GenerationOptions(steps=3, seed=1, width=64, height=64),
                       preview=shown.append, preview_interval_s=interval_s)
    return shown


def test_each_step_gives_a_small_rgb_preview(models):
    shown = previews_of_a_3_step_image(models, interval_s=0)
    assert len(shown) == 3
    assert all(p.shape == (8, 8, 3) and p.dtype == np.uint8 for p in shown)
    assert not np.array_equal(shown[0], shown[-1])  # it changes as the image forms


def test_steps_faster_than_the_preview_interval_show_the_first_step_only(models):
    assert len(previews_of_a_3_step_image(models, interval_s=3600)) == 1


def test_the_projection_is_a_fixed_linear_map_of_the_latents():
    import torch

    latents = torch.zeros(1, 4, 2, 2)
    assert (latent_preview(latents) == 127).all()  # zero latents: mid grey
    latents[0, 0] = 1.0  # the first channel alone: its row of the map
    assert latent_preview(latents)[0, 0].tolist() == [172, 156, 168]  # (1 + factor) * 127.5


def test_a_running_jobs_preview_is_kept_in_memory_only_and_dropped_when_it_ends(settings, models, store, data_dir,
                                                                                monkeypatch):
    seen = []
    update = PREVIEWS.update
    monkeypatch.setattr(PREVIEWS, "update", lambda job_id, rgb: (seen.append(job_id), update(job_id, rgb)))
    queue = JobQueue(store)
    job_id = queue.submit(recording("wav"), GenerationRequest("a.wav", transcript="a fox",
                                                              options=GenerationOptions(steps=3, width=64, height=64)))
    Worker(settings, models, store, embed=False).run_pending()
    assert seen and set(seen) == {job_id}  # at least the first step's (tiny steps are faster than the interval)
    assert PREVIEWS.get(job_id) is None
    stored = [p.name for p in files_under(data_dir)]
    assert len([n for n in stored if n.endswith(".png")]) == 1  # only the image itself


def test_the_jobs_panel_shows_the_image_as_it_forms(app_env, data_dir, monkeypatch):
    monkeypatch.setenv("V2I_USER", "ana")
    at = open_app("pages/generate.py")  # the server is up (its worker marks jobs left running as interrupted)
    queue = JobQueue(Store(data_dir))
    queue.submit(recording("wav"), GenerationRequest("a.wav", transcript="a fox",
                                                     options=GenerationOptions(steps=3, width=64, height=64)),
                 created_by="ana")
    job = queue.claim_next()  # running, here: the app's worker does not take it
    PREVIEWS.update(job["id"], np.full((8, 8, 3), 200, dtype=np.uint8))
    try:
        no_exception(at.run())
        assert len(at.image) == 1 and "as it forms" in str(at.image[0].proto)
    finally:
        PREVIEWS.drop(job["id"])
