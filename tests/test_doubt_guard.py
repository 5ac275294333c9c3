"""The doubt guard (issue 40): whisper's doubted words are matched by its own word tokens and their order in the
prompt, whatever joins them; the count and the list agree; a person's edit makes the words theirs; and the guard
holds on every path (the worker for a job queued without transcribing first, the API's 422)."""

import json
import pickle

import pytest

from core import DoubtfulSpeechError, Doubts, GenerationRequest, Word, counted, doubted_in_prompt, doubts_in
from core.config.recipes import GenerationOptions
from core.execution.jobs import FAILED, JobQueue, ending_of
from core.generation.doubts import pieces

# tiny.en on espeak-ng's "a red fox sleeping in the snow": "rent-box sleeping in the snow."
HEARD = [Word("rent", 0.0, 0.3, 0.27), Word("-box", 0.3, 0.6, 0.25), Word("sleeping", 0.6, 1.0, 0.99),
         Word("in", 1.0, 1.1, 0.96), Word("the", 1.1, 1.2, 0.94), Word("snow.", 1.2, 1.9, 0.98)]
BUILT = "rent-box sleeping in the snow, digital art"


def named(prompt: str, words=HEARD) -> list[str]:
    return [w.word for w in doubted_in_prompt(words, prompt)]


def test_words_are_compared_by_their_pieces_whatever_joins_them():
    assert pieces("Rent-box, sleeping… in the snow.") == ["rent", "box", "sleeping", "in", "the", "snow"]
    assert pieces("don't stop") == ["don't", "stop"]


@pytest.mark.parametrize("prompt", [BUILT, "rent box sleeping", "rent,box; sleeping", "RENT—BOX", "rent/-box"])
def test_hyphen_joined_doubted_words_are_found_in_the_prompt(prompt):
    assert named(prompt) == ["rent", "-box"]


def test_the_count_and_the_list_agree_and_repeated_words_count_each_time():
    heard = [Word("the", 0, 0.1, 0.3), Word("cat", 0.1, 0.2, 0.9), Word("the", 0.2, 0.3, 0.3), Word("hat", 0.3, 0.4, 0.9)]
    doubts = doubts_in(heard, "", prompt="the cat the hat", built="the cat the hat")
    assert doubts.words == ("the", "the")
    assert doubts.words_line() == "2 words may be misheard: the, the"


def test_a_doubted_word_the_prompt_leaves_out_stops_nothing():
    heard = [Word("Can", 0, 0.2, 0.84), Word("you", 0.2, 0.4, 0.99), Word("draw", 0.4, 0.6, 0.14),
             Word("me", 0.6, 0.7, 1.0), Word("a", 0.7, 0.8, 0.81), Word("lighthouse?", 0.8, 1.6, 0.94)]
    assert named("a lighthouse, digital art", heard) == []  # "draw" went with the request's frame
    assert named("a lighthouse to draw", heard) == ["draw"]


def test_whisper_words_as_it_gave_them_are_doubted_with_the_recordings_reason():
    doubts = doubts_in(HEARD, "whisper was unsure", prompt=BUILT, built=BUILT, transcript="rent-box sleeping in the snow.",
                       heard="rent-box sleeping in the snow.")
    assert doubts and doubts.words == ("rent", "box") and doubts.reason == "whisper was unsure"
    assert "2 words may be misheard: rent, box" in doubts.message() and "whisper was unsure" in doubts.message()
    assert doubts.message().startswith("Nothing was queued: ") and "force=true" in doubts.message()


@pytest.mark.parametrize("transcript, prompt", [
    ("a red fox sleeping in the snow", "a red fox sleeping in the snow, digital art"),  # both fixed
    ("a red fox sleeping in the snow", BUILT),  # the transcript changed, the prompt not yet rebuilt
    ("rent-box sleeping in the snow.", "a red fox sleeping in the snow"),  # the prompt fixed by hand
    ("rent-box sleeping in the snow.", BUILT + ", watercolour"),  # kept after seeing the doubt: their words
])
def test_words_the_person_changed_or_kept_after_seeing_the_doubt_are_theirs(transcript, prompt):
    doubts = doubts_in(HEARD, "the recording is nearly silent", prompt=prompt, built=BUILT, transcript=transcript,
                       heard="rent-box sleeping in the snow.")
    assert not doubts and doubts == Doubts()


def test_spacing_alone_is_not_an_edit():
    doubts = doubts_in(HEARD, "", prompt="  rent-box   sleeping in the snow, digital art ", built=BUILT,
                       transcript="rent-box sleeping in the snow. ", heard="rent-box sleeping in the snow.")
    assert doubts.words == ("rent", "box")


def test_plurals_are_written_properly():
    assert (counted(1, "word"), counted(2, "word"), counted(0, "word")) == ("1 word", "2 words", "0 words")
    assert Doubts(("rent",)).words_line() == "1 word may be misheard: rent"


