from apptest import button, errors, no_exception, open_app, texts
from core.generation.synth import recording
from helpers import files_under, wait_until

from core.execution.jobs import DONE, JobQueue
from core.generation.speech import clean_speech
from core.history.store import Store


def fast_settings(at):
    at.number_input(key="opt-steps").set_value(2)
    at.selectbox(key="opt-size").set_value(64)
    return at


def upload(at, *files):
    at.file_uploader[0].set_value(list(files))
    return no_exception(at.run())


def jobs_of(data_dir):
    return JobQueue(Store(data_dir)).list()


def test_upload_transcribe_edit_generate_and_see_the_image(app_env, data_dir):
    at = fast_settings(open_app("pages/generate.py"))
    upload(at, ("speech.wav", recording("wav", seconds=2.0), "audio/wav"))
    no_exception(button(at, "Transcribe").click().run())
    transcript, prompt = (t for t in at.text_area if t.label in ("Transcript", "Prompt"))
    assert transcript.label == "Transcript" and transcript.value
    spoken = clean_speech(transcript.value).text.rstrip(" ,.;:")
    assert prompt.value.startswith(spoken) and prompt.value.endswith("photorealistic")
    assert any(t.startswith("language: ") for t in texts(at))

    prompt.set_value("a lighthouse at dusk, watercolor")
    no_exception(button(at, "Generate").click().run())
    (job,) = jobs_of(data_dir)
    assert wait_until(lambda: jobs_of(data_dir)[0]["status"] == DONE)

    no_exception(at.run())
    assert len(at.image) == 1  # the finished image is shown
    assert "a lighthouse at dusk, watercolor" in texts(at)
    assert [b.label for b in at.get("download_button")] == ["Download PNG"]
    row = Store(data_dir).get_generation(jobs_of(data_dir)[0]["generation_id"])
    assert row["prompt"] == "a lighthouse at dusk, watercolor"
    assert row["transcript"] == transcript.value
    assert row["steps"] == 2 and row["width"] == 64

    no_exception(at.switch_page("pages/history.py").run())  # ... and the History row appears
    assert list(at.dataframe[0].value["id"]) == [row["id"][:8]]
    assert "a lighthouse at dusk, watercolor" in texts(at)


def test_a_bad_upload_shows_a_clear_error_and_stores_nothing(app_env, data_dir):
    at = open_app("pages/generate.py")
    upload(at, ("notes.wav", b"these are my meeting notes, not a recording" * 10, "audio/wav"))
    no_exception(button(at, "Transcribe").click().run())
    assert errors(at) == [
        "notes.wav: not an audio file (its format was not recognised: Invalid data found when processing input)"]
    no_exception(button(at, "Generate").click().run())
    assert len(errors(at)) == 1 and "not an audio file" in errors(at)[0]
    assert jobs_of(data_dir) == []
    assert files_under(data_dir / "uploads") == files_under(data_dir / "images") == []


def test_silence_is_reported_as_no_speech(app_env):
    at = open_app("pages/generate.py")
    upload(at, ("quiet.wav", recording("wav", amplitude=0.0), "audio/wav"))
    no_exception(button(at, "Transcribe").click().run())
    assert "no speech was heard" in errors(at)[0]


def test_a_bad_seed_is_refused_with_the_reason(app_env, data_dir):
    at = open_app("pages/generate.py")
    upload(at, ("speech.wav", recording("wav"), "audio/wav"))
    at.text_input(key="opt-seed").set_value("-5")
    no_exception(button(at, "Generate").click().run())
    assert "seed must be a whole number from 0 to 4294967295, not -5" in errors(at)[0]
    at.text_input(key="opt-seed").set_value("lucky")
    no_exception(button(at, "Generate").click().run())
    assert "not 'lucky'" in errors(at)[0]
    assert jobs_of(data_dir) == []


def test_a_batch_is_transcribed_and_generated_in_one_go(app_env, data_dir):
    at = fast_settings(open_app("pages/generate.py"))
    upload(at, ("one.m4a", recording("m4a"), "audio/mp4"), ("two.webm", recording("webm", frequency=300), "audio/webm"))
    no_exception(button(at, "Transcribe and generate all").click().run())
    assert sorted(j["audio_filename"] for j in jobs_of(data_dir)) == ["one.m4a", "two.webm"]
    assert wait_until(lambda: all(j["status"] == DONE for j in jobs_of(data_dir)))
    assert Store(data_dir).count_generations() == 2


