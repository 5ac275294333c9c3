"""Model loaders: the real ones (``whisper.load_model``, ``from_pretrained`` with real ids), used offline
once cached, and a process-wide, thread-safe cache so each model loads once per process.

A model that is neither cached nor downloadable raises :class:`ModelLoadError` naming the model, the
cache folder and the fix.
"""

from __future__ import annotations

import contextlib
import copy
import os
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .adapters import ATTRIBUTE, UNetAdapters
from .config import Settings
from .diffusion import generate_image, is_compiled
from .errors import ModelLoadError
from .faster import backend_for, ct2_folder, load_faster
from .hub import PINNED, hf_cache_dir, split_revision, whisper_cache_dir
from .lowmem import lean_decoder, release_free_memory
from .recipes import RECIPES, GenerationOptions
from .tiny import ensure_tiny_models
from .vad import load_vad
from .weights import ParkedTensors
from .whisper_ct2 import alignment_heads, converted_checkpoint, use_alignment_heads

__all__ = ["ModelCache", "best_device", "shared_models", "whisper_cache_dir", "hf_cache_dir"]


def best_device() -> str:
    """cuda, then mps, then cpu."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def _quiet_libraries() -> None:
    """Loading bars and the "safety checker disabled" notice would bury our own progress and errors;
    the safety checker is off on purpose (a setting, stored with each generation)."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    import diffusers

    diffusers.logging.set_verbosity_error()
    diffusers.logging.disable_progress_bar()


def quantize_int8(model, linear_subclasses: tuple = ()):
    """Dynamic int8 quantisation of a model's linear layers, for the CPU: weights stored as int8,
    activations quantised on the fly. Smaller and faster where matrix products dominate."""
    import torch

    # Subclasses that only cast dtypes in forward (whisper's) are plain Linear layers in fp32; the
    # quantiser matches exact types, so let them be plain Linear layers.
    for module in model.modules():
        if isinstance(module, linear_subclasses):
            module.__class__ = torch.nn.Linear
    with warnings.catch_warnings():
        # torch announces that its eager quantisation API will move to torchao; it works in this pinned torch.
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*deprecated", category=UserWarning)
        warnings.filterwarnings("ignore", message="torch.ao.quantization is deprecated", category=DeprecationWarning)
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def load_whisper(name: str, device: str, *, int8: bool = False):
    import whisper

    if name not in whisper.available_models() and not os.path.isfile(name):
        raise ModelLoadError(
            f"unknown whisper model {name!r}; choose one of: {', '.join(whisper.available_models())}, "
            "or give the path of a checkpoint file"
        )
    try:
        model = whisper.load_model(name, device=device, download_root=str(whisper_cache_dir()))
    except Exception as err:  # URLError, a corrupt checkpoint, a checksum mismatch...
        raise ModelLoadError(
            f"could not load whisper model {name!r} ({type(err).__name__}: {err}). It is looked for in "
            f"{whisper_cache_dir()}. Fix: `python -m core models pull whisper` with network access, or copy "
            f"{name}.pt into that folder; offline, V2I_WHISPER_MODEL=tiny.en hears English with no download."
        ) from err
    if int8 and device == "cpu":
        model = quantize_int8(model, (whisper.model.Linear,))  # whisper subclasses nn.Linear
    return model


def _first_sentence(err: Exception) -> str:
    """The gist of a library's long error message, for a one-line explanation."""
    text = " ".join(str(err).split()) or type(err).__name__
    cut = min((i for i in (text.find(" ("), text.find(". ")) if i > 0), default=len(text))
    return text[:min(cut, 200)]


_EXAMPLE_IDS = {
    "Stable Diffusion": "stable-diffusion-v1-5/stable-diffusion-v1-5",
    "CLIP": "openai/clip-vit-base-patch32",
    "CLIP processor": "openai/clip-vit-base-patch32",
    "tiny decoder": "madebyollin/taesd",
}
_PULL_GROUP = {"Stable Diffusion": "sd", "CLIP": "clip", "CLIP processor": "clip", "tiny decoder": "sd"}


