"""Voice activity detection before whisper: Silero VAD (the ``silero-vad`` package ships its model inside the
wheel, MIT, so it runs offline) finds the speech; leading and trailing silence and long pauses are cut, so whisper
neither spends time on them nor invents words over them. What was cut is kept, and every time whisper gives (a
word's start and end) is mapped back to the recording's own clock, so "play from this word" plays that word."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000
PAD_S = 0.2  # speech kept on each side of what the VAD found (word edges are soft)
LONG_PAUSE_S = 1.0  # a pause longer than this is cut down to 2 * PAD_S
MIN_SPEECH_S = 0.25  # shorter bursts (a click, a cough) are not speech
THRESHOLD = 0.5  # Silero's own default speech probability


@dataclass(frozen=True)
class SpeechCut:
    """The recording with its silences cut, and how to find a moment of it in the recording."""

    samples: np.ndarray  # what whisper hears: the speech, in order
    kept: tuple[tuple[float, float], ...]  # (start, end) in the recording of each stretch kept, in seconds
    duration: float  # the recording's length in seconds

    @property
    def speech_found(self) -> bool:
        return bool(self.kept)

    @property
    def cut(self) -> tuple[tuple[float, float], ...]:
        """The stretches left out, (start, end) in the recording, in seconds."""
        edges = [0.0, *(t for span in self.kept for t in span), self.duration]
        return tuple((round(a, 3), round(b, 3)) for a, b in zip(edges[::2], edges[1::2]) if b - a > 1e-3)

    @property
    def cut_seconds(self) -> float:
        return sum(b - a for a, b in self.cut)

    def to_recording(self, t: float) -> float:
        """A time in what whisper heard, as a time in the recording."""
        if not self.kept:
            return t
        starts = np.cumsum([0.0, *(b - a for a, b in self.kept[:-1])])  # where each kept stretch begins in the cut
        i = max(0, int(np.searchsorted(starts, t, side="right")) - 1)
        start, end = self.kept[i]
        return float(min(start + (t - starts[i]), end))


def speech_spans(model, samples: np.ndarray) -> list[tuple[float, float]]:
    """Where speech is, (start, end) in seconds, padded by :data:`PAD_S`; pauses up to :data:`LONG_PAUSE_S` stay
    inside a stretch."""
    import torch  # torch loads on first use: pages import core without it
    from silero_vad import get_speech_timestamps  # Silero VAD loads with its model, on first use

    with torch.inference_mode():
        found = get_speech_timestamps(
            torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)), model, threshold=THRESHOLD,
            sampling_rate=SAMPLE_RATE, min_speech_duration_ms=int(MIN_SPEECH_S * 1000),
            min_silence_duration_ms=int(LONG_PAUSE_S * 1000), speech_pad_ms=int(PAD_S * 1000))
    return [(stamp["start"] / SAMPLE_RATE, stamp["end"] / SAMPLE_RATE) for stamp in found]


def cut_silence(model, samples: np.ndarray) -> SpeechCut:
    """The recording's speech, its silences and long pauses cut (16 kHz mono float32 in and out)."""
    duration = len(samples) / SAMPLE_RATE
    spans = [(max(0.0, a), min(duration, b)) for a, b in speech_spans(model, samples)]
    merged: list[tuple[float, float]] = []
    for start, end in spans:  # padding may make neighbours touch
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    pieces = [samples[int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)] for a, b in merged]
    kept = np.concatenate(pieces).astype(np.float32, copy=False) if pieces else np.zeros(0, np.float32)
    return SpeechCut(kept, tuple((round(a, 3), round(b, 3)) for a, b in merged), duration)
