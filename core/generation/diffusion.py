"""Text to image with a diffusers ``StableDiffusionPipeline``.

The cached pipeline is never mutated: each call builds a light view of it with its own scheduler
instance, so the scheduler's per-call state is private to that call.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import weakref
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..config.recipes import (
    SCHEDULERS, GenerationOptions,
)
from ..errors import InvalidOptionError
from ..models.adapters import UNetAdapters
from ..models.cache import ModelCache
from ..models.loaders import is_compiled
from ..models.lowmem import release_free_memory


@dataclass(frozen=True)
class GeneratedImage:
    image: object  # PIL.Image.Image
    seed: int
    sampler: str
    nsfw: bool | None  # None when the safety checker was off
    prompt_tokens: int


ProgressCallback = Callable[[int, int], None]  # (step done, total steps); may raise CancelledError
PreviewCallback = Callable[["object"], None]  # receives the image as it forms: a small RGB uint8 array

# SD 1.5's four latent channels to RGB, a fixed linear map that needs no weights (the factors ComfyUI and
# A1111 use for their cheap live previews).
LATENT_RGB = ((0.3512, 0.2297, 0.3227), (0.3250, 0.4974, 0.2350), (-0.2829, 0.1762, 0.2721), (-0.2120, -0.2616, -0.7177))
# The job's panel refreshes once a second. A preview copies the latents from the GPU, which waits for the step
# to finish; on a GPU, where steps take milliseconds, one every step would stall the queue of work, so a step's
# preview is skipped unless this long has passed since the last one (on a CPU every step is slower than this).
PREVIEW_INTERVAL_S = 0.25


def latent_preview(latents) -> "object":
    """The image as it forms, from the current latents: (h/8, w/8, 3) uint8, a fraction of a millisecond."""
    channels = latents[0].float().cpu().numpy()  # (4, h, w)
    rgb = np.einsum("chw,cr->hwr", channels[:4], np.asarray(LATENT_RGB, dtype=np.float32))
    return np.clip((rgb + 1.0) * 127.5, 0, 255).astype(np.uint8)


_PROMPT_CACHE_SIZE = 32
# One small LRU per text encoder (weakly held: it goes when its model goes).
_prompt_caches: "weakref.WeakKeyDictionary[object, OrderedDict]" = weakref.WeakKeyDictionary()
_prompt_cache_lock = threading.Lock()


def _encode_prompt(pipe, prompt: str, negative_prompt: str, guided: bool):
    """Text-encoder output for (prompt, negative prompt), cached, so "generate again" and batches of
    one prompt skip the encoder."""
    key = (prompt, negative_prompt, guided, str(pipe.device))
    with _prompt_cache_lock:
        cache = _prompt_caches.setdefault(pipe.text_encoder, OrderedDict())
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    embeds = pipe.encode_prompt(prompt, pipe.device, 1, guided, negative_prompt or None)
    with _prompt_cache_lock:
        cache[key] = embeds
        while len(cache) > _PROMPT_CACHE_SIZE:
            cache.popitem(last=False)
    return embeds


@contextlib.contextmanager
def _deepcache(pipe, interval: int):
    if interval <= 1:
        yield
        return
    from DeepCache import DeepCacheSDHelper  # DeepCache loads with the fast recipe only

    helper = DeepCacheSDHelper(pipe=pipe)
    helper.set_params(cache_interval=interval, cache_branch_id=0)
    helper.enable()
    try:
        yield
    finally:
        helper.disable()  # restores the UNet's own forward methods


_device_thread: ThreadPoolExecutor | None = None
_device_thread_lock = threading.Lock()
_on_device_thread = threading.local()  # .yes is True on the device thread


def runs_on_device_thread(pipe) -> bool:
    """Whether ``pipe``'s images are made on the process's one device thread (:func:`on_device_thread`): a CUDA
    pipeline, or one whose UNet is compiled."""
    return pipe.device.type == "cuda" or is_compiled(pipe.unet)


def on_device_thread(action):
    """Run ``action`` on the one thread that makes every CUDA (or compiled) image in this process, and return its
    result (or raise its error). PyTorch keeps per-thread state that a GPU image needs:
    - CUDA graphs, which make a compiled UNet fast, are recorded by a per-thread graph manager that exists only on
      the thread that first used it: measured on an H200, the turbo UNet recorded on one thread, then the default
      recipe's first image on another failed with an AssertionError.
    - cuDNN's execution plans for convolutions and attention are cached per thread: measured on an H100, an eager
      `fast` image took 0.27 s on a thread that had made one before and 0.9-1.2 s as the first on a new thread.
    The dashboard's worker, the command line and Ray's threaded actors all reach the GPU through here."""
    global _device_thread
    with _device_thread_lock:
        if _device_thread is None:
            _device_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="v2i-device",
                                                initializer=lambda: setattr(_on_device_thread, "yes", True))
    if getattr(_on_device_thread, "yes", False):
        return action()  # already there (waiting on itself would never end)
    return _device_thread.submit(action).result()


def count_clip_tokens(pipe, text: str) -> int:
    """Tokens the pipeline's own tokenizer gives ``text``, without the start and end markers."""
    return len(pipe.tokenizer(text, truncation=False).input_ids) - 2


