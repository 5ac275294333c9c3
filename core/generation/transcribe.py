"""Speech to text with openai-whisper (or faster-whisper, :mod:`core.generation.faster`, for a model in CTranslate2's
format), from the 16 kHz float32 samples that :mod:`core.generation.audio` decodes (so whisper never needs an ffmpeg
binary). What it returns is described in :mod:`core.generation.transcript`."""

from __future__ import annotations

import numpy as np

from ..errors import NoSpeechError
from .faster import is_faster, transcribe_faster
from .prompt import clean_text
from .transcript import (
    COMPRESSION_RATIO_THRESHOLD, DOUBTFUL_WORD, LAST_TEMPERATURE, LOGPROB_THRESHOLD, MOSTLY_DOUBTFUL,
    NOT_UNDERSTOOD_LOGPROB, Transcript, TranscribeOptions, Word, mostly_doubtful, seed_of, words_of,
)

__all__ = ["transcribe", "not_understood", "not_understood_reason", "COMPRESSION_RATIO_THRESHOLD", "DOUBTFUL_WORD",
           "LAST_TEMPERATURE", "LOGPROB_THRESHOLD", "MOSTLY_DOUBTFUL", "NOT_UNDERSTOOD_LOGPROB", "Transcript",
           "TranscribeOptions", "Word", "mostly_doubtful", "seed_of", "words_of"]


def not_understood(segments: list[dict]) -> bool:
    """Every segment failed whisper's own quality checks at every temperature, and by far (a mean log-probability
    under ``NOT_UNDERSTOOD_LOGPROB``, or a repetition loop): what is left is random words."""
    return bool(segments) and all(
        s.get("temperature", 0.0) >= LAST_TEMPERATURE and
        (s.get("compression_ratio", 0.0) > COMPRESSION_RATIO_THRESHOLD or s.get("avg_logprob", 0.0) < NOT_UNDERSTOOD_LOGPROB)
        for s in segments)


def transcribe(model, samples: np.ndarray, options: TranscribeOptions = TranscribeOptions(), *, device: str = "cpu") -> Transcript:
    """Transcribe ``samples``, deterministically (the fallback's sampling is seeded from the recording); raises
    :class:`NoSpeechError` when nothing was said. Words whisper did not understand come back marked
    (``understood=False``): the pipeline's guard refuses them unless the person insists."""
    if is_faster(model):
        return transcribe_faster(model, samples, options)
    import torch  # torch loads on first use: pages import core without it
    import whisper  # openai-whisper loads with the model, on first use

    task = "translate" if options.translate else "transcribe"
    kwargs = dict(task=task, language=options.language, fp16=(device == "cuda"), verbose=None,
                  word_timestamps=options.word_timestamps)
    if options.greedy:
        kwargs.update(temperature=0.0, condition_on_previous_text=False)
    if options.sample_len:
        kwargs["sample_len"] = options.sample_len
    if options.initial_prompt:
        kwargs["initial_prompt"] = options.initial_prompt
    kwargs.update(dict(options.extra))
    seed = seed_of(samples) if options.seed is None else options.seed
    devices = [torch.cuda.current_device()] if device == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # the process's own random state is left as it was
        torch.manual_seed(seed)
        result = whisper.transcribe(model, samples.astype(np.float32, copy=False), **kwargs)
    segments = result.get("segments") or []
    understood = options.greedy or not not_understood(segments)
    text = clean_text(result.get("text", ""))
    if not text:
        raise NoSpeechError("no speech was heard in the recording")
    return Transcript(
        text=text,
        language=result.get("language") or "unknown",
        task=task,
        avg_logprob=float(np.mean([s["avg_logprob"] for s in segments])) if segments else float("nan"),
        no_speech_prob=float(max(s["no_speech_prob"] for s in segments)) if segments else float("nan"),
        seed=seed,
        understood=understood,
        english_only=not getattr(model, "is_multilingual", True),
        words=words_of(segments),
    )


def not_understood_reason(transcript: Transcript) -> str:
    """What to tell a person when whisper did not understand the recording ("" when it did)."""
    if transcript.understood:
        return ""
    return ("whisper did not understand the recording: its words failed whisper's own checks at every temperature, "
            "so they would be invented" + (" (this whisper model hears English only)" if transcript.english_only else ""))
