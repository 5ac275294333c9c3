import pytest
from core.generation.synth import recording

from core.generation.audio import decode_audio
from core.errors import NoSpeechError
from core.execution.hearing import transcribe_options, transcribe_recording
from core.generation.transcribe import transcribe


def test_a_recording_gets_text_language_and_confidence(settings, models):
    result = transcribe_recording(recording("wav", seconds=2.0), settings=settings, models=models)
    assert result.transcript.text  # gibberish from random weights, but text
    assert result.transcript.language
    assert result.transcript.task == "transcribe"
    assert result.transcript.avg_logprob < 0
    assert 0.0 <= result.transcript.no_speech_prob <= 1.0
    assert result.decode_s >= 0 and result.transcribe_s > 0


def test_the_same_recording_transcribes_the_same_way(settings, models):
    data = recording("flac", seconds=2.0)
    first = transcribe_recording(data, settings=settings, models=models).transcript
    second = transcribe_recording(data, settings=settings, models=models).transcript
    assert first == second


def test_translation_into_english_is_whispers_translate_task(settings, models):
    result = transcribe_recording(recording("wav"), settings=settings, models=models, translate=True)
    assert result.transcript.task == "translate"


def test_silence_is_reported_as_no_speech_rather_than_transcribed(settings, models):
    with pytest.raises(NoSpeechError, match="no speech"):
        transcribe_recording(recording("wav", amplitude=0.0), settings=settings, models=models)


def test_fp16_is_asked_for_only_on_cuda(settings, models, monkeypatch):
    import whisper

    seen = {}
    real = whisper.transcribe

    def spy(model, audio, **kwargs):
        seen.update(kwargs)
        return real(model, audio, **kwargs)

    monkeypatch.setattr(whisper, "transcribe", spy)
    audio = decode_audio(recording("wav"))
    with models.whisper().use() as model:
        transcribe(model, audio.samples, transcribe_options(settings, False), device="cpu")
    assert seen["fp16"] is False