def hub_reference(model_id: str) -> tuple[str, str | None]:
    """(id, commit) to load: ``owner/name@commit`` as given, a default id at its pinned commit, else (id, None)."""

    source, revision = split_revision(model_id)
    return source, revision or PINNED.get(source)


def _from_pretrained(cls, model_id: str, what: str, **kwargs):
    """Cache first (no network needed once downloaded), then the hub; a clear error if neither works.
    A hub id loads at its pinned commit (:func:`hub_reference`)."""
    if os.path.isdir(model_id):
        try:
            return cls.from_pretrained(model_id, **kwargs)
        except Exception as err:
            raise ModelLoadError(f"could not load the {what} model folder {model_id!r}: {err}") from err
    model_id, revision = hub_reference(model_id)
    if os.path.isabs(model_id) or model_id.startswith((".", "~")) or model_id.count("/") > 1:
        raise ModelLoadError(f"could not load the {what} model folder {model_id!r}: it does not exist. Fix: point "
                             f"the setting at an existing folder, or at a hub id such as {_EXAMPLE_IDS[what]!r}.")
    kwargs["revision"] = revision
    try:
        return cls.from_pretrained(model_id, local_files_only=True, **kwargs)
    except Exception:
        pass  # not cached yet (or incomplete): try the hub unless told to stay offline
    try:
        if _offline():
            raise OSError("HF_HUB_OFFLINE=1 and the model is not in the cache")
        return cls.from_pretrained(model_id, **kwargs)
    except Exception as err:
        raise ModelLoadError(
            f"could not load the {what} model {model_id!r}{f' at {revision[:12]}' if revision else ''}: it is not in "
            f"the Hugging Face cache {hf_cache_dir()} and could not be downloaded ({_first_sentence(err)}). Fix: "
            f"`python -m core models pull {_PULL_GROUP[what]}` with network access (`python -m core models list` "
            "shows what is missing and how big it is), or set the model to a local folder; for offline tests and "
            "demos use V2I_PROFILE=tiny."
        ) from err


def load_stable_diffusion(model_id: str, device: str, *, safety_checker: bool = False, compile_unet: bool = False):
    """The SD 1.5 pipeline (the turbo recipe adds its LoRA and decoder with :func:`add_adapter`)."""
    _quiet_libraries()
    import torch
    from diffusers import StableDiffusionPipeline

    # fp16 halves memory and doubles speed on CUDA; on CPU it is slow or unsupported, so fp32 there.
    dtype = torch.float16 if device == "cuda" else torch.float32
    kwargs: dict[str, Any] = {"dtype": dtype}
    if device == "cuda" and not os.path.isdir(model_id):
        kwargs["variant"] = "fp16"  # what `models pull` fetches for a GPU: half the download
    if not safety_checker:
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    pipe = _from_pretrained(StableDiffusionPipeline, model_id, "Stable Diffusion", **kwargs)
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)  # callers show their own progress
    if device == "cpu":
        lean_decoder(pipe.vae.decoder)  # the same pixels in less memory: the decode is the image's peak
    if device == "cuda":
        # PyTorch's SDPA attention is diffusers' default; channels_last suits the GPU's convolution kernels.
        pipe.unet.to(memory_format=torch.channels_last)
        if compile_unet:
            pipe.unet = compiled(pipe.unet)
    return pipe


def compiled(unet):
    """``torch.compile`` for a CUDA UNet: CUDA graphs ("reduce-overhead") remove the per-kernel launch cost that
    bounds an eager fp16 UNet on a large GPU (docs/performance.md: 21.5 -> 7.4 ms a step on an H200, after
    about 50 s of compiling, once per process and image size)."""
    import torch

    return torch.compile(unet, mode="reduce-overhead", fullgraph=True)


