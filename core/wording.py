"""Words as a person writes them: ``1 file``, ``2 files``, ``1,204 images``."""

from __future__ import annotations


def counted(n: int, word: str, many: str | None = None) -> str:
    """A count and its noun in the right number (``many``: the plural when it is not ``word`` + "s")."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"
