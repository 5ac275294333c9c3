"""History: every generation, in SQL pages, with filters (kept in the URL, so a view can be pasted in a chat),
who made it, ratings, collections, a detail view (``?id=<id>``), re-generation, delete and export."""

import json

import streamlit as st

from core import (
    COMMON_SIZES, SORTABLE, TABLE_COLUMNS, GenerationRequest, HistoryFilter, HistoryPage, NotFoundError, V2IError,
    aggregates, alignment, check_id, collections, known_people, names_of, novelty_of, rate, rating_of, roles, timefmt,
)
from ui import forms, render, resources, voice, words
from ui.exports import exports
from ui.trash import delete_with_confirmation, trash_view

resources.ensure_navigation()

PAGE_SIZES = [25, 50, 100]
MAX_PICKED = 200  # ids a link may carry (?ids=a,b,...), as the Similarity map's selection opens them
RATINGS = [1, 2, 3, 4, 5]


def filters() -> tuple[HistoryFilter, dict]:
    """The filter widgets; the ones worth sharing are bound to the URL's query parameters."""
    with st.container(border=True):
        top = st.columns([3, 2, 2, 2])
        with top[0]:
            voice.spoken_query("search", key="voice-search")
        search = top[0].text_input("Search transcripts and prompts", key="search", bind="query-params")
        since, until = forms.date_range(top[1], key="dates", bind="query-params")
        language = forms.any_select(top[2], "Language", aggregates.distinct_values(store, "language"))
        steps = forms.any_select(top[3], "Steps", aggregates.distinct_values(store, "steps"))
        middle = st.columns([3, 2, 2, 2])
        model = forms.any_select(middle[0], "Model", aggregates.distinct_values(store, "sd_model"))
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


def share_link(generation_id: str) -> str:
    """The address colleagues can open: V2I_PUBLIC_URL's when set (behind a proxy the page's own may be loopback),
    else this page's."""
    if public := resources.settings().public_url:
        return f"{public.rstrip('/')}/history?id={generation_id}"
    page_url = getattr(st.context, "url", None) or ""  # this page's address, when the browser sent one
    return f"{page_url.split('?')[0].rsplit('/', 1)[0]}/history?id={generation_id}"


def ratings(row: dict, place: str) -> None:
    """This person's stars and favourite mark, and everyone's mean (a viewer sees the mean only)."""
    if not roles.allowed(person, "rate"):
        if row["rating_count"]:
            st.text(f"Rated {row['rating_mean']:.1f} of 5 by {row['rating_count']}")
        return
    mine = rating_of(store, row["id"], person.id)
    stars = st.feedback("stars", key=f"{place}-stars-{row['id']}", default=None if mine["stars"] is None else mine["stars"] - 1)
    if stars is not None and stars + 1 != mine["stars"]:
        rate(store, row["id"], person.id, stars=stars + 1)
        st.rerun()
    favourite = st.toggle("One of my favourites", value=mine["favourite"], key=f"{place}-favourite-{row['id']}")
    if favourite != mine["favourite"]:
        rate(store, row["id"], person.id, favourite=favourite)
        st.rerun()
    if row["rating_count"]:
        st.text(f"Rated {row['rating_mean']:.1f} of 5 by {row['rating_count']}")


def detail(row: dict, place: str) -> None:
    """One generation: image, recording, words, who made it, ratings, collections, timings and actions.
    ``place`` keeps its widgets apart when the same generation shows twice (linked, and opened below)."""
    with st.container(border=True):
        left, right = st.columns([1, 1])
        with left:
            render.show_image_or_missing(store.file_path(row["image_path"]), alt=render.alt_text(row))
            ratings(row, place)
            if roles.allowed(person, "collect"):
                forms.collection_picker(store, row["id"], person.id, key=f"{place}-collect-{row['id']}")
        with right:
            audio_path = store.file_path(row["audio_path"])
            heard = json_list_of_words(row.get("words"))
            if not audio_path.is_file():
                st.warning("The audio file is missing from the data folder.")
                words.word_player(heard, None, f"{place}-{row['id']}", heard=row.get("heard"))
            elif heard:  # the words as whisper heard them, doubtful ones marked; a word plays from where it was said
                words.word_player(heard, audio_path.read_bytes(), f"{place}-{row['id']}", heard=row.get("heard"))
            else:
                st.audio(str(audio_path))
            render.labelled_text("Made by", names_of(store, [row["created_by"]]).get(row["created_by"], "unknown"))
            st.caption("Made")  # as words; the exact time on hover (and in exports)
            st.text(timefmt.readable(row["created_at"], tz=tz), help=timefmt.exact(row["created_at"], tz))
            render.labelled_text("Link", share_link(row["id"]))
            render.labelled_text("Original file", row["audio_filename"])
            render.labelled_text("Transcript", row["transcript"])
            render.labelled_text("Prompt", row["prompt"])
            if removed := json_list(row.get("speech_removed")):
                render.labelled_text("Left out of the speech for the prompt", "; ".join(removed))
            if terms := json_list(row.get("vocabulary")):
                render.labelled_text("Team vocabulary whisper was given", ", ".join(terms))
            render.labelled_text("Negative prompt", row["negative_prompt"])
            st.plotly_chart(render.timing_chart(row), width="stretch", key=f"{place}-timings-{row['id']}")
            similarity_notes(row)
        with st.expander("All parameters"):
            st.json({k: v for k, v in row.items() if k not in ("transcript", "prompt", "negative_prompt")})
        actions(row, audio_path, place)


