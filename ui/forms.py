"""Widgets the pages share: the History-style filters (words, dates, "any" selects) and the collection picker."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Sequence

import streamlit as st

from core import Person, V2IError, collect, collections, collections_of, uncollect

from . import render


def any_select(container, label: str, values: Sequence[Any], **kwargs) -> Any:
    """A select box whose first choice, "any", returns None."""
    return container.selectbox(label, [None, *values], format_func=lambda v: "any" if v is None else str(v), **kwargs)


def date_range(container, label: str = "Dates", **kwargs) -> tuple[str | None, str | None]:
    """A date range as ISO bounds: ``since`` inclusive, ``until`` exclusive (the day after the last one)."""
    dates = container.date_input(label, value=(), max_value=date.today() + timedelta(days=1), **kwargs)
    since = dates[0].isoformat() if len(dates) >= 1 else None
    until = (dates[1] + timedelta(days=1)).isoformat() if len(dates) == 2 else None
    return since, until


def collection_picker(store, generation_id: str, person: Person, key: str) -> None:
    """Which shared collections a generation is in; add it to one (an existing one or a new name) or take it out."""
    current = collections_of(store, [generation_id])[generation_id]
    render.labelled_text("Collections", ", ".join(current) if current else "in no collection yet")
    left, right = st.columns(2)
    names = [c["name"] for c in collections(store) if c["name"] not in current]
    chosen = left.selectbox("Add to a collection", names, index=None, accept_new_options=True, key=f"{key}-add",
                            placeholder="pick one or type a new name")
    if left.button("Add", key=f"{key}-add-button"):
        try:
            collect(store, generation_id, chosen, person)
            st.rerun()
        except V2IError as err:
            render.error(str(err))
    if current:
        out = right.selectbox("Take out of", current, key=f"{key}-remove")
        if right.button("Take out", key=f"{key}-remove-button"):
            uncollect(store, generation_id, out, person)
            st.rerun()
