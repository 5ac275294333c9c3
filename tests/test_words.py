"""Every spoken word visible: words with times and confidence, doubts that reach the prompt, silence cut before
whisper (and times mapped back), fixes linked to what they fix. The real whisper's side is test_words_real.py."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from core import GenerationRequest, InvalidOptionError, Word, doubted_in_prompt, public_record
from core.generation.faster import needs_fallback
from core.history.columns import column
from core.judging.factors import fix_costs
from core.generation.transcribe import mostly_doubtful, words_of
from core.generation.vad import SpeechCut, cut_silence
from core.models.loaders import load_vad

from test_store import row


def test_words_come_in_the_order_spoken_cleaned_and_rounded():
    segments = [{"words": [{"word": " Can", "start": 0.0, "end": 0.26, "probability": 0.81},
                           {"word": " you\u202e", "start": 0.26, "end": 0.461234, "probability": 0.99}]},
                {"words": [{"word": " roar", "start": 0.46, "end": 0.58, "probability": 0.12}]}]
    heard = words_of(segments, shift=lambda t: t + 5)
    assert [(w.word, w.start, w.end) for w in heard] == [("Can", 5.0, 5.26), ("you", 5.26, 5.461), ("roar", 5.46, 5.58)]
    assert [w.doubtful for w in heard] == [False, False, True]
    assert heard[2].to_json() == {"word": "roar", "start": 5.46, "end": 5.58, "probability": 0.12}


def test_a_doubted_word_counts_only_while_it_would_reach_the_prompt():
    heard = [Word("Can", 0, 0.2, 0.9), Word("you", 0.2, 0.4, 0.95), Word("roar", 0.4, 0.6, 0.12),
             Word("cliffhats", 0.6, 0.9, 0.5), Word("cat?", 0.9, 1.0, 0.44)]
    named = lambda prompt, words=heard: [w.word for w in doubted_in_prompt(words, prompt)]  # noqa: E731
    assert named("roar cliffhats cat, detailed") == ["roar", "cliffhats", "cat?"]
    assert named("draw me a cat") == ["cat?"]  # fixed: "roar" is no longer a doubt
    assert named("Roar!", [w.to_json() for w in heard]) == ["roar"]  # stored words too, any case
    assert named("roar", []) == []


def test_the_guard_doubts_words_only_when_most_of_them_are_doubted():
    assert mostly_doubtful([Word("a", 0, 1, 0.1), Word("b", 1, 2, 0.2), Word("c", 2, 3, 0.9)]).startswith(
        "whisper was unsure of 2 of the 3 words")
    assert mostly_doubtful([Word("a", 0, 1, 0.1), Word("b", 1, 2, 0.9), Word("c", 2, 3, 0.9)]) == ""
    assert mostly_doubtful([Word("a", 0, 1, 0.1)]) == ""  # one word is no evidence


def test_a_time_in_what_whisper_heard_maps_back_to_the_recording():
    cut = SpeechCut(np.zeros(16000 * 6, np.float32), ((5.0, 8.0), (10.0, 13.0)), 18.0)
    assert cut.cut == ((0.0, 5.0), (8.0, 10.0), (13.0, 18.0)) and cut.cut_seconds == pytest.approx(12.0)
    assert [cut.to_recording(t) for t in (0.0, 1.5, 3.0, 4.5, 6.0, 9.0)] == [5.0, 6.5, 10.0, 11.5, 13.0, 13.0]
    assert SpeechCut(np.zeros(0, np.float32), (), 3.0).to_recording(1.0) == 1.0


@pytest.fixture(scope="module")
def vad():
    return load_vad()


def tone_speech(seconds: float, seed: int = 0) -> np.ndarray:
    """Voice-like sound without a voice model: a 140 Hz buzz with harmonics, syllable-modulated, with noise."""
    t = np.arange(int(seconds * 16000)) / 16000
    rng = np.random.default_rng(seed)
    voiced = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 12))
    return (0.2 * voiced * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) ** 2 + 0.01 * rng.normal(size=t.size)).astype(np.float32)


def test_silero_finds_no_speech_in_room_tone_and_cuts_nothing_it_did_not_find(vad):
    quiet = np.random.default_rng(1).normal(0, 0.002, 16000 * 4).astype(np.float32)
    cut = cut_silence(vad, quiet)
    assert not cut.speech_found and len(cut.samples) == 0 and cut.cut == ((0.0, 4.0),)


def heard_fields(request, transcript):
    """The columns of what whisper heard, as the pipeline's describe() computes them."""
    made = SimpleNamespace(request=request, transcript=transcript)
    return {name: column(name).made(made) for name in ("words", "heard", "speech_cut", "fixed_from")}


