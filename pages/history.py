"""History: every generation, in SQL pages, with filters (kept in the URL, so a view can be pasted in a chat),
who made it, ratings, collections, a detail view (``?id=<id>``), re-generation, delete and export."""

import streamlit as st

from core import (
    SORTABLE, TABLE_COLUMNS, HistoryFilter, HistoryPage, NotFoundError, V2IError, aggregates, check_id, collections,
    known_people, names_of, timefmt,
)
from ui import forms, render, resources, voice
from ui.detail import detail
from ui.exports import exports
from ui.trash import delete_with_confirmation, trash_view

resources.ensure_navigation()

PAGE_SIZES = [25, 50, 100]
MAX_PICKED = 200  # ids a link may carry (?ids=a,b,...), as the Similarity map's selection opens them
RATINGS = [1, 2, 3, 4, 5]


# The filters' keys (each bound to the URL, or kept in the session): how many are set is counted before they draw.
FILTERS = ("search", "dates", "language", "steps", "model", "by", "collection", "rating", "favourites")


def active_filters() -> int:
    """How many filters narrow the rows now (as the person last set them, or as the link they opened sets them)."""
    def set_(value) -> bool:
        return value not in (None, "", (), [], False, "false", "False")

    return sum(set_(st.session_state[key] if key in st.session_state else st.query_params.get(key))
               for key in FILTERS)


def filters() -> tuple[HistoryFilter, dict]:
    """The filter widgets, behind one "Filters (N active)" control so the results come first (on a phone, the
    whole first screen); the ones worth sharing are bound to the URL's query parameters."""
    active = active_filters()
    with st.expander(f"Filters ({active} active)" if active else "Filters", key="history-filters",
                     icon=":material/filter_list:"):
        top = st.columns([3, 2, 2, 2])
        with top[0]:
            voice.spoken_query("search", key="voice-search")
        search = top[0].text_input("Search transcripts and prompts", key="search", bind="query-params")
        since, until = forms.date_range(top[1], key="dates", bind="query-params")
        language = forms.any_select(top[2], "Language", aggregates.distinct_values(store, "language"), key="language")
        steps = forms.any_select(top[3], "Steps", aggregates.distinct_values(store, "steps"), key="steps")
        middle = st.columns([3, 2, 2, 2])
        model = forms.any_select(middle[0], "Model", aggregates.distinct_values(store, "sd_model"), key="model")
        sort = middle[1].selectbox("Sort by", SORTABLE)
        descending = middle[2].toggle("Newest / largest first", value=True)
        page_size = middle[3].selectbox("Rows per page", PAGE_SIZES)
        bottom = st.columns([3, 2, 2, 2])
        makers = {p["id"]: p["name"] for p in known_people(store)}
        by = bottom[0].selectbox("Made by", [None, *makers], format_func=lambda v: "anyone" if v is None else makers[v],
                                 key="by", bind="query-params")
        collection = forms.any_select(bottom[1], "Collection", [c["name"] for c in collections(store)],
                                      key="collection", bind="query-params")
        min_rating = forms.any_select(bottom[2], "Rated at least", RATINGS, key="rating", bind="query-params")
        favourites = bottom[3].toggle("My favourites", key="favourites", bind="query-params")
    where = HistoryFilter(search=search or None, language=language, sd_model=model, steps=steps, since=since,
                          until=until, created_by=by, collection=collection, min_rating=min_rating,
                          favourites_of=person.id if favourites else None, ids=picked_ids())
    return where, {"sort": sort, "descending": descending, "limit": page_size}


def picked_ids() -> tuple[str, ...] | None:
    """``?ids=a,b,...``: only these generations (a selection on the Similarity map); malformed ids are named."""
    value = st.query_params.get("ids")
    if value is None:
        return None
    picked, bad = [], []
    for item in dict.fromkeys(value.split(",")):
        try:
            picked.append(check_id(item.strip()))
        except NotFoundError:
            bad.append(item.strip()[:40])
    if bad:
        st.warning(render.escape_markdown(f"The link names {len(bad)} malformed id(s), left out: {', '.join(bad[:3])}"))
    st.info(f"Showing only the {len(picked[:MAX_PICKED])} generations the link picked (from the map). "
            "Open History from the menu to see them all.")
    return tuple(picked[:MAX_PICKED])


def rows_page(where: HistoryFilter, order: dict) -> HistoryPage:
    """One page by keyset (any page is a seek, first or last); the page widget comes after it. Filters that narrow
    the rows below the page asked for show the last page there is."""
    page = store.page_generations(where, page=st.session_state.get("history-page", 1), **order)
    if page.total and page.number != st.session_state.get("history-page", 1):
        st.session_state["history-page"] = page.number
    return page