@dataclass(frozen=True)
class Painting:
    """One image of a batch: its words, its options (with a seed), and where its progress and preview go."""

    prompt: str
    negative_prompt: str
    options: GenerationOptions
    progress: ProgressCallback | None = None
    preview: PreviewCallback | None = None


def batch_key(options: GenerationOptions) -> tuple:
    """Images whose options share this key can be painted as one batch: one scheduler, one size, one step count,
    one UNet set-up; each keeps its own prompt, seed and guidance (with or without classifier-free guidance
    alike, since that doubles the UNet's batch)."""
    return (options.recipe, options.scheduler, options.steps, options.width, options.height,
            options.deepcache_interval, options.safety_checker, options.guidance > 1.0)


def generate_image(
    pipe,
    prompt: str,
    negative_prompt: str,
    options: GenerationOptions,
    *,
    progress: ProgressCallback | None = None,
    preview: PreviewCallback | None = None,
    preview_interval_s: float = PREVIEW_INTERVAL_S,
):
    """Run the pipeline once. ``options`` must have passed :func:`check_inputs` and carry a seed. ``preview``,
    when given, receives the image as it forms after the first step and then at most every
    ``preview_interval_s`` (nothing of it is stored). A CUDA or compiled pipeline makes the image on the
    process's device thread (:func:`on_device_thread`); the callbacks are called there."""
    (made,) = generate_images(pipe, [Painting(prompt, negative_prompt, options, progress, preview)],
                              preview_interval_s=preview_interval_s)
    if isinstance(made, BaseException):
        raise made
    return made


def generate_images(pipe, paintings: Sequence[Painting], *, preview_interval_s: float = PREVIEW_INTERVAL_S) -> list:
    """Paint ``paintings`` (which share a :func:`batch_key`) as one batch: the UNet sees them all at once, each
    with its own prompt, seed and guidance, so each equals the image made alone with its seed (bit for bit on
    the CPU; within the device's rounding on a GPU). Returns, in order, a :class:`GeneratedImage` or the error
    that ended that one: a painting whose progress raises (its job was cancelled) leaves at that step and gets
    the error, and the others go on; when every one has left, the batch stops."""
    if not paintings:
        return []
    if len({batch_key(p.options) for p in paintings}) > 1:
        raise InvalidOptionError("the images of a batch must share recipe, scheduler, steps, size and guidance kind")
    for painting in paintings:
        if painting.options.seed is None:
            raise InvalidOptionError("seed must be chosen before generating (use GenerationOptions.with_seed)")
    make = functools.partial(_paint, pipe, list(paintings), preview_interval_s)
    return on_device_thread(make) if runs_on_device_thread(pipe) else make()


class _Batch:
    """What one batch's callbacks share: which paintings are still wanted, and why the others left."""

    def __init__(self, paintings: Sequence[Painting], preview_interval_s: float):
        self.paintings = paintings
        self.ended: dict[int, BaseException] = {}
        self.preview_interval_s = preview_interval_s
        self.last_preview = [-float("inf")] * len(paintings)

    def on_step_end(self, pipe, step: int, latents) -> None:
        for i, painting in enumerate(self.paintings):
            if i in self.ended:
                continue  # it left the batch: its row still runs (shapes stay), its image is never kept
            if painting.preview is not None and time.monotonic() - self.last_preview[i] >= self.preview_interval_s:
                self.last_preview[i] = time.monotonic()
                painting.preview(latent_preview(latents[i:i + 1]))
            if painting.progress is not None:
                try:
                    painting.progress(step + 1, pipe.num_timesteps)  # may raise CancelledError
                except Exception as err:  # noqa: BLE001 (it is that painting's ending, handed back)
                    self.ended[i] = err
        if len(self.ended) == len(self.paintings):
            raise next(iter(self.ended.values()))  # nobody waits for this batch any more