def test_a_generation_stores_the_words_heard_and_what_the_person_changed(store):
    request = GenerationRequest(transcript="draw me a cat", language="en", heard="roar me a cat",
                                words=(Word("roar", 0.4, 0.6, 0.12), Word("me", 0.6, 0.8, 0.99)),
                                speech_cut=((0.0, 1.2),))
    back = GenerationRequest.from_json(request.to_json())
    assert back == request  # words and cuts survive the job queue's JSON
    from core.generation.transcribe import Transcript

    fields = heard_fields(back, Transcript("draw me a cat", "en", "transcribe", -0.2, 0.01, words=back.words,
                                           speech_cut=back.speech_cut))
    store.insert_generation(row(1, **fields))
    record = public_record(store.get_generation(f"{1:032x}"))
    assert record["words"] == [{"word": "roar", "start": 0.4, "end": 0.6, "probability": 0.12},
                               {"word": "me", "start": 0.6, "end": 0.8, "probability": 0.99}]
    assert (record["heard"], record["edited"], record["speech_cut"]) == ("roar me a cat", True, [[0.0, 1.2]])
    unchanged = heard_fields(GenerationRequest(transcript="a cat", heard="a cat"), Transcript("a cat", "en", "t", 0, 0))
    assert unchanged["heard"] is None  # nothing was changed: nothing kept twice


def test_a_stored_request_with_unreadable_words_is_a_plain_error():
    text = json.dumps({"words": [{"word": "a", "when": 1}]})
    with pytest.raises(InvalidOptionError, match="cannot be read"):
        GenerationRequest.from_json(text)


def test_fixing_the_words_keeps_seed_and_recipe_and_links_the_two(store):
    store.insert_generation(row(1, transcript="a grey rat on a sofa", prompt="a grey rat on a sofa", seed=42, recipe="fast",
                                scheduler="dpmpp-2m", guidance=7.5, width=64, height=64, style="none",
                                words=json.dumps([{"word": "rat", "start": 0.4, "end": 0.6, "probability": 0.12}])))
    original = store.get_generation(f"{1:032x}")
    fixed = GenerationRequest.fixing(original, "a grey cat on a sofa")
    assert (fixed.options.seed, fixed.options.recipe, fixed.fixed_from) == (42, "fast", original["id"])
    assert (fixed.transcript, fixed.heard, fixed.words[0].word) == ("a grey cat on a sofa", "a grey rat on a sofa", "rat")
    assert fixed.prompt.startswith("a grey cat on a sofa") and "rat" not in fixed.prompt
    with pytest.raises(InvalidOptionError, match="change the words first"):
        GenerationRequest.fixing(original, " a grey rat on a sofa ")


