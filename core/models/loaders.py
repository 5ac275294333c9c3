"""Model loaders: the real ones (``whisper.load_model``, ``from_pretrained`` with real ids and pinned revisions),
used offline once cached. A model that is neither cached nor downloadable raises :class:`ModelLoadError` naming
the model, the cache folder and the fix. :mod:`core.models.cache` keeps what they load, once per process."""

from __future__ import annotations

import copy
import os
import warnings
from dataclasses import dataclass
from typing import Any

from ..errors import ModelLoadError
from .adapters import UNetAdapters
from .hub import PINNED, hf_cache_dir, split_revision, whisper_cache_dir
from .lowmem import lean_decoder


def best_device() -> str:
    """cuda, then mps, then cpu."""
    import torch  # torch loads on first use: pages import core without it

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def _quiet_libraries() -> None:
    """Loading bars and the "safety checker disabled" notice would bury our own progress and errors;
    the safety checker is off on purpose (a setting, stored with each generation)."""
    import transformers  # transformers loads with CLIP or SD, on first use

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    import diffusers  # diffusers loads with Stable Diffusion, on first use

    diffusers.logging.set_verbosity_error()
    diffusers.logging.disable_progress_bar()


def quantize_int8(model, linear_subclasses: tuple = ()):
    """Dynamic int8 quantisation of a model's linear layers, for the CPU: weights stored as int8,
    activations quantised on the fly. Smaller and faster where matrix products dominate."""
    import torch  # torch loads on first use: pages import core without it

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
    import whisper  # openai-whisper loads with the model, on first use

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
    import torch  # torch loads on first use: pages import core without it
    from diffusers import StableDiffusionPipeline  # diffusers loads with Stable Diffusion, on first use

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
    import torch  # torch loads on first use: pages import core without it

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
    again, exactly, before another recipe runs (:class:`core.models.adapters.UNetAdapters`), so the other recipes'
    images stay bit for bit what they were."""
    from diffusers import AutoencoderTiny  # diffusers loads with Stable Diffusion, on first use


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
    from transformers import CLIPModel, CLIPProcessor  # transformers loads with CLIP or SD, on first use

    model = _from_pretrained(CLIPModel, model_id, "CLIP").to(device).eval()
    if int8 and device == "cpu":
        model = quantize_int8(model)
    processor = _from_pretrained(CLIPProcessor, model_id, "CLIP processor")
    return ClipBundle(model, processor, device)


def is_compiled(unet) -> bool:
    """Whether ``unet`` is ``torch.compile``'s wrapper (V2I_COMPILE) rather than the module itself."""
    return hasattr(unet, "_orig_mod")


def load_vad():
    """Silero VAD's TorchScript model, from the package (no download)."""
    from silero_vad import load_silero_vad  # Silero VAD loads with its model, on first use

    return load_silero_vad()