def add_adapter(pipe, lora: str, decoder: str | None, device: str, *, name: str = "lcm",
                own_unet: bool | None = None, compile_unet: bool = False):
    """The pipeline of a recipe with an adapter (the turbo recipe's: the LCM-LoRA, and TAESD as its decoder):
    ``pipe``'s text encoder and tokenizer, the LoRA ``lora`` on the UNet as adapter ``name``, and the decoder
    ``decoder`` (None: SD's own VAE). Call it holding ``pipe``'s lock.

    ``own_unet`` (the default on CUDA): a UNet of its own with the LoRA fused into its weights once. A GPU has
    the memory for a second fp16 UNet (1.7 GB), and there an unfused adapter's extra kernels cost a third of a
    step. Otherwise the UNet is shared (one in memory, not two: 3.4 GB less on the CPU): the LoRA joins it as
    the peft adapter ``name``, fused into its weights while that recipe's runs follow one another and taken out
    again, exactly, before another recipe runs (:class:`core.adapters.UNetAdapters`), so the other recipes'
    images stay bit for bit what they were."""
    from diffusers import AutoencoderTiny


    own_unet = device == "cuda" if own_unet is None else own_unet
    vae = pipe.vae if decoder is None else _from_pretrained(AutoencoderTiny, decoder, "tiny decoder",
                                                              dtype=pipe.dtype).to(device)
    if own_unet:
        unet = copy.deepcopy(pipe.unet._orig_mod if is_compiled(pipe.unet) else pipe.unet)  # eager, not compiled
        turbo = type(pipe)(**{**pipe.components, "unet": unet, "vae": vae}, requires_safety_checker=False)
        _load_lora(turbo, lora, name)
        turbo.fuse_lora(components=["unet"], adapter_names=[name])
        turbo.unload_lora_weights()  # the adapter's layers go; its effect stays in the weights
        if compile_unet:
            turbo.unet = compiled(turbo.unet)
    else:
        _load_lora(pipe, lora, name)
        pipe.disable_lora()  # off until a turbo run switches it on
        turbo = type(pipe)(**{**pipe.components, "vae": vae}, requires_safety_checker=False)
        UNetAdapters.of(pipe.unet).assign(turbo, name)
    turbo.set_progress_bar_config(disable=True)
    return turbo


def _load_lora(pipe, lora: str, name: str) -> None:
    """Load a LoRA into the UNet as the adapter ``name`` (diffusers' loader, which needs peft)."""
    if os.path.isdir(lora):
        where: dict[str, Any] = {}
    else:
        lora, revision = hub_reference(lora)
        where = {"local_files_only": _offline(), "revision": revision}
    try:
        pipe.load_lora_weights(lora, adapter_name=name, **where)
    except Exception as err:
        raise ModelLoadError(f"could not load the LoRA {lora!r} ({_first_sentence(err)}). It is looked for in the "
                             f"Hugging Face cache {hf_cache_dir()}. Fix: `python -m core models pull sd` with network "
                             "access; for offline tests and demos use V2I_PROFILE=tiny.") from err


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE") == "1"


@dataclass(frozen=True)
class ClipBundle:
    model: Any
    processor: Any
    device: str


def load_clip(model_id: str, device: str, *, int8: bool = False) -> ClipBundle:
    _quiet_libraries()
    from transformers import CLIPModel, CLIPProcessor

    model = _from_pretrained(CLIPModel, model_id, "CLIP").to(device).eval()
    if int8 and device == "cpu":
        model = quantize_int8(model)
    processor = _from_pretrained(CLIPProcessor, model_id, "CLIP processor")
    return ClipBundle(model, processor, device)


