"""Where models live on this machine and which commits they are pinned to: the Hugging Face and whisper caches,
``owner/name@commit`` ids, and the cache's folder for a commit (what :mod:`core.models.catalog`, :mod:`core.models.cache`
and :mod:`core.generation.faster` share, so that none of them imports another to ask)."""

from __future__ import annotations

import os
from pathlib import Path

# The commits the default models are pinned to, and the exact size of each weights file at that commit.
PINNED = {
    "stable-diffusion-v1-5/stable-diffusion-v1-5": "451f4fe16113bff5a5d2269ed5ad43b0592e9a14",
    "openai/clip-vit-base-patch32": "c237dc49a33fc61debc9276459120b7eac67e7ef",  # the safetensors conversion
    "latent-consistency/lcm-lora-sdv1-5": "cf2fced511dbe7e26c8d1d397e728fbab875db4b",
    "madebyollin/taesd": "614f76814bbe30edbe2e627ace1c2234c81a2c0e",
    # whisper in CTranslate2's format (V2I_WHISPER_BACKEND=faster): commits as a public project pinned them
    # (its voice engine's "pinned upstream facts", recorded 2026-09/10; base's also in a second project's script).
    "Systran/faster-whisper-tiny": "d90ca5fe260221311c53c58e660288d3deb8d356",
    "Systran/faster-whisper-tiny.en": "0d3d19a32d3338f10357c0889762bd8d64bbdeba",
    "Systran/faster-whisper-base": "ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66",
    "Systran/faster-whisper-base.en": "3d3d5dee26484f91867d81cb899cfcf72b96be6c",
    "Systran/faster-whisper-small": "536b0662742c02347bc0e980a01041f333bce120",
    "Systran/faster-whisper-small.en": "d1d751a5f8271d482d14ca55d9e2deeebbae577f",
}


def whisper_cache_dir() -> Path:
    return Path(os.getenv("XDG_CACHE_HOME", Path.home() / ".cache")) / "whisper"


def hf_cache_dir() -> Path:
    from huggingface_hub import constants  # huggingface_hub loads when a cache is looked at

    return Path(constants.HF_HUB_CACHE)


def split_revision(source: str) -> tuple[str, str | None]:
    """``owner/name@commit`` -> (``owner/name``, ``commit``); a folder path is left whole."""
    if "@" in source and not os.path.exists(source):
        name, _, revision = source.rpartition("@")
        return name, revision or None
    return source, None


def is_commit(revision: str) -> bool:
    return len(revision) == 40 and all(c in "0123456789abcdef" for c in revision)


def snapshot_folder(repo_id: str, revision: str | None) -> Path | None:
    """The cache's folder for ``repo_id`` at ``revision`` (a commit, or a branch the cache has a ref for)."""
    from huggingface_hub.file_download import repo_folder_name  # huggingface_hub loads when a cache is looked at

    storage = hf_cache_dir() / repo_folder_name(repo_id=repo_id, repo_type="model")
    revision = revision or "main"
    if not is_commit(revision):
        ref = storage / "refs" / revision
        if not ref.is_file():
            return None
        revision = ref.read_text().strip()
    folder = storage / "snapshots" / revision
    return folder if folder.is_dir() else None
