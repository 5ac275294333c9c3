import hashlib

import pytest
from core.generation.synth import recording
from helpers import files_under

from core.errors import AudioError, CancelledError, InvalidOptionError, NoSpeechError, StorageError
from core.config.recipes import GenerationOptions
from core.execution.pipeline import run_generation
from core.generation.request import GenerationRequest
from core.history.pngmeta import read_parameters
from core.generation.speech import clean_speech

FAST = GenerationOptions(steps=2, width=64, height=64)


def run(settings, models, store, data: bytes, progress=None, **kw):
    request = GenerationRequest(filename=kw.pop("filename", "clip.wav"), options=kw.pop("options", FAST), **kw)
    return run_generation(data, request, settings=settings, models=models, store=store, progress=progress)


def test_a_recording_becomes_a_stored_generation_with_its_files(settings, models, store, wav):
    row = run(settings, models, store, wav)
    stored = store.get_generation(row["id"])
    assert {key: stored[key] for key in row} == row
    assert (stored["rating_mean"], stored["rating_count"], stored["batch_size"]) == (None, 0, 1)  # unrated, alone
    assert store.file_path(row["image_path"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert store.file_path(row["audio_path"]).read_bytes() == wav
    assert row["audio_sha256"] == hashlib.sha256(wav).hexdigest()
    assert row["audio_duration"] == pytest.approx(1.5, abs=0.01)
    assert row["prompt"].startswith(clean_speech(row["transcript"], row["language"]).text.rstrip(" ,.;:"))
    assert row["prompt"].endswith("detailed, high quality, photorealistic")
    assert row["scheduler"] == "dpmpp-2m" and row["steps"] == 2 and row["guidance"] == 7.5
    assert row["profile"] == "tiny" and row["device"] == "cpu"
    for stage in ("decode", "transcribe", "enhance", "generate", "total"):
        assert row[f"t_{stage}"] >= 0
    assert row["t_total"] >= row["t_generate"]


def test_files_are_named_by_the_server_and_stored_with_the_contents_extension(settings, models, store):
    row = run(settings, models, store, recording("mp3"), filename="../../evil name.wav")
    assert row["audio_path"] == f"audio/{row['id']}.mp3"
    assert row["image_path"] == f"images/{row['id']}.png"
    assert row["audio_filename"] == "../../evil name.wav"  # kept as text, never used as a path


def test_the_image_carries_its_parameters_for_png_info_readers(settings, models, store, wav):
    row = run(settings, models, store, wav, options=GenerationOptions(steps=2, seed=1234, width=64, height=64))
    parsed = read_parameters(store.file_path(row["image_path"]).read_bytes())
    assert parsed["prompt"] == row["prompt"]
    assert parsed["negative_prompt"] == row["negative_prompt"]
    assert parsed["settings"]["Seed"] == "1234"
    assert parsed["settings"]["Steps"] == "2"
    assert parsed["settings"]["Sampler"] == "DPM++ 2M"
    assert parsed["settings"]["Size"] == "64x64"
    assert parsed["settings"]["Model"] == settings.sd_model
    assert parsed["transcript"] == row["transcript"]


def test_a_random_seed_is_always_stored_and_reproduces_the_image(settings, models, store, wav):
    first = run(settings, models, store, wav)
    again = run(settings, models, store, wav, options=GenerationOptions(steps=2, width=64, height=64, seed=first["seed"]))
    image = lambda r: store.file_path(r["image_path"]).read_bytes()  # noqa: E731
    assert image(first) == image(again)


def test_the_person_can_override_the_prompt(settings, models, store, wav):
    row = run(settings, models, store, wav, prompt="a lighthouse at dusk")
    assert row["prompt"] == "a lighthouse at dusk"
    assert row["prompt_truncated"] == 0


def test_an_override_longer_than_clips_window_is_stored_as_truncated(settings, models, store, wav):
    row = run(settings, models, store, wav, prompt="x" * 200)  # byte-level tiny tokenizer: 200 tokens
    assert row["prompt_truncated"] == 1


def test_an_edited_transcript_is_used_without_transcribing_again(settings, models, store, wav):
    row = run(settings, models, store, wav, transcript="a red fox", language="en")
    assert row["transcript"] == "a red fox" and row["language"] == "en"


def test_progress_goes_through_every_stage_in_order(settings, models, store, wav):
    seen = []
    run(settings, models, store, wav, progress=lambda stage, step, total: seen.append((stage, step, total)))
    stages = [s for s, _, _ in seen]
    assert [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s] == [
        "load", "decode", "transcribe", "enhance", "generate", "save"]
    assert ("generate", 2, 2) in seen


@pytest.mark.parametrize("data, error", [
    (b"", AudioError), (b"not audio at all" * 10, AudioError), (recording("wav", amplitude=0.0), NoSpeechError),
])
def test_bad_audio_leaves_no_row_and_no_file(settings, models, store, data_dir, data, error):
    with pytest.raises(error):
        run(settings, models, store, data)
    assert store.count_generations() == 0
    assert files_under(data_dir / "images") == files_under(data_dir / "audio") == []


def test_bad_options_are_refused_before_any_work(settings, store, wav):
    class NoModels:
        def __getattr__(self, name):
            raise AssertionError("no model should load for bad options")

    with pytest.raises(InvalidOptionError, match="steps"):
        run(settings, NoModels(), store, wav, options=GenerationOptions(steps=0))
    with pytest.raises(ValueError, match="unknown style"):
        run(settings, NoModels(), store, wav, style="nope")


def test_a_run_cancelled_mid_generation_leaves_nothing(settings, models, store, data_dir, wav):
    def cancel(stage, step, total):
        if stage == "generate" and step == 1:
            raise CancelledError("cancelled")

    with pytest.raises(CancelledError):
        run(settings, models, store, wav, progress=cancel)
    assert store.count_generations() == 0
    assert files_under(data_dir / "images") == files_under(data_dir / "audio") == []


def test_a_database_failure_removes_the_files_already_written(settings, models, store, data_dir, wav, monkeypatch):
    def fail(row, also=None):
        raise StorageError("cannot write to the database: disk I/O error")

    monkeypatch.setattr(store, "insert_generation", fail)
    with pytest.raises(StorageError):
        run(settings, models, store, wav)
    assert files_under(data_dir / "images") == files_under(data_dir / "audio") == []


def test_a_full_disk_while_writing_the_image_leaves_nothing(settings, models, store, data_dir, wav, monkeypatch):
    import errno

    import core.history.paths

    real_fsync = core.history.paths.os.fsync
    calls = []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 2:  # the image, after the audio
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(core.history.paths.os, "fsync", fsync)
    with pytest.raises(StorageError, match="disk is full"):
        run(settings, models, store, wav)
    assert store.count_generations() == 0
    assert files_under(data_dir / "images") == files_under(data_dir / "audio") == []


def test_an_earlier_transcription_keeps_its_time_in_the_timings(settings, models, store, wav):
    row = run(settings, models, store, wav, transcript="a red fox", language="en", transcribe_seconds=1.25)
    assert row["t_transcribe"] == 1.25
    assert row["t_total"] >= 1.25 + row["t_generate"]
