"""Speech to text with openai-whisper, from the 16 kHz float32 samples that :mod:`core.audio` decodes
(so whisper never needs an ffmpeg binary)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import NoSpeechError
from .prompt import clean_text


@dataclass(frozen=True)
class TranscribeOptions:
    translate: bool = False  # whisper's task="translate": any language in, English out (SD 1.5 prefers English)
    language: str | None = None  # None: detect it
    # Random-weight models never become confident, so the tiny profile decodes greedily, once, briefly.
    greedy: bool = False
    sample_len: int | None = None
    initial_prompt: str | None = None  # the team's vocabulary, so names and jargon are spelt right
    extra: tuple = ()  # more of whisper's DecodingOptions, as (name, value) pairs


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    task: str
    avg_logprob: float  # mean over segments: closer to 0 is more confident
    no_speech_prob: float  # max over segments: near 1 means probably no speech


def transcribe(model, samples: np.ndarray, options: TranscribeOptions = TranscribeOptions(), *, device: str = "cpu") -> Transcript:
    """Transcribe ``samples``; raises :class:`NoSpeechError` when nothing was said."""
    import whisper

    task = "translate" if options.translate else "transcribe"
    kwargs = dict(task=task, language=options.language, fp16=(device == "cuda"), verbose=None)
    if options.greedy:
        kwargs.update(temperature=0.0, condition_on_previous_text=False)
    if options.sample_len:
        kwargs["sample_len"] = options.sample_len
    if options.initial_prompt:
        kwargs["initial_prompt"] = options.initial_prompt
    kwargs.update(dict(options.extra))
    result = whisper.transcribe(model, samples.astype(np.float32, copy=False), **kwargs)
    segments = result.get("segments") or []
    text = clean_text(result.get("text", ""))
    if not text:
        raise NoSpeechError("no speech was heard in the recording")
    return Transcript(
        text=text,
        language=result.get("language") or "unknown",
        task=task,
        avg_logprob=float(np.mean([s["avg_logprob"] for s in segments])) if segments else float("nan"),
        no_speech_prob=float(max(s["no_speech_prob"] for s in segments)) if segments else float("nan"),
    )
