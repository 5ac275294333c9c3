"""Speech into prompts: fillers, stutters, false starts and frames left out in four languages, the words kept;
the team vocabulary reaches whisper; a guard stops whisper's inventions over silence before any image is made."""

import json

import pytest
from apptest import button, no_exception, open_app, texts
from helpers import files_under

from core import DoubtfulSpeechError, InvalidOptionError, Store, clean_speech, doubt, set_vocabulary, vocabulary
from core.cli import main
from core.config.recipes import GenerationOptions
from core.execution.pipeline import run_generation
from core.generation.request import GenerationRequest
from core.generation.synth import recording


@pytest.mark.parametrize("language, said, prompt", [
    ("en", "And a mobile ramen with a soft boiled egg.", "a mobile ramen with a soft boiled egg."),
    ("en", "That has to be a driving course on the moon.", "a driving course on the moon."),
    ("en", "Um, I want a picture of, uh, a red fox in the snow.", "a red fox in the snow."),
    ("en", "So can you draw me a lighthouse at night, please?", "a lighthouse at night"),
    ("en", "Make me an image of the the Eiffel Tower in 1889.", "the Eiffel Tower in 1889."),
    ("en", "I'd like to see a red- a blue car, you know, on Mars.", "a blue car, on Mars."),
    ("en", "Show me three cats, like, sleeping.", "three cats, sleeping."),
    ("en", "Anna and Bob at the 2024 party", "Anna and Bob at the 2024 party"),  # names, numbers, order kept
    ("en", "I would like a castle made of cheese", "a castle made of cheese"),
    ("fr", "Euh, je veux une image d'un chat noir, s'il te plaît.", "un chat noir"),
    ("fr", "Dessine-moi un mouton.", "un mouton."),
    ("fr", "Est-ce que tu peux dessiner une maison bleue", "une maison bleue"),
    ("de", "Ähm, kannst du mir bitte einen roten Hund zeichnen?", "einen roten Hund"),
    ("de", "Ich möchte ein Bild von einem Schloss im Schnee.", "einem Schloss im Schnee."),
    ("de", "Zeig mir einen Leuchtturm bei Nacht", "einen Leuchtturm bei Nacht"),
    ("es", "Eh, quiero una imagen de un gato en la luna, por favor.", "un gato en la luna"),
    ("es", "Dibújame una casa azul.", "una casa azul."),
    ("es", "¿Puedes dibujar un perro con sombrero?", "un perro con sombrero"),
])
def test_spoken_requests_start_with_their_subject(language, said, prompt):
    cleaned = clean_speech(said, language)
    assert cleaned.text == prompt
    assert cleaned.removed or said == prompt  # what was left out is said


@pytest.mark.parametrize("said", ["Please.", "Um.", "Show me.", "a", "Can you draw me a"])
def test_the_last_content_word_is_never_dropped(said):
    assert clean_speech(said).text == said  # nothing but a frame: the speech is kept as it was


def test_what_was_removed_is_listed_in_order():
    cleaned = clean_speech("Um, can you draw me a red- a blue fox, please")
    assert cleaned.text == "a blue fox"
    assert cleaned.removed == ("Um", "a red-", "can you draw me", "please")
    assert cleaned.note == "left out of the prompt: Um; a red-; can you draw me; please"


@pytest.mark.parametrize("text, no_speech, rms, doubtful", [
    ("Thanks for watching!", 0.9, 0.05, True),
    ("Thank you.", 0.7, 0.05, True),
    ("Untertitel im Auftrag des ZDF", 0.8, 0.05, True),
    ("Thanks for watching!", 0.1, 0.05, False),  # whisper was sure someone said it
    ("a red fox in the snow", 0.9, 0.05, False),
    ("a red fox in the snow", 0.1, 0.001, True),  # nearly silent: whatever it says is a guess
])
def test_the_guard_doubts_hallucinations_and_near_silence(text, no_speech, rms, doubtful):
    assert bool(doubt(text, no_speech, rms)) is doubtful


@pytest.fixture
def hallucinating(monkeypatch):
    """Whisper, as it behaves over near-silence: a subtitle credit, not sure anyone spoke."""
    import whisper

    monkeypatch.setattr(whisper, "transcribe", lambda *a, **k: {
        "text": " Thanks for watching!", "language": "en",
        "segments": [{"avg_logprob": -0.9, "no_speech_prob": 0.93}]})


def test_a_hallucinated_transcript_is_stopped_before_any_image(settings, models, store, data_dir, hallucinating):
    request = GenerationRequest("quiet.wav", options=GenerationOptions(steps=2, width=64, height=64))
    with pytest.raises(DoubtfulSpeechError, match="whisper often invents"):
        run_generation(recording("wav"), request, settings=settings, models=models, store=store)
    assert store.count_generations() == 0 and files_under(data_dir / "images") == []
    forced = GenerationRequest("quiet.wav", force=True, options=GenerationOptions(steps=2, width=64, height=64))
    row = run_generation(recording("wav"), forced, settings=settings, models=models, store=store)
    assert row["transcript"] == "Thanks for watching!"


