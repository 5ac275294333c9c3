"""The recording heard: whisper's words for it (its silences cut first), and the doubt guard that stops a job whose
words may not be what was said (:mod:`core.generation.doubts`), for the Generate page's "Transcribe", the API and
the worker alike."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from ..config import Settings
from ..errors import DoubtfulSpeechError, NoSpeechError
from ..generation.audio import DecodedAudio, decode_audio
from ..generation.doubts import Doubts, doubts_in
from ..generation.prompt import clean_text
from ..generation.request import GenerationRequest
from ..generation.speech import doubt, speech_prompt, whisper_prompt
from ..generation.transcribe import TranscribeOptions, Transcript, mostly_doubtful, not_understood_reason, transcribe
from ..generation.vad import cut_silence
from ..models.cache import ModelCache


@dataclass(frozen=True)
class Transcription:
    audio: DecodedAudio
    transcript: Transcript
    decode_s: float
    transcribe_s: float




def transcribe_options(settings: Settings, translate: bool, vocabulary: tuple[str, ...] = ()) -> TranscribeOptions:
    """Decoding follows the model, not the profile: a real whisper decodes fully, even in the tiny profile."""
    prompt = whisper_prompt(vocabulary)
    # Word timestamps place the words of what was said; a translation's words were never said (whisper warns so).
    words = not translate
    if settings.whisper_is_random:  # random weights never grow confident: greedily and briefly, or every fallback runs
        return TranscribeOptions(translate=translate, greedy=True, sample_len=16, initial_prompt=prompt,
                                 word_timestamps=words)
    return TranscribeOptions(translate=translate, initial_prompt=prompt, word_timestamps=words)


def transcribe_recording(data: bytes, *, settings: Settings, models: ModelCache, translate: bool = False,
                         vocabulary: tuple[str, ...] = ()) -> Transcription:
    """Decode and transcribe, for a person to read and edit before generating."""
    started = time.perf_counter()
    audio = decode_audio(data, settings.audio_limits)
    decoded = time.perf_counter()
    transcript = hear(audio, settings, models, translate, vocabulary)
    return Transcription(audio, transcript, decoded - started, time.perf_counter() - decoded)


def hear(audio: DecodedAudio, settings: Settings, models: ModelCache, translate: bool,
                vocabulary: tuple[str, ...] = (), force: bool = False) -> Transcript:
    """Whisper's words for ``audio``, its silences cut first (V2I_VAD); a recording without speech is refused
    unless ``force`` (the person insists: then whisper hears all of it)."""
    if audio.is_silent:
        raise NoSpeechError("no speech was heard in the recording (it is silent)")
    samples, cut = audio.samples, None
    if settings.uses_vad:  # silence and long pauses cut before whisper: less to decode, nothing to invent over
        vad = models.vad()
        with vad.lock:
            cut = cut_silence(vad.model, audio.samples)
        if not cut.speech_found and force:
            cut = None  # the person insists: whisper hears all of it
        elif not cut.speech_found:
            raise NoSpeechError("no speech was found in the recording (voice activity detection heard no voice), "
                                "so there is nothing to make an image from. If someone does speak in it, tick "
                                "\"Generate anyway\" (on the command line, --force)")
        samples = audio.samples if cut is None else cut.samples
    whisper = models.whisper()
    options = transcribe_options(settings, translate, vocabulary)
    with whisper.use() as model:
        transcript = transcribe(model, samples, options, device=whisper.device)
    if cut is None:
        return transcript
    return replace(transcript, speech_cut=cut.cut, words=tuple(
        replace(w, start=round(cut.to_recording(w.start), 3), end=round(cut.to_recording(w.end), 3))
        for w in transcript.words))


def heard_request(audio: bytes, request: GenerationRequest, *, settings: Settings, models: ModelCache) -> GenerationRequest:
    """``request`` with whisper's words attached (the worker will not transcribe it again), once the doubt guard
    lets them through: raises :class:`DoubtfulSpeechError` naming the doubted words that would reach the image.
    A request that insists (``force``), or that brings its own transcript or prompt, is returned as it is."""
    if request.force or request.transcript is not None or clean_text(request.prompt or ""):
        return request
    heard = transcribe_recording(audio, settings=settings, models=models, translate=request.translate,
                                 vocabulary=request.vocabulary)
    transcript = heard.transcript
    built = speech_prompt(transcript.text, transcript.language, request.style,
                          negative_prompt=request.negative_prompt)[0].prompt
    if doubts := guard(transcript, heard.audio.rms, built, settings):
        raise DoubtfulSpeechError(doubts.message(), doubts.words)
    return replace(request, transcript=transcript.text, language=transcript.language,
                   transcribe_seconds=heard.transcribe_s, words=transcript.words, speech_cut=transcript.speech_cut)


def doubt_of(transcription: Transcription, settings: Settings | None = None) -> str:
    """Why these words are probably not what was said ("" when they look fine). The word-level evidence counts
    for a real whisper (the tiny profile's random one doubts every word)."""
    return _reason(transcription.transcript, transcription.audio.rms, settings)


def _reason(transcript: Transcript, rms: float, settings: Settings | None) -> str:
    words = () if settings is not None and settings.whisper_is_random else transcript.words
    return not_understood_reason(transcript) or doubt(transcript.text, transcript.no_speech_prob, rms) \
        or mostly_doubtful(words)


def guard(transcript: Transcript, rms: float, prompt: str, settings: Settings) -> Doubts:
    """What stops a job that would paint ``prompt``, built from whisper's own words: the doubted words that reach
    it and why the recording is doubted (:mod:`core.generation.doubts`)."""
    words = () if settings.whisper_is_random else transcript.words
    return doubts_in(words, _reason(transcript, rms, settings), prompt=prompt, built=prompt)