def test_the_error_names_its_words_across_processes_and_in_a_jobs_ending():
    err = DoubtfulSpeechError("Nothing was generated: 2 words may be misheard: rent, box", ("rent", "box"))
    again = pickle.loads(pickle.dumps(err))  # a Ray actor's error comes back pickled
    assert (str(again), again.doubtful_words) == (str(err), ("rent", "box"))
    assert ending_of(again) == (FAILED, str(err), ("rent", "box"))
    assert ending_of(DoubtfulSpeechError("the recording is nearly silent"))[2] == ()


def test_a_job_the_guard_stops_keeps_its_recording_and_names_the_words(data_dir, wav):
    from core.history.store import Store

    store = Store(data_dir)
    queue = JobQueue(store)
    job_id = queue.submit(wav, GenerationRequest(options=GenerationOptions(steps=2, width=64, height=64)),
                          created_by="ana")
    job = queue.claim_next("w1")
    queue.finish(job, *ending_of(DoubtfulSpeechError("Nothing was generated: ...", ("rent", "box"))))
    ended = queue.get(job_id)
    assert ended["status"] == FAILED and json.loads(ended["doubtful_words"]) == ["rent", "box"]
    assert ended["upload_path"] and store.file_path(ended["upload_path"]).read_bytes() == wav  # kept to fix
    fixed = GenerationRequest(options=GenerationOptions(steps=2, width=64, height=64), transcript="a red fox",
                              heard="rent-box", words=tuple(HEARD))
    again = queue.resubmit(job_id, "ana", fixed)
    assert GenerationRequest.from_json(queue.get(again)["options"]).transcript == "a red fox"
    assert queue.get(again)["retry_of"] == job_id and queue.get(job_id)["upload_path"] is None


def test_fix_the_words_opens_the_failed_jobs_recording_and_generating_replaces_that_job(app_env, data_dir,
                                                                                           monkeypatch):
    from apptest import button, no_exception, open_app

    from core import Person, Store, roles
    from core.generation.synth import recording

    monkeypatch.setenv("V2I_USER", "ana")
    at = open_app("pages/generate.py")
    queue = JobQueue(Store(data_dir))
    queue.set_paused(True, Person("ana", "ana", roles.ADMIN))  # what is queued stays queued while the page is read
    failed = queue.submit(recording("wav"), GenerationRequest("fox.wav", options=GenerationOptions(steps=2)),
                          created_by="ana")
    queue.finish(queue.get(failed), *ending_of(DoubtfulSpeechError("Nothing was generated: ...", ("rent", "box"))))
    no_exception(at.run())
    assert not [b for b in at.button if b.label == "Submit again"]  # it would only fail again
    at = no_exception(button(at, "Fix the words and generate again").click().run())
    assert any("a failed job's recording: fix its words" in t.value for t in at.text)
    transcript = next(t for t in at.text_area if t.label == "Transcript")  # heard at once, to be fixed
    transcript.set_value("a red fox sleeping in the snow")
    at = no_exception(button(at, "Rebuild the prompt from the transcript").click().run())
    at = no_exception(button(at, "Generate").click().run())
    jobs = {job["id"]: job for job in queue.list("ana")}
    (again,) = [job for job in jobs.values() if job["id"] != failed]
    assert again["retry_of"] == failed and jobs[failed]["upload_path"] is None
    assert GenerationRequest.from_json(again["options"]).transcript == "a red fox sleeping in the snow"
    assert not any("a failed job's recording" in t.value for t in at.text)  # done: it is an ordinary job now
    assert [t.value for t in at.toast] == ["fox\\.wav: queued again, with its words fixed"]  # a name, escaped


def test_the_notes_follow_the_prompt_as_it_is_now(app_env):
    from apptest import button, no_exception, open_app

    from core.generation.synth import recording

    at = open_app("pages/generate.py")
    at.file_uploader[0].set_value([("said.wav", recording("wav"), "audio/wav")])
    at = no_exception(button(no_exception(at.run()), "Transcribe").click().run())
    next(t for t in at.text_area if t.label == "Transcript").set_value("Um, can you draw me a red fox, and")
    at = no_exception(button(at, "Rebuild the prompt from the transcript").click().run())
    prompt = next(t for t in at.text_area if t.label == "Prompt")
    assert prompt.value.startswith("a red fox")
    captions = [c.value for c in at.caption]
    assert "Cleaned for the prompt" in captions  # what the rebuilt prompt left out of the words as they are now
    prompt.set_value("a red fox in the snow, by the person")
    at = no_exception(at.run())
    assert "Cleaned for the prompt" not in [c.value for c in at.caption]  # it no longer describes this prompt


def test_the_words_view_keeps_whispers_words_as_text_in_its_html():
    from ui.words import marked_text

    shown = marked_text([{"word": "**bold**", "start": 0, "end": 1, "probability": 0.9},
                         {"word": "[x](http://host/t)", "start": 1, "end": 2, "probability": 0.2},
                         {"word": "<img src=x>", "start": 2, "end": 3, "probability": 0.9}])
    assert "**" not in shown and "](" not in shown and "<img" not in shown and "http:" not in shown
    assert "unsure: </span>&#91;x&#93;" in shown  # the doubted one, announced, still its own characters
