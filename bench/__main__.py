"""``python -m bench [--quick]``: the figures in docs/performance.md, one ``name: value`` line each.

Full-size architectures with random weights (timing does not depend on weight values) are built once
in the real on-disk formats and run through the project's own ``core`` code. Ratios come from one
run, the recipes (turbo included, on a UNet of its own) alternating in rounds, each round printed, as
medians of the rounds' ratios. On CUDA, images per second at batch 1, 2, 4 and 8 (``V2I_GPU_BATCH``).

``--quick`` times a few denoising steps of each recipe and the fixed costs (prompt encoding, latent
set-up, VAE decode) in the same ``generate_image`` call, then counts UNet evaluations from each recipe's
own scheduler to give the whole image; the full run generates whole images. Both end with the memory
section (``bench.memory``: ``peak_rss_gb``, the peak resident memory of a dashboard-like process, in a
child process of its own). On this project's 2-core CPU in November 2026, ``--quick`` took about 20
minutes: ``--only sd`` 8.5 of them, ``--only memory`` 8.

``--device cuda`` runs the Stable Diffusion section on a GPU in fp16, as the dashboard loads it there:
whole images only (a GPU runs steps asynchronously, so per-step marks would not time them), after one
warm-up image per recipe, and the preview's cost as the difference between images made with and
without it.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np

from bench.fullsize import ensure_fullsize

WHISPER_TOKENS = 90  # about what 30 s of speech decodes to (75 words at 150 words a minute)


def out(name: str, value, fmt: str = ".3f") -> None:
    print(f"{name}: {value:{fmt}}" if isinstance(value, float) else f"{name}: {value}", flush=True)


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# -- Stable Diffusion ------------------------------------------------------------------------------

def _run_recipe(pipe, name: str, steps: int | None, preview=None, preview_interval_s: float | None = None):
    """One generate_image call through core; returns (total seconds, seconds of each step)."""
    from core.generation.diffusion import PREVIEW_INTERVAL_S, generate_image
    from core.config.recipes import GenerationOptions, check_inputs

    options = GenerationOptions.from_recipe(name, seed=0)
    if steps is not None:
        options = GenerationOptions(**{**options.__dict__, "steps": steps})
    check_inputs(options)
    marks = []
    slicing = name == "original"  # SD 1.5's published recipe sliced attention to save memory
    if slicing:
        pipe.enable_attention_slicing()
    try:
        started = time.perf_counter()
        generate_image(pipe, f"a lighthouse at dusk, {name}, {time.time()}", "blurry", options,
                       progress=lambda step, total: marks.append(time.perf_counter()), preview=preview,
                       preview_interval_s=PREVIEW_INTERVAL_S if preview_interval_s is None else preview_interval_s)
        total = time.perf_counter() - started
    finally:
        if slicing:
            pipe.disable_attention_slicing()
    return total, np.diff(marks).tolist()


def _evaluations(pipe, name: str) -> tuple[int, int]:
    """(full, shallow) UNet evaluations for the recipe's whole image, from its own scheduler."""
    import diffusers

    from core.config.recipes import RECIPES, SCHEDULERS

    recipe = RECIPES[name]
    spec = SCHEDULERS[recipe.scheduler]
    scheduler = getattr(diffusers, spec.class_name).from_config(pipe.scheduler.config, **dict(spec.config))
    scheduler.set_timesteps(recipe.steps)
    n = len(scheduler.timesteps)
    if recipe.deepcache_interval > 1:
        full = math.ceil(n / recipe.deepcache_interval)
        return full, n - full
    return n, 0


