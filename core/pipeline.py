"""The whole job: recording in, stored generation out. A failed or cancelled run leaves no row and no file."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .audio import DecodedAudio, decode_audio
from .config import Settings
from .errors import NoSpeechError
from .generate import GenerationOptions, check_inputs, count_clip_tokens, generate_image
from .models import ModelCache
from .paths import AUDIO, IMAGES, new_id, relative_name, remove_quietly, write_atomic
from .pngmeta import png_bytes
from .prompt import DEFAULT_STYLE, MAX_PROMPT_TOKENS, check_style, clean_text, enhance_prompt
from .store import Store, utc_now
from .transcribe import Transcript, TranscribeOptions, transcribe

# progress(stage, step, total): stage is one of STAGES; step/total count denoising steps while generating.
Progress = Callable[[str, int, int], None]
STAGES = ("load", "decode", "transcribe", "enhance", "generate", "save")


@dataclass(frozen=True)
class Transcription:
    audio: DecodedAudio
    transcript: Transcript
    decode_s: float
    transcribe_s: float


@dataclass(frozen=True)
class GenerationRequest:
    audio: bytes
    filename: str
    style: str = DEFAULT_STYLE
    prompt: str | None = None  # the person's own prompt instead of the enhanced one
    negative_prompt: str | None = None  # None: the default negative prompt
    translate: bool = False
    options: GenerationOptions = field(default_factory=GenerationOptions)
    transcript: str | None = None  # an edited transcript from an earlier "Transcribe"; skips whisper
    language: str | None = None  # with ``transcript``: what whisper detected then
    transcribe_seconds: float | None = None  # with ``transcript``: what that transcription took


def transcribe_options(settings: Settings, translate: bool) -> TranscribeOptions:
    # Random weights never grow confident: decode greedily and briefly, or whisper walks every fallback.
    if settings.is_tiny:
        return TranscribeOptions(translate=translate, greedy=True, sample_len=16)
    return TranscribeOptions(translate=translate)


def transcribe_recording(data: bytes, *, settings: Settings, models: ModelCache, translate: bool = False) -> Transcription:
    """Decode and transcribe, for a person to read and edit before generating."""
    started = time.perf_counter()
    audio = decode_audio(data, settings.audio_limits)
    decoded = time.perf_counter()
    transcript = _transcribe(audio, settings, models, translate)
    return Transcription(audio, transcript, decoded - started, time.perf_counter() - decoded)


def _transcribe(audio: DecodedAudio, settings: Settings, models: ModelCache, translate: bool) -> Transcript:
    if audio.is_silent:
        raise NoSpeechError("no speech was heard in the recording (it is silent)")
    whisper = models.whisper()
    with whisper.lock:
        return transcribe(whisper.model, audio.samples, transcribe_options(settings, translate), device=whisper.device)


def run_generation(
    request: GenerationRequest,
    *,
    settings: Settings,
    models: ModelCache,
    store: Store,
    progress: Progress | None = None,
    on_stored: Callable[[Any, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Decode, transcribe, enhance, generate, then store files and row together. Returns the stored row.

    ``on_stored(db, row)`` runs inside the transaction that inserts the row, so what it writes lands with it.
    """
    report = progress or (lambda stage, step, total: None)
    timings: dict[str, float] = {}

    # 1. Validate everything that needs no model, then load the models (once per process), before the clock starts.
    options = check_inputs(request.options).with_seed()
    check_style(request.style)
    report("load", 0, 0)
    sd = models.stable_diffusion(safety_checker=options.safety_checker)
    if request.transcript is None:
        models.whisper()
    started = time.perf_counter()

    # 2. Decode the recording.
    report("decode", 0, 0)
    tick = time.perf_counter()
    audio = decode_audio(request.audio, settings.audio_limits)
    timings["decode"] = time.perf_counter() - tick

    # 3. Transcribe it, unless the person already did and edited the text.
    report("transcribe", 0, 0)
    if request.transcript is not None:
        text = clean_text(request.transcript)
        if not text:
            raise NoSpeechError("the transcript is empty: there is nothing to make an image from")
        transcript = Transcript(text, request.language or "unknown", "translate" if request.translate else "transcribe",
                                float("nan"), float("nan"))
        timings["transcribe"] = request.transcribe_seconds or 0.0  # done before queueing, if at all
        started -= timings["transcribe"]
    else:
        tick = time.perf_counter()
        transcript = _transcribe(audio, settings, models, request.translate)
        timings["transcribe"] = time.perf_counter() - tick

    # 4. Build the prompt, counting tokens with the pipeline's own tokenizer.
    report("enhance", 0, 0)
    tick = time.perf_counter()
    count = lambda text: count_clip_tokens(sd.model, text)  # noqa: E731
    enhanced = enhance_prompt(transcript.text, request.style, negative_prompt=request.negative_prompt, count_tokens=count)
    prompt, truncated = enhanced.prompt, enhanced.truncated
    if request.prompt is not None and clean_text(request.prompt):
        prompt = clean_text(request.prompt)
        truncated = count(prompt) > MAX_PROMPT_TOKENS  # the pipeline will cut it: record that it did
    timings["enhance"] = time.perf_counter() - tick

    # 5. Generate, one run at a time per pipeline.
    report("generate", 0, options.steps)
    tick = time.perf_counter()
    with sd.lock:
        generated = generate_image(
            sd.model, prompt, enhanced.negative_prompt, options,
            progress=lambda step, total: report("generate", step, total),
        )
    timings["generate"] = time.perf_counter() - tick

    # 6. Store: both files atomically, then the row in one transaction; undo the files if the row fails.
    report("save", options.steps, options.steps)
    generation_id = new_id()
    audio_rel = relative_name(AUDIO, generation_id, audio.extension)
    image_rel = relative_name(IMAGES, generation_id, "png")
    timings["total"] = time.perf_counter() - started
    row = {
        "id": generation_id,
        "created_at": utc_now(),
        "audio_filename": clean_text(request.filename)[:255],
        "audio_path": audio_rel,
        "audio_sha256": hashlib.sha256(request.audio).hexdigest(),
        "audio_duration": round(audio.duration, 3),
        "audio_format": audio.codec,
        "transcript": transcript.text,
        "language": transcript.language,
        "task": transcript.task,
        "avg_logprob": _finite(transcript.avg_logprob),
        "no_speech_prob": _finite(transcript.no_speech_prob),
        "style": request.style,
        "prompt": prompt,
        "negative_prompt": enhanced.negative_prompt,
        "prompt_truncated": int(truncated),
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
        "profile": settings.profile,
        "device": sd.device,
        "safety_checker": int(options.safety_checker),
        "nsfw": None if generated.nsfw is None else int(generated.nsfw),
        "image_path": image_rel,
        "image_sha256": None,  # filled in below, once the PNG bytes exist
        **{f"t_{stage}": round(seconds, 4) for stage, seconds in timings.items()},
    }
    image_bytes = png_bytes(generated.image, {
        "prompt": prompt, "negative_prompt": enhanced.negative_prompt, "steps": options.steps,
        "sampler": generated.sampler, "guidance": options.guidance, "seed": generated.seed,
        "width": options.width, "height": options.height, "model": settings.sd_model, "transcript": transcript.text,
        "deepcache_interval": options.deepcache_interval,
    })
    row["image_sha256"] = hashlib.sha256(image_bytes).hexdigest()
    written = []
    try:
        written.append(write_atomic(store.data_dir, audio_rel, request.audio))
        written.append(write_atomic(store.data_dir, image_rel, image_bytes))
        store.insert_generation(row, also=None if on_stored is None else lambda db: on_stored(db, row))
    except BaseException:
        for path in written:
            remove_quietly(path)
        raise
    return row


def _finite(value: float) -> float | None:
    return None if value != value else round(value, 4)
