"""History: every generation, in SQL pages, with filters, detail, re-generation, delete and export."""

import streamlit as st

from core import (
    COMMON_SIZES, SORTABLE, GenerationRequest, HistoryFilter, V2IError, alignment, export_csv, export_to_temp, export_zip,
    novelty_of,
    stats,
)
from ui import forms, render, resources

resources.ensure_navigation()

PAGE_SIZES = [25, 50, 100]
store, queue = resources.store(), resources.queue()
st.title("History")

# 1. Filters, all applied in SQL.
with st.container(border=True):
    top = st.columns([3, 2, 2, 2])
    search = top[0].text_input("Search transcripts and prompts")
    since, until = forms.date_range(top[1])
    language = forms.any_select(top[2], "Language", stats.distinct_values(store, "language"))
    steps = forms.any_select(top[3], "Steps", stats.distinct_values(store, "steps"))
    bottom = st.columns([3, 2, 2, 2])
    model = forms.any_select(bottom[0], "Model", stats.distinct_values(store, "sd_model"))
    sort = bottom[1].selectbox("Sort by", SORTABLE)
    descending = bottom[2].toggle("Newest / largest first", value=True)
    page_size = bottom[3].selectbox("Rows per page", PAGE_SIZES)

where = HistoryFilter(search=search or None, language=language, sd_model=model, steps=steps, since=since, until=until)
if note := where.search_terms.note:
    st.caption(note)


def read_page(number: int):
    return store.page_generations(where, sort=sort, descending=descending, limit=page_size,
                                  offset=(number - 1) * page_size)


# One query gives the page and the count (a search runs once); the page widget comes after it.
page = st.session_state.get("history-page", 1)
rows, total = read_page(page)
if total == 0:
    st.info("No generations match." if store.count_generations() else "No generations yet: make one on Generate.")
    st.stop()
pages = max(1, -(-total // page_size))
if page > pages:  # the filters narrowed the rows: show the last page there is
    page = st.session_state["history-page"] = pages
    rows, total = read_page(page)
st.number_input("Page", min_value=1, max_value=pages, key="history-page")

# 2. The page of rows, with thumbnails; clicking a row opens it below.
table = st.dataframe(
    [{"image": render.thumbnail(store.file_path(r["image_path"])), "created": r["created_at"], "id": r["id"],
      "language": r["language"], "transcript": r["transcript"], "prompt": r["prompt"], "steps": r["steps"],
      "scheduler": r["scheduler"], "seed": r["seed"], "total s": r["t_total"], "file": r["audio_filename"]}
     for r in rows],
    column_config={"image": st.column_config.ImageColumn("image", width="small")},
    hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
)
clicked = table.selection.rows[0] if table.selection.rows else 0
st.caption(f"{total} generations match; page {page} of {pages}.")

# 3. Export what the filters select.
exports = st.columns(2)
exports[0].download_button("Export CSV", data=lambda: export_to_temp(export_csv, store, where),
                           file_name="generations.csv",
                           mime="text/csv", on_click="ignore")
exports[1].download_button("Export images (ZIP)", data=lambda: export_to_temp(export_zip, store, where),
                           file_name="images.zip",
                           mime="application/zip", on_click="ignore")

# 4. One generation in detail.
labels = {r["id"]: f"{r['created_at']}  {r['transcript'][:50]}" for r in rows}
chosen = st.selectbox("Open a generation", list(labels), index=clicked, format_func=labels.get)
row = next(r for r in rows if r["id"] == chosen)
with st.container(border=True):
    left, right = st.columns([1, 1])
    with left:
        render.show_image_or_missing(store.file_path(row["image_path"]))
    with right:
        audio_path = store.file_path(row["audio_path"])
        if audio_path.is_file():
            st.audio(str(audio_path))
        else:
            st.warning("The audio file is missing from the data folder.")
        render.labelled_text("Original file", row["audio_filename"])
        render.labelled_text("Transcript", row["transcript"])
        render.labelled_text("Prompt", row["prompt"])
        render.labelled_text("Negative prompt", row["negative_prompt"])
        st.plotly_chart(render.timing_chart(row), width="stretch")
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
    with st.expander("All parameters"):
        st.json({k: v for k, v in row.items() if k not in ("transcript", "prompt", "negative_prompt")})
    actions = st.columns(2)
    if actions[0].button("Generate again with the same settings"):
        try:
            queue.submit(audio_path.read_bytes(), GenerationRequest.from_row(row), owner=resources.owner())
            resources.worker().wake()
            st.success("Queued: follow it on the Generate page.")
        except (V2IError, ValueError, OSError) as err:
            render.error(f"Could not queue it: {err}")
    if actions[1].button("Use these settings"):
        request = GenerationRequest.from_row(row)
        options = request.options
        st.session_state["prefill"] = {
            "style": request.style, "recipe": options.recipe, "scheduler": options.scheduler, "steps": options.steps,
            "guidance": float(options.guidance), "seed": str(options.seed), "negative": request.negative_prompt or "",
        }
        if row["width"] in COMMON_SIZES and row["width"] == row["height"]:
            st.session_state["prefill"]["size"] = row["width"]
        st.switch_page("pages/generate.py")

# 5. Delete, after a confirmation.
to_delete = st.multiselect("Select generations to delete", list(labels), format_func=labels.get)
if to_delete and st.button(f"Delete {len(to_delete)} selected"):
    st.session_state["confirm_delete"] = list(to_delete)
pending = st.session_state.get("confirm_delete")
if pending:
    st.warning(f"Delete {len(pending)} generation(s) with their image and audio files? This cannot be undone.")
    confirm, cancel = st.columns(2)
    if confirm.button("Yes, delete them", type="primary"):
        for generation_id in pending:
            try:
                store.delete_generation(generation_id)
            except V2IError as err:
                render.error(str(err))
        st.session_state.pop("confirm_delete")
        st.rerun()
    if cancel.button("Keep them"):
        st.session_state.pop("confirm_delete")
        st.rerun()
