"""A generation's stored row, as one function writes it from what the pipeline made (:func:`describe`): what was
said and heard, the prompt, the options, the models and their revisions, the device, the timings. Its PNG's
parameters are written from the same row (:mod:`core.history.pngmeta`)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..generation.audio import DecodedAudio
from ..models.catalog import revisions
from ..config import Settings
from ..generation.diffusion import GeneratedImage
from ..generation.prompt import EnhancedPrompt, clean_text
from ..generation.recipes import RECIPES, GenerationOptions
from ..generation.request import GenerationRequest
from ..generation.transcribe import Transcript


def describe(audio: bytes, decoded: DecodedAudio, request: GenerationRequest, transcript: Transcript,
             prompt: EnhancedPrompt, options: GenerationOptions, generated: GeneratedImage,
             timings: dict[str, float], settings: Settings, device: str) -> dict[str, Any]:
    """The stored columns of a generation (also what its PNG's parameters are written from)."""
    recipe = RECIPES[options.recipe]
    return {
        "audio_filename": clean_text(request.filename)[:255],
        "audio_sha256": hashlib.sha256(audio).hexdigest(),
        "audio_duration": round(decoded.duration, 3),
        "audio_format": decoded.codec,
        "transcript": transcript.text,
        **heard_fields(request, transcript),
        "language": transcript.language,
        "task": transcript.task,
        "avg_logprob": finite(transcript.avg_logprob),
        "no_speech_prob": finite(transcript.no_speech_prob),
        "transcribe_seed": transcript.seed,
        "style": request.style,
        "prompt": prompt.prompt,
        "negative_prompt": prompt.negative_prompt,
        "prompt_truncated": int(prompt.truncated),
        "recipe": options.recipe,
        "ab_run": request.ab_run,
        "source": request.source,
        "lora": getattr(settings, recipe.adapter.setting) if recipe.adapter else None,
        "decoder": getattr(settings, recipe.decoder.setting) if recipe.decoder else "vae",
        "seed": generated.seed,
        "steps": options.steps,
        "guidance": float(options.guidance),
        "scheduler": options.scheduler,
        "deepcache_interval": options.deepcache_interval,
        "width": options.width,
        "height": options.height,
        "whisper_model": settings.whisper_model,
        "sd_model": settings.sd_model,
        "clip_model": settings.clip_model,
        "model_revisions": json.dumps(revisions(settings, recipe=options.recipe)),
        "profile": settings.profile,
        "device": device,
        "safety_checker": int(options.safety_checker),
        "nsfw": None if generated.nsfw is None else int(generated.nsfw),
        **{f"t_{stage}": round(seconds, 4) for stage, seconds in timings.items()},
    }


def heard_fields(request: GenerationRequest, transcript: Transcript) -> dict[str, Any]:
    """What whisper heard, stored beside what was used: its words with their times and confidence, the text it
    heard when the person changed it, the silences cut before it, and the generation this one fixes."""
    heard = clean_text(request.heard or "")
    return {"words": json.dumps([w.to_json() for w in transcript.words], ensure_ascii=False),
            "heard": heard if heard and heard != transcript.text else None,
            "speech_cut": json.dumps([list(span) for span in transcript.speech_cut]),
            "fixed_from": request.fixed_from}


def finite(value: float) -> float | None:
    return None if value != value else round(value, 4)
