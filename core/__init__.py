"""Voice to image: speech in, stored image out. This package never imports streamlit.

This module is the public API: the pages, ``ui/`` and the command line import from ``core`` only (bench and
tests may reach further). Heavy libraries (torch, whisper, diffusers, transformers) load lazily, on first use.

Where things live:
- a generation: ``audio`` decodes, ``vad`` cuts silence, ``transcribe`` (openai-whisper) or ``faster``
  (faster-whisper) hear it as a ``transcript``, ``speech``/``prompt`` make the prompt, ``recipes`` says what may be
  asked (no model), ``diffusion`` paints (``adapters`` owns a shared UNet's LoRAs), ``pipeline`` tells one
  generation's whole story, ``rows`` writes its stored row, ``request`` describes what a person asked for;
- running it: ``jobs`` queues it, ``worker`` runs it (``executors`` picks this process's worker or ``cluster``'s
  Ray actors; ``upkeep`` embeds and maps new images when the queue is quiet; ``progress`` holds live previews);
- models: ``loaders`` load them, ``models`` keeps them (once per process; ``tiny`` builds the test ones), ``hub``
  knows the caches and pins, ``catalog`` says which and whether cached, ``downloads`` fetches them (``mirror``
  checks what a mirror sends);
- the history: ``store``/``migrations``/``paths`` keep it, ``history`` says what a page asks (filters, sorts),
  ``export``, ``trash``, ``backup`` and ``audit`` guard it;
- analytics: ``embeddings``/``similarity``/``vectors`` compare images, ``atlas`` maps them, ``stats`` and
  ``insights`` read the history (``judgements``, ``statistics`` and ``agreement`` are its methods);
- judging: ``review`` (blind ratings), ``sweep`` and ``abtest`` (grids of settings and votes; ``contact_sheet``
  draws them), ``preferences`` (the votes as a dataset);
- ``config`` reads the settings.
"""

from . import (
    abtest, accounts, agreement, atlas, audit, backup, catalog, contact_sheet, insights, preferences, provenance,
    review, roles, statistics, stats, sweep, timefmt, tokens, trash, webhooks,
)
from .audio import DecodedAudio, decode_audio
from .config import PROFILES, SETTINGS, Settings, load_settings
from .recipes import (
    COMMON_SIZES, MAX_GUIDANCE, MAX_SEED, MAX_STEPS, RECIPES, SCHEDULERS, GenerationOptions, check_inputs, recipe_of,
)
from .embeddings import EmbeddingCache
from .errors import (
    AudioError, CancelledError, DoubtfulSpeechError, InvalidOptionError, ModelLoadError, NoSpeechError, NotFoundError,
    StorageError, V2IError,
)
from .export import LINKS, ExportLink, export_collection, export_csv, export_to_temp, export_zip
from .executors import start_worker, stop_workers
from .jobs import ACTIVE, CANCELLED, DONE, FAILED, QUEUED, RUNNING, JobQueue, Quota, QuotaError
from .progress import DOWNLOADS, PREVIEWS
from .worker import Worker
from .models import ModelCache, best_device, shared_models
from .pipeline import (
    ComputedGeneration, Transcription, compute_generation, doubt_of, run_generation, save_generation,
    transcribe_recording,
)
from .transcribe import DOUBTFUL_WORD, Word, doubtful_words_in
from .people import MAX_NAME, UNKNOWN, Person, check_name, clean_text, email_allowed, local_person, name_or, normal_email
from .paths import check_id
from .pngmeta import read_parameters
from .prompt import DEFAULT_NEGATIVE_PROMPT, STYLES, EnhancedPrompt, enhance_prompt
from .request import GenerationRequest
from .similarity import (
    SimilaritySet, alignment, alignment_summary, load_set, neighbours, novelty_of, said_vs_drawn, search,
    set_version, stored_novelty,
)
from .stages import PROGRESS_STAGES, TIMED_STAGES, TIMING_COLUMNS, TIMINGS, timings_of
from .history import SORTABLE, HistoryFilter, HistoryPage
from .store import Store, public_record
from .speech import CleanedSpeech, check_terms, clean_speech, doubt, speech_prompt
from .team import (
    check_stars, collect, collect_all, collections, collections_of, names_of, people, rate, rating_of, remember_person,
    resolve_person, set_vocabulary, uncollect, vocabulary,
)
from .roles import ForbiddenError
from .throttle import SignInThrottle, Throttle, client_address
from .vectors import Bands, cluster_order, kmeans_blocks, near_duplicate_groups, scan_earlier, similarity_matrix

