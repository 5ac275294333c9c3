"""PNG files carrying their generation parameters in AUTOMATIC1111's ``parameters`` text chunk (what
A1111's PNG Info, ComfyUI, InvokeAI and civitai read), plus the transcript in its own chunk; both are
written from the generation's stored fields."""

from __future__ import annotations

import io
import json
import re
from typing import Any

from PIL import Image, PngImagePlugin

from ..config.recipes import SCHEDULERS
from .provenance import XMP_KEY, xmp_packet


def a1111_parameters(meta: dict[str, Any]) -> str:
    """``prompt``, ``Negative prompt: ...``, then ``Steps: N, Sampler: ..., CFG scale: ..., Seed: ..., ...``.

    ``meta`` is a generation's stored columns (``prompt``, ``steps``, ``scheduler``, ``sd_model``...)."""
    settings = [
        ("Steps", meta["steps"]),
        ("Sampler", SCHEDULERS[meta["scheduler"]].sampler),
        ("CFG scale", _number(meta["guidance"])),
        ("Seed", meta["seed"]),
        ("Size", f"{meta['width']}x{meta['height']}"),
        ("Model", meta["sd_model"]),
    ]
    if revision := _sd_revision(meta):
        settings.append(("Model revision", revision))
    if meta.get("recipe"):
        settings.append(("Recipe", meta["recipe"]))
    if meta.get("lora"):
        settings.append(("Lora", meta["lora"]))
    if meta.get("decoder") and meta["decoder"] != "vae":
        settings.append(("Decoder", meta["decoder"]))
    if (meta.get("deepcache_interval") or 0) > 1:
        settings.append(("DeepCache interval", meta["deepcache_interval"]))
    # Values may not contain the separators; collapse newlines so the block stays three lines.
    line = ", ".join(f"{key}: {_flat(value)}" for key, value in settings)
    lines = [_flat(meta["prompt"])]
    if meta.get("negative_prompt"):
        lines.append(f"Negative prompt: {_flat(meta['negative_prompt'])}")
    lines.append(line)
    return "\n".join(lines)


def png_bytes(image: Image.Image, meta: dict[str, Any]) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", a1111_parameters(meta))
    if meta.get("transcript"):
        info.add_itxt("transcript", meta["transcript"])  # iTXt: UTF-8, any language
    info.add_itxt(XMP_KEY, xmp_packet(meta))  # "made by an AI model", for exiftool and photo libraries
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def read_parameters(path_or_bytes) -> dict[str, Any]:
    """Parse the chunks back, as a PNG-info reader does: prompt, negative prompt, the settings line, transcript."""
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with Image.open(source) as image:
        text = image.text.get("parameters", "")
        transcript = image.text.get("transcript")
    lines = text.split("\n")
    settings = dict(re.findall(r"\s*([\w ]+):\s*([^,]+)(?:,|$)", lines[-1])) if lines else {}
    negative = next((l[len("Negative prompt: "):] for l in lines[1:-1] if l.startswith("Negative prompt: ")), "")
    return {"prompt": lines[0] if len(lines) > 1 else "", "negative_prompt": negative, "settings": settings, "transcript": transcript}


def _sd_revision(meta: dict[str, Any]) -> str | None:
    """The first 12 characters of the SD commit the image was made with (as a git short hash), if known."""
    revisions = json.loads(meta.get("model_revisions") or "{}")
    commit = revisions.get("sd") or ""
    return commit[:12] if len(commit) == 40 else None


def _flat(value: Any) -> str:
    return " ".join(str(value).split())


def _number(value: float) -> str:
    return f"{value:g}"
