"""The models of this process, each loaded once (:mod:`core.models.loaders` loads them), shared thread-safely, and their
weights resting on disk while they are idle on the CPU."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..config import Settings
from ..config.recipes import RECIPES
from .adapters import ATTRIBUTE, UNetAdapters
from .backends import backend_for, ct2_folder, load_faster
from .hub import hf_cache_dir, whisper_cache_dir
from .loaders import add_adapter, best_device, load_clip, load_stable_diffusion, load_vad, load_whisper
from .lowmem import release_free_memory
from .tiny import ensure_tiny_models
from .weights import ParkedTensors
from .whisper_ct2 import alignment_heads, converted_checkpoint, use_alignment_heads

__all__ = ["ModelCache", "LoadedModel", "shared_models", "best_device", "load_whisper", "load_stable_diffusion",
           "load_clip", "add_adapter", "dense_parameters", "whisper_cache_dir", "hf_cache_dir"]


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
        never change; :class:`core.models.weights.ParkedTensors`), so that they do not add to another model's peak: on
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
    import torch  # torch loads on first use: pages import core without it

    return isinstance(model, torch.nn.Module) or isinstance(getattr(model, "model", None), torch.nn.Module)


def dense_parameters(model) -> dict:
    """The parameters of ``model`` (a module, or a bundle whose ``model`` is one) that can rest in a file: dense
    ones (int8-quantised layers keep their packed weights outside the parameters, and in memory)."""
    import torch  # torch loads on first use: pages import core without it

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
        """Whisper through ``backend`` (default: :func:`core.models.backends.backend_for` the settings); ``"openai"`` is what
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
                pipe = add_adapter(base.model, lora, decoder, self.device, name=spec.adapter.name or spec.adapter.key,
                                   compile_unet=compile_unet)
            self._tell_coming(pipe)  # loaded after the worker said what comes: told now, then by expect()
            return pipe

        return self._get(("sd-adapter", model_id, safety_checker, lora, decoder), load_with_adapter, model_id,
                         lock=base.lock)

    def expect(self, recipes: Sequence[str] | None) -> None:
        """What the worker runs next (its queue's recipes, in order): a shared UNet's adapters fuse only for a
        streak that pays for the switch (:meth:`core.models.adapters.UNetAdapters.fuses_now`). Never changes a pixel."""
        self.coming = None if recipes is None else tuple(recipes)
        for loaded in list(self._models.values()):
            self._tell_coming(loaded.model)

    def _tell_coming(self, model) -> None:
        """A UNet shared with SD's own pipeline (its adapters have an owner) learns what the worker runs next."""
        unet = getattr(model, "unet", None)
        if unet is not None and ATTRIBUTE in unet.__dict__:
            UNetAdapters.of(unet).expect(self.coming)

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