__all__ = [
    # settings and models (catalog: what is downloaded, pinned, cached; catalog.first_run_note(...))
    "PROFILES", "SETTINGS", "Settings", "load_settings", "ModelCache", "best_device", "shared_models", "catalog",
    # errors: every one carries a message meant for a person
    "V2IError", "AudioError", "CancelledError", "InvalidOptionError", "ModelLoadError", "NoSpeechError",
    "NotFoundError", "StorageError",
    # a request and the pipeline
    "GenerationRequest", "GenerationOptions", "check_inputs", "recipe_of", "COMMON_SIZES", "MAX_GUIDANCE", "MAX_SEED",
    "MAX_STEPS", "RECIPES", "SCHEDULERS", "STYLES", "DEFAULT_NEGATIVE_PROMPT", "EnhancedPrompt", "enhance_prompt",
    "DecodedAudio", "decode_audio", "Transcription", "transcribe_recording", "ComputedGeneration",
    "compute_generation", "save_generation", "run_generation", "read_parameters",
    "PROGRESS_STAGES", "TIMED_STAGES", "TIMINGS", "TIMING_COLUMNS", "timings_of",
    # the job queue
    "JobQueue", "Worker", "PREVIEWS", "DOWNLOADS", "start_worker", "stop_workers", "ACTIVE", "QUEUED", "RUNNING", "DONE", "FAILED",
    "CANCELLED",
    # the history
    "Store", "HistoryFilter", "HistoryPage", "SORTABLE", "public_record", "check_id", "stats", "export_csv", "export_to_temp", "export_zip",
    "LINKS", "ExportLink",
    # similarity
    "EmbeddingCache", "SimilaritySet", "load_set", "set_version", "stored_novelty", "alignment", "alignment_summary", "neighbours", "novelty_of",
    "said_vs_drawn", "search", "Bands", "cluster_order", "kmeans_blocks", "near_duplicate_groups", "scan_earlier",
    "similarity_matrix",
    # analytics: modules, used as insights.report(...), atlas.update(...), abtest.start(...)
    "insights", "atlas", "abtest",
    # judging as a team: review.next_image(...), sweep.start(...), contact_sheet.contact_sheet(...),
    # preferences.export_preferences(...); the methods: statistics (intervals, tests), agreement (alpha)
    "review", "sweep", "contact_sheet", "preferences", "statistics", "agreement",
    # per-person passwords: accounts.sign_in(...), accounts.change_password(...)
    "accounts",
    # keeping the team's work safe: roles.require(...), trash.delete(...) / restore(...), audit.trail(...)
    "roles", "trash", "audit", "backup", "provenance", "ForbiddenError",
    # personal API tokens (the HTTP API is core.api, served by python -m core serve)
    "tokens", "webhooks",
    # times as people read them: timefmt.readable(...), timefmt.exact(...)
    "timefmt",
    # safety
    "Throttle", "SignInThrottle", "client_address",
    # the team
    "Person", "MAX_NAME", "UNKNOWN", "check_name", "clean_text", "name_or", "normal_email", "email_allowed", "local_person", "remember_person", "names_of",
    "people", "resolve_person", "check_stars", "rate", "rating_of", "collect", "collect_all", "uncollect", "collections",
    "collections_of", "export_collection", "Quota", "QuotaError",
    # speech into prompts
    "CleanedSpeech", "clean_speech", "speech_prompt", "check_terms", "doubt", "doubt_of", "vocabulary", "set_vocabulary",
    "DoubtfulSpeechError",
    # every word whisper heard, with its place in the recording and its confidence
    "Word", "DOUBTFUL_WORD", "doubtful_words_in",
]
