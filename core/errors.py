"""Errors that carry a message meant for a person: callers show ``str(err)``, never a traceback."""


class V2IError(Exception):
    """Base class for every error the pipeline raises on purpose."""


class AudioError(V2IError, ValueError):
    """The recording cannot be used: empty, not audio, undecodable, too short or too long."""


class NoSpeechError(V2IError, ValueError):
    """The recording decoded, but nothing was said in it."""


class InvalidOptionError(V2IError, ValueError):
    """A generation option (steps, guidance, seed, size, scheduler, style...) is out of range."""


class ModelLoadError(V2IError, RuntimeError):
    """A model could not be loaded; the message names the model, the cache folder and the fix."""


class NotFoundError(V2IError, LookupError):
    """No stored generation (or job) has this id."""


class StorageError(V2IError, OSError):
    """The data folder cannot be written (read-only, disk full...)."""


class DoubtfulSpeechError(V2IError, ValueError):
    """The words may not be what was said (words whisper doubted, or an invention over silence): nothing is
    generated unless the person fixes them or insists. ``doubtful_words`` names the doubted words (may be empty)."""

    def __init__(self, message: str, doubtful_words: tuple[str, ...] = ()):
        super().__init__(message, tuple(doubtful_words))
        self.doubtful_words = tuple(doubtful_words)

    def __str__(self) -> str:
        return str(self.args[0])


class CancelledError(V2IError):
    """The run was cancelled by the person who asked for it."""
