"""Peak resident memory of a dashboard-like process: Streamlit and the dashboard's own modules imported, whisper,
Stable Diffusion and CLIP loaded on the CPU through ``core`` (full-size architectures, random weights); before
each image a transcription and a CLIP embedding, then whisper's and CLIP's weights resting while it is painted, as
a job does. A 2-step 512x512 image, then the turbo recipe loaded beside them (its LCM-LoRA on the same UNet, TAESD
its decoder), two 1-step turbo images (the second fuses the LoRA into the UNet's weights), a 1-step default image
again (the UNet's own weights read back from its checkpoint), then a lone turbo image and a default one, as a fair
queue alternates them.

    python -m bench.memory          # or as part of: python -m bench --quick

Prints ``peak_rss_gb`` (target: at most 6) and what each step added. It runs in a child process of its own, so
nothing else this benchmark loaded is counted: the child reads its own high-water mark (``VmHWM``, which starts
afresh at exec), not ``ru_maxrss``, which a child inherits from the parent that started it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def peak_gb() -> float:
    """This process's peak resident memory in GB since it started (or last exec'd): ``VmHWM``. ``ru_maxrss``
    would be wrong here: it survives exec, so a child started by a parent holding 9 GB reads 9 GB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20  # kB
    raise RuntimeError("/proc/self/status has no VmHWM line: peak memory is measured on Linux only")


CHILD = r"""
import json, os, sys
import numpy as np
# What a dashboard process imports besides the models: Streamlit, the charts' and tables' libraries, our widgets.
import altair, pandas, plotly.graph_objects, streamlit
import ui.forms, ui.render, ui.resources
from core import GenerationOptions, ModelCache, load_settings
from core.generation.diffusion import generate_image
from core.analytics.embeddings import embed_images
from core.generation.transcribe import transcribe

from bench.memory import peak_gb as gb

steps = {"start": gb()}
settings = load_settings({"V2I_WHISPER_MODEL": sys.argv[1], "V2I_SD_MODEL": sys.argv[2], "V2I_CLIP_MODEL": sys.argv[3],
                          "V2I_LCM_LORA": sys.argv[4], "V2I_TAESD": sys.argv[5]})
models = ModelCache(settings, device="cpu")
whisper, sd, clip = models.whisper(), models.stable_diffusion(), models.clip()
steps["loaded"] = gb()
from PIL import Image
speech = (np.random.default_rng(0).standard_normal(16_000 * 5) * 0.05).astype(np.float32)


def job(loaded, options, negative="blurry"):
    # What a job and the worker's idle time do around each image: whisper transcribes the recording and CLIP
    # embeds the last image (their weights read back if they rested), then they rest while the image is painted
    # (core.execution.pipeline.compute_generation). Weights load as mappings of their files and become resident when first
    # used: each model runs before every image, so every image's peak counts what running them leaves behind.
    with whisper.use() as model:
        transcribe(model, speech)
    embed_images(clip, [Image.new("RGB", (512, 512))])
    models.rest_idle()
    generate_image(loaded.model, "a lighthouse at dusk", negative, options)


job(sd, GenerationOptions(steps=2, seed=0))
steps["generated"] = gb()
turbo = models.stable_diffusion(recipe="turbo")
steps["turbo_loaded"] = gb()
for _ in range(2):  # the second turbo run in a row fuses the LoRA into the UNet
    job(turbo, GenerationOptions.from_recipe("turbo", steps=1, seed=0), negative="")
steps["turbo_generated"] = gb()
job(sd, GenerationOptions(steps=1, seed=0))
steps["default_again"] = gb()
# A fair queue alternating two people's recipes: a lone turbo run keeps the LoRA beside the layers (its weights
# read back from their file), the default run after it parks them again.
job(turbo, GenerationOptions.from_recipe("turbo", steps=1, seed=0), negative="")
job(sd, GenerationOptions(steps=1, seed=0))
steps["alternating"] = gb()
print(json.dumps(steps))
"""


def measure(paths: dict) -> dict[str, float]:
    """Resident memory (GB, the process's peak so far) after each step, from a fresh child process; raises
    RuntimeError with the child's last error output when it fails."""
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    done = subprocess.run([sys.executable, "-c", CHILD, str(paths["whisper"]), str(paths["sd"]), str(paths["clip"]),
                           str(paths["lcm_lora"]), str(paths["taesd"])],
                          capture_output=True, text=True, env=env, timeout=1200)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    from bench.fullsize import ensure_fullsize

    try:
        steps = measure(ensure_fullsize())
    except RuntimeError as err:
        print(err, file=sys.stderr)
        return 1
    for name, value in steps.items():
        print(f"rss_after_{name}_gb: {value:.2f}")
    print(f"peak_rss_gb: {max(steps.values()):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
