"""Voice to image: speech in, stored image out. This package never imports streamlit.

This module is the public API: the pages, ``ui/`` and the command line import from ``core`` only (bench and
tests may reach further). Heavy libraries (torch, whisper, diffusers, transformers) load lazily, on first use.

Where things live, by role, as layers: each subpackage imports only those listed before it (import-linter holds
them so: ``[tool.importlinter]`` in pyproject.toml), in the order of a generation's story:
- ``errors``, ``timefmt`` and ``wording``: the errors meant for a person, times and counts as people read them;
- ``people``: who is asking (``person``) and what each role may do (``roles``), as plain values;
- ``config``: the settings, the ``recipes`` a request starts from, the ``places`` models are found;
- ``models``: loading, keeping, downloading and building the models (``cache`` keeps them once per process);
- ``generation``: one generation's parts, from a recording to a painted image, with no store;
- ``history``: the stored generations (``store``, ``migrations``, ``columns``, ``query``) and what guards them
  (``trash``, ``backup``, ``audit``, which also writes down a refused action);
- ``team``: the team kept in the store (``accounts``, ``tokens``, ``gate``, ``shared``);
- ``analytics``: CLIP embeddings and what they show (``similarity``, ``vectors``, ``image_map``, ``aggregates``);
- ``judging``: a team's judgements (``review``, ``sweep``, ``abtest``, ``factors``) and their methods;
- ``hooks``: what leaves the server (``webhooks``, and ``egress``, the guard on every address);
- ``execution``: running generations (``pipeline`` tells one's whole story; ``jobs``, ``worker``, ``executors``);
- ``web``: the HTTP API; ``cli``: ``python -m core`` (``v2i``), one module per command group.
"""

from . import timefmt
from .wording import counted
from .analytics import aggregates, image_map
from .analytics.embeddings import EmbeddingCache
from .analytics.similarity import (
    SimilaritySet, alignment, alignment_summary, load_set, neighbours, novelty_of, said_vs_drawn, search, set_version,
    stored_novelty,
)
from .analytics.vectors import (
    Bands, cluster_order, kmeans_blocks, near_duplicate_groups, scan_earlier, similarity_matrix,
)
from .config import PROFILES, SETTINGS, Settings, load_settings
from .config.recipes import (
    COMMON_SIZES, MAX_GUIDANCE, MAX_SEED, MAX_SIDE, MAX_STEPS, RECIPES, SCHEDULERS, GenerationOptions, check_inputs,
    recipe_of,
)
from .errors import (
    AudioError, CancelledError, DoubtfulSpeechError, InvalidOptionError, ModelLoadError, NoSpeechError, NotFoundError,
    StorageError, V2IError,
)
from .execution.executors import start_worker, stop_workers, worker_for
from .execution.jobs import ACTIVE, CANCELLED, DONE, FAILED, QUEUED, RUNNING, JobQueue, Quota, QuotaError
from .execution.hearing import Transcription, doubt_of, heard_request, transcribe_recording
from .execution.pipeline import ComputedGeneration, compute_generation, run_generation, save_generation
from .execution.progress import DOWNLOADS, PREVIEWS, Pace, stage_words
from .execution.worker import Worker
from .generation.audio import DecodedAudio, decode_audio
from .generation.prompt import DEFAULT_NEGATIVE_PROMPT, DEFAULT_STYLE, STYLES, EnhancedPrompt, enhance_prompt
from .generation.request import GenerationRequest
from .generation.speech import CleanedSpeech, check_terms, clean_speech, doubt, speech_prompt
from .generation.stages import PROGRESS_STAGES, TIMED_STAGES, TIMING_COLUMNS, TIMINGS, timings_of
from .generation.doubts import Doubts, doubted_in_prompt, doubts_in, edited
from .generation.transcribe import DOUBTFUL_WORD, Word
from .history import audit, backup, provenance, trash
from .history.columns import SORTABLE, TABLE_COLUMNS
from .history.export import LINKS, ExportLink, export_collection, export_csv, export_to_temp, export_zip
from .history.paths import check_id
from .history.pngmeta import read_parameters
from .history.query import HistoryFilter, HistoryPage
from .history.store import Store, public_record
from .hooks import webhooks
from .judging import abtest, agreement, contact_sheet, factors, preferences, review, statistics, sweep
from .models import catalog, downloads
from .models.cache import ModelCache, best_device, shared_models
from .people import roles
from .people.person import (
    MAX_NAME, UNKNOWN, Person, check_name, clean_text, email_allowed, fold_name, local_person, name_or, normal_email,
    typed_person,
)
from .people.roles import ForbiddenError
from .team import accounts, gate, sessions, tokens
from .team.shared import (
    check_stars, collect, collect_all, collections, collections_of, known_people, names_of, rate, rating_of,
    remember_person, resolve_person, set_vocabulary, uncollect, vocabulary,
)
from .team.throttle import SignInThrottle, Throttle, client_address

