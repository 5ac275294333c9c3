"""What a running job shows while it runs: its latest preview image and its models' download progress, kept in this
process's memory only (the Generate page polls them; both are dropped when the job ends); its stage in words; and
how long its painting has left, once the pace of its steps is steady (:class:`Pace`)."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, replace

from PIL import Image

class Previews:
    """The image of each running job as it forms, in this process's memory only (never stored): the latest
    one per job, as PNG bytes, gone when the job ends."""

    def __init__(self):
        self._latest: dict[str, bytes] = {}
        self._guard = threading.Lock()

    def update(self, job_id: str, rgb) -> None:
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, format="PNG")
        with self._guard:
            self._latest[job_id] = buffer.getvalue()

    def get(self, job_id: str) -> bytes | None:
        with self._guard:
            return self._latest.get(job_id)

    def drop(self, job_id: str) -> None:
        with self._guard:
            self._latest.pop(job_id, None)


PREVIEWS = Previews()


class Downloads:
    """What each running job is downloading before it can load its models, in this process's memory only:
    per model, bytes done of the total; gone when the job ends."""

    def __init__(self):
        self._bytes: dict[str, dict[str, tuple[int, int]]] = {}
        self._guard = threading.Lock()

    def update(self, job_id: str, label: str, done: int, total: int) -> None:
        with self._guard:
            self._bytes.setdefault(job_id, {})[label] = (done, total)

    def get(self, job_id: str) -> dict[str, tuple[int, int]]:
        with self._guard:
            return dict(self._bytes.get(job_id, {}))

    def drop(self, job_id: str) -> None:
        with self._guard:
            self._bytes.pop(job_id, None)


DOWNLOADS = Downloads()


# What each stage of ``progress(stage, step, total)`` is doing, in a person's words.
STAGE_WORDS = {
    "load": "loading the models", "download": "downloading the models", "decode": "reading the recording",
    "transcribe": "hearing the words", "enhance": "writing the prompt", "generate": "painting", "save": "saving",
}


def stage_words(stage: str | None, step: int = 0, total: int = 0) -> str:
    """``painting: step 3 of 20``, ``loading the models``: a running job's stage as a person reads it."""
    words = STAGE_WORDS.get(stage or "", stage or "starting")
    return f"{words}: step {step} of {total}" if total else words


STEADY_STEPS = 3  # steps of painting seen before an estimate is given
SMOOTHING = 0.3  # the weight of the newest pace in the running average


@dataclass(frozen=True)
class Pace:
    """The pace of one job's painting as a page watches it: the step it first saw, the last step it saw and when,
    and the smoothed seconds per step. The seconds the job spent loading models, reading the recording
    or hearing it are not steps: counting them made early estimates jump (59, 77, 123, 73 s in the first steps)."""

    first_step: int
    last_step: int
    last_at: float
    per_step: float | None = None

    @classmethod
    def start(cls, step: int, now: float) -> "Pace":
        return cls(step, step, now)

    def seen(self, step: int, now: float) -> "Pace":
        """The pace after seeing the job at ``step`` at time ``now`` (seconds, any clock the page keeps)."""
        if step <= self.last_step:
            return self
        pace = (now - self.last_at) / (step - self.last_step)
        per_step = pace if self.per_step is None else SMOOTHING * pace + (1 - SMOOTHING) * self.per_step
        return replace(self, last_step=step, last_at=now, per_step=per_step)

    def seconds_left(self, total: int) -> float | None:
        """Seconds until the last step, once ``STEADY_STEPS`` steps were seen; None before (the page says so)."""
        if self.per_step is None or self.last_step - self.first_step < STEADY_STEPS:
            return None
        return max(0.0, self.per_step * (total - self.last_step))
