"""What whisper heard, whichever whisper heard it: the options a transcription takes, the transcript with each word's
place and confidence, and whisper's own quality thresholds (:mod:`core.generation.transcribe` runs openai-whisper,
:mod:`core.generation.faster` faster-whisper; both return these)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

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
