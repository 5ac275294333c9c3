"""Which whisper backend a server transcribes with, and where faster-whisper's model is: the ``tiny.en`` a package
ships, or the Systran CTranslate2 conversions on the hub (pinned like every other model, :data:`core.models.hub.PINNED`).
Transcribing with it is :mod:`core.generation.faster`'s."""

from __future__ import annotations

from pathlib import Path

from ..config import bundled_model_bin
from ..errors import ModelLoadError
from .hub import PINNED, snapshot_folder, whisper_cache_dir
from .steady import steady

BACKENDS = ("auto", "openai", "faster")
# whisper's names -> the CTranslate2 conversions on the hub (their commits are pinned in core.models.catalog.PINNED).
REPOS = {name: f"Systran/faster-whisper-{name}" for name in ("tiny", "tiny.en", "base", "base.en", "small", "small.en")}
# What the loader reads of such a repository.
FILES = ("config.json", "model.bin", "tokenizer.json", "vocabulary.*", "preprocessor_config.json")
REQUIRED = ("config.json", "model.bin", "tokenizer.json")


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
        return steady(WhisperModel)(str(folder), device="cuda" if device == "cuda" else "cpu", compute_type=compute,
                            cpu_threads=torch.get_num_threads())
    except Exception as err:  # a damaged model.bin, an unsupported device...
        raise ModelLoadError(f"could not load whisper {name!r} with faster-whisper ({type(err).__name__}: {err})") \
            from err
