"""What a running job shows while it runs, kept in this process's memory only: its latest preview image and its
models' download progress (the Generate page polls them; both are dropped when the job ends)."""

from __future__ import annotations

import io
import threading

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
