"""Settings read from the environment: profile, data folder and model ids.

``V2I_PROFILE``       ``default`` (the real models) or ``tiny`` (random-weight miniatures, built locally)
``V2I_DATA_DIR``      where the database, audio and images live (default ``data/``)
``V2I_WHISPER_MODEL`` whisper size name or checkpoint path (default ``base``)
``V2I_SD_MODEL``      diffusers model id or folder (default ``stable-diffusion-v1-5/stable-diffusion-v1-5``)
``V2I_CLIP_MODEL``    transformers model id or folder (default ``openai/clip-vit-base-patch32``)
``V2I_MAX_AUDIO_SECONDS`` longest accepted recording (default 600)
``V2I_MAX_UPLOAD_MB`` largest accepted file (default 200, as the dashboard's upload limit)
``V2I_TINY_MODELS_DIR`` where the ``tiny`` profile builds its miniatures (default ``<data dir>/tiny-models``)
``V2I_WHISPER_INT8``  ``1``: dynamic int8 quantisation of whisper's linear layers on the CPU (default ``0``)
``V2I_CLIP_INT8``     ``1``: the same for CLIP (default ``0``)
``V2I_COMPILE``       ``1``: on CUDA, ``torch.compile`` the UNet (warmed up when the worker starts; default ``0``)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

PROFILES = ("default", "tiny")

DEFAULT_WHISPER_MODEL = "base"
DEFAULT_SD_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
DEFAULT_CLIP_MODEL = "openai/clip-vit-base-patch32"
DEFAULT_MAX_AUDIO_SECONDS = 600.0


@dataclass(frozen=True)
class Settings:
    profile: str = "default"
    data_dir: Path = Path("data")
    whisper_model: str = DEFAULT_WHISPER_MODEL
    sd_model: str = DEFAULT_SD_MODEL
    clip_model: str = DEFAULT_CLIP_MODEL
    max_audio_seconds: float = DEFAULT_MAX_AUDIO_SECONDS
    max_upload_mb: float = 200.0
    tiny_models_dir: Path = Path("data/tiny-models")  # where the tiny profile builds its miniatures, once
    whisper_int8: bool = False
    clip_int8: bool = False
    compile_unet: bool = False

    @property
    def is_tiny(self) -> bool:
        return self.profile == "tiny"

    @property
    def clip_embedding_id(self) -> str:
        """What stored embeddings are keyed by: int8 vectors are close to fp32 ones, but not the same."""
        return f"{self.clip_model}#int8" if self.clip_int8 else self.clip_model

    @property
    def audio_limits(self):
        from .audio import AudioLimits

        return AudioLimits(max_seconds=self.max_audio_seconds, max_bytes=int(self.max_upload_mb * 2**20))

    def with_overrides(self, **changes) -> "Settings":
        return replace(self, **changes)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from environment variables; an unknown profile lists the valid ones."""
    env = os.environ if environ is None else environ
    profile = env.get("V2I_PROFILE", "default").strip() or "default"
    if profile not in PROFILES:
        raise ValueError(f"V2I_PROFILE={profile!r} is not a profile; choose one of: {', '.join(PROFILES)}")
    data_dir = Path(env.get("V2I_DATA_DIR", "data")).expanduser()
    max_seconds = _number(env, "V2I_MAX_AUDIO_SECONDS", DEFAULT_MAX_AUDIO_SECONDS, "a number of seconds")
    max_upload_mb = _number(env, "V2I_MAX_UPLOAD_MB", 200.0, "a number of megabytes")
    tiny_dir = Path(env.get("V2I_TINY_MODELS_DIR") or data_dir / "tiny-models").expanduser()
    if profile == "tiny":
        # The tiny profile's ids point at folders it builds itself; explicit overrides still win.
        from .tiny import tiny_model_paths

        paths = tiny_model_paths(tiny_dir)
        defaults = (str(paths.whisper), str(paths.sd), str(paths.clip))
    else:
        defaults = (DEFAULT_WHISPER_MODEL, DEFAULT_SD_MODEL, DEFAULT_CLIP_MODEL)
    return Settings(
        profile=profile,
        data_dir=data_dir,
        whisper_model=env.get("V2I_WHISPER_MODEL") or defaults[0],
        sd_model=env.get("V2I_SD_MODEL") or defaults[1],
        clip_model=env.get("V2I_CLIP_MODEL") or defaults[2],
        max_audio_seconds=max_seconds,
        max_upload_mb=max_upload_mb,
        tiny_models_dir=tiny_dir,
        whisper_int8=_flag(env, "V2I_WHISPER_INT8"),
        clip_int8=_flag(env, "V2I_CLIP_INT8"),
        compile_unet=_flag(env, "V2I_COMPILE"),
    )


def _number(env: Mapping[str, str], name: str, default: float, what: str) -> float:
    text = env.get(name, str(default))
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not {what}") from None
    if not value > 0:
        raise ValueError(f"{name}={text!r} must be more than 0")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "0").strip().lower()
    if value not in ("0", "1", "true", "false", "yes", "no", ""):
        raise ValueError(f"{name}={value!r} is not a yes/no value; use 1 or 0")
    return value in ("1", "true", "yes")