def bench_sd(paths, quick: bool, repeats: int, device: str = "cpu") -> None:
    from core.models.cache import load_stable_diffusion

    pipe = load_stable_diffusion(str(paths["sd"]), device)
    turbo_pipe = turbo_pipeline(paths, device)
    names = ["original", "default", "fast", "turbo"]
    pipes = {name: turbo_pipe if name == "turbo" else pipe for name in names}
    if device != "cpu":
        quick = False  # whole images: steps run asynchronously there
        for name in names:
            _run_recipe(pipes[name], name, None)  # warm-up: kernels chosen, memory pooled
    # Quick: 3 steps (4 for fast: full, shallow, shallow, full) give step costs and the fixed cost. Turbo's whole
    # image is 4 steps: always made whole.
    quick_steps = {"original": 3, "default": 3, "fast": 4, "turbo": None}
    images: dict[str, list[float]] = {n: [] for n in names}
    step_costs: dict[str, list[float]] = {n: [] for n in [*names, "fast_shallow"]}
    fixed_costs: dict[str, list[float]] = {n: [] for n in names}
    for round_ in range(repeats):
        for name in names:  # the recipes alternate within each round: a load that comes and goes moves all alike
            total, steps = _run_recipe(pipes[name], name, quick_steps[name] if quick else None)
            if quick and name != "turbo":
                # Callbacks mark the end of each step; their differences time steps 2..n. Step 1 costs
                # what a full step costs; what is left of the call is the fixed cost.
                if name == "fast":  # DeepCache every 3rd step: full, shallow, shallow, full
                    shallow, full = statistics.median(steps[:2]), steps[2]
                    fixed = total - 2 * full - 2 * shallow
                    step_costs["fast_shallow"].append(shallow)
                else:
                    full = shallow = statistics.median(steps)
                    fixed = total - (len(steps) + 1) * full
                full_evals, shallow_evals = _evaluations(pipe, name)
                images[name].append(fixed + full_evals * full + shallow_evals * shallow)
                step_costs[name].append(full)
                fixed_costs[name].append(fixed)
            else:
                images[name].append(total)
            print(f"# round {round_ + 1} {name}: {images[name][-1]:.3g} s per image", flush=True)
        print(f"# round {round_ + 1} against original: default {images['original'][-1] / images['default'][-1]:.2f}x, "
              f"fast {images['original'][-1] / images['fast'][-1]:.2f}x, "
              f"turbo {images['original'][-1] / images['turbo'][-1]:.2f}x", flush=True)
    del turbo_pipe
    median = {n: statistics.median(v) for n, v in images.items()}
    out("sd_turbo_s_per_image", median["turbo"], ".3g")
    out("sd_turbo_speedup_vs_seed_recipe", statistics.median(o / t for o, t in zip(images["original"], images["turbo"])),
        ".3g")
    out("sd_original_s_per_image", median["original"], ".3g")
    out("sd_default_s_per_image", median["default"], ".3g")
    out("sd_fast_s_per_image", median["fast"], ".3g")
    out("sd_speedup_vs_seed_recipe", statistics.median(o / d for o, d in zip(images["original"], images["default"])), ".2f")
    out("sd_fast_speedup_vs_seed_recipe", statistics.median(o / f for o, f in zip(images["original"], images["fast"])), ".2f")
    if quick:
        out("sd_unet_step_s", statistics.median(step_costs["default"]), ".2f")
        out("sd_unet_step_sliced_s", statistics.median(step_costs["original"]), ".2f")
        out("sd_deepcache_shallow_step_s", statistics.median(step_costs["fast_shallow"]), ".2f")
        out("sd_fixed_cost_s", statistics.median(fixed_costs["default"]), ".2f")
        for name in names:
            full_evals, shallow_evals = _evaluations(pipe, name)
            out(f"sd_{name}_unet_evaluations", f"{full_evals} full + {shallow_evals} shallow")
    # What the live preview adds: its projection and PNG encoding per step, against a default step.
    if device != "cpu":
        out("preview_overhead_pct", preview_overhead_measured(pipe, repeats), ".2f")
        out("preview_overhead_every_step_pct", preview_overhead_measured(pipe, repeats, interval_s=0.0), ".2f")
        out("unet_step_tflop", _unet_tflop(pipe, device), ".2f")
        del pipe
        return
    default_step = statistics.median(step_costs["default"]) if quick else median["default"] / 20
    out("preview_s_per_step", preview_seconds(), ".5f")
    out("preview_overhead_pct", 100 * preview_seconds() / default_step, ".3f")
    # How close the UNet runs to the machine's matrix-multiply peak.
    unet_tflop = _unet_tflop(pipe, device)
    peak = matmul_gflops()
    step = statistics.median(step_costs["default"]) if quick else None
    out("unet_step_tflop", unet_tflop, ".2f")
    out("matmul_2048_gflops", peak, ".0f")
    if step:
        out("unet_gflops", unet_tflop * 1e3 / step, ".0f")
        out("unet_share_of_matmul_peak", unet_tflop * 1e3 / step / peak, ".2f")
    del pipe