@dataclass
class LoadedModel:
    """A loaded model and the lock that serialises its use: none of these models is safe to run
    from two threads at once (the diffusers pipeline keeps scheduler state per call). Whisper and CLIP are run
    through :meth:`use`, so that their weights can rest on disk (:meth:`rest`) while Stable Diffusion paints."""

    model: Any
    name: str
    device: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    _parking: Any = field(default=None, init=False, repr=False, compare=False)  # ParkedTensors, once they rested

    @contextlib.contextmanager
    def use(self):
        """Hold the model's lock with its weights in memory (read back, bit for bit, if they rested) and yield
        the model."""
        with self.lock:
            if self._parking is not None:
                self._parking.unpark(dense_parameters(self.model))
            yield self.model

    def rest(self) -> bool:
        """Free the model's weights while it is idle, into an unnamed temporary file (written once, since they
        never change; :class:`core.weights.ParkedTensors`), so that they do not add to another model's peak: on
        the CPU, whisper's and CLIP's while Stable Diffusion paints. :meth:`use` reads them back. Returns False,
        and changes nothing, off the CPU, while the model is in use, or where the file cannot be written."""
        if self.device != "cpu" or not _restable(self.model) or not self.lock.acquire(blocking=False):
            return False
        try:
            if self._parking is None:
                self._parking = ParkedTensors()
            self._parking.park(dense_parameters(self.model))
            return True
        except OSError:  # a full disk: the weights stay in memory
            return False
        finally:
            self.lock.release()


def _restable(model) -> bool:
    """A torch model (or a bundle around one) whose weights can rest in a file; CTranslate2's whisper cannot."""
    import torch

    return isinstance(model, torch.nn.Module) or isinstance(getattr(model, "model", None), torch.nn.Module)


def dense_parameters(model) -> dict:
    """The parameters of ``model`` (a module, or a bundle whose ``model`` is one) that can rest in a file: dense
    ones (int8-quantised layers keep their packed weights outside the parameters, and in memory)."""
    import torch

    module = model if isinstance(model, torch.nn.Module) else model.model
    return {name: param for name, param in module.named_parameters() if param.layout == torch.strided}


