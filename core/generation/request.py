"""What a person asks for: one description of a generation request, used by the CLI, the pages, the job
queue (stored as a job's options) and "generate again" (rebuilt from a stored row)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ..config.recipes import GenerationOptions, check_inputs, recipe_of
from ..errors import InvalidOptionError
from ..people.person import clean_text
from .prompt import DEFAULT_STYLE, check_style
from .speech import check_terms, speech_prompt
from .transcribe import Word


@dataclass(frozen=True)
class GenerationRequest:
    """Everything about a generation but the recording's bytes, which travel beside it."""

    filename: str = "recording"  # the name the person gave the file: shown as text, never used as a path
    style: str = DEFAULT_STYLE
    prompt: str | None = None  # the person's own prompt instead of the enhanced one
    negative_prompt: str | None = None  # None: the default negative prompt
    translate: bool = False
    options: GenerationOptions = field(default_factory=GenerationOptions)
    transcript: str | None = None  # an edited transcript from an earlier "Transcribe"; skips whisper
    language: str | None = None  # with ``transcript``: what whisper detected then
    transcribe_seconds: float | None = None  # with ``transcript``: what that transcription took
    vocabulary: tuple[str, ...] = ()  # the team's names and jargon, passed to whisper as its prompt
    force: bool = False  # generate even when the words look like whisper's hallucination over silence
    ab_run: str | None = None  # the A/B run this generation is one arm of (see core.judging.factors.start_ab_run)
    source: str = "dashboard"  # where it was asked for: dashboard, cli or api (Overview counts by it)
    # With ``transcript``: what the earlier "Transcribe" heard, kept beside the person's words.
    heard: str | None = None  # whisper's text, when the person changed it
    words: tuple[Word, ...] = ()  # whisper's words with their times and confidence
    speech_cut: tuple[tuple[float, float], ...] = ()  # the silences cut before whisper
    fixed_from: str | None = None  # the generation whose misheard words this one fixes (same seed and recipe)

    def __post_init__(self):
        # A file name is someone else's text: no controls or direction overrides (a U+202E would reverse the
        # lines it is shown in), wherever the request comes from.
        object.__setattr__(self, "filename", clean_text(self.filename, 255) or "recording")

    def check(self) -> "GenerationRequest":
        """Validate everything that needs no model; the error names the bad value."""
        check_inputs(self.options)
        check_terms(self.vocabulary)
        check_style(self.style)
        return self

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "GenerationRequest":
        """Read a request stored by this or an earlier version (fields added since take their defaults);
        anything else unreadable raises :class:`InvalidOptionError` saying what."""
        try:
            data = json.loads(text)
            options = data.pop("options", {}) or {}
            _check_known(cls, data, "request")
            _check_known(GenerationOptions, options, "options")
            if "vocabulary" in data:
                data["vocabulary"] = tuple(data["vocabulary"])
            if "words" in data:
                data["words"] = tuple(Word(**w) for w in data["words"] or ())
            if "speech_cut" in data:
                data["speech_cut"] = tuple(tuple(span) for span in data["speech_cut"] or ())
            return cls(**data, options=GenerationOptions(**options))
        except InvalidOptionError:
            raise
        except (ValueError, TypeError, AttributeError) as err:
            raise InvalidOptionError(f"the stored request cannot be read ({type(err).__name__}: {err})") from None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "GenerationRequest":
        """The request that reproduces a stored generation: same words, prompt, recipe, seed and settings."""
        options = GenerationOptions(
            steps=row["steps"], guidance=row["guidance"], seed=row["seed"], scheduler=row["scheduler"],
            width=row["width"], height=row["height"], deepcache_interval=row.get("deepcache_interval") or 0,
            safety_checker=bool(row.get("safety_checker")), recipe=recipe_of(row),
        )
        return cls(
            filename=row.get("audio_filename") or "recording", style=row.get("style") or DEFAULT_STYLE,
            prompt=row["prompt"], negative_prompt=row.get("negative_prompt"), translate=row.get("task") == "translate",
            options=options, transcript=row["transcript"], language=row.get("language"),
        )

    @classmethod
    def fixing(cls, row: dict[str, Any], said: str) -> "GenerationRequest":
        """The request that repaints a stored generation from corrected words ("fix and generate again"): the same
        seed, recipe and settings, the prompt built from the corrected words, what whisper heard (and its words)
        kept beside them, and the two linked (``fixed_from``), so what a misheard word cost can be measured."""
        said = clean_text(said or "")
        if not said or said == row["transcript"]:
            raise InvalidOptionError("change the words first: they are the same as what whisper heard")
        request = cls.from_row(row)
        prompt = speech_prompt(said, row.get("language"), request.style, negative_prompt=row.get("negative_prompt"))
        heard_words = tuple(Word(**w) for w in json.loads(row.get("words") or "[]"))
        return replace(request, transcript=said, prompt=prompt[0].prompt, heard=row.get("heard") or row["transcript"],
                       words=heard_words, speech_cut=tuple(tuple(s) for s in json.loads(row.get("speech_cut") or "[]")),
                       fixed_from=row["id"])


def _check_known(cls, data: Any, what: str) -> None:
    if not isinstance(data, dict):
        raise InvalidOptionError(f"the stored {what} is not a JSON object")
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise InvalidOptionError(f"the stored {what} names fields this version does not know: {', '.join(unknown)}")
