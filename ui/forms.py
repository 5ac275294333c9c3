"""Widgets the pages share: the History-style filters (words, dates, "any" selects)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Sequence

import streamlit as st


def any_select(container, label: str, values: Sequence[Any], **kwargs) -> Any:
    """A select box whose first choice, "any", returns None."""
    return container.selectbox(label, [None, *values], format_func=lambda v: "any" if v is None else str(v), **kwargs)


def date_range(container, label: str = "Dates", **kwargs) -> tuple[str | None, str | None]:
    """A date range as ISO bounds: ``since`` inclusive, ``until`` exclusive (the day after the last one)."""
    dates = container.date_input(label, value=(), max_value=date.today() + timedelta(days=1), **kwargs)
    since = dates[0].isoformat() if len(dates) >= 1 else None
    until = (dates[1] + timedelta(days=1)).isoformat() if len(dates) == 2 else None
    return since, until
