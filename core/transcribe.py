"""Speech to text with openai-whisper, from the 16 kHz float32 samples that :mod:`core.audio` decodes
(so whisper never needs an ffmpeg binary)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Callable, Sequence

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
    seed: int | None = None  # None: derived from the recording (``seed_of``)
    extra: tuple = ()  # more of whisper's DecodingOptions, as (name, value) pairs
    word_timestamps: bool = True  # each word's start, end and probability (whisper's cross-attention alignment)


@dataclass(frozen=True)
class Word:
    """One word as whisper heard it: where it is in the recording (seconds) and how sure whisper was (0 to 1)."""

    word: str
    start: float
    end: float
    probability: float

    @property
    def doubtful(self) -> bool:
        return self.probability < DOUBTFUL_WORD

    def to_json(self) -> dict:
        return {"word": self.word, "start": self.start, "end": self.end, "probability": self.probability}


# Measured with tiny.en on espeak-ng speech: misheard words came back at 0.07-0.53 ("children" for "picture of",
# "cliffhats" for "cliff at"), words heard right mostly above 0.8. Below this, a word is marked as doubtful.
DOUBTFUL_WORD = 0.6


_NOT_IN_A_WORD = re.compile(r"[^\w'-]")


def _plain(word: str) -> str:
    return _NOT_IN_A_WORD.sub("", word.lower())


def doubtful_words_in(words: "Sequence[Word | dict]", text: str) -> list[str]:
    """The words whisper doubted (:data:`DOUBTFUL_WORD`) that are still in ``text`` (the prompt about to be painted:
    a doubted word the person fixed or left out is no longer a doubt), each once, in the order spoken."""
    if not words:
        return []
    present = {_plain(w) for w in text.split()}
    out = []
    for w in words:
        word, probability = (w.word, w.probability) if isinstance(w, Word) else (w["word"], w["probability"])
        plain = _plain(word)
        if probability < DOUBTFUL_WORD and plain and plain in present and plain not in out:
            out.append(plain)
    return out


def mostly_doubtful(words: "Sequence[Word]") -> str:
    """Word-level evidence for the hallucination guard: "" unless whisper doubted most of the words it heard."""
    if len(words) < 2:
        return ""
    doubted = sum(w.doubtful for w in words)
    if doubted / len(words) < MOSTLY_DOUBTFUL:
        return ""
    return (f"whisper was unsure of {doubted} of the {len(words)} words it heard (under {DOUBTFUL_WORD:.0%} "
            "confidence each), so they are probably not what was said")


MOSTLY_DOUBTFUL = 0.6  # the share of doubted words past which the words as a whole are doubted


def words_of(segments: list[dict], shift: "Callable[[float], float] | None" = None) -> tuple[Word, ...]:
    """whisper's word timestamps as :class:`Word` s, in the order spoken; ``shift`` maps a time in the audio whisper
    heard back to the recording's own (when silence was cut before whisper)."""
    shift = shift or (lambda t: t)
    return tuple(Word(clean_text(w["word"]), round(shift(float(w["start"])), 3), round(shift(float(w["end"])), 3),
                      round(float(w["probability"]), 4))
                 for segment in segments for w in segment.get("words", []) if clean_text(w["word"]))


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    task: str
    avg_logprob: float  # mean over segments: closer to 0 is more confident
    no_speech_prob: float  # max over segments: near 1 means probably no speech
    seed: int | None = None  # what whisper's temperature fallback sampled with (None: not transcribed here)
    understood: bool = True  # False: every temperature failed whisper's checks by far (``not_understood``)
    english_only: bool = False  # the model was an English-only (.en) one
    words: tuple[Word, ...] = ()  # each word with its place in the recording and whisper's confidence
    speech_cut: tuple[tuple[float, float], ...] = ()  # stretches without speech left out before whisper (seconds)

    @property
    def doubtful_words(self) -> tuple[Word, ...]:
        return tuple(w for w in self.words if w.doubtful)


# whisper.transcribe's own defaults: a segment whose words fail these at temperature 0 is decoded again at
# 0.2, 0.4... 1.0, sampling; at the last temperature its words are kept whatever they are.
COMPRESSION_RATIO_THRESHOLD = 2.4
LOGPROB_THRESHOLD = -1.0
LAST_TEMPERATURE = 1.0


def seed_of(samples: np.ndarray) -> int:
    """The seed a recording is decoded with: from its samples, so the same recording gives the same words."""
    return int.from_bytes(hashlib.sha256(np.ascontiguousarray(samples, dtype=np.float32).tobytes()).digest()[:4], "little")


# Measured with tiny.en on espeak-ng speech: English that failed every temperature still kept most of its words at
# a mean log-probability of -1.49 at the last one; French, German and Spanish (which tiny.en cannot hear) ended
# at -2.92 to -3.47 with invented English. Below this, what the last temperature sampled is random words.
NOT_UNDERSTOOD_LOGPROB = 2 * LOGPROB_THRESHOLD


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
    from .faster import is_faster, transcribe_faster

    if is_faster(model):
        return transcribe_faster(model, samples, options)
    import torch
    import whisper

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
