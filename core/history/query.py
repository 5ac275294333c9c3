"""What History asks of the store, as values: the filters (``HistoryFilter``, a WHERE clause with bound
parameters; user text is never SQL), a person's search as a full-text query (``SearchTerms``), the sortable columns
and their index keys (``SORTABLE``, ``sort_key``), and one page of rows (``HistoryPage``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from . import columns


def sort_key(column: str) -> str:
    """The expression History orders ``column`` by, as its index spells it (migration 0014 made the first ones): a
    missing value sorts first through a sentinel, so a page boundary is always a comparable (key, id) pair."""
    spec = next((c for c in columns.COLUMNS if c.name == column and c.sortable), None)
    if spec is None:
        sortable = (c.name for c in columns.COLUMNS if c.sortable)
        raise ValueError(f"cannot sort by {column!r}; choose one of: {', '.join(sortable)}")
    if spec.required:
        return column
    return f"ifnull({column}, {chr(39) * 2 if spec.kind is str else '-1e308'})"


@dataclass(frozen=True)
class HistoryFilter:
    """What the History page and ``python -m core history`` can narrow generations by."""

    search: str | None = None  # full-text search over transcript and prompt
    language: str | None = None
    sd_model: str | None = None
    steps: int | None = None
    since: str | None = None  # ISO date or datetime, inclusive
    until: str | None = None  # ISO date or datetime, exclusive
    ids: tuple[str, ...] | None = field(default=None)
    created_by: str | None = None  # made by this person (their id)
    min_rating: float | None = None  # mean rating at least this (unrated rows are left out)
    favourites_of: str | None = None  # starred by this person (their id)
    collection: str | None = None  # in this collection (names compare case-insensitively)

    @property
    def search_terms(self) -> "SearchTerms":
        return SearchTerms.of(self.search or "")

    def where(self) -> tuple[str, list[Any]]:
        """A WHERE clause over ``generations g`` and its bound parameters (user text is never SQL)."""
        clauses, params = [], []
        if self.search and self.search.strip():
            query = self.search_terms.query
            if query:
                clauses.append("g.rowid IN (SELECT rowid FROM generations_fts WHERE generations_fts MATCH ?)")
                params.append(query)
            else:
                clauses.append("0")  # only punctuation: nothing can match it
        for column in ("language", "sd_model", "steps", "created_by"):
            value = getattr(self, column)
            if value not in (None, ""):
                clauses.append(f"g.{column} = ?")
                params.append(value)
        if self.since:
            clauses.append("g.created_at >= ?")
            params.append(self.since)
        if self.until:
            clauses.append("g.created_at < ?")
            params.append(self.until)
        if self.ids is not None:
            clauses.append(f"g.id IN ({', '.join('?' for _ in self.ids) or 'NULL'})")
            params.extend(self.ids)
        if self.min_rating is not None:
            clauses.append("g.rating_mean >= ?")
            params.append(self.min_rating)
        if self.favourites_of:
            clauses.append("g.id IN (SELECT generation_id FROM ratings WHERE person = ? AND favourite = 1)")
            params.append(self.favourites_of)
        if self.collection:
            clauses.append("g.id IN (SELECT generation_id FROM collection_items WHERE collection = ? COLLATE NOCASE)")
            params.append(self.collection)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


MAX_SEARCH_CHARS = 200  # a search reads at most this much of what was typed...
MAX_SEARCH_TERMS = 16  # ...and at most this many distinct words of it


@dataclass(frozen=True)
class SearchTerms:
    """A person's search text as a full-text query: distinct words, each a quoted prefix term, so user text
    is never FTS syntax (and it is always a bound parameter, never SQL); capped so a query stays cheap."""

    query: str  # the MATCH expression; empty when the text has no word in it
    words: tuple[str, ...]
    shortened: bool  # the text was longer than the caps allow: only its first words are searched

    @classmethod
    def of(cls, text: str) -> "SearchTerms":
        words = list(dict.fromkeys(w.lower() for w in re.findall(r"\w+", text[:MAX_SEARCH_CHARS])))
        shortened = len(text) > MAX_SEARCH_CHARS or len(words) > MAX_SEARCH_TERMS
        words = words[:MAX_SEARCH_TERMS]
        return cls(" ".join(f'"{word}"*' for word in words), tuple(words), shortened)

    @property
    def note(self) -> str:
        if not self.shortened:
            return ""
        return (f"The search was shortened to its first {len(self.words)} distinct words "
                f"(at most {MAX_SEARCH_TERMS} words from the first {MAX_SEARCH_CHARS} characters).")


@dataclass(frozen=True)
class HistoryPage:
    """One page of History: its rows, how many generations match in all, which page it is, and of how many."""

    rows: list[dict[str, Any]]
    total: int
    number: int
    pages: int