def test_the_command_line_refuses_a_hallucination_unless_forced(tiny_env, tmp_path, capsys, hallucinating):
    path = tmp_path / "quiet.wav"
    path.write_bytes(recording("wav"))
    assert main(["generate", str(path), "--steps", "2", "--size", "64"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("note: ")]
    assert len(err) == 1 and "whisper often invents" in err[0] and "--force" in err[0]
    assert main(["generate", str(path), "--steps", "2", "--size", "64", "--force", "--json"]) == 0


def test_the_generate_page_asks_before_generating_a_doubtful_transcript(app_env, data_dir, hallucinating):
    at = open_app("pages/generate.py")
    at.file_uploader[0].set_value([("quiet.wav", recording("wav"), "audio/wav")])
    no_exception(at.run())
    no_exception(button(at, "Transcribe").click().run())
    assert any("Is this what was said?" in w.value for w in at.warning)
    no_exception(button(at, "Generate").click().run())
    assert any("Nothing was queued" in e.value for e in at.error)
    from core import JobQueue

    queue = JobQueue(Store(data_dir))
    assert queue.list() == []
    at.checkbox(key=[c.key for c in at.checkbox if c.label == "Generate anyway"][0]).check()
    no_exception(button(at, "Generate").click().run())
    (job,) = queue.list()  # the person said the words are right
    assert json.loads(job["options"])["force"] is True


def test_the_page_shows_what_was_left_out_and_history_keeps_it(app_env, monkeypatch, make_generation):
    import whisper

    monkeypatch.setattr(whisper, "transcribe", lambda *a, **k: {
        "text": " Um, can you draw me a lighthouse at night, please?", "language": "en",
        "segments": [{"avg_logprob": -0.2, "no_speech_prob": 0.01}]})
    at = open_app("pages/generate.py")
    at.file_uploader[0].set_value([("ask.wav", recording("wav"), "audio/wav")])
    no_exception(at.run())
    no_exception(button(at, "Transcribe").click().run())
    prompt = [t for t in at.text_area if t.label == "Prompt"][0]
    assert prompt.value.startswith("a lighthouse at night, ")
    assert "left out of the prompt: Um; can you draw me; please" in texts(at)
    row = make_generation(None, audio=recording("wav"))
    assert json.loads(row["speech_removed"]) == ["Um", "can you draw me", "please"]
    at = open_app("pages/history.py")
    assert "Um; can you draw me; please" in texts(at)


def test_the_team_vocabulary_is_kept_and_reaches_whisper(app_env, settings, models, store, monkeypatch):
    import whisper

    prompts = []
    real = whisper.transcribe
    monkeypatch.setattr(whisper, "transcribe", lambda *a, **k: prompts.append(k.get("initial_prompt")) or real(*a, **k))
    assert set_vocabulary(store, ["  Kubernetes ", "Zanzibar Labs", "Kubernetes", ""], "ana") == (
        "Kubernetes", "Zanzibar Labs")
    request = GenerationRequest("a.wav", vocabulary=vocabulary(store),
                                options=GenerationOptions(steps=2, width=64, height=64))
    row = run_generation(recording("wav"), request, settings=settings, models=models, store=store)
    assert prompts == ["Glossary: Kubernetes, Zanzibar Labs."]
    assert json.loads(row["vocabulary"]) == ["Kubernetes", "Zanzibar Labs"]


@pytest.mark.parametrize("terms, why", [(["x" * 61], "at most 60"), ([f"t{i}" for i in range(101)], "too long"),
                                        (["bad\x07term"], "control characters")])
def test_a_vocabulary_that_does_not_fit_is_refused_and_nothing_changes(store, terms, why):
    set_vocabulary(store, ["Kept"], "ana")
    with pytest.raises(InvalidOptionError, match=why):
        set_vocabulary(store, terms, "ana")
    assert vocabulary(store) == ("Kept",)


def test_the_vocabulary_is_edited_on_the_generate_page(app_env, data_dir):
    at = open_app("pages/generate.py")
    at.text_area(key="vocabulary-text").set_value("Kubernetes\nZanzibar Labs")
    no_exception(button(at, "Save the vocabulary").click().run())
    assert vocabulary(Store(data_dir)) == ("Kubernetes", "Zanzibar Labs")


@pytest.mark.slow
@pytest.mark.real_models
@pytest.mark.skipif(__import__("shutil").which("espeak-ng") is None and not __import__("os").environ.get("CI"),
                    reason="espeak-ng is not installed (apt-get install espeak-ng; CI installs it)")
def test_spoken_requests_heard_by_tiny_en_become_prompts_that_start_with_their_subject():
    """bench.prompts' labelled set, spoken by espeak-ng and heard by the real tiny.en: at least 90% after."""
    from bench.prompts import measure

    result = measure()
    assert result["prompts_n"] == 20
    assert result["prompts_subject_first_after"] >= 0.9 > result["prompts_subject_first_before"]
