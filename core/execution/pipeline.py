"""The whole job: recording in, stored generation out. A failed or cancelled run leaves no row and no file.

It comes in two halves, so the heavy half can run anywhere and only one process writes the data folder:

- :func:`compute_generation` (models, no storage): decode, transcribe, build the prompt, make the image,
  describe it; returns a :class:`ComputedGeneration` that holds only plain values and bytes;
- :func:`save_generation` (storage, no models): write both files atomically, then the row in one transaction.

:func:`run_generation` is the two in a row.
"""

from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..config import Settings
from ..config.recipes import GenerationOptions
from ..errors import DoubtfulSpeechError, NoSpeechError
from ..generation.audio import DecodedAudio, decode_audio
from ..generation.diffusion import GeneratedImage, Painting, count_clip_tokens, generate_images
from ..generation.prompt import DEFAULT_NEGATIVE_PROMPT, MAX_PROMPT_TOKENS, EnhancedPrompt, clean_text
from ..generation.request import GenerationRequest
from ..generation.speech import CleanedSpeech, speech_prompt
from ..generation.transcribe import Transcript
from ..history.columns import Made, describe
from ..history.paths import AUDIO, IMAGES, new_id, relative_name, remove_quietly, write_atomic
from ..history.pngmeta import png_bytes
from ..history.provenance import label_png
from ..history.store import Store, utc_now
from ..models.cache import LoadedModel, ModelCache
from ..models.downloads import fetch_missing
from ..people.person import UNKNOWN
from .hearing import guard, hear

# progress(stage, step, total): stage is one of PROGRESS_STAGES; step/total count denoising steps while generating.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ComputedGeneration:
    """What :func:`compute_generation` made, ready to store: plain values and bytes (it can cross processes)."""

    audio: bytes  # the original recording
    audio_extension: str  # follows the content, not the file name
    png: bytes  # the image, with its parameters in PNG text chunks
    fields: dict[str, Any]  # the row's columns, all but the id, the time and the file paths


# -- the story of one generation ----------------------------------------------------------------------------


