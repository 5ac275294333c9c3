"""Similarity: a clustered heatmap of every stored image, comparisons, neighbours, near-duplicates,
novelty, semantic search and the voice-to-image consistency view, all on cached CLIP embeddings."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core import (
    Bands, HistoryFilter, ModelLoadError, V2IError, alignment, atlas, cluster_order, collect_all, collections,
    kmeans_blocks, load_set, names_of, near_duplicate_groups, neighbours, said_vs_drawn, scan_earlier, search,
    similarity_matrix, stats,
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


def axis_labels(rows) -> list[str]:
    """The heatmap's axis labels: each transcript's first words (escaped: Plotly's labels read some HTML); a
    repeated label gets a number (Plotly would merge equal category names into one row)."""
    seen: dict[str, int] = {}
    out = []
    for row in rows:
        words = render.hover_text(" ".join(row["transcript"].split()[:4]), 28) or "(no words)"
        seen[words] = seen.get(words, 0) + 1
        out.append(words if seen[words] == 1 else f"{words} ({seen[words]})")
    return out


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


heatmap_tab, compare_tab, neighbours_tab, duplicates_tab, search_tab, consistency_tab, map_tab = st.tabs(
    ["Heatmap", "Compare", "Neighbours", "Duplicates & novelty", "Search", "Consistency", "Map"])

# 2. The heatmap: every cell up to the display limit, cluster blocks past it.
with heatmap_tab:
    ordering = st.radio("Order", ["clusters", "time"], horizontal=True)
    if n <= DISPLAY_LIMIT:
        order = cached_order(data.matrix) if ordering == "clusters" else np.arange(n)
        shown = [data.rows[i] for i in order]
        said = [render.hover_text(r["transcript"]) for r in shown]
        custom = np.array([[[a, b] for b in said] for a in said], dtype=object)
        names = axis_labels(shown)
        figure = go.Figure(go.Heatmap(
            z=data.matrix[np.ix_(order, order)], x=names, y=names,
            customdata=custom, colorscale="Viridis",  # scaled to the data, so small differences show
            hovertemplate="said: %{customdata[0]}<br>said: %{customdata[1]}<br>score %{z:.3f}<extra></extra>",
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
        inner_names = axis_labels([data.rows[i] for i in inner])
        st.plotly_chart(go.Figure(go.Heatmap(
            z=sub[np.ix_(inner_order, inner_order)], x=inner_names, y=inner_names,
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

# 8. The map of every image: UMAP of the embeddings, cached; select points to see them, open or collect them.
MAP_SVG_LIMIT = 3000
MAP_COLOURS = {"created_by": "person", "style": "style", "recipe": "recipe", "language": "language",
               "stars": "rating", "cluster": "cluster"}


def map_figure(points: list[dict], colour: str) -> go.Figure:
    """One trace per value (a legend to click), or a colour scale for ratings; the hover says who said what."""
    makers = names_of(store, sorted({p["created_by"] for p in points}))

    # SVG up to a few thousand points (crisp, selectable everywhere); WebGL past that, to stay responsive.
    scatter = go.Scatter if len(points) <= MAP_SVG_LIMIT else go.Scattergl

    def trace(members, name, **marker):
        return scatter(
            x=[p["x"] for p in members], y=[p["y"] for p in members], mode="markers", name=name,
            customdata=[p["id"] for p in members], marker=dict(size=7, **marker),
            text=[f"{render.hover_text(makers.get(p['created_by'], p['created_by']), 40)} · {p['style']} · "
                  f"{p['recipe']}<br>{render.hover_text(p['transcript'], 80)}" for p in members],
            hovertemplate="%{text}<extra></extra>")

    figure = go.Figure()
    if colour == "stars":
        rated = [p for p in points if p["stars"] is not None]
        figure.add_trace(trace([p for p in points if p["stars"] is None], "unrated", color="lightgrey"))
        figure.add_trace(trace(rated, "rated", color=[p["stars"] for p in rated], colorscale="RdYlGn", cmin=1,
                               cmax=5, colorbar=dict(title="stars")))
    else:
        for value in sorted({str(p[colour]) for p in points}):
            members = [p for p in points if str(p[colour]) == value]
            label = makers.get(value, value) if colour == "created_by" else value
            figure.add_trace(trace(members, f"{label} (n={len(members)})"))
    figure.update_layout(height=620, dragmode="lasso", xaxis=dict(showticklabels=False, title=None),
                         yaxis=dict(showticklabels=False, title=None), legend=dict(itemsizing="constant"))
    return figure


with map_tab:
    with st.spinner("Laying out the map (the first layout takes a few seconds per thousand images)..."):
        moved = atlas.update(store, cache.model_id)
    points = [p for p in atlas.points(store, cache.model_id) if p["id"] in data.positions]
    colour = st.selectbox("Colour by", list(MAP_COLOURS), format_func=MAP_COLOURS.get, key="map-colour")
    event = st.plotly_chart(map_figure(points, colour), width="stretch", on_select="rerun",
                            selection_mode=("points", "box", "lasso"), key="map-chart")
    st.caption(f"{len(points)} images · UMAP of the CLIP image embeddings; near images look alike. "
               f"This view laid out {moved.fitted} and placed {moved.placed} new ones. Drag a lasso or a box to pick.")
    picked = list(dict.fromkeys(p["customdata"] for p in (event.selection.points if event else [])))
    if picked:
        st.subheader(f"{len(picked)} picked")
        shown_ids = picked[:24]
        columns = st.columns(6)
        for i, generation_id in enumerate(shown_ids):
            with columns[i % 6]:
                image_of(data.rows[data.index(generation_id)])
        if len(picked) > len(shown_ids):
            st.caption(f"The first {len(shown_ids)} are shown here; all {len(picked)} open in History.")
        st.page_link("pages/history.py", label=f"Open the {min(len(picked), 200)} picked in History",
                     query_params={"ids": ",".join(picked[:200])}, icon=":material/open_in_new:")
        left, right = st.columns([3, 1])
        name = left.selectbox("Add the picked images to a collection", [c["name"] for c in collections(store)],
                              index=None, accept_new_options=True, placeholder="pick one or type a new name",
                              key="map-collection")
        if right.button("Add them", key="map-collect") and name:
            try:
                stored = collect_all(store, picked, name, resources.person().id)
                st.toast(f"Added {len(picked)} to {stored}")
            except V2IError as err:
                render.error(str(err))
