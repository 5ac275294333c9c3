"""The Similarity page's panels, one function per tab: each draws one view of a loaded set of images
(:class:`SimilarityView`); the page reads its filters, loads the set and lays the tabs out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core import (
    Bands, EmbeddingCache, HistoryFilter, SimilaritySet, Store, alignment, cluster_order, kmeans_blocks, load_set,
    near_duplicate_groups, neighbours, said_vs_drawn, scan_earlier, search, similarity_matrix, stored_novelty,
)
from ui import compare, render, voice

DISPLAY_LIMIT = 300  # past this many images the heatmap shows clusters as blocks
CONSISTENCY_SAMPLE = 1500  # generations used for the pairwise consistency scatter
CHOOSER_LIMIT = 1000  # the newest images the choosers list (a link's pair is always there too)
DUPLICATE_SCAN = 5000  # the newest images the near-duplicate scan covers on the page (all, up to this many)
NOVELTY_ROWS = 1000  # the newest images whose novelty the table lists


@dataclass(frozen=True)
class SimilarityView:
    """What every panel reads: the store, the embedding cache, the loaded set, the bands' words and the
    choosers' images (the newest, and a link's pair)."""

    store: Store
    cache: EmbeddingCache
    data: SimilaritySet
    bands: Bands
    choices: list[str]
    labels: dict[str, str]

    @property
    def n(self) -> int:
        return len(self.data.rows)

    def row(self, generation_id: str) -> dict[str, Any]:
        return self.data.rows[self.data.index(generation_id)]

    def image(self, row: dict[str, Any]) -> None:
        render.show_image_or_missing(self.store.file_path(row["image_path"]), alt=render.alt_text(row))


def view_of(store: Store, cache: EmbeddingCache, data: SimilaritySet, bands: Bands) -> SimilarityView:
    labels = {row["id"]: f"{row['created_at'][:19]}  {row['transcript'][:50]}" for row in data.rows}
    # The choosers list the newest images (and a link's pair): a list of 100,000 would travel to every browser.
    linked = [v for v in (st.query_params.get("a"), st.query_params.get("b")) if v in data.positions]
    choices = list(dict.fromkeys([*linked, *reversed(data.ids[-CHOOSER_LIMIT:])]))
    return SimilarityView(store, cache, data, bands, choices, labels)


def open_linked_pair(view: SimilarityView) -> None:
    """``?a=<id>&b=<id>`` picks the two images to compare (once per link); a bad id is a plain message."""
    wanted = {}
    for side in ("a", "b"):
        value = st.query_params.get(side)
        if value is None:
            continue
        if value in view.data.positions:
            wanted[f"compare-{side}"] = value
        else:
            st.warning(render.escape_markdown(f"The link's {side}={value[:40]!r} is not a stored image with an "
                                              "embedding: pick the images below instead."))
    if wanted and st.session_state.get("compare-link") != wanted:
        st.session_state.update(wanted)
        st.session_state["compare-link"] = wanted
    if wanted:
        st.info("The images from the link are on the Compare tab.")


def axis_labels(rows, escape: bool = True) -> list[str]:
    """The heatmap's axis labels: each transcript's first words (escaped for Plotly, whose labels read some HTML);
    a repeated label gets a number (equal category names would merge into one row)."""
    seen: dict[str, int] = {}
    out = []
    for row in rows:
        words = " ".join(row["transcript"].split()[:4])[:28]
        words = (render.hover_text(words, 28) if escape else words) or "(no words)"
        seen[words] = seen.get(words, 0) + 1
        out.append(words if seen[words] == 1 else f"{words} ({seen[words]})")
    return out


def heatmap_chart(view: SimilarityView, shown: list[dict], matrix: np.ndarray):
    """Every pair as a cell, axes labelled with the first words said; the hover shows the row's image (Vega's
    tooltip draws the field titled "image" as a picture), both transcripts and the score. Each image's thumbnail
    and words travel once, joined to the cells by a lookup."""
    import altair as alt
    import pandas as pd

    names = axis_labels(shown, escape=False)
    images = pd.DataFrame({"label": names, "row_said": [r["transcript"][:120] for r in shown],
                           "thumb": [render.thumbnail(view.store.file_path(r["image_path"])) for r in shown]})
    columns = pd.DataFrame({"label": names, "column_said": [r["transcript"][:120] for r in shown]})
    cells = pd.DataFrame({"a": np.repeat(names, len(names)), "b": np.tile(names, len(names)),
                          "score": matrix.astype(np.float64).ravel().round(4)})
    side = max(450, min(900, 200 + 14 * len(names)))
    return alt.Chart(cells).mark_rect().encode(
        x=alt.X("b:N", sort=names, title=None, axis=alt.Axis(labelAngle=-60, labelLimit=160)),
        y=alt.Y("a:N", sort=names, title=None, axis=alt.Axis(labelLimit=160)),
        color=alt.Color("score:Q", scale=alt.Scale(scheme="viridis"), title="similarity"),  # scaled to the data
        tooltip=[alt.Tooltip("thumb:N", title="image"), alt.Tooltip("row_said:N", title="row said"),
                 alt.Tooltip("column_said:N", title="column said"), alt.Tooltip("score:Q", format=".3f")],
    ).transform_lookup(lookup="a", from_=alt.LookupData(images, "label", ["thumb", "row_said"])).transform_lookup(
        lookup="b", from_=alt.LookupData(columns, "label", ["column_said"])).properties(height=side)


def heatmap(view: SimilarityView) -> None:
    """Every cell up to the display limit; past it, clusters as blocks of their mean, and one cluster zoomed."""
    data, n = view.data, view.n
    ordering = st.radio("Order", ["clusters", "time"], horizontal=True)
    if n <= DISPLAY_LIMIT:
        order = data.derived("order", lambda: cluster_order(data.matrix)) if ordering == "clusters" else np.arange(n)
        st.altair_chart(heatmap_chart(view, [data.rows[i] for i in order], data.matrix[np.ix_(order, order)]))
        return
    k = min(40, max(2, n // 25))
    cluster_of, means = data.derived("blocks", lambda: kmeans_blocks(data.vectors, k), k)
    block_order = data.derived("block order", lambda: cluster_order(means), k)
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
    inner_order = data.derived("cluster order", lambda: cluster_order(sub), k, chosen)
    inner_names = axis_labels([data.rows[i] for i in members[inner_order]])
    st.plotly_chart(go.Figure(go.Heatmap(
        z=sub[np.ix_(inner_order, inner_order)], x=inner_names, y=inner_names,
        colorscale="Viridis")).update_layout(height=600, yaxis=dict(autorange="reversed")), width="stretch")


def compare_two(view: SimilarityView) -> None:
    """Two images side by side (or on a slider), their score in numbers and words, and a link to the pair."""
    pick = st.columns(2)
    first = pick[0].selectbox("Image A", view.choices, format_func=view.labels.get, key="compare-a")
    second = pick[1].selectbox("Image B", view.choices, index=1, format_func=view.labels.get, key="compare-b")
    if view.n > CHOOSER_LIMIT:
        st.caption(f"The {CHOOSER_LIMIT} newest images are listed; a link (?a=ID&b=ID) compares any two.")
    score = view.data.score(first, second)
    st.metric("Cosine similarity", f"{score:.3f}", help="1.0 is identical")
    st.text(f"In plain words: {view.bands.describe(score)}")
    st.page_link("pages/similarity.py", label="A link to this comparison", query_params={"a": first, "b": second},
                 icon=":material/link:")
    shown = st.radio("View", ["Side by side", "Slider"], horizontal=True, key="compare-view")
    pair = [view.row(generation_id) for generation_id in (first, second)]
    if shown == "Slider":
        compare.slider_compare(*(view.store.file_path(row["image_path"]) for row in pair), ("A", "B"), "compare")
    for side, row in zip(st.columns(2), pair):
        with side:
            if shown == "Side by side":
                view.image(row)
            render.labelled_text("Transcript", row["transcript"])
            render.labelled_text("Prompt", row["prompt"])


def scored_result(view: SimilarityView, item: dict, described: bool) -> None:
    """One neighbour or search hit: its image beside its score and transcript."""
    row = view.row(item["id"])
    left, right = st.columns([1, 4])
    with left:
        view.image(row)
    with right:
        st.text(f"{item['score']:.3f}  {view.bands.describe(item['score'])}" if described else f"{item['score']:.3f}")
        st.text(row["transcript"])


def nearest(view: SimilarityView) -> None:
    """The nearest neighbours of one generation."""
    centre = st.selectbox("Generation", view.choices, format_func=view.labels.get, key="neighbours-of")
    k = st.number_input("How many", min_value=1, max_value=min(20, view.n - 1), value=min(5, view.n - 1))
    for item in neighbours(view.data, centre, k):
        scored_result(view, item, described=True)


def duplicates_and_novelty(view: SimilarityView) -> None:
    """Groups of near-duplicates among the newest images, and each image's novelty."""
    data, n = view.data, view.n
    threshold = st.slider("Near-duplicate from", 0.5, 1.0, view.bands.near_identical, 0.01)
    first_scanned = max(0, n - DUPLICATE_SCAN)  # the newest images, all of them up to DUPLICATE_SCAN
    scan = data.derived("scan", lambda: scan_earlier(data.vectors[first_scanned:], threshold), threshold)
    groups = [[first_scanned + i for i in group] for group in near_duplicate_groups(scan.pairs, n - first_scanned)]
    scope = f"among the newest {n - first_scanned}" if first_scanned else "among all images"
    st.text(f"{len(groups)} group(s) of near-duplicates at {threshold:.2f} or above, {scope}")
    for group in groups[:20]:
        for column, i in zip(st.columns(min(len(group), 6)), group):
            with column:
                view.image(data.rows[i])
    st.subheader("Novelty")
    st.caption("Each image's highest similarity to any earlier image: low is new, near 1 is a repeat.")
    if first_scanned:  # past the scan, the novelty the worker stored as images arrived (against every earlier one)
        newest = data.rows[-NOVELTY_ROWS:][::-1]
        stored = stored_novelty(view.store, view.cache.model_id, [r["id"] for r in newest])
        novelty = [(r, stored.get(r["id"])) for r in newest]
        st.caption(f"The newest {len(newest)} of {n}, as the worker stored them.")
    else:
        novelty = [(r, None if np.isnan(v) else round(float(v), 4)) for r, v in zip(data.rows, scan.novelty)]
    st.dataframe([{"created": r["created_at"], "id": r["id"], "novelty": v, "transcript": r["transcript"]}
                  for r, v in novelty], hide_index=True, width="stretch")