__all__ = [
    # settings and models (catalog: what is downloaded, pinned, cached; catalog.first_run_note(...))
    "PROFILES", "SETTINGS", "Settings", "load_settings", "ModelCache", "best_device", "shared_models", "catalog", "downloads",
    # errors: every one carries a message meant for a person
    "V2IError", "AudioError", "CancelledError", "InvalidOptionError", "ModelLoadError", "NoSpeechError",
    "NotFoundError", "StorageError",
    # a request and the pipeline
    "GenerationRequest", "GenerationOptions", "check_inputs", "recipe_of", "COMMON_SIZES", "MAX_GUIDANCE", "MAX_SEED",
    "MAX_SIDE", "MAX_STEPS", "RECIPES", "SCHEDULERS", "STYLES", "DEFAULT_STYLE", "DEFAULT_NEGATIVE_PROMPT", "EnhancedPrompt", "enhance_prompt",
    "DecodedAudio", "decode_audio", "Transcription", "transcribe_recording", "ComputedGeneration",
    "compute_generation", "save_generation", "run_generation", "read_parameters",
    "PROGRESS_STAGES", "TIMED_STAGES", "TIMINGS", "TIMING_COLUMNS", "timings_of",
    # the job queue
    "JobQueue", "Worker", "PREVIEWS", "DOWNLOADS", "Pace", "stage_words", "start_worker", "stop_workers", "worker_for", "ACTIVE", "QUEUED", "RUNNING", "DONE", "FAILED",
    "CANCELLED",
    # the history
    "Store", "HistoryFilter", "HistoryPage", "SORTABLE", "TABLE_COLUMNS", "public_record", "check_id", "aggregates", "export_csv", "export_to_temp", "export_zip",
    "LINKS", "ExportLink",
    # similarity
    "EmbeddingCache", "SimilaritySet", "load_set", "set_version", "stored_novelty", "alignment", "alignment_summary", "neighbours", "novelty_of",
    "said_vs_drawn", "search", "Bands", "cluster_order", "kmeans_blocks", "near_duplicate_groups", "scan_earlier",
    "similarity_matrix",
    # analytics and judging: modules, used as factors.report(...), image_map.update(...), abtest.start(...)
    "factors", "image_map", "abtest",
    # judging as a team: review.next_image(...), sweep.start(...), contact_sheet.contact_sheet(...),
    # preferences.export_preferences(...); the methods: statistics (intervals, tests), agreement (alpha)
    "review", "sweep", "contact_sheet", "preferences", "statistics", "agreement",
    # per-person passwords: accounts.sign_in(...), accounts.change_password(...); who is let in: gate.read_gate()
    "accounts", "gate",
    # keeping the team's work safe: audit.require(...), trash.delete(...) / restore(...), audit.trail(...)
    "roles", "trash", "audit", "backup", "provenance", "ForbiddenError",
    # personal API tokens (the HTTP API is core.web.api, served by python -m core serve)
    "tokens", "sessions", "webhooks",
    # times as people read them: timefmt.readable(...), timefmt.exact(...)
    "timefmt",
    # safety
    "Throttle", "SignInThrottle", "client_address",
    # the team
    "Person", "MAX_NAME", "UNKNOWN", "check_name", "clean_text", "fold_name", "typed_person", "name_or", "normal_email", "email_allowed", "local_person", "remember_person", "names_of",
    "known_people", "resolve_person", "check_stars", "rate", "rating_of", "collect", "collect_all", "uncollect", "collections",
    "collections_of", "export_collection", "Quota", "QuotaError",
    # speech into prompts
    "CleanedSpeech", "clean_speech", "speech_prompt", "check_terms", "doubt", "doubt_of", "heard_request", "vocabulary", "set_vocabulary",
    "DoubtfulSpeechError",
    # every word whisper heard, with its place in the recording and its confidence
    "Word", "DOUBTFUL_WORD", "Doubts", "doubts_in", "doubted_in_prompt", "edited", "counted",
]
