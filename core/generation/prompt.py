"""Turn a transcript into an image prompt: a pure function, no model needed.

The speaker's words always come first; style modifiers are appended once, and only while they fit in
CLIP's 77-token window (75 usable tokens between the start and end markers). When the speaker's own
words do not fit, they are cut at the window and ``truncated`` says so, with how many words were dropped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Callable

from ..errors import InvalidOptionError

MAX_PROMPT_TOKENS = 75  # CLIP's 77 positions less its start and end tokens

STYLES: dict[str, str] = {
    "default": "detailed, high quality, photorealistic",
    "none": "",
    "cinematic": "cinematic lighting, dramatic, film still, detailed, high quality",
    "illustration": "digital illustration, vibrant colors, clean lines, detailed",
    "watercolor": "watercolor painting, soft colors, paper texture, artistic",
    "anime": "anime style, vivid colors, detailed background, high quality",
    "3d-render": "3d render, octane render, studio lighting, highly detailed",
}
DEFAULT_STYLE = "default"
DEFAULT_NEGATIVE_PROMPT = "blurry, low quality, distorted, deformed, watermark, text, signature"

# CLIP's own pre-tokenisation: words, digits one at a time, and runs of other symbols. Each piece is
# at least one BPE token, so this undercounts only when the real tokenizer splits a word further;
# generation re-checks with the model's tokenizer.
_PIECES = re.compile(r"[^\W\d_]+|\d|[^\s\w]+", re.UNICODE)


def estimate_tokens(text: str) -> int:
    return len(_PIECES.findall(text))


@dataclass(frozen=True)
class EnhancedPrompt:
    prompt: str
    negative_prompt: str
    style: str
    truncated: bool = False
    dropped_words: int = 0
    note: str = ""


def clean_text(text: str) -> str:
    """Drop control characters and collapse whitespace; what the speaker said is otherwise kept as is."""
    kept = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    return " ".join(kept.split())


def check_style(style: str) -> str:
    if style not in STYLES:
        raise InvalidOptionError(f"unknown style {style!r}; choose one of: {', '.join(STYLES)}")
    return style


def enhance_prompt(
    transcript: str,
    style: str = DEFAULT_STYLE,
    *,
    negative_prompt: str | None = None,
    max_tokens: int = MAX_PROMPT_TOKENS,
    count_tokens: Callable[[str], int] = estimate_tokens,
) -> EnhancedPrompt:
    """Build the image prompt for ``transcript`` in ``style`` (see :data:`STYLES`)."""
    check_style(style)
    words = clean_text(transcript).rstrip(" ,.;:")
    if not words:
        raise ValueError("the transcript is empty: there is nothing to make a prompt from")
    negative = DEFAULT_NEGATIVE_PROMPT if negative_prompt is None else clean_text(negative_prompt)
    modifiers = STYLES[style]

    kept, dropped = _fit(words, max_tokens, count_tokens)
    if dropped:
        note = f"the transcript is longer than CLIP's {max_tokens}-token window: its last {dropped} words were left out"
        return EnhancedPrompt(kept, negative, style, truncated=True, dropped_words=dropped, note=note)

    # Append modifiers that are not already present (never twice), as many as fit.
    present = {p.strip().lower() for p in words.split(",")}
    prompt, skipped = words, []
    for modifier in (m.strip() for m in modifiers.split(",") if m.strip()):
        if modifier.lower() in present or modifier.lower() in words.lower():
            continue
        candidate = f"{prompt}, {modifier}"
        if count_tokens(candidate) <= max_tokens:
            prompt = candidate
            present.add(modifier.lower())
        else:
            skipped.append(modifier)
    note = f"left out style words that did not fit in CLIP's window: {', '.join(skipped)}" if skipped else ""
    return EnhancedPrompt(prompt, negative, style, note=note)


def _fit(words: str, max_tokens: int, count_tokens: Callable[[str], int]) -> tuple[str, int]:
    """The longest leading run of whole words within ``max_tokens``, and how many words were cut."""
    if count_tokens(words) <= max_tokens:
        return words, 0
    parts = words.split(" ")
    low, high = 0, len(parts)  # binary search on the number of words kept
    while low < high:
        middle = (low + high + 1) // 2
        if count_tokens(" ".join(parts[:middle])) <= max_tokens:
            low = middle
        else:
            high = middle - 1
    return " ".join(parts[:low]), len(parts) - low