def test_a_queued_job_can_be_cancelled_from_the_page(app_env, data_dir, monkeypatch):
    import core.execution.worker

    monkeypatch.setattr(core.execution.worker.Worker, "run_pending", lambda self: 0)  # keep the job waiting in the queue
    at = open_app("pages/generate.py")
    upload(at, ("speech.wav", recording("wav"), "audio/wav"))
    no_exception(button(at, "Generate").click().run())
    assert "place in queue: 1" in texts(at)
    no_exception(button(at, "Cancel").click().run())
    assert jobs_of(data_dir)[0]["status"] == "cancelled"
    assert files_under(data_dir / "uploads") == []


def test_a_file_name_in_an_error_is_shown_literally_not_as_markdown(app_env):
    at = open_app("pages/generate.py")
    upload(at, ("**bold** [link](http://x) :red[alarm].wav", b"not audio" * 20, "audio/wav"))
    no_exception(button(at, "Transcribe").click().run())
    assert at.error[0].value.startswith(r"\*\*bold\*\* \[link\]\(http\:")
    assert errors(at)[0].startswith("**bold** [link](http://x) :red[alarm].wav: not an audio file")


def test_user_text_is_shown_as_text_never_as_markdown(app_env, data_dir):
    at = open_app("pages/generate.py")
    upload(at, ("<b>evil</b>.wav", recording("wav"), "audio/wav"))
    no_exception(button(at, "Transcribe").click().run())
    assert "<b>evil</b>.wav" in texts(at)
    assert not any("evil" in m.value for m in at.markdown)


def test_a_recording_made_in_the_browser_is_transcribed_and_queued(app_env, data_dir):
    at = fast_settings(open_app("pages/generate.py"))
    at.audio_input[0].set_value(("recording.wav", recording("wav", seconds=2.0), "audio/wav"))
    no_exception(at.run())
    assert "browser-recording.wav" in texts(at)
    no_exception(button(at, "Transcribe").click().run())
    assert [t.label for t in at.text_area if t.key != "vocabulary-text"] == ["Transcript", "Prompt"]
    no_exception(button(at, "Generate").click().run())
    assert wait_until(lambda: jobs_of(data_dir)[0]["status"] == DONE)
    assert Store(data_dir).query_generations()[0]["audio_filename"] == "browser-recording.wav"


def test_two_uploads_with_the_same_content_show_one_panel_and_say_so(app_env, data_dir):
    at = open_app("pages/generate.py")
    same = recording("wav", seconds=1.0)
    upload(at, ("first.wav", same, "audio/wav"), ("copy of first.wav", same, "audio/wav"),
           ("other.wav", recording("wav", frequency=300), "audio/wav"))
    assert [b.label for b in at.button].count("Transcribe") == 2
    assert "copy of first\\.wav" in at.info[0].value  # markdown-escaped: shown literally
    no_exception(button(at, "Transcribe and generate all").click().run())
    assert len(jobs_of(data_dir)) == 2


def test_an_upload_is_not_copied_by_the_page(app_env):
    """Streamlit itself copies each widget value once per rerun (a deep copy); the page adds no copy of its own."""
    import tracemalloc

    from core.generation.synth import encode, tone

    data = encode(tone(120.0, 48_000, 2), 48_000, "wav")  # 22 MB: over the size the page offers a player for
    at = open_app("pages/generate.py")
    upload(at, ("long.wav", data, "audio/wav"))
    tracemalloc.start()
    try:
        no_exception(at.run())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.5 * len(data)
    assert "too large to play here" in at.caption[0].value


def test_a_viewer_sees_no_generate_button_and_is_told_why(app_env, monkeypatch):
    from core import local_person

    monkeypatch.setenv("V2I_VIEWERS", local_person().name)
    at = open_app("pages/generate.py")
    assert "you are a viewer here" in at.info[0].value
    assert not at.main.button and not at.get("file_uploader") and not at.get("audio_input")
