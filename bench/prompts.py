"""Do prompts start with what the speaker wanted drawn? A labelled set of spoken requests with fillers and
frames, spoken by espeak-ng and heard by the real English whisper (tiny.en, bundled, offline).

    python -m bench.prompts

Prints ``name: value`` lines: how many requests, and the share of prompts whose first words are the spoken
subject, built from the transcript as it was heard (before) and from the cleaned speech (after). Target: at
least 0.9 after.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# (what is said, the subject it asks for)
REQUESTS = [
    ("Um, I want a picture of a red fox in the snow.", "red fox"),
    ("Can you draw me a lighthouse on a cliff?", "lighthouse"),
    ("And a big red apple on a table.", "big red apple"),
    ("That has to be a race track on the moon.", "race track"),
    ("So, uh, show me three cats on a sofa.", "three cats"),
    ("Please show me a castle made of ice.", "castle"),
    ("Okay, I'd like to see a robot playing the violin.", "robot"),
    ("Could you paint a sunset over the ocean, please?", "sunset"),
    ("Well, there should be a tiny house in a forest.", "tiny house"),
    ("Uh, draw a dragon flying over a city.", "dragon"),
    ("I want an image of two dogs wearing hats.", "two dogs"),
    ("Hmm, can you make a picture of a blue bicycle?", "blue bicycle"),
    ("Show me a garden full of sunflowers.", "garden"),
    ("So, a pirate ship in a storm.", "pirate ship"),
    ("Yeah, um, a horse running on the beach.", "horse"),
    ("Could you generate a mountain village at night?", "mountain village"),
    ("Let's see a penguin eating an ice cream.", "penguin"),
    ("I'd like to see a green car on a road.", "green car"),
    ("Please draw a small cat reading a book.", "small cat"),
    ("And, you know, a train crossing a bridge.", "train"),
]
ARTICLES = {"a", "an", "the"}


def content_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z]+", text.lower()) if w not in ARTICLES]


def subject_first(prompt: str, subject: str) -> bool:
    """Do the prompt's first words (articles aside) say the subject? Letters compared, so a spelling slip of
    whisper's ("light house") still counts."""
    wanted = "".join(content_words(subject))
    return "".join(content_words(prompt))[: len(wanted)] == wanted


def measure(requests=REQUESTS, espeak: str | None = None) -> dict[str, float]:
    from core import ModelCache, clean_speech, enhance_prompt, load_settings, transcribe_recording

    espeak = espeak or shutil.which("espeak-ng")
    if espeak is None:
        raise SystemExit("espeak-ng is needed: apt-get install espeak-ng")
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings({"V2I_PROFILE": "tiny", "V2I_DATA_DIR": folder, "V2I_WHISPER_MODEL": "tiny.en"})
        models = ModelCache(settings, device="cpu")
        before = after = 0
        for said, subject in requests:
            wav = Path(folder) / "said.wav"
            subprocess.run([espeak, "-s", "130", "-w", str(wav), said], check=True, capture_output=True)
            heard = transcribe_recording(wav.read_bytes(), settings=settings, models=models).transcript
            before += subject_first(enhance_prompt(heard.text, "none").prompt, subject)
            after += subject_first(enhance_prompt(clean_speech(heard.text, heard.language).text, "none").prompt, subject)
    return {"prompts_n": len(requests), "prompts_subject_first_before": before / len(requests),
            "prompts_subject_first_after": after / len(requests)}


def main() -> int:
    for name, value in measure().items():
        print(f"{name}: {value:.2f}" if isinstance(value, float) else f"{name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
