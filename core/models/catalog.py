"""What the app downloads, described once as data: each model the settings name, the commit it is pinned to,
exactly the files its loader reads (never a repository's multi-GB root checkpoints), how big they are, and
whether they are already on this machine. Checking needs no network: it looks at the caches only.

A hub model is pinned to a commit: the default ids by :data:`PINNED` (commits read from the hub's own cache
folders as published in public code, with the sizes of the files at those commits); any other id by
``owner/name@commit`` in its setting, else it follows ``main`` and the commit it resolved to is recorded.
Whisper pins its checkpoints itself: each download URL carries the file's SHA-256, which is checked.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from ..config import BUNDLED, Settings, bundled_model_bin
from ..config.recipes import RECIPES, Part, Recipe
from .backends import FILES, REPOS, REQUIRED, backend_for
from .hub import PINNED, is_commit, snapshot_folder, split_revision, whisper_cache_dir

__all__ = ["PINNED", "split_revision", "snapshot_folder", "Model", "ModelState", "models", "GROUPS", "size_text"]

# The exact size of each weights file at the pinned commit (core.models.hub.PINNED).
KNOWN_SIZES = {
    ("stable-diffusion-v1-5/stable-diffusion-v1-5", "unet/diffusion_pytorch_model.safetensors"): 3438167540,
    ("stable-diffusion-v1-5/stable-diffusion-v1-5", "unet/diffusion_pytorch_model.fp16.safetensors"): 1719125304,
    ("stable-diffusion-v1-5/stable-diffusion-v1-5", "text_encoder/model.safetensors"): 492265874,
    ("stable-diffusion-v1-5/stable-diffusion-v1-5", "text_encoder/model.fp16.safetensors"): 246144864,
    ("stable-diffusion-v1-5/stable-diffusion-v1-5", "vae/diffusion_pytorch_model.safetensors"): 334643276,
    ("stable-diffusion-v1-5/stable-diffusion-v1-5", "vae/diffusion_pytorch_model.fp16.safetensors"): 167335342,
    ("stable-diffusion-v1-5/stable-diffusion-v1-5", "safety_checker/model.safetensors"): 1215981830,
    ("stable-diffusion-v1-5/stable-diffusion-v1-5", "safety_checker/model.fp16.safetensors"): 608018440,
    ("stable-diffusion-v1-5/stable-diffusion-v1-5", "tokenizer/vocab.json"): 1059962,
    ("stable-diffusion-v1-5/stable-diffusion-v1-5", "tokenizer/merges.txt"): 524619,
    ("openai/clip-vit-base-patch32", "model.safetensors"): 605157884,
    ("openai/clip-vit-base-patch32", "tokenizer.json"): 2224041,
    ("openai/clip-vit-base-patch32", "vocab.json"): 862328,
    ("openai/clip-vit-base-patch32", "merges.txt"): 524619,
    ("latent-consistency/lcm-lora-sdv1-5", "pytorch_lora_weights.safetensors"): 134621556,
    ("madebyollin/taesd", "diffusion_pytorch_model.safetensors"): 9793292,
}
# whisper's own checkpoints (their URLs pin the SHA-256): sizes of the ones this project documents.
WHISPER_SIZES = {"tiny": 75572083, "base": 145262807, "base.en": 145261783}

GROUPS = ("whisper", "sd", "clip")  # what `models pull` takes; "sd" includes the turbo recipe's LoRA and decoder


@dataclass(frozen=True)
class Model:
    """One model the settings name. ``kind``: "hub" (a hub id), "whisper" (one of whisper's own names),
    "bundled" (shipped in an installed package, converted locally), "folder" (a local folder or file)."""

    key: str  # whisper, sd, clip, lora, decoder
    label: str
    group: str  # whisper, sd or clip
    source: str  # the hub id, whisper name or path, as the setting gives it (without "@revision")
    kind: str
    revision: str | None  # a commit (hub), the checkpoint's SHA-256 (whisper), or what the folder is
    patterns: tuple[str, ...] = ()  # the files the loader reads (hub)
    required: tuple[str, ...] = ()  # those that must be there for the model to count as cached (hub)

    @property
    def pinned(self) -> bool:
        return self.kind in ("whisper", "bundled", "folder") or is_commit(self.revision or "")

    def known_size(self) -> int | None:
        """Bytes to download, from the catalog's data (None where it does not know them; `pull` asks the hub)."""
        if self.kind == "whisper":
            return WHISPER_SIZES.get(self.source)
        if self.kind != "hub":
            return 0
        if any((self.source, name) not in KNOWN_SIZES for name in self.required if not name.endswith(".json")):
            return None
        # every known file the loader reads; configs are a few KB and left out of the estimate
        return sum(size for (source, name), size in KNOWN_SIZES.items()
                   if source == self.source and _matches(name, self.patterns))


@dataclass(frozen=True)
class ModelState:
    model: Model
    cached: bool
    size_on_disk: int  # bytes of its files in the cache (0 when absent)
    where: str  # the folder or file it is read from

    def to_json(self) -> dict:
        m = self.model
        return {"key": m.key, "label": m.label, "group": m.group, "source": m.source, "kind": m.kind,
                "revision": m.revision, "pinned": m.pinned, "cached": self.cached, "size_on_disk": self.size_on_disk,
                "download_size": None if self.cached else m.known_size(), "where": self.where}


def models(settings: Settings, *, recipes: tuple[str, ...] | None = None, safety_checker: bool = False,
           device: str = "cpu") -> list[Model]:
    """Every model these settings load for ``recipes`` (default: every recipe): whisper, SD (with the turbo
    recipe's LoRA and decoder when a turbo recipe is among them) and CLIP, with the files each one reads."""
    recipes = tuple(RECIPES) if recipes is None else recipes
    variant = ".fp16" if device == "cuda" else ""  # fp16 weights where the GPU runs fp16; fp32 on the CPU
    found = [_whisper(settings),
             _hub("sd", "Stable Diffusion", "sd", settings.sd_model, *_sd_files(variant, safety_checker))]
    found += list({part.key: part_model(kind, part, settings)
                   for name in recipes for kind, part in parts(RECIPES[name])}.values())
    found.append(_hub("clip", "CLIP", "clip", settings.clip_model, ("*.json", "*.txt", "model.safetensors"),
                      ("config.json", "model.safetensors")))
    return found


def states(settings: Settings, **kwargs) -> list[ModelState]:
    return [state_of(model, settings) for model in models(settings, **kwargs)]


def missing(settings: Settings, **kwargs) -> list[ModelState]:
    """The models these settings need that are not on this machine yet."""
    return [state for state in states(settings, **kwargs) if not state.cached]


def parts(recipe: Recipe) -> list[tuple[str, Part]]:
    """The models a recipe adds to Stable Diffusion, each with its kind: its adapter and its decoder."""
    return [(kind, part) for kind, part in (("adapter", recipe.adapter), ("decoder", recipe.decoder)) if part]


# What a recipe's part reads, by kind: a LoRA in diffusers' format, or a decoder in AutoencoderTiny's.
PART_FILES = {"adapter": ("pytorch_lora_weights.safetensors",),
              "decoder": ("config.json", "diffusion_pytorch_model.safetensors")}


def part_model(kind: str, part: Part, settings: Settings) -> Model:
    return _hub(part.key, part.label, "sd", getattr(settings, part.setting), PART_FILES[kind], PART_FILES[kind])


def revisions(settings: Settings, *, recipe: str = "default") -> dict[str, str | None]:
    """What each generation records: every model's commit (the pinned one, or the one a branch resolved to in
    the cache), whisper's checkpoint checksum, the package a bundled model came in, or "local folder"."""
    keys = ("whisper", "sd", "clip") + tuple(part.key for _, part in parts(RECIPES[recipe]))
    found = {m.key: m for m in models(settings, recipes=(recipe,))}
    return {key: _resolved(found[key]) for key in keys}


def _resolved(model: Model) -> str | None:
    if model.kind != "hub" or is_commit(model.revision or ""):
        return model.revision
    folder = snapshot_folder(model.source, model.revision)
    return folder.name if folder else model.revision


def state_of(model: Model, settings: Settings) -> ModelState:
    if model.kind == "folder":
        path = Path(model.source)
        built_on_use = settings.is_tiny and path.is_relative_to(settings.tiny_models_dir)  # the tiny profile builds it
        return ModelState(model, path.exists() or built_on_use, _size(path), str(path))
    if model.kind == "bundled":
        source = bundled_model_bin(model.source)
        return ModelState(model, source is not None, _size(source) if source else 0, str(source or ""))
    if model.kind == "whisper":

        path = whisper_cache_dir() / f"{model.source}.pt"
        whole = path.is_file() and path.stat().st_size == WHISPER_SIZES.get(model.source, path.stat().st_size)
        return ModelState(model, whole, _size(path), str(path))
    snapshot = snapshot_folder(model.source, model.revision)
    if snapshot is None:
        return ModelState(model, False, 0, "")
    files = [p for p in snapshot.rglob("*")
             if p.is_file() and _matches(p.relative_to(snapshot).as_posix(), model.patterns)]
    # A file of a pinned size that is cut short (or swollen) is not cached: `pull` downloads it again.
    cached = all((snapshot / name).is_file() and KNOWN_SIZES.get((model.source, name), _size(snapshot / name))
                 == _size(snapshot / name) for name in model.required)
    return ModelState(model, cached, sum(p.stat().st_size for p in files), str(snapshot))


def size_text(n: int | None) -> str:
    """Bytes as a person reads them: "4.27 GB", "9.8 MB" (decimal units, as the hub shows sizes)."""
    if n is None:
        return "size unknown"
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def first_run_note(settings: Settings, recipe: str, device: str) -> str:
    """What a newcomer must know before the first job ("" when every model it needs is here): which models are
    missing, how big they are, and the command that downloads them."""
    absent = missing(settings, recipes=(recipe,), device=device)
    if not absent:
        return ""
    sizes = [state.model.known_size() for state in absent]
    each = "; ".join(f"{s.model.label} {s.model.source} ({size_text(n)})" for s, n in zip(absent, sizes))
    total = "" if None in sizes else f", about {size_text(sum(sizes))} in all"
    then = ("This server is offline (HF_HUB_OFFLINE=1): jobs fail until they are downloaded."
            if os.environ.get("HF_HUB_OFFLINE") == "1" else
            "Otherwise the first job downloads them, and its panel shows the progress.")
    return (f"Not on this machine yet: {each}{total}. Download them with `python -m core models pull all` "
            f"(`python -m core models list` shows each one). {then}")


def group_names() -> str:
    return ", ".join(GROUPS + ("all",))


# -- building the entries --------------------------------------------------------------------------------------


def _whisper(settings: Settings) -> Model:
    import whisper  # openai-whisper loads with the model, on first use

    name = settings.whisper_model
    if backend_for(settings) == "faster" and name in REPOS and not bundled_model_bin(name):
        return _hub("whisper", "Whisper (CTranslate2)", "whisper", REPOS[name], FILES, REQUIRED)
    if name in BUNDLED and bundled_model_bin(name):
        package = BUNDLED[name][0].replace("_", "-")
        return Model("whisper", "Whisper", "whisper", name, "bundled", f"{package} {_version(package)}")
    if name in whisper._MODELS:
        return Model("whisper", "Whisper", "whisper", name, "whisper", whisper._MODELS[name].split("/")[-2])
    return Model("whisper", "Whisper", "whisper", name, "folder", "local file")


def _hub(key: str, label: str, group: str, setting: str, patterns: tuple[str, ...], required: tuple[str, ...]) -> Model:
    source, revision = split_revision(setting)
    if os.path.exists(source) or os.path.isabs(source) or source.startswith((".", "~")):
        return Model(key, label, group, source, "folder", "local folder")
    return Model(key, label, group, source, "hub", revision or PINNED.get(source, "main"), patterns, required)


def _sd_files(variant: str, safety_checker: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The diffusers components the pipeline loads (safetensors only; the safety checker only when it is on)."""
    weights = (f"unet/diffusion_pytorch_model{variant}.safetensors", f"text_encoder/model{variant}.safetensors",
               f"vae/diffusion_pytorch_model{variant}.safetensors")
    configs = ("model_index.json", "scheduler/*.json", "feature_extractor/*.json", "tokenizer/*", "unet/*.json",
               "text_encoder/*.json", "vae/*.json")
    required = ("model_index.json", "unet/config.json", "vae/config.json", "text_encoder/config.json") + weights
    if safety_checker:
        checker = f"safety_checker/model{variant}.safetensors"
        return configs + weights + ("safety_checker/*.json", checker), required + (checker,)
    return configs + weights, required


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


def _size(path: Path | None) -> int:
    if path is None or not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "?"