def search_by_words(view: SimilarityView) -> None:
    """Semantic search with CLIP's text tower, typed or spoken."""
    voice.spoken_query("clip-search", key="voice-clip-search")
    query = st.text_input("Describe the picture you are looking for", key="clip-search")
    if query.strip():
        for item in search(view.data, view.cache, query, k=min(12, view.n)):
            scored_result(view, item, described=False)


def consistency(view: SimilarityView) -> None:
    """Does what was said predict what was drawn? And does the enhanced prompt help?"""
    data, n = view.data, view.n
    sampled_ids = lambda: tuple(np.random.default_rng(0).choice(data.ids, CONSISTENCY_SAMPLE, replace=False))  # noqa: E731
    sample = data if n <= CONSISTENCY_SAMPLE else data.derived(
        "sample", lambda: load_set(view.store, view.cache, HistoryFilter(ids=sampled_ids())))
    result = data.derived("said vs drawn", lambda: said_vs_drawn(sample, view.cache))
    st.metric("Correlation (transcript similarity vs image similarity)", f"{result['correlation']:.3f}")
    shown = min(len(result["transcript"]), 5000)
    pick_pairs = np.random.default_rng(1).choice(len(result["transcript"]), shown, replace=False)
    st.plotly_chart(go.Figure(go.Scattergl(
        x=result["transcript"][pick_pairs], y=result["image"][pick_pairs], mode="markers", marker=dict(size=4),
    )).update_layout(xaxis_title="transcript similarity", yaxis_title="image similarity", height=420),
        width="stretch")
    scores = data.derived("alignment", lambda: alignment(view.cache, sample.rows))
    if scores:
        gains = np.array([s["gain"] for s in scores.values()])
        st.text(f"Image vs transcript: mean {np.mean([s['transcript'] for s in scores.values()]):.3f} · "
                f"image vs prompt: mean {np.mean([s['prompt'] for s in scores.values()]):.3f} · "
                f"the enhanced prompt is closer in {100 * np.mean(gains > 0):.0f}% of generations")