class ModelCache:
    """Loads each model once per process; concurrent first requests wait for the one load."""

    def __init__(self, settings: Settings, device: str | None = None):
        self.settings = settings
        self._device = device
        self._models: dict[tuple, LoadedModel] = {}
        self._guard = threading.Lock()
        self.coming: tuple[str, ...] | None = None  # the recipes the worker runs next (:meth:`expect`)
        self._key_locks: dict[tuple, threading.Lock] = {}

    @property
    def device(self) -> str:
        if self._device is None:
            self._device = best_device()
        return self._device

    def whisper(self, backend: str | None = None) -> LoadedModel:
        """Whisper through ``backend`` (default: :func:`core.faster.backend_for` the settings); ``"openai"`` is what
        faster-whisper's recordings fall back to when whisper's checks ask for its seeded sampling."""

        name = self.settings.whisper_model
        int8 = self.settings.whisper_int8
        if (backend or backend_for(self.settings)) == "faster":  # CTranslate2's: its weights are not torch's to rest
            return self._get(("whisper", name, int8, "faster"), lambda: load_faster(name, self.device, int8=int8),
                             name)

        def load():
            # A whisper that an installed package ships (tiny.en), or whose faster-whisper conversion was pulled and
            # whose own checkpoint was not (the fallback of the faster backend), is converted once from
            # CTranslate2's format and read from the data folder.

            pulled = None if (whisper_cache_dir() / f"{name}.pt").is_file() else ct2_folder(name)
            checkpoint = converted_checkpoint(name, self.settings.model_cache_dir, folder=pulled)
            model = load_whisper(str(checkpoint) if checkpoint else name, self.device, int8=int8)
            if checkpoint and (heads := alignment_heads(name, pulled)):  # the model's own, for its word timestamps
                use_alignment_heads(model, heads)
            return model

        return self._get(("whisper", name, int8), load, name)

    def vad(self) -> LoadedModel:
        """Silero VAD (from its package: no download), for cutting silence before whisper."""
        return self._get(("vad",), load_vad, "silero-vad")

    def stable_diffusion(self, safety_checker: bool = False, recipe: str = "default") -> LoadedModel:
        """The SD pipeline for ``recipe``: SD's own, or for a recipe with an adapter (a LoRA) and perhaps a decoder
        of its own, a pipeline sharing SD's text encoder and lock (:func:`add_adapter`; on the CPU the UNet too,
        the LoRA on it for that recipe's runs only). Which LoRA and decoder: the settings the recipe names."""
        model_id, compile_unet = self.settings.sd_model, self.settings.compile_unet
        base = self._get(
            ("sd", model_id, safety_checker),
            lambda: load_stable_diffusion(model_id, self.device, safety_checker=safety_checker, compile_unet=compile_unet),
            model_id,
        )
        spec = RECIPES[recipe]
        if spec.adapter is None:
            return base
        lora = getattr(self.settings, spec.adapter.setting)
        decoder = None if spec.decoder is None else getattr(self.settings, spec.decoder.setting)

        def load_with_adapter():
            with base.lock:  # the LoRA joins (or copies) the shared UNet: not while another job uses it
                return add_adapter(base.model, lora, decoder, self.device, name=spec.adapter.name or spec.adapter.key,
                                   compile_unet=compile_unet)

        found = self._get(("sd-adapter", model_id, safety_checker, lora, decoder), load_with_adapter, model_id,
                          lock=base.lock)
        unet = getattr(found.model, "unet", None)
        if unet is not None and ATTRIBUTE in unet.__dict__:  # a UNet shared with SD's own pipeline: told what comes
            UNetAdapters.of(unet).expect(self.coming)
        return found

    def expect(self, recipes: Sequence[str] | None) -> None:
        """What the worker runs next (its queue's recipes, in order): a shared UNet's adapters fuse only for a
        streak that pays for the switch (:meth:`core.adapters.UNetAdapters.fuses_now`). Never changes a pixel."""
        self.coming = None if recipes is None else tuple(recipes)
        for loaded in list(self._models.values()):
            unet = getattr(loaded.model, "unet", None)
            if unet is not None and ATTRIBUTE in unet.__dict__:
                UNetAdapters.of(unet).expect(self.coming)

    def warm_up(self) -> bool:
        """On a GPU: load SD and run two 512x512 steps, so compilation and kernel selection happen at start,
        not during the first person's image; the turbo pipeline too where the server starts from it
        (``V2I_RECIPE=turbo``: on CUDA it has a UNet of its own). Skipped on the CPU, where it would only cost
        minutes."""
        if self.device != "cuda":
            return False

        recipes = list(dict.fromkeys(["default", self.settings.recipe]))  # and the recipe the server starts from
        for recipe in recipes:
            sd = self.stable_diffusion(recipe=recipe)
            with sd.lock:
                generate_image(sd.model, "warm-up", "", GenerationOptions.from_recipe(recipe, steps=2, seed=0))
        return True

    def clip(self) -> LoadedModel:
        model_id = self.settings.clip_model
        int8 = self.settings.clip_int8
        return self._get(("clip", model_id, int8), lambda: load_clip(model_id, self.device, int8=int8),
                         self.settings.clip_embedding_id)

    def rest_idle(self) -> int:
        """Rest the weights of whisper and CLIP where they are loaded and idle (:meth:`LoadedModel.rest`), before
        Stable Diffusion paints; returns how many rested."""
        rested = sum(loaded.rest() for key, loaded in list(self._models.items()) if key[0] in ("whisper", "clip"))
        if rested:
            release_free_memory()  # what the weights held goes back to the system
        return rested

    def _get(self, key: tuple, load: Callable[[], Any], name: str, lock: threading.Lock | None = None) -> LoadedModel:
        loaded = self._models.get(key)
        if loaded is not None:
            return loaded
        with self._guard:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            loaded = self._models.get(key)
            if loaded is None:
                if self.settings.is_tiny:
                    ensure_tiny_models(self.settings.tiny_models_dir)
                loaded = self._models[key] = LoadedModel(load(), name, self.device, lock or threading.Lock())
        return loaded


_shared: dict[Settings, ModelCache] = {}
_shared_guard = threading.Lock()


def shared_models(settings: Settings) -> ModelCache:
    """The process-wide cache for these settings (the CLI, the job worker and the pages share it)."""
    with _shared_guard:
        cache = _shared.get(settings)
        if cache is None:
            cache = _shared[settings] = ModelCache(settings)
        return cache