def bench_sd_compiled(paths, repeats: int) -> None:
    """V2I_COMPILE=1 on CUDA: the UNets compiled as the dashboard compiles them, whole images of the default,
    fast and turbo recipes, each run in a thread of its own as the dashboard's worker runs jobs. (The original
    recipe is left out: its attention slicing swaps the UNet's attention processors, which would recompile.)"""
    import threading

    from core.generation.diffusion import generate_image

    from core.config.recipes import GenerationOptions
    from core.models.cache import add_adapter, load_stable_diffusion

    pipe = load_stable_diffusion(str(paths["sd"]), "cuda", compile_unet=True)
    turbo = add_adapter(pipe, str(paths["lcm_lora"]), str(paths["taesd"]), "cuda", compile_unet=True)
    pipes = {"turbo": turbo, "default": pipe, "fast": pipe}

    def image_in_a_thread(name: str) -> float:
        options = GenerationOptions.from_recipe(name, seed=0)
        result: list = []

        def run():
            try:
                result.append(_timed(lambda: generate_image(pipes[name], f"a lighthouse, {time.time()}", "", options)))
            except Exception as err:  # reported, not raised: the other recipes still get their figures
                result.append(err)

        worker = threading.Thread(target=run)
        worker.start()
        worker.join()
        if isinstance(result[0], Exception):
            raise result[0]
        return result[0]

    for name in pipes:
        try:
            out(f"sd_compiled_{name}_first_image_s", image_in_a_thread(name), ".1f")  # compiling included
            times = [image_in_a_thread(name) for _ in range(max(repeats, 3))]
            out(f"sd_compiled_{name}_s_per_image", statistics.median(times), ".3g")
        except Exception as err:
            import traceback

            print("".join(f"# {line}" for line in traceback.format_exception(err)[-12:]), flush=True)
            out(f"sd_compiled_{name}_s_per_image", f"failed: {type(err).__name__}: {str(err)[:300]}")


