"""Recordings made in code: tones in every container and codec core accepts (PyAV encodes them), for the
tests, the benchmarks and offline demos."""

from __future__ import annotations

import io

import numpy as np

# name -> (container format, codec, encoder options)
FORMATS = {
    "wav": ("wav", "pcm_s16le", {}),
    "mp3": ("mp3", "libmp3lame", {}),
    "flac": ("flac", "flac", {}),
    "ogg": ("ogg", "vorbis", {"strict": "experimental"}),  # OGG/Vorbis
    "m4a": ("ipod", "aac", {}),  # what phones record
    "webm": ("webm", "libopus", {}),  # what browsers record
}
LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1"}


def tone(seconds: float, rate: int, channels: int = 1, frequency: float = 440.0, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    wave = (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    return np.tile(wave, (channels, 1))


def encode(samples: np.ndarray, rate: int, fmt: str = "wav") -> bytes:
    """Encode planar float samples (channels x n) into ``fmt`` (a key of :data:`FORMATS`)."""
    import av  # PyAV loads when a recording is decoded

    container_format, codec, options = FORMATS[fmt]
    if codec == "vorbis" and samples.shape[0] == 1:
        samples = np.tile(samples, (2, 1))  # ffmpeg's own Vorbis encoder writes stereo only
    channels = samples.shape[0]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as out:
        stream = out.add_stream(codec, rate=rate, layout=LAYOUTS[channels])
        stream.codec_context.options = dict(options)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout=LAYOUTS[channels])
        frame.sample_rate = rate
        frame.pts = 0
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def recording(fmt: str = "wav", seconds: float = 1.5, rate: int = 16_000, channels: int = 1, **kw) -> bytes:
    return encode(tone(seconds, rate, channels, **kw), rate, fmt)
