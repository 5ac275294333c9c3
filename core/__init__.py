"""Voice to image: speech in, stored image out. This package never imports streamlit.

The public API; heavy libraries (torch, whisper, diffusers, transformers) load lazily, on first use.
"""

from .audio import DecodedAudio, decode_audio
from .config import PROFILES, Settings, load_settings
from .errors import (
    AudioError, CancelledError, InvalidOptionError, ModelLoadError, NoSpeechError, NotFoundError, StorageError, V2IError,
)
from .generate import RECIPES, SCHEDULERS, GenerationOptions, check_inputs
from .models import ModelCache, best_device, shared_models
from .pipeline import GenerationRequest, Transcription, run_generation, transcribe_recording
from .pngmeta import read_parameters
from .prompt import DEFAULT_NEGATIVE_PROMPT, STYLES, EnhancedPrompt, enhance_prompt
from .store import HistoryFilter, Store, public_record

__all__ = [
    "AudioError", "CancelledError", "DEFAULT_NEGATIVE_PROMPT", "DecodedAudio", "EnhancedPrompt", "GenerationOptions",
    "GenerationRequest", "HistoryFilter", "InvalidOptionError", "ModelCache", "ModelLoadError", "NoSpeechError",
    "NotFoundError", "PROFILES", "RECIPES", "SCHEDULERS", "STYLES", "Settings", "StorageError", "Store", "Transcription",
    "V2IError", "best_device", "check_inputs", "decode_audio", "enhance_prompt", "load_settings", "public_record",
    "read_parameters", "run_generation", "shared_models", "transcribe_recording",
]
