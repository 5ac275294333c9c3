"""The team's judgements as preference pairs (prompt, chosen image, rejected image, who, how decided), for
reward models or Diffusion-DPO:

- every vote in an A/B run or a sweep: the voted image over each other image of the run;
- every two blind ratings by one person of images of the same recording (same audio) that differ by two stars
  or more: the higher over the lower.

No pair comes from a person's own image: a vote or rating by whoever made either image is left out.

:func:`export_preferences` writes them in the layout Hugging Face ``datasets`` loads as an image dataset
(``load_dataset("imagefolder", data_dir=DIR)``): ``metadata.jsonl`` whose ``chosen_file_name`` and
``rejected_file_name`` become the image columns ``chosen`` and ``rejected``, and the PNGs under ``images/``."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

from ..errors import StorageError
from ..history.store import Store

MIN_STAR_GAP = 2
IMAGES = "images"
METADATA = "metadata.jsonl"


@dataclass(frozen=True)
class Pair:
    prompt: str  # the chosen image's prompt (a style arm's prompts differ: both are kept)
    chosen_id: str
    rejected_id: str
    chosen_prompt: str
    rejected_prompt: str
    who: str
    how: str  # "A/B vote", "sweep vote" or "blind ratings"
    detail: str  # the run, or the two ratings
    decided_at: str


def _pair(chosen: dict[str, Any], rejected: dict[str, Any], who: str, how: str, detail: str, at: str) -> Pair:
    return Pair(chosen["prompt"], chosen["id"], rejected["id"], chosen["prompt"], rejected["prompt"], who, how,
                detail, at)


def _own(person: str, *rows: dict[str, Any]) -> bool:
    return any(row.get("created_by") == person for row in rows)


def vote_pairs(store: Store) -> list[Pair]:
    """The voted image over each other image of its run."""
    painted: dict[str, list[dict[str, Any]]] = {}
    for row in store.query("SELECT * FROM generations WHERE ab_run IN (SELECT run_id FROM ab_votes) "
                           "ORDER BY created_at, id"):
        painted.setdefault(row["ab_run"], []).append(row)
    axes = {r["id"]: len(json.loads(r["axes"])) for r in store.query("SELECT id, axes FROM ab_runs")}
    out = []
    for vote in store.query("SELECT run_id, person, generation_id, voted_at FROM ab_votes ORDER BY voted_at, run_id, "
                            "person"):
        images = painted.get(vote["run_id"], [])
        chosen = next((g for g in images if g["id"] == vote["generation_id"]), None)
        how = "A/B vote" if axes.get(vote["run_id"], 1) == 1 else "sweep vote"
        for rejected in images:
            if chosen is None or rejected is chosen or _own(vote["person"], chosen, rejected):
                continue
            out.append(_pair(chosen, rejected, vote["person"], how, f"run {vote['run_id']}", vote["voted_at"]))
    return out


def rating_pairs(store: Store, gap: int = MIN_STAR_GAP) -> list[Pair]:
    """One person's blind ratings of two images of the same recording, ``gap`` stars apart or more."""
    rows = store.query(
        "SELECT r.person, r.stars, r.updated_at, g.* FROM ratings r JOIN generations g ON g.id = r.generation_id "
        "WHERE r.blind = 1 AND r.stars IS NOT NULL AND g.audio_sha256 IS NOT NULL "
        "ORDER BY r.person, g.audio_sha256, g.created_at, g.id")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["person"], row["audio_sha256"]), []).append(row)
    out = []
    for (person, _), rated in groups.items():
        for a, b in combinations(rated, 2):
            high, low = (a, b) if a["stars"] >= b["stars"] else (b, a)
            if high["stars"] - low["stars"] >= gap and not _own(person, high, low):
                out.append(_pair(high, low, person, "blind ratings", f"{high['stars']} vs {low['stars']} stars",
                                 max(high["updated_at"], low["updated_at"])))
    return out


def pairs(store: Store) -> list[Pair]:
    return vote_pairs(store) + rating_pairs(store)


def export_preferences(store: Store, folder: Path | str) -> int:
    """Write every pair to ``folder`` (``metadata.jsonl`` and ``images/``), returns how many. Pairs whose image
    file is missing are left out. The folder must be new or empty; the metadata is written last, atomically."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise StorageError(f"{folder} is not an empty folder: choose a new one for the preference data")
    created = not folder.exists()
    try:
        return _write(store, folder)
    except BaseException:  # nothing half-written is left: the files copied so far go
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            shutil.rmtree(folder / IMAGES, ignore_errors=True)
        raise


def _write(store: Store, folder: Path) -> int:
    (folder / IMAGES).mkdir(parents=True, exist_ok=True)
    written, copied = [], set()
    for pair in pairs(store):
        names = {}
        for side, gid in (("chosen", pair.chosen_id), ("rejected", pair.rejected_id)):
            source = store.file_path(store.get_generation(gid)["image_path"])
            if not source.is_file():
                break
            names[side] = f"{IMAGES}/{gid}.png"
            if gid not in copied:
                shutil.copyfile(source, folder / names[side])
                copied.add(gid)
        else:
            written.append({"chosen_file_name": names["chosen"], "rejected_file_name": names["rejected"],
                            **asdict(pair)})
    temporary = folder / f".{METADATA}.tmp"
    temporary.write_text("".join(json.dumps(row) + "\n" for row in written), encoding="utf-8")
    temporary.replace(folder / METADATA)
    return len(written)


def preferences_zip(store: Store) -> bytes:
    """The same dataset as one ZIP (``metadata.jsonl`` and ``images/`` at its root), for a download button."""
    with tempfile.TemporaryDirectory(prefix="v2i-preferences-") as folder:
        export_preferences(store, Path(folder) / "preferences")
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:  # PNGs are compressed already
            for path in sorted((Path(folder) / "preferences").rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(Path(folder) / "preferences").as_posix())
        return out.getvalue()
