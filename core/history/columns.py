"""A generation's stored columns, described once (``COLUMNS``): each column's type as the migrations create it,
whether it may be missing, how it is computed from what the pipeline made (:func:`describe`), whether History may
sort by it and its heading in History's table. A test holds this list and the migrated table to each other, so a new
column is a migration and one line here (README, "Adding a History column").

The columns with no ``made`` are written when a generation is saved (its id, time, maker, file names and hash) or
kept by the database itself (the ratings' mean and count, by triggers on ``ratings``)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable

from ..config import Settings
from ..config.recipes import RECIPES, GenerationOptions
from ..generation.audio import DecodedAudio
from ..generation.diffusion import GeneratedImage
from ..generation.prompt import EnhancedPrompt, clean_text
from ..generation.request import GenerationRequest
from ..generation.speech import CleanedSpeech
from ..generation.stages import TIMINGS
from ..generation.transcript import Transcript
from ..models.catalog import revisions


@dataclass(frozen=True)
class Made:
    """What the pipeline made for one generation: what :func:`describe` writes its columns from."""

    audio: bytes
    decoded: DecodedAudio
    request: GenerationRequest
    transcript: Transcript
    prompt: EnhancedPrompt
    spoken: CleanedSpeech
    options: GenerationOptions
    generated: GeneratedImage
    timings: dict[str, float]
    settings: Settings
    device: str
    batch_size: int


@dataclass(frozen=True)
class Column:
    """One column of ``generations``."""

    name: str
    kind: type  # str, int or float: the column's SQLite type (TEXT, INTEGER, REAL)
    made: Callable[[Made], Any] | None = None  # how describe() computes it; None: written on save, or by triggers
    required: bool = False  # NOT NULL in the table (or its primary key)
    sortable: bool = False  # History may sort by it (a migration makes its index, as query.sort_key spells it)
    heading: str = ""  # its heading in History's table; "": not one of the table's columns


def _finite(value: float) -> float | None:
    return None if value != value else round(value, 4)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _heard(m: Made) -> str | None:
    """What whisper heard, kept only when the person changed it."""
    heard = clean_text(m.request.heard or "")
    return heard if heard and heard != m.transcript.text else None


def _timing(stage: str) -> Column:
    return Column(f"t_{stage}", float, lambda m: round(m.timings[stage], 4) if stage in m.timings else None,
                  sortable=True, heading="total s" if stage == "total" else "")


COLUMNS: tuple[Column, ...] = (
    Column("id", str, required=True),
    Column("created_at", str, required=True, sortable=True),
    Column("created_by", str, sortable=True),
    # the recording
    Column("audio_filename", str, lambda m: clean_text(m.request.filename)[:255], sortable=True, heading="file"),
    Column("audio_path", str, required=True),
    Column("audio_sha256", str, lambda m: hashlib.sha256(m.audio).hexdigest()),
    Column("audio_duration", float, lambda m: round(m.decoded.duration, 3), sortable=True),
    Column("audio_format", str, lambda m: m.decoded.codec),
    Column("source", str, lambda m: m.request.source),
    # what whisper heard
    Column("language", str, lambda m: m.transcript.language, sortable=True, heading="language"),
    Column("transcript", str, lambda m: m.transcript.text, required=True, heading="transcript"),
    Column("task", str, lambda m: m.transcript.task),
    Column("avg_logprob", float, lambda m: _finite(m.transcript.avg_logprob)),
    Column("no_speech_prob", float, lambda m: _finite(m.transcript.no_speech_prob)),
    Column("transcribe_seed", int, lambda m: m.transcript.seed),
    Column("words", str, lambda m: _json([w.to_json() for w in m.transcript.words])),
    Column("heard", str, _heard),
    Column("speech_cut", str, lambda m: json.dumps([list(span) for span in m.transcript.speech_cut])),
    Column("fixed_from", str, lambda m: m.request.fixed_from),
    Column("speech_removed", str, lambda m: _json(list(m.spoken.removed))),
    Column("vocabulary", str, lambda m: _json(list(m.request.vocabulary))),
    # the prompt
    Column("style", str, lambda m: m.request.style),
    Column("prompt", str, lambda m: m.prompt.prompt, required=True, heading="prompt"),
    Column("negative_prompt", str, lambda m: m.prompt.negative_prompt),
    Column("prompt_truncated", int, lambda m: int(m.prompt.truncated)),
    # the painting's options
    Column("recipe", str, lambda m: m.options.recipe, sortable=True, heading="recipe"),
    Column("ab_run", str, lambda m: m.request.ab_run),
    Column("lora", str, lambda m: getattr(m.settings, _recipe(m).adapter.setting) if _recipe(m).adapter else None),
    Column("decoder", str, lambda m: getattr(m.settings, _recipe(m).decoder.setting) if _recipe(m).decoder else "vae"),
    Column("steps", int, lambda m: m.options.steps, sortable=True, heading="steps"),
    Column("scheduler", str, lambda m: m.options.scheduler, sortable=True, heading="scheduler"),
    Column("seed", int, lambda m: m.generated.seed, sortable=True, heading="seed"),
    Column("guidance", float, lambda m: float(m.options.guidance), sortable=True),
    Column("deepcache_interval", int, lambda m: m.options.deepcache_interval, required=True),
    Column("width", int, lambda m: m.options.width),
    Column("height", int, lambda m: m.options.height),
    Column("safety_checker", int, lambda m: int(m.options.safety_checker)),
    Column("nsfw", int, lambda m: None if m.generated.nsfw is None else int(m.generated.nsfw)),
    Column("batch_size", int, lambda m: m.batch_size),
    # the models and the machine
    Column("whisper_model", str, lambda m: m.settings.whisper_model),
    Column("sd_model", str, lambda m: m.settings.sd_model, sortable=True),
    Column("clip_model", str, lambda m: m.settings.clip_model),
    Column("model_revisions", str, lambda m: json.dumps(revisions(m.settings, recipe=m.options.recipe))),
    Column("profile", str, lambda m: m.settings.profile),
    Column("device", str, lambda m: m.device),
    # the image and the seconds each stage took
    Column("image_path", str, required=True),
    Column("image_sha256", str),
    Column("image_bytes", int),  # the image's and the recording's sizes, written on save (Overview's storage)
    Column("audio_bytes", int),
    *(_timing(stage) for stage in TIMINGS),
    # the team's stars, kept by triggers on ratings
    Column("rating_mean", float, sortable=True),
    Column("rating_count", int, required=True, sortable=True),
)


def _recipe(m: Made):
    return RECIPES[m.options.recipe]


def column(name: str) -> Column:
    """The column called ``name``; an unknown name is an error that lists the columns."""
    for c in COLUMNS:
        if c.name == name:
            return c
    raise KeyError(f"no column {name!r} in generations; the columns are: {', '.join(c.name for c in COLUMNS)}")


SORTABLE = tuple(c.name for c in COLUMNS if c.sortable)
TABLE_COLUMNS = tuple(c for c in COLUMNS if c.heading)  # History's table shows these as they are, in this order


def describe(made: Made) -> dict[str, Any]:
    """The stored columns of a generation that the pipeline computes (its PNG's parameters are written from them)."""
    return {c.name: c.made(made) for c in COLUMNS if c.made is not None}