def _unet_tflop(pipe, device: str) -> float:
    """Floating-point work of one UNet evaluation at batch 2 (classifier-free guidance), 64x64 latents."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    dtype, config = pipe.unet.dtype, pipe.unet.config
    latents = torch.randn(2, config.in_channels, 64, 64, device=device, dtype=dtype)
    text = torch.randn(2, 77, config.cross_attention_dim, device=device, dtype=dtype)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        pipe.unet(latents, torch.tensor(500, device=device), encoder_hidden_states=text)
    return counter.get_total_flops() / 1e12


def preview_overhead_measured(pipe, repeats: int, interval_s: float | None = None) -> float:
    """Percent a default image takes longer with the worker's preview than without (whole images, alternating);
    ``interval_s`` 0 previews every step."""
    from core.execution.progress import Previews

    previews = Previews()
    plain, shown = [], []
    for _ in range(max(repeats, 5)):
        plain.append(_run_recipe(pipe, "default", None)[0])
        shown.append(_run_recipe(pipe, "default", None, preview=lambda rgb: previews.update("bench", rgb),
                                 preview_interval_s=interval_s)[0])
    return 100 * (statistics.median(shown) - statistics.median(plain)) / statistics.median(plain)


def turbo_pipeline(paths, device: str):
    """The turbo recipe on a UNet of its own, warmed up: the steady state of a streak of turbo images (on the CPU,
    the LoRA fused into the UNet), which alternating with the other recipes on one shared UNet would undo."""
    from core.generation.diffusion import generate_image
    from core.config.recipes import GenerationOptions
    from core.models.cache import add_adapter, load_stable_diffusion

    pipe = add_adapter(load_stable_diffusion(str(paths["sd"]), device), str(paths["lcm_lora"]), str(paths["taesd"]),
                     device)
    options = GenerationOptions.from_recipe("turbo", seed=0)
    # Warm-up: a streak's first two images. The second fuses the LoRA into the UNet on the CPU, and the first fusing
    # in a process is the first write to the UNet's file-mapped weights, which copies them (about 11 s, once).
    warm_up = [_timed(lambda: generate_image(pipe, f"warm-up {i}", "", options)) for i in range(2)]
    print(f"# turbo warm-up: {', '.join(f'{t:.3g}' for t in warm_up)} s", flush=True)
    return pipe


def bench_batches(paths, repeats: int, device: str) -> None:
    """Images per second when the worker paints 1, 2, 4 or 8 same-recipe jobs as one batch (each its own prompt and
    seed), for the default and turbo recipes, and what a batch adds to its first job's wait against painting it
    alone. On a GPU only: on the CPU a batch goes through the UNet one image at a time (core.generation.diffusion)."""
    from core.generation.diffusion import Painting, generate_images
    from core.config.recipes import GenerationOptions
    from core.models.cache import load_stable_diffusion

    pipes = {"default": load_stable_diffusion(str(paths["sd"]), device), "turbo": turbo_pipeline(paths, device)}
    for name, pipe in pipes.items():
        alone = None
        for size in (1, 2, 4, 8):
            def batch():
                paintings = [Painting(f"a lighthouse at dusk, {i}, {time.time()}", "blurry",
                                      GenerationOptions.from_recipe(name, seed=i)) for i in range(size)]
                generate_images(pipe, paintings)

            batch()  # warm-up at this size
            seconds = statistics.median(_timed(batch) for _ in range(max(repeats, 3)))
            alone = seconds if size == 1 else alone
            out(f"sd_{name}_images_per_s_batch_{size}", size / seconds, ".2f")
            out(f"sd_{name}_batch_{size}_first_job_added_s", seconds - alone, ".3f")
    del pipes


def preview_seconds(repeats: int = 50) -> float:
    """One step's preview as the worker makes it: the latents of a 512x512 image projected to RGB, as PNG."""
    import torch

    from core.generation.diffusion import latent_preview
    from core.execution.progress import Previews

    latents, previews = torch.randn(1, 4, 64, 64), Previews()
    return statistics.median(_timed(lambda: previews.update("bench", latent_preview(latents))) for _ in range(repeats))


# -- Whisper ---------------------------------------------------------------------------------------

def bench_whisper(paths, repeats: int) -> None:
    import whisper

    from core.models.cache import load_whisper
    from core.generation.transcribe import TranscribeOptions, transcribe

    rng = np.random.default_rng(0)
    seconds = np.arange(30 * 16_000) / 16_000
    audio = (0.1 * np.sin(2 * np.pi * 220 * seconds) + 0.05 * rng.normal(size=seconds.shape)).astype(np.float32)
    tokenizer = whisper.tokenizer.get_tokenizer(multilingual=True)
    models = {"fp32": load_whisper(str(paths["whisper"]), "cpu"), "int8": load_whisper(str(paths["whisper"]), "cpu", int8=True)}
    # Exactly WHISPER_TOKENS text tokens: end-of-text and every special token suppressed, so random
    # weights decode as long as real speech would, in one 30 s window, greedily.
    specials = list(range(tokenizer.eot, models["fp32"].dims.n_vocab))
    options = TranscribeOptions(greedy=True, sample_len=WHISPER_TOKENS, language="en",
                                extra=(("suppress_tokens", [-1, *specials]), ("without_timestamps", True),
                                       ("no_speech_threshold", None)))
    for model in models.values():
        transcribe(model, audio[:16_000 * 5], options)  # warm-up
    times: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(repeats):
        for name, model in models.items():
            started = time.perf_counter()
            result = transcribe(model, audio, options)
            times[name].append(time.perf_counter() - started)
    assert len(result.text.split()) > WHISPER_TOKENS // 4, "the decoder stopped early: the figure would flatter it"
    out("whisper_30s_s", statistics.median(times["fp32"]), ".2f")
    out("whisper_30s_int8_s", statistics.median(times["int8"]), ".2f")
    out("whisper_decoded_tokens", WHISPER_TOKENS)


# -- CLIP ------------------------------------------------------------------------------------------

