"""CLIP embeddings, computed once: L2-normalised float32 vectors stored in SQLite, keyed by the content's
sha256 and the model id. ``calls`` counts the model calls, so a caller can show that a second visit
computes nothing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from PIL import Image

import numpy as np

from ..history.store import Store, utc_now
from ..models.cache import LoadedModel

IMAGE, TEXT = "image", "text"
DEFAULT_BATCH = 16


def _features(output):
    # transformers 5 returns a BaseModelOutputWithPooling whose pooler_output is the projected embedding;
    # older versions returned the tensor itself.
    return getattr(output, "pooler_output", output)


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def embed_images(clip: LoadedModel, images: Sequence, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
    """Image embeddings of PIL images, in batches, as an (n, dim) float32 array of unit vectors."""
    import torch  # torch loads on first use: pages import core without it

    out = []
    with clip.use() as bundle, torch.inference_mode():
        for start in range(0, len(images), batch_size):
            inputs = bundle.processor(images=list(images[start:start + batch_size]), return_tensors="pt")
            pixels = inputs["pixel_values"].to(bundle.device, dtype=next(bundle.model.parameters()).dtype)
            out.append(_features(bundle.model.get_image_features(pixel_values=pixels)).float().cpu().numpy())
    return normalise(np.concatenate(out)) if out else np.zeros((0, 0), np.float32)


def embed_texts(clip: LoadedModel, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    import torch  # torch loads on first use: pages import core without it

    out = []
    with clip.use() as bundle, torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            inputs = bundle.processor(text=list(texts[start:start + batch_size]), return_tensors="pt",
                                      padding=True, truncation=True, max_length=77)
            inputs = {k: v.to(bundle.device) for k, v in inputs.items()}
            out.append(_features(bundle.model.get_text_features(**inputs)).float().cpu().numpy())
    return normalise(np.concatenate(out)) if out else np.zeros((0, 0), np.float32)


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class EmbeddingCache:
    """Stored embeddings for one model; computes only what is missing, in batches.

    ``clip`` is a loaded model, or a function that loads it: then the model is loaded only when
    something must be computed (and ``compute=False`` reads what is stored without ever loading it)."""

    store: Store
    clip_or_loader: LoadedModel | Callable[[], LoadedModel]
    model_id: str = ""
    batch_size: int = DEFAULT_BATCH
    calls: int = field(default=0)  # model forward passes (batches) made through this cache

    def __post_init__(self) -> None:
        if isinstance(self.clip_or_loader, LoadedModel):
            self.model_id = self.model_id or self.clip_or_loader.name
        if not self.model_id:
            raise ValueError("model_id is needed when the model is given as a loader")

    @property
    def clip(self) -> LoadedModel:
        if not isinstance(self.clip_or_loader, LoadedModel):
            self.clip_or_loader = self.clip_or_loader()
        return self.clip_or_loader

    def stored(self, hashes: Iterable[str], kind: str) -> dict[str, np.ndarray]:
        wanted = list(dict.fromkeys(hashes))
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(wanted), 900):  # stay under SQLite's bound-parameter limit
            chunk = wanted[start:start + 900]
            rows = self.store.execute(
                f"SELECT sha256, vector FROM embeddings WHERE model = ? AND kind = ? "
                f"AND sha256 IN ({', '.join('?' for _ in chunk)})", [self.model_id, kind, *chunk],
            ).fetchall()
            found.update((sha, np.frombuffer(blob, dtype=np.float32)) for sha, blob in rows)
        return found

    def _save(self, kind: str, items: dict[str, np.ndarray]) -> None:
        now = utc_now("seconds")
        with self.store.write() as db:
            db["embeddings"].insert_all(
                ({"sha256": sha, "model": self.model_id, "kind": kind, "dim": int(v.shape[0]),
                  "vector": v.astype(np.float32).tobytes(), "created_at": now} for sha, v in items.items()),
                replace=True,
            )

    def image_embeddings(self, rows: Sequence[dict], *, compute: bool = True) -> tuple[dict[str, np.ndarray], int]:
        """Embeddings by generation id for ``rows``; returns them and how many had to be computed.
        Rows whose image file is missing are left out."""
        hashes = {row["id"]: row.get("image_sha256") or self._hash_image_of(row) for row in rows}
        hashes = {gid: sha for gid, sha in hashes.items() if sha}
        known = self.stored(hashes.values(), IMAGE)
        missing = {sha: gid for gid, sha in hashes.items() if sha not in known} if compute else {}
        computed = 0
        image_paths = {row["id"]: row["image_path"] for row in rows}  # resolved only for the missing: 10k stats cost 1 s
        todo = []
        for sha, gid in missing.items():
            try:
                with Image.open(self.store.file_path(image_paths[gid])) as image:
                    todo.append((sha, image.convert("RGB")))
            except OSError:
                pass  # a missing or unreadable image has no embedding; History shows it as missing
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start:start + self.batch_size]
            images = [image for _, image in batch]
            vectors = embed_images(self.clip, images, batch_size=self.batch_size)
            self.calls += 1
            fresh = {sha: vector for (sha, _), vector in zip(batch, vectors)}
            self._save(IMAGE, fresh)
            known.update(fresh)
            computed += len(fresh)
        return {gid: known[sha] for gid, sha in hashes.items() if sha in known}, computed

    def text_embeddings(self, texts: Sequence[str], *, compute: bool = True) -> tuple[dict[str, np.ndarray], int]:
        """Embeddings by text; returns them and how many had to be computed."""
        by_sha = {text_sha256(t): t for t in texts}
        known = self.stored(by_sha, TEXT)
        todo = [(sha, text) for sha, text in by_sha.items() if sha not in known] if compute else []
        for start in range(0, len(todo), 64):
            batch = todo[start:start + 64]
            vectors = embed_texts(self.clip, [text for _, text in batch])
            self.calls += 1
            fresh = {sha: vector for (sha, _), vector in zip(batch, vectors)}
            self._save(TEXT, fresh)
            known.update(fresh)
        return {text: known[text_sha256(text)] for text in texts if text_sha256(text) in known}, len(todo)

    def _hash_image_of(self, row: dict) -> str | None:
        """Older rows have no stored image hash: hash the file once and remember it."""
        path = self.store.file_path(row["image_path"])
        try:
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            return None
        with self.store.write() as db:
            db.execute("UPDATE generations SET image_sha256 = ? WHERE id = ?", [sha, row["id"]])
        return sha
