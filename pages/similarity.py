"""Similarity: a clustered heatmap of every stored image, comparisons, neighbours, near-duplicates,
novelty, semantic search and the voice-to-image consistency view, all on cached CLIP embeddings."""

import html

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core import (
    Bands, HistoryFilter, ModelLoadError, alignment, cluster_order, kmeans_blocks, load_set, near_duplicate_groups,
    neighbours, said_vs_drawn, scan_earlier, search, similarity_matrix, stats,
)
from ui import forms, render, resources

resources.ensure_navigation()

DISPLAY_LIMIT = 300  # past this many images the heatmap shows clusters as blocks
CONSISTENCY_SAMPLE = 1500  # generations used for the pairwise consistency scatter
store, cache = resources.store(), resources.embedding_cache()
st.title("Similarity")

cached_order = st.cache_data(show_spinner=False, max_entries=8)(cluster_order)
cached_blocks = st.cache_data(show_spinner=False, max_entries=8)(kmeans_blocks)
cached_scan = st.cache_data(show_spinner=False, max_entries=8)(scan_earlier)

# 1. Which images: the History filters.
with st.container(border=True):
    columns = st.columns([3, 2, 2])
    text_filter = columns[0].text_input("Filter by words in transcript or prompt")
    language = forms.any_select(columns[1], "Language", stats.distinct_values(store, "language"))
    since, until = forms.date_range(columns[2])
where = HistoryFilter(search=text_filter or None, language=language, since=since, until=until)
with st.expander("Similarity bands"):
    band_columns = st.columns(3)
    bands = Bands(
        near_identical=band_columns[0].slider("near-identical from", 0.0, 1.0, Bands.near_identical, 0.01),
        very_similar=band_columns[1].slider("very similar from", 0.0, 1.0, Bands.very_similar, 0.01),
        moderately_similar=band_columns[2].slider("moderately similar from", 0.0, 1.0, Bands.moderately_similar, 0.01),
    )

try:
    with st.spinner("Embedding images that have no embedding yet..."):
        data = load_set(store, cache, where)
except ModelLoadError as err:
    render.error(str(err))
    st.stop()
n = len(data.rows)
st.text(f"{n} images · embeddings computed now: {data.computed} (model calls: {cache.calls}) · "
        f"read from the cache: {n - data.computed} · model: {cache.model_id}")
if n < 2:
    st.info("Similarity needs at least two stored images: make a few on Generate.")
    st.stop()

labels = {row["id"]: f"{row['created_at'][:19]}  {row['transcript'][:50]}" for row in data.rows}
ids = data.ids


def open_linked_pair() -> None:
    """``?a=<id>&b=<id>`` picks the two images to compare (once per link); a bad id is a plain message."""
    wanted = {}
    for side in ("a", "b"):
        value = st.query_params.get(side)
        if value is None:
            continue
        if value in data.positions:
            wanted[f"compare-{side}"] = value
        else:
            st.warning(render.escape_markdown(f"The link's {side}={value[:40]!r} is not a stored image with an "
                                              "embedding: pick the images below instead."))
    if wanted and st.session_state.get("compare-link") != wanted:
        st.session_state.update(wanted)
        st.session_state["compare-link"] = wanted
    if wanted:
        st.info("The images from the link are on the Compare tab.")


open_linked_pair()


def hover(text: str, limit: int = 60) -> str:
    # Plotly renders hover labels as a small subset of HTML: user text is escaped to stay text.
    return html.escape(text[:limit])


def image_of(row) -> None:
    render.show_image_or_missing(store.file_path(row["image_path"]))


def scored_result(item, described: bool) -> None:
    """One neighbour or search hit: its image beside its score and transcript."""
    row = data.rows[data.index(item["id"])]
    left, right = st.columns([1, 4])
    with left:
        image_of(row)
    with right:
        st.text(f"{item['score']:.3f}  {bands.describe(item['score'])}" if described else f"{item['score']:.3f}")
        st.text(row["transcript"])


heatmap_tab, compare_tab, neighbours_tab, duplicates_tab, search_tab, consistency_tab = st.tabs(
    ["Heatmap", "Compare", "Neighbours", "Duplicates & novelty", "Search", "Consistency"])

