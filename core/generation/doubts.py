"""The doubt guard: what stops a job until the person fixes the words or insists, on every path (the Generate page,
its batch button, the API, the CLI, sweeps, A/B runs, and the worker for a job queued without transcribing first).

Two kinds of doubt stop a job:

- **words** whisper doubted (:data:`~core.generation.transcript.DOUBTFUL_WORD`) that would reach the image: they
  are matched by whisper's own word tokens and their order in the prompt, whatever joins them ("rent" and "-box"
  heard, "rent-box" in the prompt), so the count and the list always agree;
- a **reason** the recording as a whole is doubted (whisper did not understand it, an invention over silence, most
  words doubted: :func:`core.execution.hearing.doubt_of`).

Both belong to whisper's words, as whisper gave them. Once the person changes the transcript or the prompt, having
seen the doubt, the words are theirs: nothing stops them (:func:`doubts_in`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Sequence

from ..wording import counted
from .prompt import clean_text
from .transcript import Word

_PIECE = re.compile(r"\w+(?:'\w+)*")


def pieces(text: str) -> list[str]:
    """The words of ``text`` as the guard compares them: lower case, split at anything that is not part of a word
    (spaces, hyphens, punctuation), an apostrophe inside a word kept ("rent-box." -> ["rent", "box"])."""
    return _PIECE.findall(text.lower())


@dataclass(frozen=True)
class Doubts:
    """What stops a job: whisper's doubted words still in the prompt (in the order spoken, as heard, punctuation
    trimmed), and why the recording as a whole is doubted ("" when it is not). Empty (false) when nothing does."""

    words: tuple[str, ...] = ()
    reason: str = ""

    def __bool__(self) -> bool:
        return bool(self.words or self.reason)

    def words_line(self) -> str:
        """"2 words may be misheard: rent, box" ("" without doubted words)."""
        return f"{counted(len(self.words), 'word')} may be misheard: {', '.join(self.words)}" if self.words else ""

    def message(self, outcome: str = "Nothing was queued") -> str:
        """What stops the job and the two ways on, in plain words."""
        said = [self.words_line()] if self.words else []
        if self.reason:
            said.append(f"the words may not be what was said: {self.reason}")
        return (f"{outcome}: {'; '.join(said)}. Fix the words in the transcript or the prompt, or tick \"Generate "
                "anyway\" (API: force=true; command line: --force) if they are right")


def doubted_in_prompt(words: Sequence[Word | dict], prompt: str) -> tuple[Word, ...]:
    """The words whisper doubted that are still in ``prompt``: each doubted word's pieces line up with the prompt's,
    in the order spoken where they can (fillers and frames left out, a style added, whatever hyphens and
    punctuation join them), else among the prompt's pieces left over (a word the prompt moved); each occurrence
    counted once, in the order spoken."""
    heard = [w if isinstance(w, Word) else Word(**w) for w in words]
    if not any(w.doubtful for w in heard):
        return ()
    said = [(i, piece) for i, w in enumerate(heard) for piece in pieces(w.word)]
    positions: dict[int, list[int]] = {}  # each heard word's pieces, by their place in ``said``
    for k, (owner, _) in enumerate(said):
        positions.setdefault(owner, []).append(k)
    written = pieces(prompt)
    aligned: set[int] = set()  # positions in ``said`` lined up with the prompt, and in ``written`` used so
    used: set[int] = set()
    for block in SequenceMatcher(None, [p for _, p in said], written, autojunk=False).get_matching_blocks():
        aligned.update(range(block.a, block.a + block.size))
        used.update(range(block.b, block.b + block.size))
    left = Counter(p for j, p in enumerate(written) if j not in used)
    found = []
    for i, w in enumerate(heard):
        own = positions.get(i)
        if not w.doubtful or not own:
            continue
        if all(k in aligned for k in own):
            found.append(w)
        elif all(left[said[k][1]] > 0 for k in own):  # moved: its pieces are still there, out of order
            left.subtract(said[k][1] for k in own)
            found.append(w)
    return tuple(found)


def edited(text: str | None, original: str | None) -> bool:
    """Whether the person changed ``original`` into ``text`` (spacing aside)."""
    return clean_text(text or "") != clean_text(original or "")


def doubts_in(words: Sequence[Word | dict], reason: str, *, prompt: str, built: str, transcript: str | None = None,
              heard: str | None = None) -> Doubts:
    """The doubts that stop a job about to paint ``prompt``: none once the person changed the transcript from what
    whisper ``heard``, or the prompt from the one ``built`` from it (they saw the doubt and made the words their
    own); otherwise the doubted words that reach the prompt, and the recording's ``reason``. ``words``: whisper's
    words with their confidence (leave them out for a random-weight whisper, which doubts every word it invents)."""
    if edited(prompt, built) or (heard is not None and edited(transcript, heard)):
        return Doubts()
    return Doubts(tuple(" ".join(pieces(w.word)) for w in doubted_in_prompt(words, prompt)), reason)

