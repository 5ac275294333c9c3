"""A first run with the real models: Generate says which are missing before anyone records, and a job's panel
shows each model's download in bytes while it comes down."""

from apptest import no_exception, open_app

from core import DOWNLOADS, JobQueue, Store
from core.models.catalog import size_text
from core.config.recipes import GenerationOptions
from core.generation.request import GenerationRequest
from core.generation.synth import recording


def test_generate_names_the_missing_models_their_size_and_the_command(app_env, monkeypatch):
    monkeypatch.setenv("V2I_SD_MODEL", "stable-diffusion-v1-5/stable-diffusion-v1-5")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    at = no_exception(open_app("pages/generate.py"))
    note = " ".join(w.value for w in at.warning)
    assert "Stable Diffusion stable-diffusion-v1-5/stable-diffusion-v1-5 (4.27 GB)" in note
    assert "python -m core models pull all" in note and "offline" in note
    kinds = [element.type for element in at.main]
    assert kinds.index("warning") < kinds.index("file_uploader")  # above the recordings: nobody needs to record first


def test_with_every_model_here_there_is_no_first_run_note(app_env):
    at = no_exception(open_app("pages/generate.py"))
    assert not [w for w in at.warning if "Not on this machine" in w.value]


def test_a_running_jobs_panel_shows_each_model_s_download_in_bytes(app_env, data_dir, monkeypatch):
    monkeypatch.setenv("V2I_USER", "ana")
    at = open_app("pages/generate.py")
    queue = JobQueue(Store(data_dir))
    queue.submit(recording("wav"), GenerationRequest("a.wav", transcript="a fox",
                                                     options=GenerationOptions(steps=3, width=64, height=64)),
                 created_by="ana")
    job = queue.claim_next()  # running, here: the app's worker does not take it
    queue.progress(job["id"], "download", 0, 0)
    DOWNLOADS.update(job["id"], "Stable Diffusion", 1_200_000_000, 4_266_661_271)
    DOWNLOADS.update(job["id"], "Whisper", 145_262_807, 145_262_807)
    try:
        no_exception(at.run())
        bars = [str(p.proto.text) for p in at.get("progress")]
        assert f"downloading Stable Diffusion: {size_text(1_200_000_000)} of {size_text(4_266_661_271)}" in bars
        assert "downloading Whisper: 0.15 GB of 0.15 GB" in bars
    finally:
        DOWNLOADS.drop(job["id"])
