"""Text to image with a diffusers ``StableDiffusionPipeline``.

The cached pipeline is never mutated: each call builds a light view of it with its own scheduler
instance, so the scheduler's per-call state is private to that call.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from .errors import InvalidOptionError

MAX_SEED = 2**32 - 1
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
}


@dataclass(frozen=True)
class Recipe:
    scheduler: str
    steps: int


RECIPES = {"default": Recipe("dpmpp-2m", 25), "original": Recipe("pndm", 50)}
DEFAULT_SCHEDULER = RECIPES["default"].scheduler
DEFAULT_STEPS = RECIPES["default"].steps
DEFAULT_GUIDANCE = 7.5


@dataclass(frozen=True)
class GenerationOptions:
    steps: int = DEFAULT_STEPS
    guidance: float = DEFAULT_GUIDANCE
    seed: int | None = None  # None: a random seed, which is then stored
    scheduler: str = DEFAULT_SCHEDULER
    width: int = 512
    height: int = 512
    safety_checker: bool = False

    def with_seed(self) -> "GenerationOptions":
        if self.seed is not None:
            return self
        return GenerationOptions(**{**self.__dict__, "seed": random.randint(0, MAX_SEED)})


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
    if options.scheduler not in SCHEDULERS:
        raise InvalidOptionError(f"unknown scheduler {options.scheduler!r}; choose one of: {', '.join(SCHEDULERS)}")
    for name in ("width", "height"):
        side = getattr(options, name)
        if isinstance(side, bool) or not isinstance(side, int) or side % 8 or not 64 <= side <= MAX_SIDE:
            raise InvalidOptionError(f"{name} must be a multiple of 8 from 64 to {MAX_SIDE}, not {side!r}")
    return options


@dataclass(frozen=True)
class GeneratedImage:
    image: object  # PIL.Image.Image
    seed: int
    sampler: str
    nsfw: bool | None  # None when the safety checker was off
    prompt_tokens: int


ProgressCallback = Callable[[int, int], None]  # (step done, total steps); may raise CancelledError


def count_clip_tokens(pipe, text: str) -> int:
    """Tokens the pipeline's own tokenizer gives ``text``, without the start and end markers."""
    return len(pipe.tokenizer(text, truncation=False).input_ids) - 2


def generate_image(
    pipe,
    prompt: str,
    negative_prompt: str,
    options: GenerationOptions,
    *,
    progress: ProgressCallback | None = None,
):
    """Run the pipeline once. ``options`` must have passed :func:`check_inputs` and carry a seed."""
    import diffusers
    import torch

    if options.seed is None:
        raise InvalidOptionError("seed must be chosen before generating (use GenerationOptions.with_seed)")
    # 1. A private scheduler for this call, from the model's own scheduler configuration.
    spec = SCHEDULERS[options.scheduler]
    scheduler = getattr(diffusers, spec.class_name).from_config(pipe.scheduler.config, **dict(spec.config))
    view = type(pipe)(**{**pipe.components, "scheduler": scheduler})
    view.set_progress_bar_config(disable=True)
    # 2. Seeded noise on the CPU, so a seed gives the same image on any device.
    generator = torch.Generator("cpu").manual_seed(options.seed)

    def on_step_end(_pipe, step, _timestep, callback_kwargs):
        if progress is not None:
            progress(step + 1, options.steps)  # may raise CancelledError to stop between steps
        return callback_kwargs

    # 3. Denoise and decode.
    with torch.inference_mode():
        result = view(
            prompt=prompt,
            negative_prompt=negative_prompt or None,
            num_inference_steps=options.steps,
            guidance_scale=float(options.guidance),
            width=options.width,
            height=options.height,
            generator=generator,
            callback_on_step_end=on_step_end,
        )
    nsfw_flags = result.nsfw_content_detected
    return GeneratedImage(
        image=result.images[0],
        seed=options.seed,
        sampler=spec.sampler,
        nsfw=bool(nsfw_flags[0]) if nsfw_flags is not None else None,
        prompt_tokens=count_clip_tokens(pipe, prompt),
    )

