"""What the server is set to: ``settings`` (the ``V2I_*`` variables, described once as data), ``recipes`` (the
named sets of generation options a request starts from: what may be asked, with no model loaded) and ``places``
(where models are found without the hub: the tiny profile's folders, the whisper a package ships). Every layer above
reads it; it reads nothing of theirs."""

from .places import BUNDLED, LORA_FILE, TinyModelPaths, bundled_model_bin, tiny_model_paths
from .settings import (
    PROFILES, SETTINGS, AudioLimits, Setting, Settings, gpu_batch, load_settings, settings_table,
)

__all__ = [
    "BUNDLED", "LORA_FILE", "TinyModelPaths", "bundled_model_bin", "tiny_model_paths", "PROFILES", "SETTINGS",
    "AudioLimits", "Setting", "Settings", "gpu_batch", "load_settings", "settings_table",
]
