"""Two whispers and a VAD, with the real tiny.en (bundled, offline) on espeak-ng speech.

    python -m bench.whisper [--repeats 3]

1. The same weights through openai-whisper (fp32, the checkpoint converted from the bundled CTranslate2 model) and
   faster-whisper (CTranslate2 fp32 and int8), word timestamps on as the app asks for them, the backends alternating
   in rounds: ``whisper_tiny_en_openai_s``, ``whisper_tiny_en_faster_s``, ``whisper_tiny_en_faster_int8_s`` on a
   clip of several sentences, and whether each gives the same words (``..._same_words``).
2. Silence: the clip with 5 s of room tone before and after and a 3 s pause in the middle (a quiet room and a noisy
   one), transcribed without and with Silero VAD: seconds (VAD included), and words placed in the silent stretches
   (invented text).
3. A hard recording against an easy one of about the same length, through the app's own path (the default
   backend and settings, tiny.en): ``whisper_hard_clip_s`` (a clip whose greedy decode fails whisper's checks, so
   the fallback runs), ``whisper_easy_clip_s``, ``whisper_hard_over_easy`` (target: at most 2.0) and whether the
   hard clip gave the same words on every run (``whisper_hard_clip_same_words``).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

HARD = "an axolotl in a bog, and a red fox"  # 2.4 s; tiny.en's greedy decode fails whisper's log-probability check
EASY = "three orange cats sleeping on a green sofa"  # 2.5 s; heard at once
SENTENCES = ["Can you draw me a lighthouse on a cliff at sunset?", "I want a picture of a red fox in the snow.",
             "Show me a garden full of sunflowers.", "Could you paint a pirate ship in a storm, please?",
             "Let's see a penguin eating an ice cream.", "Please draw a small cat reading a book."]
RATE = 16_000


def speak(text: str) -> np.ndarray:
    from core.generation.audio import AudioLimits, decode_audio

    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SystemExit("espeak-ng is needed: apt-get install espeak-ng")
    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "said.wav"
        subprocess.run([espeak, "-s", "140", "-w", str(wav), text], check=True, capture_output=True)
        return decode_audio(wav.read_bytes(), AudioLimits()).samples


def silence(seconds: float, seed: int = 0, level: float = 0.001) -> np.ndarray:
    """Room tone: noise with standard deviation ``level`` (0.001: about -60 dBFS, a quiet room; 0.02: about
    -34 dBFS, a fan or a street), never digital silence."""
    return (np.random.default_rng(seed).normal(0, level, int(seconds * RATE))).astype(np.float32)


def transcriber(backend: str, int8: bool):
    from core.config import load_settings
    from core.models.cache import ModelCache
    from core.execution.hearing import transcribe_options

    settings = load_settings({"V2I_WHISPER_MODEL": "tiny.en", "V2I_WHISPER_BACKEND": backend,
                              "V2I_WHISPER_INT8": "1" if int8 else "0", "V2I_VAD": "off"})
    cache = ModelCache(settings, device="cpu")
    return settings, cache, transcribe_options(settings, translate=False)


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def main() -> None:
    from core.execution.hearing import hear
    from core.generation.audio import DecodedAudio
    from core.generation.transcribe import transcribe

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    clip = np.concatenate([np.concatenate([speak(s), silence(0.4, i)]) for i, s in enumerate(SENTENCES)])
    print(f"clip_s: {len(clip) / RATE:.1f}")

    # 1. The backends, alternating in rounds.
    runs = {"openai": transcriber("openai", False), "faster": transcriber("faster", False),
            "faster_int8": transcriber("faster", True)}
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    words: dict[str, str] = {}
    for name, (_, cache, options) in runs.items():  # warm-up: loading, and numba's compilation for openai's DTW
        with cache.whisper().use() as model:
            words[name] = transcribe(model, clip, options).text
    for round_ in range(args.repeats):
        for name, (_, cache, options) in runs.items():
            with cache.whisper().use() as model:
                took, result = timed(lambda: transcribe(model, clip, options))
            seconds[name].append(took)
            print(f"# round {round_ + 1} {name}: {took:.2f} s", flush=True)
    for name in runs:
        print(f"whisper_tiny_en_{name}_s: {statistics.median(seconds[name]):.2f}")
    for name in ("faster", "faster_int8"):
        print(f"whisper_tiny_en_{name}_same_words: {'yes' if words[name] == words['openai'] else 'no'}")
        if words[name] != words["openai"]:
            print(f"# openai: {words['openai']}\n# {name}: {words[name]}")
        print(f"whisper_tiny_en_{name}_speedup: "
              f"{statistics.median(o / f for o, f in zip(seconds['openai'], seconds[name])):.2f}")
    print(f"# words: {words['openai']}")

    # 2. Silence around and inside the speech, without and with VAD (the default backend).
    from core.config import load_settings
    from core.models.cache import ModelCache

    half = len(SENTENCES) // 2
    first = np.concatenate([speak(s) for s in SENTENCES[:half]])
    second = np.concatenate([speak(s) for s in SENTENCES[half:]])
    for room, level in (("quiet", 0.001), ("noisy", 0.02)):
        quiet = np.concatenate([silence(5.0, 1, level), first, silence(3.0, 2, level), second, silence(5.0, 3, level)])
        spoken = [(5.0, 5.0 + len(first) / RATE), (8.0 + len(first) / RATE, 8.0 + (len(first) + len(second)) / RATE)]
        audio = DecodedAudio(quiet, "wav", "pcm_s16le", RATE, 1)
        for mode in ("off", "on"):
            settings = load_settings({"V2I_WHISPER_MODEL": "tiny.en", "V2I_VAD": mode})
            cache = ModelCache(settings, device="cpu")
            hear(audio, settings, cache, False)  # warm-up
            took = statistics.median(timed(lambda: hear(audio, settings, cache, False))[0]
                                     for _ in range(args.repeats))
            heard = hear(audio, settings, cache, False)
            outside = [w.word for w in heard.words
                       if not any(a - 0.3 <= (w.start + w.end) / 2 <= b + 0.3 for a, b in spoken)]
            print(f"whisper_with_silence_{room}_vad_{mode}_s: {took:.2f}")
            print(f"words_in_silence_{room}_vad_{mode}: {len(outside)}" + (f"  # {' '.join(outside)}" if outside else ""))
            if mode == "on":
                print(f"vad_cut_{room}_s: {sum(b - a for a, b in heard.speech_cut):.1f} of {len(quiet) / RATE:.1f}")

    hard_and_easy(args.repeats)


def hard_and_easy(repeats: int) -> None:
    """Section 3: the fallback's cost, the clips alternating in rounds after a warm-up of each."""
    from core.config import load_settings
    from core.execution.hearing import hear
    from core.generation.audio import DecodedAudio
    from core.models.cache import ModelCache

    settings = load_settings({"V2I_WHISPER_MODEL": "tiny.en"})
    cache = ModelCache(settings, device="cpu")
    clips = {name: DecodedAudio(speak(text), "wav", "pcm_s16le", RATE, 1) for name, text in (("hard", HARD),
                                                                                              ("easy", EASY))}
    seconds: dict[str, list[float]] = {name: [] for name in clips}
    words: dict[str, set[str]] = {name: set() for name in clips}
    for audio in clips.values():
        hear(audio, settings, cache, False)  # warm-up: the model loads once
    for _ in range(max(3, repeats)):
        for name, audio in clips.items():
            took, heard = timed(lambda: hear(audio, settings, cache, False))
            seconds[name].append(took)
            words[name].add(heard.text)
    hard, easy = statistics.median(seconds["hard"]), statistics.median(seconds["easy"])
    print(f"# hard clip ({len(clips['hard'].samples) / RATE:.2f} s, {settings.whisper_backend} backend): "
          f"{' | '.join(sorted(words['hard']))}")
    print(f"# easy clip ({len(clips['easy'].samples) / RATE:.2f} s): {' | '.join(sorted(words['easy']))}")
    print(f"whisper_hard_clip_s: {hard:.2f}")
    print(f"whisper_easy_clip_s: {easy:.2f}")
    print(f"whisper_hard_over_easy: {hard / easy:.2f}")
    print(f"whisper_hard_clip_same_words: {'yes' if len(words['hard']) == 1 else 'no'}")


if __name__ == "__main__":
    main()