# 2. The heatmap: every cell up to the display limit, cluster blocks past it.
with heatmap_tab:
    ordering = st.radio("Order", ["clusters", "time"], horizontal=True)
    if n <= DISPLAY_LIMIT:
        order = cached_order(data.matrix) if ordering == "clusters" else np.arange(n)
        shown = [data.rows[i] for i in order]
        prompts = [hover(r["prompt"]) for r in shown]
        custom = np.array([[[a, b] for b in prompts] for a in prompts], dtype=object)
        figure = go.Figure(go.Heatmap(
            z=data.matrix[np.ix_(order, order)], x=[r["id"][:8] for r in shown], y=[r["id"][:8] for r in shown],
            customdata=custom, colorscale="Viridis",  # scaled to the data, so small differences show
            hovertemplate="%{y} × %{x}<br>%{customdata[0]}<br>%{customdata[1]}<br>score %{z:.3f}<extra></extra>",
        ))
        figure.update_layout(height=max(450, min(900, 200 + 14 * n)), yaxis=dict(autorange="reversed", scaleanchor="x"))
        st.plotly_chart(figure, width="stretch")
    else:
        k = min(40, max(2, n // 25))
        cluster_of, means = cached_blocks(data.vectors, k)
        block_order = cached_order(means)
        sizes = np.bincount(cluster_of, minlength=len(means))
        names = [f"cluster {c} ({sizes[c]})" for c in block_order]
        figure = go.Figure(go.Heatmap(z=means[np.ix_(block_order, block_order)], x=names, y=names, colorscale="Viridis",
                                      hovertemplate="%{y} × %{x}<br>mean score %{z:.3f}<extra></extra>"))
        figure.update_layout(height=700, yaxis=dict(autorange="reversed"))
        st.caption(f"{n} images are more than {DISPLAY_LIMIT} cells a side: clusters are shown as blocks of their "
                   "exact mean similarity. Zoom into one below.")
        st.plotly_chart(figure, width="stretch")
        chosen = st.selectbox("Zoom into a cluster", list(block_order), format_func=lambda c: f"cluster {c} ({sizes[c]})")
        members = np.flatnonzero(cluster_of == chosen)[:DISPLAY_LIMIT]
        sub = similarity_matrix(data.vectors[members])
        inner_order = cached_order(sub)
        inner = members[inner_order]
        st.plotly_chart(go.Figure(go.Heatmap(
            z=sub[np.ix_(inner_order, inner_order)], x=[ids[i][:8] for i in inner], y=[ids[i][:8] for i in inner],
            colorscale="Viridis")).update_layout(height=600, yaxis=dict(autorange="reversed")),
            width="stretch")

# 3. Two images side by side.
with compare_tab:
    pick = st.columns(2)
    first = pick[0].selectbox("Image A", ids, format_func=labels.get, key="compare-a")
    second = pick[1].selectbox("Image B", ids, index=1, format_func=labels.get, key="compare-b")
    score = data.score(first, second)
    st.metric("Cosine similarity", f"{score:.3f}", help="1.0 is identical")
    st.text(f"In plain words: {bands.describe(score)}")
    st.page_link("pages/similarity.py", label="A link to this comparison", query_params={"a": first, "b": second},
                 icon=":material/link:")
    sides = st.columns(2)
    for side, generation_id in zip(sides, (first, second)):
        row = data.rows[data.index(generation_id)]
        with side:
            image_of(row)
            render.labelled_text("Transcript", row["transcript"])
            render.labelled_text("Prompt", row["prompt"])

# 4. Nearest neighbours of one generation.
with neighbours_tab:
    centre = st.selectbox("Generation", ids, format_func=labels.get, key="neighbours-of")
    k = st.number_input("How many", min_value=1, max_value=min(20, n - 1), value=min(5, n - 1))
    for item in neighbours(data, centre, k):
        scored_result(item, described=True)

# 5. Near-duplicates and novelty.
with duplicates_tab:
    threshold = st.slider("Near-duplicate from", 0.5, 1.0, bands.near_identical, 0.01)
    scan = cached_scan(data.vectors, threshold)
    groups = near_duplicate_groups(scan.pairs, n)
    st.text(f"{len(groups)} group(s) of near-duplicates at {threshold:.2f} or above")
    for group in groups[:20]:
        columns = st.columns(min(len(group), 6))
        for column, i in zip(columns, group):
            with column:
                image_of(data.rows[i])
    st.subheader("Novelty")
    st.caption("Each image's highest similarity to any earlier image: low is new, near 1 is a repeat.")
    st.dataframe([{"created": r["created_at"], "id": r["id"], "novelty": None if np.isnan(v) else round(float(v), 4),
                   "transcript": r["transcript"]} for r, v in zip(data.rows, scan.novelty)],
                 hide_index=True, width="stretch")

# 6. Semantic search with CLIP's text tower.
with search_tab:
    query = st.text_input("Describe the picture you are looking for")
    if query.strip():
        for item in search(data, cache, query, k=min(12, n)):
            scored_result(item, described=False)

# 7. Does what was said predict what was drawn? And does the enhancement help?
with consistency_tab:
    sample = data if n <= CONSISTENCY_SAMPLE else load_set(store, cache, HistoryFilter(ids=tuple(
        np.random.default_rng(0).choice(ids, CONSISTENCY_SAMPLE, replace=False))))
    result = said_vs_drawn(sample, cache)
    st.metric("Correlation (transcript similarity vs image similarity)", f"{result['correlation']:.3f}")
    shown = min(len(result["transcript"]), 5000)
    pick_pairs = np.random.default_rng(1).choice(len(result["transcript"]), shown, replace=False)
    st.plotly_chart(go.Figure(go.Scattergl(
        x=result["transcript"][pick_pairs], y=result["image"][pick_pairs], mode="markers", marker=dict(size=4),
    )).update_layout(xaxis_title="transcript similarity", yaxis_title="image similarity", height=420), width="stretch")
    scores = alignment(cache, sample.rows)
    if scores:
        gains = np.array([s["gain"] for s in scores.values()])
        st.text(f"Image vs transcript: mean {np.mean([s['transcript'] for s in scores.values()]):.3f} · "
                f"image vs prompt: mean {np.mean([s['prompt'] for s in scores.values()]):.3f} · "
                f"the enhanced prompt is closer in {100 * np.mean(gains > 0):.0f}% of generations")
