"""The adapters of a shared UNet (the turbo recipe's LCM-LoRA on the CPU), owned by one object kept on the UNet
itself, as diffusers keeps a LoRA's load/fuse state on the model that owns the weights: which pipeline switches
which adapter on, whether a fusing changed the weights, where the adapter's own weights rest while idle, and
what the worker said is coming next (a fusing pays only for a streak of turbo runs).

Every image of the other recipes stays bit for bit what it was: before one of them runs, a fused UNet gets its
checkpoint's weights back, read from the file (subtracting the LoRA again would leave rounding behind)."""

from __future__ import annotations

import weakref
from typing import Sequence

from ..config.recipes import RECIPES
from .lowmem import release_free_memory
from .weights import ParkedTensors, checkpoint_files, checkpoint_names, restore

# On the CPU an unfused adapter costs about 4.4 s a turbo image; fusing it (6.2 s) and later reading the UNet's
# own weights back (4.5 s) cost 10.7 s a streak (docs/performance.md, "The adapter's price"): fusing pays from the
# third turbo image in a row.
FUSE_FROM_STREAK = 3
ATTRIBUTE = "v2i_adapters"  # where a UNet keeps its owner


def lora_weights(unet) -> dict:
    """The adapter's own parameters (peft's ``lora_A``/``lora_B``), by name."""
    return {name: param for name, param in unet.named_parameters() if ".lora_" in name}


def lora_layers(unet) -> list:
    """(path in the UNet, layer) of each layer the adapter wraps."""
    from peft.tuners.tuners_utils import BaseTunerLayer  # peft loads with the turbo recipe only

    return [(path, module) for path, module in unet.named_modules() if isinstance(module, BaseTunerLayer)]


class UNetAdapters:
    """One UNet's adapters: their switching, fusing and resting, for every pipeline that shares the UNet."""

    def __init__(self, unet):
        self.unet = unet
        self.by_pipeline: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # pipeline -> its adapter
        self.fused = False  # a fusing changed the weights: the checkpoint's are read back before another recipe
        self.last: str | None = None  # the adapter the last run used
        self.coming: tuple[str, ...] | None = None  # the recipes the worker runs next, when it said
        self.parked: ParkedTensors | None = None  # where the adapter's own weights rest while idle
        self._checkpoint: list | None = None

    @classmethod
    def of(cls, unet) -> "UNetAdapters":
        """The UNet's owner, made on first use."""
        owner = unet.__dict__.get(ATTRIBUTE)
        if owner is None:
            owner = unet.__dict__[ATTRIBUTE] = cls(unet)
        return owner

    def assign(self, pipe, name: str | None) -> None:
        """Runs of ``pipe`` switch adapter ``name`` on (the turbo view's LCM-LoRA); runs of any other pipeline
        sharing the UNet switch every adapter off and get the checkpoint's weights back."""
        self.by_pipeline[pipe] = name

    def expect(self, recipes: Sequence[str] | None) -> None:
        """The worker's word on the recipes it runs next, in its queue's order (None: not known)."""
        self.coming = None if recipes is None else tuple(recipes)

    def fuses_now(self, name: str) -> bool:
        """Whether this turbo run fuses the adapter (not fused yet). Where the runs to come are known, when this run
        and the turbo runs right after it make a streak of :data:`FUSE_FROM_STREAK`; where they are not, from the
        second turbo run in a row."""
        if self.coming is None:
            return self.last == name
        streak = 1
        for recipe in self.coming:
            if not (recipe in RECIPES and RECIPES[recipe].adapter):
                break
            streak += 1
        return streak >= FUSE_FROM_STREAK

    def prepare(self, pipe) -> None:
        """Set the UNet's adapters for a run of ``pipe`` (the caller holds the UNet's lock).

        Where the UNet's own weights can be read back from its checkpoint, the adapter is fused into the weights
        for a streak of turbo runs that pays for the switch (:meth:`fuses_now`), and a run of another recipe gets
        the checkpoint's weights back, exactly, before it starts. A lone turbo run between others, as a fair queue
        of several people makes them, keeps the adapter beside the layers and pays no switch. While the adapter is
        idle (fused, or another recipe running) its own weights rest in a file (:meth:`rest`)."""
        unet = self.unet
        if not getattr(unet, "_hf_peft_config_loaded", False):
            return
        name = self.by_pipeline.get(pipe)
        layers = lora_layers(unet)
        if name and any(layer.merged for _, layer in layers):
            return  # fused already: the last run was turbo too
        if self.fused:
            self.fused = False
            self._give_weights_back(layers)
        if name:
            self.wake()
            pipe.enable_lora()
            pipe.set_adapters([name])
            if self.fuses_now(name) and self.checkpoint():
                unet.fuse_lora(adapter_names=[name])
                self.fused = True
                self.rest()  # fused: its own weights rest in a file until it runs beside the layers again
        else:
            pipe.disable_lora()
            self.rest()  # idle while other recipes run
        self.last = name

    def _give_weights_back(self, layers: list) -> None:
        """The checkpoint's weights, read back exactly (peft's unfuse would subtract the LoRA, inexactly)."""
        for _, layer in layers:
            layer.merged_adapters.clear()
        restore({f"{path}.{kind}": getattr(layer.get_base_layer(), kind)
                 for path, layer in layers for kind in ("weight", "bias")
                 if getattr(layer.get_base_layer(), kind, None) is not None}, self.checkpoint())

    def rest(self) -> None:
        """Park the adapter's own weights while they are idle: 0.27 GB in fp32 for the LCM-LoRA, written once
        (0.75 s) to an unnamed temporary file that goes with the UNet, read back in 0.15 s. Where the file cannot
        be written (a full disk), they stay in memory."""
        if self.parked is None:
            self.parked = ParkedTensors()
        try:
            self.parked.park(lora_weights(self.unet))
        except OSError:
            return
        release_free_memory()

    def wake(self) -> None:
        """The adapter's own weights back, bit for bit, before it runs beside the layers or fuses."""
        if self.parked is not None:
            self.parked.unpark(lora_weights(self.unet))

    def checkpoint(self) -> list:
        """The UNet's checkpoint files when they hold every weight the adapter would change, else [] (then the
        adapter is never fused into the shared weights)."""
        if self._checkpoint is None:
            files = checkpoint_files(self.unet.config._name_or_path or "")
            needed = {f"{path}.weight" for path, _ in lora_layers(self.unet)}
            self._checkpoint = files if files and needed <= checkpoint_names(files) else []
        return self._checkpoint
