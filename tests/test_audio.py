import time

import numpy as np
import pytest
from core.generation.synth import FORMATS, encode, recording, tone

from core.generation.audio import SAMPLE_RATE, AudioLimits, decode_audio
from core.errors import AudioError


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_supported_format_decodes_to_16k_mono_float32(fmt):
    audio = decode_audio(recording(fmt, seconds=1.0, rate=48_000, channels=2))
    assert audio.samples.dtype == np.float32
    assert audio.samples.ndim == 1
    assert audio.duration == pytest.approx(1.0, abs=0.1)  # AAC and Opus pad a few ms
    assert 0.1 < np.abs(audio.samples).max() <= 1.0


@pytest.mark.parametrize("fmt, extension", [("wav", "wav"), ("mp3", "mp3"), ("flac", "flac"), ("ogg", "ogg"),
                                            ("m4a", "m4a"), ("webm", "webm")])
def test_the_stored_extension_comes_from_the_content(fmt, extension):
    assert decode_audio(recording(fmt)).extension == extension


@pytest.mark.parametrize("rate", [8_000, 11_025, 22_050, 44_100, 48_000, 96_000])
def test_any_sample_rate_is_resampled_to_16k(rate):
    audio = decode_audio(recording("wav", seconds=0.5, rate=rate))
    assert audio.source_rate == rate
    assert len(audio.samples) == pytest.approx(SAMPLE_RATE * 0.5, abs=64)


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_any_channel_count_is_mixed_down_to_mono(channels):
    audio = decode_audio(recording("flac", seconds=0.5, rate=44_100, channels=channels))
    assert audio.source_channels == channels
    assert audio.samples.ndim == 1


def test_the_tone_survives_decoding_at_its_frequency():
    audio = decode_audio(recording("wav", seconds=1.0, rate=44_100, frequency=1000.0))
    spectrum = np.abs(np.fft.rfft(audio.samples))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / len(audio.samples)
    assert peak_hz == pytest.approx(1000.0, abs=5)


def test_an_mp3_is_recognised_whatever_its_name_says():
    # decode_audio never sees a name: the container is probed from the bytes themselves
    assert decode_audio(recording("mp3")).container == "mp3"


def test_an_empty_file_is_refused():
    with pytest.raises(AudioError, match="empty"):
        decode_audio(b"")


@pytest.mark.parametrize("content", [
    b"this is a plain text file, not a recording\n" * 20,
    b"<html><script>alert(1)</script></html>",
])
def test_text_renamed_as_audio_is_refused(content):
    with pytest.raises(AudioError, match="not an audio file"):
        decode_audio(content)


def test_an_image_renamed_as_audio_is_refused():
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(buffer, format="PNG")
    with pytest.raises(AudioError, match="not an audio file"):
        decode_audio(buffer.getvalue())


def test_random_bytes_are_refused():
    noise = np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    with pytest.raises(AudioError):
        decode_audio(noise)


def test_a_truncated_header_is_refused():
    with pytest.raises(AudioError):
        decode_audio(recording("m4a")[:200])


def test_a_file_cut_short_keeps_the_audio_that_decodes():
    data = recording("wav", seconds=2.0)
    audio = decode_audio(data[: len(data) // 2])
    assert audio.duration == pytest.approx(1.0, abs=0.05)


def test_a_recording_shorter_than_a_tenth_of_a_second_is_refused():
    with pytest.raises(AudioError, match="too short"):
        decode_audio(recording("wav", seconds=0.05))


def test_a_recording_longer_than_the_limit_is_refused():
    with pytest.raises(AudioError, match="too long"):
        decode_audio(recording("wav", seconds=3.0), AudioLimits(max_seconds=2.0))


def test_a_long_stream_without_a_duration_header_is_stopped_while_decoding():
    data = encode(tone(3.0, 16_000), 16_000, "webm")
    with pytest.raises(AudioError, match="too long"):
        decode_audio(data, AudioLimits(max_seconds=1.0))


def test_digital_silence_is_flagged():
    assert decode_audio(recording("wav", amplitude=0.0)).is_silent
    assert not decode_audio(recording("wav")).is_silent


def test_a_file_over_the_size_limit_is_refused_before_decoding():
    with pytest.raises(AudioError, match="too large"):
        decode_audio(recording("wav", seconds=1.0), AudioLimits(max_bytes=1000))


def open_sockets() -> int:
    import os

    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:  # the descriptor listdir itself used, closed since
            pass
    return count


def test_an_sdp_file_posing_as_a_recording_opens_no_socket():
    """ffmpeg would read this as an RTP session description and listen on UDP ports of the sender's choosing."""
    sdp = (b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           b"m=audio 5004 RTP/AVP 0\r\n")
    before, started = open_sockets(), time.monotonic()
    with pytest.raises(AudioError, match="not an audio file this dashboard accepts"):
        decode_audio(sdp)
    assert time.monotonic() - started < 2.0  # refused at once, not after ffmpeg's 10 s wait on the sockets
    assert open_sockets() == before


def test_a_playlist_cannot_make_the_server_read_another_local_file(tmp_path):
    secret = tmp_path / "private.wav"
    secret.write_bytes(recording("wav", seconds=1.0))
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n{secret}\n#EXT-X-ENDLIST\n".encode()
    with pytest.raises(AudioError, match="not an audio file"):
        decode_audio(playlist)


def test_decoding_a_view_of_an_upload_does_not_copy_it():
    import tracemalloc

    data = encode(tone(60.0, 48_000, 2), 48_000, "wav")  # 11 MB in, 3.7 MB of samples out
    tracemalloc.start()
    try:
        audio = decode_audio(memoryview(data))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert audio.duration == pytest.approx(60.0, abs=0.1)
    assert peak < 2.5 * audio.samples.nbytes < len(data)  # the samples and one concatenation, no copy of the file