def _guided_view(pipe_class, guidance, guided: bool):
    """A pipeline class whose classifier-free guidance scale is one per image (a (batch, 1, 1, 1) tensor, which
    diffusers' ``noise_uncond + scale * (noise_text - noise_uncond)`` broadcasts), and whose use of guidance is
    decided by the batch's key rather than by comparing that tensor with 1."""
    return type(f"{pipe_class.__name__}PerImageGuidance", (pipe_class,), {
        "guidance_scale": property(lambda self: guidance),
        "do_classifier_free_guidance": property(lambda self: guided),
    })


@contextlib.contextmanager
def _one_image_at_a_time(view, images: int, guided: bool, deepcache: bool):
    """On the CPU, the UNet and the decoder see a batch one image at a time (its unconditional and conditional
    rows together, as when it is made alone), so a batched image has exactly the pixels it has alone. A CPU gains
    no speed from a larger batch, and its BLAS rounds a batch of one differently from a batch of several (a matrix
    times a vector against a matrix times a matrix: 1e-6 in the UNet's output, measured, which moved a pixel by
    one level). On a GPU the whole batch goes through at once: that is the point of batching there. DeepCache
    keeps one cache per UNet block, so its batches go through whole on the CPU too (within rounding)."""
    import torch  # torch loads on first use: pages import core without it

    unet, vae = view.unet, view.vae
    if images == 1 or view.device.type != "cpu" or deepcache:
        yield  # nothing to split, a GPU, or DeepCache's wrapped UNet
        return
    rows = 2 if guided else 1  # the UNet's rows per image: [unconditional..., conditional...] under guidance
    forward, decode = unet.forward, vae.decode

    def image_rows(i: int) -> list[int]:
        return [i + k * images for k in range(rows)]

    def split_forward(sample, timestep, encoder_hidden_states, *args, **kwargs):
        kwargs["return_dict"] = False
        outputs = {}
        for i in range(images):
            picked = image_rows(i)
            outputs[i] = forward(sample[picked], timestep, encoder_hidden_states[picked], *args, **kwargs)[0]
        return (torch.cat([outputs[i][k:k + 1] for k in range(rows) for i in range(images)]),)

    def split_decode(latents, *args, **kwargs):
        kwargs["return_dict"] = False
        return (torch.cat([decode(latents[i:i + 1], *args, **kwargs)[0] for i in range(images)]),)

    saved = {name: vars(module)[name] for module, name in ((unet, "forward"), (vae, "decode")) if name in vars(module)}
    unet.forward, vae.decode = split_forward, split_decode
    try:
        yield
    finally:  # the modules' own methods again (or what stood there before: DeepCache leaves its unwrapped forward)
        for module, name in ((unet, "forward"), (vae, "decode")):
            if name in saved:
                setattr(module, name, saved[name])
            else:
                delattr(module, name)