def test_insights_says_what_a_fix_changed_per_language(store):
    with store.write() as db:
        db["generations"].insert_all([row(1, language="en"), row(2, language="en", fixed_from=f"{1:032x}"),
                                      row(3, language="en"), row(4, language="en", fixed_from=f"{3:032x}"),
                                      row(5, language="fr"), row(6, language="fr", fixed_from=f"{5:032x}")])
        db["ratings"].insert_all({"generation_id": f"{i:032x}", "person": "ann", "stars": s, "favourite": 0,
                                  "updated_at": "x"} for i, s in ((1, 2), (2, 4), (3, 1), (4, 4), (5, 3)))
        db["alignment"].insert_all({"generation_id": f"{i:032x}", "model": "m", "transcript": 0.2, "prompt": a,
                                    "computed_at": "x"} for i, a in ((1, 0.20), (2, 0.30), (5, 0.25), (6, 0.27)))
    costs = {c["language"]: c for c in fix_costs(store, "m")}
    assert costs["en"]["pairs"] == 2 and costs["en"]["stars_pairs"] == 2
    assert (costs["en"]["stars_before"], costs["en"]["stars_after"], costs["en"]["stars_gain"]) == (1.5, 4.0, 2.5)
    assert costs["en"]["alignment_pairs"] == 1 and costs["en"]["alignment_gain"] == pytest.approx(0.1)
    assert costs["fr"]["stars_pairs"] == 0 and costs["fr"]["stars_gain"] is None  # the fix is not rated yet
    assert costs["fr"]["alignment_gain"] == pytest.approx(0.02)


def test_faster_whisper_hands_over_to_the_seeded_fallback_when_whispers_checks_fail():
    fine = {"no_speech_prob": 0.01, "avg_logprob": -0.3, "compression_ratio": 1.2}
    assert not needs_fallback([fine])
    assert needs_fallback([fine, {**fine, "avg_logprob": -1.4}])  # unsure
    assert needs_fallback([{**fine, "compression_ratio": 3.0}])  # repeating itself
    assert not needs_fallback([{**fine, "no_speech_prob": 0.9, "avg_logprob": -1.4}])  # silence: skipped, not retried


def test_a_weak_image_whose_prompt_kept_doubted_words_is_blamed_on_transcription_naming_them(store):
    from core import factors

    with store.write() as db:
        db["generations"].insert(row(1, transcript="roar me a cat", prompt="roar me a cat, detailed", avg_logprob=-0.2,
                                     no_speech_prob=0.01, prompt_truncated=0, words=json.dumps(
                                         [{"word": "roar", "start": 0.1, "end": 0.3, "probability": 0.12},
                                          {"word": "cat", "start": 0.6, "end": 0.9, "probability": 0.95}])))
        db["generations"].insert(row(2, transcript="a red fox", prompt="a red fox, detailed", avg_logprob=-0.2,
                                     no_speech_prob=0.01, prompt_truncated=0))
        db["ratings"].insert_all({"generation_id": f"{i:032x}", "person": "ann", "stars": 1, "favourite": 0,
                                  "updated_at": "x"} for i in (1, 2))
    blamed = {b.id: b for b in factors.report(store, "m").blamed}
    assert (blamed[f"{1:032x}"].cause, blamed[f"{1:032x}"].why) == (
        "transcription", "the prompt kept words whisper doubted: roar")
    assert blamed[f"{2:032x}"].cause == "generation"


def test_the_faster_backend_pulls_a_pinned_ctranslate2_conversion_for_the_sizes_it_knows(monkeypatch, tmp_path):
    from core import catalog, load_settings
    from core.models.backends import backend_for

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # no whisper checkpoint cached
    settings = load_settings({"V2I_WHISPER_MODEL": "base", "V2I_WHISPER_BACKEND": "faster"})
    whisper = catalog.models(settings)[0]
    assert (whisper.source, whisper.kind, whisper.pinned) == ("Systran/faster-whisper-base", "hub", True)
    assert whisper.revision == "ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66" and "model.bin" in whisper.required
    openai = load_settings({"V2I_WHISPER_MODEL": "base", "V2I_WHISPER_BACKEND": "openai"})
    assert catalog.models(openai)[0].kind == "whisper"
    assert backend_for(load_settings({"V2I_WHISPER_MODEL": "large-v3"})) == "openai"  # no pinned conversion
    assert backend_for(load_settings({"V2I_WHISPER_MODEL": "tiny.en"})) == "faster"  # bundled: no download
