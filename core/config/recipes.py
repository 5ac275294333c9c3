"""What a painting may ask for, as data: the schedulers, the recipes (a scheduler and step count, DeepCache,
guidance, an adapter and a decoder), the limits, and the options of one image, checked up front. Nothing here
loads a model or imports torch: settings, requests, pages and sweeps read it freely (:mod:`core.generation.diffusion`
paints)."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from ..errors import InvalidOptionError

MAX_SEED = 2**32 - 1
COMMON_SIZES = (512, 384, 256, 768, 64)  # what the Generate page offers; any multiple of 8 works
MAX_STEPS = 150
MAX_SIDE = 1024  # SD 1.5 is trained at 512; past 1024 it tiles and runs out of memory on most devices
MAX_GUIDANCE = 30.0


@dataclass(frozen=True)
class Scheduler:
    class_name: str
    sampler: str  # the name AUTOMATIC1111 and the tools that read its PNG Info use
    config: tuple = ()


SCHEDULERS: dict[str, Scheduler] = {
    # DPM-Solver++ (2M): quality on a par with 50 PNDM steps in 20-25 (diffusers' scheduler guide).
    "dpmpp-2m": Scheduler("DPMSolverMultistepScheduler", "DPM++ 2M", (("algorithm_type", "dpmsolver++"),)),
    "dpmpp-2m-karras": Scheduler(
        "DPMSolverMultistepScheduler", "DPM++ 2M Karras", (("algorithm_type", "dpmsolver++"), ("use_karras_sigmas", True))
    ),
    "pndm": Scheduler("PNDMScheduler", "PLMS", (("skip_prk_steps", True),)),  # SD 1.5's original
    "ddim": Scheduler("DDIMScheduler", "DDIM", (("clip_sample", False), ("set_alpha_to_one", False))),
    "euler": Scheduler("EulerDiscreteScheduler", "Euler"),
    "euler-a": Scheduler("EulerAncestralDiscreteScheduler", "Euler a"),
    # Latent consistency: a few steps, no classifier-free guidance; for a UNet distilled for it (LCM-LoRA).
    "lcm": Scheduler("LCMScheduler", "LCM"),
}


@dataclass(frozen=True)
class Part:
    """A model a recipe adds to Stable Diffusion: the setting that names it (a hub id or a folder), the key it is
    listed and recorded under (``models list``, each generation's revisions), its name for people, and for a LoRA
    the adapter name it is loaded under (recipes sharing a UNet need names of their own)."""

    setting: str
    key: str
    label: str
    name: str = ""


@dataclass(frozen=True)
class Recipe:
    scheduler: str
    steps: int
    deepcache_interval: int = 0  # 0: off; N: the UNet's deep branch runs every N-th step (DeepCache)
    note: str = ""
    guidance: float | None = None  # None: the person's (7.5 by default); 1.0 runs the UNet once per step
    # A LoRA on the UNet (diffusers' format): on a GPU fused once into a UNet of its own; on the CPU it joins the
    # shared UNet and is fused for streaks of its runs (core.models.adapters), so other recipes' images never change.
    adapter: Part | None = None
    decoder: Part | None = None  # a VAE decoder of its own (diffusers' AutoencoderTiny format); None: SD's VAE
    max_steps: int = 150


RECIPES = {
    # DPM-Solver++ at 20 steps: diffusers' scheduler guide reports quality on a par with 50 PNDM steps.
    "default": Recipe("dpmpp-2m", 20, note="DPM-Solver++ (2M), 20 steps"),
    # DeepCache (Ma et al., CVPR 2024) reuses the UNet's deep features between full steps: on SD 1.5 with
    # 50 PLMS steps its authors report 2.3x at a 0.05 lower CLIP score. Here on top of 20 DPM++ steps.
    "fast": Recipe("dpmpp-2m", 20, deepcache_interval=3, note="DPM-Solver++ (2M), 20 steps, DeepCache every 3rd step"),
    # SD 1.5's published recipe, for comparison (it also used attention slicing).
    "original": Recipe("pndm", 50, note="PNDM (PLMS), 50 steps"),
    # Latent consistency distillation (Luo et al. 2023) as a LoRA for SD 1.5: 4 steps without guidance (the UNet
    # runs once per step, at batch 1), and the tiny autoencoder TAESD as the decoder. Fastest; some detail lost.
    "turbo": Recipe("lcm", 4, guidance=1.0, max_steps=8, note="LCM-LoRA, 4 steps, no guidance, TAESD decoder",
                    adapter=Part("lcm_lora", "lora", "LCM-LoRA (turbo)", name="lcm"),
                    decoder=Part("taesd", "decoder", "TAESD decoder (turbo)")),
}
DEFAULT_SCHEDULER = RECIPES["default"].scheduler
DEFAULT_STEPS = RECIPES["default"].steps
DEFAULT_GUIDANCE = 7.5
MAX_DEEPCACHE_INTERVAL = 10


@dataclass(frozen=True)
class GenerationOptions:
    steps: int = DEFAULT_STEPS
    guidance: float = DEFAULT_GUIDANCE
    seed: int | None = None  # None: a random seed, which is then stored
    scheduler: str = DEFAULT_SCHEDULER
    width: int = 512
    height: int = 512
    safety_checker: bool = False
    deepcache_interval: int = 0
    recipe: str = "default"  # the recipe these options started from (``steps`` and ``scheduler`` may override it)

    @classmethod
    def from_recipe(cls, name: str, **overrides) -> "GenerationOptions":
        recipe = RECIPES[check_recipe(name)]
        base = {"scheduler": recipe.scheduler, "steps": recipe.steps, "deepcache_interval": recipe.deepcache_interval,
                "recipe": name}
        if recipe.guidance is not None:  # the recipe's own guidance wins over a default one
            base["guidance"] = recipe.guidance
            if overrides.get("guidance") == DEFAULT_GUIDANCE:
                overrides = {k: v for k, v in overrides.items() if k != "guidance"}
        return cls(**{**base, **overrides})

    def with_seed(self) -> "GenerationOptions":
        if self.seed is not None:
            return self
        return replace(self, seed=random.randint(0, MAX_SEED))


def check_recipe(name: str) -> str:
    if name not in RECIPES:
        raise InvalidOptionError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}")
    return name


def recipe_of(row: dict) -> str:
    """The recipe a stored generation used: stored since the recipe column exists; for older rows, the
    recipe whose scheduler and caching match."""
    if row.get("recipe") in RECIPES:
        return row["recipe"]
    interval = row.get("deepcache_interval") or 0
    for name, recipe in RECIPES.items():
        if recipe.scheduler == row.get("scheduler") and recipe.deepcache_interval == interval:
            return name
    return "fast" if interval > 1 else "default"


def check_inputs(options: GenerationOptions) -> GenerationOptions:
    """Validate every option up front; the error names the argument and its bad value."""
    steps = options.steps
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise InvalidOptionError(f"steps must be a whole number from 1 to {MAX_STEPS}, not {steps!r}")
    guidance = options.guidance
    if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not 0 <= guidance <= MAX_GUIDANCE or guidance != guidance:
        raise InvalidOptionError(f"guidance must be a number from 0 to {MAX_GUIDANCE:g}, not {guidance!r}")
    seed = options.seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED):
        raise InvalidOptionError(f"seed must be a whole number from 0 to {MAX_SEED}, not {seed!r}")
    recipe = RECIPES[check_recipe(options.recipe)]
    if steps > recipe.max_steps:
        raise InvalidOptionError(f"steps must be at most {recipe.max_steps} with the {options.recipe} recipe, not {steps}")
    if options.scheduler not in SCHEDULERS:
        raise InvalidOptionError(f"unknown scheduler {options.scheduler!r}; choose one of: {', '.join(SCHEDULERS)}")
    interval = options.deepcache_interval
    if isinstance(interval, bool) or not isinstance(interval, int) or not 0 <= interval <= MAX_DEEPCACHE_INTERVAL:
        raise InvalidOptionError(f"deepcache_interval must be a whole number from 0 (off) to {MAX_DEEPCACHE_INTERVAL}, "
                                 f"not {interval!r}")
    for name in ("width", "height"):
        side = getattr(options, name)
        if isinstance(side, bool) or not isinstance(side, int) or side % 8 or not 64 <= side <= MAX_SIDE:
            raise InvalidOptionError(f"{name} must be a multiple of 8 from 64 to {MAX_SIDE}, not {side!r}")
    return options