def _paint(pipe, paintings: list[Painting], preview_interval_s: float):
    """:func:`generate_images`, on the thread that makes them."""
    import torch  # torch loads on first use: pages import core without it

    options = paintings[0].options  # what the batch shares (batch_key)
    guided = options.guidance > 1.0
    # 1. A view of the pipeline for this call: its own scheduler, the UNet's adapters as it wants them.
    view = _view_for(pipe, paintings, guided)
    # 2. Seeded noise on the CPU, one generator per image, so a seed gives the same image on any device and in
    #    any batch.
    generators = [torch.Generator("cpu").manual_seed(p.options.seed) for p in paintings]
    batch = _Batch(paintings, preview_interval_s)
    on_gpu = view.device.type == "cuda"

    def on_step_end(_pipe, step, _timestep, callback_kwargs):
        batch.on_step_end(_pipe, step, callback_kwargs["latents"])
        if step + 1 == _pipe.num_timesteps and not on_gpu:
            release_free_memory()  # the UNet's freed activations, before the decoder's large ones
        return callback_kwargs

    # 3. Each prompt's text encoding, reused when the same prompt comes again.
    with torch.inference_mode():
        encoded = [_encode_prompt(view, p.prompt, p.negative_prompt, guided) for p in paintings]
    prompt_embeds = torch.cat([positive for positive, _ in encoded])
    negative_embeds = torch.cat([negative for _, negative in encoded]) if guided else None
    # 4. Denoise and decode (DeepCache wraps the shared UNet for this call only: we hold its lock).
    deepcache = options.deepcache_interval > 1
    try:
        with _deepcache(view, options.deepcache_interval), _one_image_at_a_time(view, len(paintings), guided,
                                                                                deepcache), torch.inference_mode():
            result = view(
                prompt_embeds=prompt_embeds,
                negative_prompt_embeds=negative_embeds,
                num_inference_steps=options.steps,
                guidance_scale=float(options.guidance),  # for the pipeline's checks: the view reads one per image
                width=options.width,
                height=options.height,
                generator=generators,
                callback_on_step_end=on_step_end,
            )
    except BaseException:
        if len(batch.ended) == len(paintings):  # every painting left: each with its own reason
            return [batch.ended[i] for i in range(len(paintings))]
        raise
    finally:
        if not on_gpu:
            release_free_memory()  # the decoder's, and a cancelled run's
    # 5. One result per painting: its image, or why it left.
    return _results(pipe, paintings, batch, result)


def _view_for(pipe, paintings: list[Painting], guided: bool):
    """A light view of ``pipe`` for one call: a private scheduler from the model's own configuration, each image's
    guidance, and the shared UNet's adapters set as this pipeline wants them (the turbo view shares the UNet)."""
    import diffusers  # diffusers loads with Stable Diffusion, on first use
    import torch  # torch loads on first use: pages import core without it

    options = paintings[0].options
    if getattr(pipe.unet, "_hf_peft_config_loaded", False):
        UNetAdapters.of(pipe.unet).prepare(pipe)
    spec = SCHEDULERS[options.scheduler]
    scheduler = getattr(diffusers, spec.class_name).from_config(pipe.scheduler.config, **dict(spec.config))
    components = {**pipe.components, "scheduler": scheduler}
    if options.deepcache_interval > 1:
        # DeepCache rewires the UNet's blocks, which a compiled UNet (V2I_COMPILE) cannot follow: it gets the
        # eager module under the compiled one (the same weights).
        components["unet"] = pipe.unet._orig_mod if is_compiled(pipe.unet) else pipe.unet
    dtype = getattr(pipe.unet, "dtype", torch.float32)
    guidance = torch.tensor([float(p.options.guidance) for p in paintings], dtype=dtype,
                            device=pipe.device).view(-1, 1, 1, 1)
    view = _guided_view(type(pipe), guidance, guided)(**components)
    view.set_progress_bar_config(disable=True)
    return view


def _results(pipe, paintings: list[Painting], batch: "_Batch", result) -> list:
    """One result per painting: its image, or the error it left with."""
    sampler = SCHEDULERS[paintings[0].options.scheduler].sampler
    nsfw_flags = result.nsfw_content_detected
    return [batch.ended[i] if i in batch.ended else GeneratedImage(
        image=result.images[i],
        seed=painting.options.seed,
        sampler=sampler,
        nsfw=bool(nsfw_flags[i]) if nsfw_flags is not None else None,
        prompt_tokens=count_clip_tokens(pipe, painting.prompt),
    ) for i, painting in enumerate(paintings)]


def warm_up(models: ModelCache) -> bool:
    """On a GPU: load SD and run two 512x512 steps, so compilation and kernel selection happen at start,
    not during the first person's image; the turbo pipeline too where the server starts from it
    (``V2I_RECIPE=turbo``: on CUDA it has a UNet of its own). Skipped on the CPU, where it would only cost
    minutes."""
    if models.device != "cuda":
        return False
    for recipe in dict.fromkeys(["default", models.settings.recipe]):  # and the recipe the server starts from
        sd = models.stable_diffusion(recipe=recipe)
        with sd.lock:
            generate_image(sd.model, "warm-up", "", GenerationOptions.from_recipe(recipe, steps=2, seed=0))
    return True