def json_list_of_words(text: str | None) -> list[dict]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return [w for w in value if isinstance(w, dict) and {"word", "start", "end", "probability"} <= set(w)] \
        if isinstance(value, list) else []


def json_list(text: str | None) -> list[str]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def similarity_notes(row: dict) -> None:
    # From stored embeddings only: opening a row never loads CLIP (the worker computes them when idle).
    cache = resources.embedding_cache()
    scores = alignment(cache, [row], compute=False).get(row["id"])
    novelty = novelty_of(store, cache.model_id, row["id"])
    if scores:
        st.text(f"CLIP alignment: image vs transcript {scores['transcript']:.3f}, image vs prompt "
                f"{scores['prompt']:.3f} (enhancement {scores['gain']:+.3f})")
    if novelty is not None:
        st.text(f"Novelty: closest earlier image at {novelty:.3f}")
    if not scores:
        st.caption("CLIP alignment and novelty appear once the embeddings are computed (on the Similarity "
                   "page, or by the worker when the queue is quiet).")


def actions(row: dict, audio_path, place: str) -> None:
    if not roles.allowed(person, "generate"):
        return
    buttons = st.columns(2)
    if buttons[0].button("Generate again with the same settings", key=f"{place}-again-{row['id']}"):
        try:
            queue.submit(audio_path.read_bytes(), GenerationRequest.from_row(row), created_by=person.id)
            resources.worker().wake()
            st.success("Queued: follow it on the Generate page.")
        except (V2IError, ValueError, OSError) as err:
            render.error(f"Could not queue it: {err}")
    if buttons[1].button("Use these settings", key=f"{place}-use-{row['id']}"):
        request = GenerationRequest.from_row(row)
        options = request.options
        st.session_state["prefill"] = {
            "style": request.style, "recipe": options.recipe, "scheduler": options.scheduler, "steps": options.steps,
            "guidance": float(options.guidance), "seed": str(options.seed), "negative": request.negative_prompt or "",
        }
        if row["width"] in COMMON_SIZES and row["width"] == row["height"]:
            st.session_state["prefill"]["size"] = row["width"]
        st.switch_page("pages/generate.py")
    fix_and_generate_again(row, audio_path, place)


def fix_and_generate_again(row: dict, audio_path, place: str) -> None:
    """Correct what whisper misheard and paint again with the same seed and recipe; the two are linked, so Insights
    can tell what the misheard words cost."""
    with st.expander("Fix the words and generate again"):
        fixed = st.text_area("What was said", value=row["transcript"], key=f"{place}-fix-{row['id']}")
        if st.button("Fix and generate again", key=f"{place}-fix-go-{row['id']}"):
            try:
                request = GenerationRequest.fixing(row, fixed)
                queue.submit(audio_path.read_bytes(), request, created_by=person.id)
                resources.worker().wake()
                st.success("Queued with the same seed and recipe: follow it on the Generate page.")
            except (V2IError, ValueError, OSError) as err:
                render.error(f"Could not queue it: {err}")


# The page.
store, queue, person = resources.store(), resources.queue(), resources.person()
tz = getattr(st.context, "timezone", None)  # the viewer's (the browser's), for times people read
st.title("History")

# 1. A generation opened from a link.
if (linked := linked_generation()) is not None:
    st.subheader("Linked generation")
    detail(linked, "linked")

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
table = st.dataframe(
    [{"image": render.thumbnail(store.file_path(r["image_path"])), "made": timefmt.readable(r["created_at"], tz=tz),
      "id": r["id"][:8],
      "by": names.get(r["created_by"], "unknown"),
      "rating": "" if r["rating_mean"] is None else f"{r['rating_mean']:.1f}",  # blank when nobody rated it
      "ratings": r["rating_count"],
      **{c.heading: r[c.name] for c in TABLE_COLUMNS}, "exact time": timefmt.exact(r["created_at"], tz)}
     for r in rows],
    column_config={"image": st.column_config.ImageColumn("image", width="small")},
    hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
)
clicked = table.selection.rows[0] if table.selection.rows else 0
st.caption(f"{total} generations match; page {page} of {pages}.")
exports(store, person, where)

# 4. One generation in detail.
# Stable labels (no "5 min ago"): a widget whose option labels change between reruns loses its selection.
labels = {r["id"]: f"{r['id'][:8]}  {r['created_at'][:16].replace('T', ' ')}  {r['transcript'][:50]}" for r in rows}
chosen = st.selectbox("Open a generation", list(labels), index=clicked, format_func=labels.get)
if linked is None or chosen != linked["id"]:  # a linked generation is shown once, above
    detail(next(r for r in rows if r["id"] == chosen), "open")

# 5. To the trash, after a confirmation; and the trash itself.
delete_with_confirmation(store, person, rows, labels)
trash_view(store, person)