def bench_clip(paths, repeats: int, count: int = 64) -> None:
    from PIL import Image

    from core.analytics.embeddings import embed_images
    from core.models.cache import LoadedModel, load_clip

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (512, 512, 3), dtype=np.uint8)) for _ in range(count)]
    fp32 = LoadedModel(load_clip(str(paths["clip"]), "cpu"), "clip", "cpu")
    int8 = LoadedModel(load_clip(str(paths["clip"]), "cpu", int8=True), "clip-int8", "cpu")
    embed_images(fp32, images[:4])
    embed_images(int8, images[:4])
    rates: dict[str, list[float]] = {"single": [], "batched": [], "int8": []}
    for _ in range(repeats):
        rates["single"].append(16 / _timed(lambda: embed_images(fp32, images[:16], batch_size=1)))
        rates["batched"].append(count / _timed(lambda: embed_images(fp32, images, batch_size=32)))
        rates["int8"].append(count / _timed(lambda: embed_images(int8, images, batch_size=32)))
    reference, quantized = embed_images(fp32, images, batch_size=32), embed_images(int8, images, batch_size=32)
    cosine = np.sum(reference * quantized, axis=1)
    best = max(("batched", "int8"), key=lambda k: statistics.median(rates[k]))
    out("clip_img_per_s", statistics.median(rates[best]), ".1f")
    out("clip_img_per_s_config", f"batch 32, {'int8' if best == 'int8' else 'fp32'}")
    out("clip_img_per_s_one_at_a_time", statistics.median(rates["single"]), ".1f")
    out("clip_img_per_s_batched_fp32", statistics.median(rates["batched"]), ".1f")
    out("clip_img_per_s_batched_int8", statistics.median(rates["int8"]), ".1f")
    out("clip_int8_cosine_to_fp32_min", float(cosine.min()), ".4f")
    out("clip_int8_cosine_to_fp32_mean", float(cosine.mean()), ".4f")


def bench_similarity(repeats: int) -> None:
    from bench.history import median_time
    from bench.similarity import random_embeddings
    from core.analytics.vectors import similarity_matrix, top_k_all

    vectors = random_embeddings(10_000)
    out("similarity_10k_s", median_time(lambda: similarity_matrix(vectors), repeats), ".3f")
    out("topk_all_10k_s", median_time(lambda: top_k_all(vectors, 10), repeats), ".3f")


def bench_memory(paths) -> None:
    """The peak resident memory of a dashboard-like process with all three models and the turbo recipe loaded on
    the CPU (``bench.memory``, in a child process of its own)."""
    from bench.memory import measure

    steps = measure(paths)
    out("peak_rss_gb", max(steps.values()), ".2f")


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="step costs instead of whole images (about 20 minutes on 2 cores)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--only", choices=["sd", "whisper", "clip", "similarity", "memory"], action="append")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="where Stable Diffusion runs (the other sections run on the CPU)")
    parser.add_argument("--compile", action="store_true", help="with --device cuda: also the compiled UNets (V2I_COMPILE=1)")
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 1)
    torch.set_flush_denormal(True)  # random weights must not wander into slow subnormal arithmetic
    started = time.perf_counter()
    out("machine", f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    if args.device == "cuda":
        out("gpu", torch.cuda.get_device_name())
    sections = args.only or ["similarity", "clip", "whisper", "sd", "memory"]
    needed = ("whisper", "clip", "sd") if "memory" in sections else sections
    paths = ensure_fullsize(models=tuple(s for s in ("whisper", "clip", "sd") if s in needed))
    if "similarity" in sections:
        bench_similarity(max(repeats, 3))
    if "clip" in sections:
        bench_clip(paths, max(repeats, 3))
    if "whisper" in sections:
        bench_whisper(paths, max(repeats, 3))
    if "sd" in sections:
        bench_sd(paths, args.quick, repeats, args.device)
        if args.device == "cuda":
            bench_batches(paths, repeats, args.device)
        else:
            out("sd_batches", "not measured on the CPU (a batch is painted one image at a time there)")
        if args.compile and args.device == "cuda":
            bench_sd_compiled(paths, repeats)
    if "memory" in sections:
        bench_memory(paths)
    out("bench_wall_s", time.perf_counter() - started, ".0f")


if __name__ == "__main__":
    main()