def linked_generation() -> dict | None:
    """The generation a pasted link (``?id=``) points at; a malformed or unknown id is a plain message."""
    linked = st.query_params.get("id")
    if linked is None:
        return None
    try:
        linked = store.resolve_id(linked)  # a whole id, or a unique prefix of 6 or more
        store.get_generation(linked)
    except V2IError as err:
        st.warning(render.escape_markdown(f"The link does not open a generation: {err}."))
        return None
    return store.query_generations(HistoryFilter(ids=(linked,)))[0]


OPENED, SHOWN = "history-opened", "history-shown"


def open_clicked_row() -> None:
    """A click on the table opens the row the person saw there: positions are read against the ids shown on the
    last run, not against rows that may have moved since (a colleague's image arriving puts a new row first)."""
    picked = st.session_state["history-table"].selection.rows
    shown = st.session_state.get(SHOWN, [])
    if picked and picked[0] < len(shown):
        st.session_state[OPENED] = shown[picked[0]]


def opened_generation(rows: list[dict]) -> dict:
    """The generation open below the table: the one this person opened, wherever it now sits (on another page, or
    filtered out), while it exists; else the page's first."""
    wanted = st.session_state.get(OPENED)
    if wanted is not None and (here := [r for r in rows if r["id"] == wanted]):
        return here[0]
    if wanted is not None and (found := store.query_generations(HistoryFilter(ids=(wanted,)))):
        return found[0]
    st.session_state[OPENED] = rows[0]["id"]  # gone to the trash, or nothing opened yet
    return rows[0]


def label_of(row: dict) -> str:
    """Stable words (no "5 min ago"): the option a person picked must read the same on the next run."""
    return f"{row['id'][:8]}  {row['created_at'][:16].replace('T', ' ')}  {row['transcript'][:50]}"


# The page.
store, queue, person = resources.store(), resources.queue(), resources.person()
tz = getattr(st.context, "timezone", None)  # the viewer's (the browser's), for times people read
st.title("History")

# 1. A generation opened from a link.
if (linked := linked_generation()) is not None:
    st.subheader("Linked generation")
    detail(store, person, linked, "linked", tz)

# 2. Filters, all applied in SQL.
where, order = filters()
if note := where.search_terms.note:
    st.caption(note)
history = rows_page(where, order)
rows, total, page, pages = history.rows, history.total, history.number, history.pages
if total == 0:
    st.info("No generations match." if store.count_generations() else "No generations yet: make one on Generate.")
    trash_view(store, person)  # what was deleted can still come back
    st.stop()
st.number_input("Page", min_value=1, max_value=pages, key="history-page")

# 3. The page of rows, with thumbnails; clicking a row opens it below.
names = names_of(store, [r["created_by"] for r in rows])
st.dataframe(
    [{"image": render.thumbnail(store.file_path(r["image_path"])), "made": timefmt.readable(r["created_at"], tz=tz),
      "id": r["id"][:8],
      "by": names.get(r["created_by"], "unknown"),
      "rating": "" if r["rating_mean"] is None else f"{r['rating_mean']:.1f}",  # blank when nobody rated it
      "ratings": r["rating_count"],
      **{c.heading: r[c.name] for c in TABLE_COLUMNS}, "exact time": timefmt.exact(r["created_at"], tz)}
     for r in rows],
    column_config={"image": st.column_config.ImageColumn("image", width="small")},
    hide_index=True, width="stretch", key="history-table", on_select=open_clicked_row, selection_mode="single-row",
)
st.caption(f"{total} generations match; page {page} of {pages}.")
exports(store, person, where)

# 4. One generation in detail, held by its id: colleagues' images landing meanwhile move rows, never what is open.
opened = opened_generation(rows)
labels = {r["id"]: label_of(r) for r in rows}
labels.setdefault(opened["id"], label_of(opened))  # open, though no longer on this page
st.selectbox("Open a generation", list(labels), format_func=labels.get, key=OPENED)
st.session_state[SHOWN] = [r["id"] for r in rows]  # what a click on the table refers to, next run
if linked is None or opened["id"] != linked["id"]:  # a linked generation is shown once, above
    detail(store, person, opened, "open", tz)

# 5. To the trash, after a confirmation; and the trash itself.
delete_with_confirmation(store, person, rows, labels)
trash_view(store, person)