def run_generation(
    audio: bytes,
    request: GenerationRequest,
    *,
    settings: Settings,
    models: ModelCache,
    store: Store,
    progress: Progress | None = None,
    on_stored: Callable[[Any, dict[str, Any]], None] | None = None,
    created_by: str = UNKNOWN,
    preview: Callable[[Any], None] | None = None,
    download: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Compute the generation, then store it as made by ``created_by``. Returns the stored row.

    ``on_stored(db, row)`` runs inside the transaction that inserts the row, so what it writes lands with it.
    """
    computed = compute_generation(audio, request, settings=settings, models=models, progress=progress,
                                  preview=preview, download=download)
    (progress or _silent)("save", computed.fields["steps"], computed.fields["steps"])
    return save_generation(computed, store, on_stored=on_stored, created_by=created_by)


def compute_generation(
    audio: bytes, request: GenerationRequest, *, settings: Settings, models: ModelCache, progress: Progress | None = None,
    preview: Callable[[Any], None] | None = None, download: Callable[[str, int, int], None] | None = None,
) -> ComputedGeneration:
    """Decode, transcribe, build the prompt, make the image and describe it; stores nothing. ``preview`` receives
    the image as it forms (a small RGB array after each denoising step); ``download(model, done, total)`` the
    bytes of each missing model while it downloads (a first run with the real models)."""
    job = Job(audio, request, progress, preview, download)
    (made,) = compute_generations([job], settings=settings, models=models)
    if isinstance(made, BaseException):
        raise made
    return made


@dataclass(frozen=True)
class Job:
    """One recording and what was asked of it, with where its progress, preview and download bytes go."""

    audio: bytes
    request: GenerationRequest
    progress: Progress | None = None
    preview: Callable[[Any], None] | None = None
    download: Callable[[str, int, int], None] | None = None


@dataclass
class _Prepared:
    """A job up to its image: decoded, transcribed, its prompt built, its clock running."""

    job: Job
    request: GenerationRequest
    options: GenerationOptions
    decoded: DecodedAudio
    transcript: Transcript
    prompt: EnhancedPrompt
    spoken: CleanedSpeech
    sd: LoadedModel
    timings: dict[str, float]
    started: float

    def report(self, stage: str, step: int, total: int) -> None:
        (self.job.progress or _silent)(stage, step, total)


def compute_generations(jobs: Sequence[Job], *, settings: Settings, models: ModelCache) -> list[ComputedGeneration | BaseException]:
    """:func:`compute_generation` for jobs whose images can be painted as one batch (same recipe, size, steps:
    :func:`core.generation.diffusion.batch_key`), each with its own words, seed and guidance. Returns, in order, each job's
    result or the error that ended it: one job's bad recording or cancel never ends another."""
    results: list[ComputedGeneration | BaseException | None] = [None] * len(jobs)
    prepared: dict[int, _Prepared] = {}
    for i, job in enumerate(jobs):  # 1-4, each job on its own
        try:
            prepared[i] = prepare_generation(job, settings=settings, models=models)
        except Exception as err:  # noqa: BLE001 (that job's ending)
            results[i] = err
    if prepared:
        # 5. Make the images, one run at a time per pipeline, whisper's and CLIP's weights resting meanwhile (CPU).
        models.rest_idle()
        order = list(prepared)
        tick = time.perf_counter()
        painted = make_images([prepared[i] for i in order])
        seconds = time.perf_counter() - tick
        for i, generated in zip(order, painted):  # 6. Describe each: one set of fields for the row and the PNG
            results[i] = generated if isinstance(generated, BaseException) else finish_generation(
                prepared[i], generated, seconds, len(order), settings)
    return results


def prepare_generation(job: Job, *, settings: Settings, models: ModelCache) -> _Prepared:
    """Steps 1-4 of a generation: check, load, decode, transcribe (or take the person's words), build the prompt."""
    report = job.progress or _silent
    timings: dict[str, float] = {}

    # 1. Validate everything that needs no model, then load the models (once per process), before the clock starts.
    request = job.request.check()
    options = request.options.with_seed()
    report("load", 0, 0)
    fetch_models(request, settings, models, report, job.download)  # a first run: what is missing comes down first
    sd = models.stable_diffusion(safety_checker=options.safety_checker, recipe=options.recipe)
    if request.transcript is None:
        models.whisper()
    started = time.perf_counter()

    # 2. Decode the recording.
    report("decode", 0, 0)
    with _timed(timings, "decode"):
        decoded = decode_audio(job.audio, settings.audio_limits)

    # 3. Transcribe it, unless the person already did (and may have edited the text).
    report("transcribe", 0, 0)
    transcript, seconds = _transcript_for(request, decoded, settings, models)
    timings["transcribe"] = seconds
    started -= 0.0 if request.transcript is None else seconds  # done before queueing: part of the total

    # 4. Build the prompt, counting tokens with the pipeline's own tokenizer; the doubt guard before spending
    #    minutes on words that were not said (whisper's words only: the person's own are theirs).
    report("enhance", 0, 0)
    with _timed(timings, "enhance"):
        prompt, spoken = build_prompt(request, transcript, sd)
    if request.transcript is None and not request.force and not clean_text(request.prompt or ""):
        if doubts := guard(transcript, decoded.rms, prompt.prompt, settings):
            raise DoubtfulSpeechError(doubts.message("Nothing was generated"), doubts.words)
    report("generate", 0, options.steps)
    return _Prepared(job, request, options, decoded, transcript, prompt, spoken, sd, timings,
                     started - time.perf_counter())  # the seconds of this job so far (negative), painting to come


def finish_generation(prepared: _Prepared, generated: GeneratedImage, paint_s: float, batch_size: int,
                      settings: Settings) -> ComputedGeneration:
    """Step 6: the row's fields and the labelled PNG. A batched image counts the batch's painting time as its own
    (it waited for all of it) and records the batch's size."""
    timings = {**prepared.timings, "generate": paint_s, "total": paint_s - prepared.started}
    fields = describe(Made(prepared.job.audio, prepared.decoded, prepared.request, prepared.transcript,
                           prepared.prompt, prepared.spoken, prepared.options, generated, timings, settings,
                           prepared.sd.device, batch_size))
    png = label_png(png_bytes(generated.image, fields), fields, settings)  # XMP always; C2PA with the team's key
    return ComputedGeneration(prepared.job.audio, prepared.decoded.extension, png, fields)


def save_generation(
    computed: ComputedGeneration, store: Store, *, on_stored: Callable[[Any, dict[str, Any]], None] | None = None,
    created_by: str = UNKNOWN,
) -> dict[str, Any]:
    """Both files atomically, then the row in one transaction; the files are removed if the row fails."""
    generation_id = new_id()
    row = {
        "id": generation_id,
        "created_at": utc_now(),
        "created_by": created_by,
        "audio_path": relative_name(AUDIO, generation_id, computed.audio_extension),
        "image_path": relative_name(IMAGES, generation_id, "png"),
        **computed.fields,
        "image_sha256": hashlib.sha256(computed.png).hexdigest(),
        "image_bytes": len(computed.png),
        "audio_bytes": len(computed.audio),
    }
    written = []
    try:
        written.append(write_atomic(store.data_dir, row["audio_path"], computed.audio))
        written.append(write_atomic(store.data_dir, row["image_path"], computed.png))
        store.insert_generation(row, also=None if on_stored is None else lambda db: on_stored(db, row))
    except BaseException:
        for path in written:
            remove_quietly(path)
        raise
    return row


# -- the steps ----------------------------------------------------------------------------------------------


def _transcript_for(request: GenerationRequest, audio: DecodedAudio, settings: Settings,
                    models: ModelCache) -> tuple[Transcript, float]:
    """Whisper's transcript and its seconds, or the person's own text and the seconds it took then."""
    if request.transcript is None:
        tick = time.perf_counter()
        transcript = hear(audio, settings, models, request.translate, request.vocabulary, request.force)
        return transcript, time.perf_counter() - tick
    text = clean_text(request.transcript)
    if not text:
        raise NoSpeechError("the transcript is empty: there is nothing to make an image from")
    task = "translate" if request.translate else "transcribe"
    return Transcript(text, request.language or "unknown", task, float("nan"), float("nan"), words=request.words,
                      speech_cut=request.speech_cut), request.transcribe_seconds or 0.0


def build_prompt(request: GenerationRequest, transcript: Transcript, sd: LoadedModel) -> tuple[EnhancedPrompt, CleanedSpeech]:
    """The enhanced words of the transcript (fillers and frames left out), or the person's own prompt (marked
    truncated when it overflows CLIP's window); and what was left out of the speech."""
    count = lambda text: count_clip_tokens(sd.model, text)  # noqa: E731
    own = clean_text(request.prompt or "")
    if own:
        negative = DEFAULT_NEGATIVE_PROMPT if request.negative_prompt is None else clean_text(request.negative_prompt)
        truncated = count(own) > MAX_PROMPT_TOKENS  # the pipeline will cut it: record that it did
        return EnhancedPrompt(own, negative, request.style, truncated=truncated), CleanedSpeech(transcript.text)
    return speech_prompt(transcript.text, transcript.language, request.style, negative_prompt=request.negative_prompt,
                         count_tokens=count)


def fetch_models(request: GenerationRequest, settings: Settings, models: ModelCache, report: Progress,
                 download: Callable[[str, int, int], None] | None = None) -> None:
    """Download the hub models this request needs that are missing (the first run with the real models): the
    job's stage is "download" meanwhile, and ``download`` hears the bytes of each model; nothing happens when they
    are cached or the server must stay offline."""
    def on_bytes(model: str, done: int, total: int) -> None:
        report("download", 0, 0)
        if download is not None:
            download(model, done, total)

    groups = ("sd",) if request.transcript is not None else ("sd", "whisper")
    fetch_missing(settings, groups, recipes=(request.options.recipe,), safety_checker=request.options.safety_checker,
                  device=models.device, on_bytes=_throttled(on_bytes))


def _throttled(call: Callable[[str, int, int], None], every_s: float = 0.5) -> Callable[[str, int, int], None]:
    """At most one call per ``every_s`` seconds per model, and always the last one (a download's chunks are many)."""
    last: dict[str, float] = {}

    def throttled(label: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - last.get(label, 0.0) >= every_s:
            last[label] = now
            call(label, done, total)

    return throttled


def make_images(prepared: Sequence[_Prepared]) -> list:
    """Paint the prepared jobs' images as one batch on their (shared) pipeline, holding its lock."""
    sd = prepared[0].sd
    paintings = [Painting(p.prompt.prompt, p.prompt.negative_prompt, p.options,
                          progress=functools.partial(p.report, "generate"), preview=p.job.preview) for p in prepared]
    with sd.lock:
        return generate_images(sd.model, paintings)


class _timed:
    """``with _timed(timings, "stage"):`` records the block's seconds under ``stage``."""

    def __init__(self, timings: dict[str, float], stage: str):
        self.timings, self.stage = timings, stage

    def __enter__(self):
        self.tick = time.perf_counter()

    def __exit__(self, *exc):
        self.timings[self.stage] = time.perf_counter() - self.tick


def _silent(stage: str, step: int, total: int) -> None:
    pass


