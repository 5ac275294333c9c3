"""Decode any common recording to 16 kHz mono float32, with PyAV (it bundles ffmpeg's codecs).

The format is detected from the bytes, never from the file name, so an MP3 named ``.wav`` works.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from ..config import AudioLimits
from ..errors import AudioError

SAMPLE_RATE = 16_000
MIN_SECONDS = 0.1
# A peak below this (about -80 dBFS) is digital silence: there is nothing for whisper to hear.
SILENCE_PEAK = 1e-4

# PyAV's container names -> the extension we store the original under.
_EXTENSIONS = {
    "wav": "wav",
    "mp3": "mp3",
    "flac": "flac",
    "ogg": "ogg",
    "mov,mp4,m4a,3gp,3g2,mj2": "m4a",
    "matroska,webm": "webm",
    "aac": "aac",
    "aiff": "aiff",
}


# Uploads are opened only with the demuxers of these containers and with no network protocol: ffmpeg can
# detect far more (an SDP or HLS "recording" would make it open sockets or read other local files).
ACCEPTED_DEMUXERS = ("wav", "mp3", "flac", "ogg", "mov", "matroska", "aac", "aiff")
OPEN_OPTIONS = {"format_whitelist": ",".join(ACCEPTED_DEMUXERS), "protocol_whitelist": "file"}
ACCEPTED_NAMES = "WAV, MP3, FLAC, OGG, M4A/MP4/AAC, WebM/Matroska or AIFF"


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # float32, mono, 16 kHz, in [-1, 1]
    container: str  # what PyAV detected, e.g. "mp3" or "matroska,webm"
    codec: str
    source_rate: int
    source_channels: int

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    @property
    def extension(self) -> str:
        """File extension matching the detected content (``bin`` when the container is unusual)."""
        return _EXTENSIONS.get(self.container, "bin")

    @property
    def rms(self) -> float:
        """The recording's level (root mean square, 1.0 is full scale)."""
        return float(np.sqrt(np.mean(np.square(self.samples, dtype=np.float64)))) if len(self.samples) else 0.0

    @property
    def is_silent(self) -> bool:
        return float(np.max(np.abs(self.samples), initial=0.0)) < SILENCE_PEAK


def decode_audio(data: bytes | memoryview, limits: AudioLimits = AudioLimits()) -> DecodedAudio:
    """Decode ``data`` (the whole file's bytes, or a memoryview of them) or raise :class:`AudioError` saying
    what is wrong."""
    max_seconds = limits.max_seconds
    if not data:
        raise AudioError("the file is empty")
    if len(data) > limits.max_bytes:
        raise AudioError(f"the file is too large ({len(data) / 2**20:.0f} MB; the limit is {limits.max_bytes / 2**20:.0f} MB)")
    container = open_container(data)
    with container:
        streams = container.streams.audio
        if not streams:
            raise AudioError(f"not an audio file (a {container.format.name!r} file with no audio stream)")
        stream = streams[0]
        # Refuse a long file from its header before spending time decoding it.
        if container.duration is not None and container.duration / 1e6 > max_seconds + 1.0:
            raise AudioError(_too_long(container.duration / 1e6, max_seconds))
        samples = _decode_stream(container, stream, max_seconds)
        decoded = DecodedAudio(
            samples=samples,
            container=container.format.name,
            codec=stream.codec_context.name,
            source_rate=int(stream.codec_context.sample_rate or 0),
            source_channels=int(stream.codec_context.channels or 0),
        )
    if decoded.duration < MIN_SECONDS:
        raise AudioError(f"the recording is too short ({decoded.duration:.2f} s; at least {MIN_SECONDS} s is needed)")
    return decoded


class BufferReader(io.RawIOBase):
    """A read-only file over any bytes-like object (``bytes``, a ``memoryview`` of an upload) that never
    copies it whole: ``io.BytesIO`` would copy a memoryview, and an upload may be hundreds of MB."""

    def __init__(self, data):
        self._view = memoryview(data).cast("B")
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        count = max(0, min(len(target), len(self._view) - self._position))
        target[:count] = self._view[self._position:self._position + count]
        self._position += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position


def open_container(data) -> "av.container.InputContainer":
    """Open the bytes of an upload with the accepted demuxers only, and no network; every upload is opened here."""
    import av  # PyAV loads when a recording is decoded

    try:
        return av.open(BufferReader(data), mode="r", options=OPEN_OPTIONS)
    except av.error.ArgumentError:  # ffmpeg recognised it, but as a format that is not on the list
        raise AudioError(f"not an audio file this dashboard accepts (it accepts {ACCEPTED_NAMES})") from None
    except (av.error.FFmpegError, UnicodeDecodeError) as err:
        raise AudioError(f"not an audio file (its format was not recognised: {_reason(err)})") from None


def _decode_stream(container, stream, max_seconds: float) -> np.ndarray:
    import av  # PyAV loads when a recording is decoded

    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    total = 0
    limit = int(max_seconds * SAMPLE_RATE)

    def take(frames) -> None:
        nonlocal total
        for frame in frames:
            chunk = frame.to_ndarray().reshape(-1)
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise AudioError(_too_long(total / SAMPLE_RATE, max_seconds))

    try:
        for frame in container.decode(stream):
            take(resampler.resample(frame))
        take(resampler.resample(None))  # flush what the resampler still holds
    except av.error.FFmpegError as err:
        if not chunks:
            raise AudioError(f"the audio could not be decoded ({_reason(err)})") from None
        # A truncated file: keep what decoded cleanly, as players do, if it is long enough.
    if not chunks:
        raise AudioError("the audio could not be decoded (no audio frames in the file)")
    samples = np.concatenate(chunks).astype(np.float32, copy=False)
    chunks.clear()
    return np.clip(samples, -1.0, 1.0, out=samples)  # in place: a long recording is not held a third time


def _too_long(seconds: float, max_seconds: float) -> str:
    return f"the recording is too long ({seconds:.0f} s; the limit is {max_seconds:.0f} s)"


def _reason(err: Exception) -> str:
    text = getattr(err, "strerror", None) or str(err)
    return text.split(":")[-1].strip() or type(err).__name__
