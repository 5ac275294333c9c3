"""Similarity: a clustered heatmap of every stored image, comparisons, neighbours, near-duplicates,
novelty, semantic search and the voice-to-image consistency view, all on cached CLIP embeddings."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core import (
    Bands, HistoryFilter, ModelLoadError, V2IError, alignment, image_map, cluster_order, collect_all, collections,
    kmeans_blocks, load_set, names_of, near_duplicate_groups, neighbours, said_vs_drawn, scan_earlier, search,
    roles, set_version, similarity_matrix, aggregates, stored_novelty,
)
from ui import compare, forms, render, resources, voice

resources.ensure_navigation()

DISPLAY_LIMIT = 300  # past this many images the heatmap shows clusters as blocks
CONSISTENCY_SAMPLE = 1500  # generations used for the pairwise consistency scatter
CHOOSER_LIMIT = 1000  # the newest images the choosers list (a link's pair is always there too)
DUPLICATE_SCAN = 5000  # the newest images the near-duplicate scan covers on the page (all, up to this many)
NOVELTY_ROWS = 1000  # the newest images whose novelty the table lists
MAP_FIT_ON_PAGE = 5000  # a map fit of more images is left to the worker's background upkeep
MAP_POINTS = 10_000  # past this many, the map draws an even sample (each point travels to the browser)
LAZY_TABS_FROM = 2000  # past this many images, only the open tab is computed
store, cache = resources.store(), resources.embedding_cache()
st.title("Similarity")


@st.cache_resource(max_entries=4, show_spinner=False)
def shared_set(_where: HistoryFilter, key: tuple, version: tuple):
    """The set for these filters, kept between views and people until a generation or an embedding is added or
    removed (``version``): 100,000 rows and vectors are read once, not at every rerun."""
    return load_set(store, cache, _where)

# 1. Which images: the History filters.
with st.container(border=True):
    columns = st.columns([3, 2, 2])
    text_filter = columns[0].text_input("Filter by words in transcript or prompt")
    language = forms.any_select(columns[1], "Language", aggregates.distinct_values(store, "language"))
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
        data = shared_set(where, (str(store.path), repr(where)), set_version(store, cache.model_id))
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
# The choosers list the newest images (and a link's pair): a list of 100,000 would travel to every browser.
linked = [v for v in (st.query_params.get("a"), st.query_params.get("b")) if v in data.positions]
choices = list(dict.fromkeys([*linked, *reversed(ids[-CHOOSER_LIMIT:])]))


def heatmap_chart(shown: list[dict], matrix: np.ndarray):
    """Every pair as a cell, axes labelled with the first words said; the hover shows the row's image (Vega's
    tooltip draws the field titled "image" as a picture), both transcripts and the score. Each image's thumbnail
    and words travel once, joined to the cells by a lookup."""
    import altair as alt
    import pandas as pd

    names = axis_labels(shown, escape=False)
    images = pd.DataFrame({"label": names, "thumb": [render.thumbnail(store.file_path(r["image_path"])) for r in shown],
                           "row_said": [r["transcript"][:120] for r in shown]})
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


def image_of(row) -> None:
    render.show_image_or_missing(store.file_path(row["image_path"]), alt=render.alt_text(row))


def scored_result(item, described: bool) -> None:
    """One neighbour or search hit: its image beside its score and transcript."""
    row = data.rows[data.index(item["id"])]
    left, right = st.columns([1, 4])
    with left:
        image_of(row)
    with right:
        st.text(f"{item['score']:.3f}  {bands.describe(item['score'])}" if described else f"{item['score']:.3f}")
        st.text(row["transcript"])


# Past LAZY_TABS_FROM images only the open tab's content runs (Streamlit's lazy tabs): at 100,000 every tab at once
# made the first view 3.6 s; a small history keeps every tab ready at once.
lazy = n > LAZY_TABS_FROM


def showing(tab) -> bool:
    return not lazy or tab.open


heatmap_tab, compare_tab, neighbours_tab, duplicates_tab, search_tab, consistency_tab, map_tab = st.tabs(
    ["Heatmap", "Compare", "Neighbours", "Duplicates & novelty", "Search", "Consistency", "Map"],
    key="similarity-tab", on_change="rerun" if lazy else "ignore")

# 2. The heatmap: every cell up to the display limit, cluster blocks past it.
with heatmap_tab:
    if showing(heatmap_tab):
        ordering = st.radio("Order", ["clusters", "time"], horizontal=True)
        if n <= DISPLAY_LIMIT:
            order = (data.derived("order", lambda: cluster_order(data.matrix)) if ordering == "clusters"
                     else np.arange(n))
            shown = [data.rows[i] for i in order]
            st.altair_chart(heatmap_chart(shown, data.matrix[np.ix_(order, order)]))
        else:
            k = min(40, max(2, n // 25))
            cluster_of, means = data.derived("blocks", lambda: kmeans_blocks(data.vectors, k), k)
            block_order = data.derived("block order", lambda: cluster_order(means), k)
            sizes = np.bincount(cluster_of, minlength=len(means))
            names = [f"cluster {c} ({sizes[c]})" for c in block_order]
            figure = go.Figure(go.Heatmap(z=means[np.ix_(block_order, block_order)], x=names, y=names,
                                          colorscale="Viridis",
                                          hovertemplate="%{y} × %{x}<br>mean score %{z:.3f}<extra></extra>"))
            figure.update_layout(height=700, yaxis=dict(autorange="reversed"))
            st.caption(f"{n} images are more than {DISPLAY_LIMIT} cells a side: clusters are shown as blocks of their "
                       "exact mean similarity. Zoom into one below.")
            st.plotly_chart(figure, width="stretch")
            chosen = st.selectbox("Zoom into a cluster", list(block_order),
                                  format_func=lambda c: f"cluster {c} ({sizes[c]})")
            members = np.flatnonzero(cluster_of == chosen)[:DISPLAY_LIMIT]
            sub = similarity_matrix(data.vectors[members])
            inner_order = data.derived("cluster order", lambda: cluster_order(sub), k, chosen)
            inner = members[inner_order]
            inner_names = axis_labels([data.rows[i] for i in inner])
            st.plotly_chart(go.Figure(go.Heatmap(
                z=sub[np.ix_(inner_order, inner_order)], x=inner_names, y=inner_names,
                colorscale="Viridis")).update_layout(height=600, yaxis=dict(autorange="reversed")),
                width="stretch")

# 3. Two images side by side.
with compare_tab:
    if showing(compare_tab):
        pick = st.columns(2)
        first = pick[0].selectbox("Image A", choices, format_func=labels.get, key="compare-a")
        second = pick[1].selectbox("Image B", choices, index=1, format_func=labels.get, key="compare-b")
        if n > CHOOSER_LIMIT:
            st.caption(f"The {CHOOSER_LIMIT} newest images are listed; a link (?a=ID&b=ID) compares any two.")
        score = data.score(first, second)
        st.metric("Cosine similarity", f"{score:.3f}", help="1.0 is identical")
        st.text(f"In plain words: {bands.describe(score)}")
        st.page_link("pages/similarity.py", label="A link to this comparison", query_params={"a": first, "b": second},
                     icon=":material/link:")
        view = st.radio("View", ["Side by side", "Slider"], horizontal=True, key="compare-view")
        pair = [data.rows[data.index(generation_id)] for generation_id in (first, second)]
        if view == "Slider":
            compare.slider_compare(*(store.file_path(row["image_path"]) for row in pair), ("A", "B"), "compare")
        sides = st.columns(2)
        for side, row in zip(sides, pair):
            with side:
                if view == "Side by side":
                    image_of(row)
                render.labelled_text("Transcript", row["transcript"])
                render.labelled_text("Prompt", row["prompt"])

# 4. Nearest neighbours of one generation.
with neighbours_tab:
    if showing(neighbours_tab):
        centre = st.selectbox("Generation", choices, format_func=labels.get, key="neighbours-of")
        k = st.number_input("How many", min_value=1, max_value=min(20, n - 1), value=min(5, n - 1))
        for item in neighbours(data, centre, k):
            scored_result(item, described=True)

# 5. Near-duplicates and novelty.
with duplicates_tab:
    if showing(duplicates_tab):
        threshold = st.slider("Near-duplicate from", 0.5, 1.0, bands.near_identical, 0.01)
        first_scanned = max(0, n - DUPLICATE_SCAN)  # the newest images, all of them up to DUPLICATE_SCAN
        scan = data.derived("scan", lambda: scan_earlier(data.vectors[first_scanned:], threshold), threshold)
        groups = [[first_scanned + i for i in group] for group in near_duplicate_groups(scan.pairs, n - first_scanned)]
        scope = f"among the newest {n - first_scanned}" if first_scanned else "among all images"
        st.text(f"{len(groups)} group(s) of near-duplicates at {threshold:.2f} or above, {scope}")
        for group in groups[:20]:
            columns = st.columns(min(len(group), 6))
            for column, i in zip(columns, group):
                with column:
                    image_of(data.rows[i])
        st.subheader("Novelty")
        st.caption("Each image's highest similarity to any earlier image: low is new, near 1 is a repeat.")
        if first_scanned:  # past the scan, the novelty the worker stored as images arrived (against every earlier one)
            newest = data.rows[-NOVELTY_ROWS:][::-1]
            stored = stored_novelty(store, cache.model_id, [r["id"] for r in newest])
            novelty = [(r, stored.get(r["id"])) for r in newest]
            st.caption(f"The newest {len(newest)} of {n}, as the worker stored them.")
        else:
            novelty = [(r, None if np.isnan(v) else round(float(v), 4)) for r, v in zip(data.rows, scan.novelty)]
        st.dataframe([{"created": r["created_at"], "id": r["id"], "novelty": v, "transcript": r["transcript"]}
                      for r, v in novelty], hide_index=True, width="stretch")

# 6. Semantic search with CLIP's text tower.
with search_tab:
    if showing(search_tab):
        voice.spoken_query("clip-search", key="voice-clip-search")
        query = st.text_input("Describe the picture you are looking for", key="clip-search")
        if query.strip():
            for item in search(data, cache, query, k=min(12, n)):
                scored_result(item, described=False)

# 7. Does what was said predict what was drawn? And does the enhancement help?
with consistency_tab:
    if showing(consistency_tab):
        sampled_ids = lambda: tuple(np.random.default_rng(0).choice(ids, CONSISTENCY_SAMPLE, replace=False))  # noqa: E731
        sample = data if n <= CONSISTENCY_SAMPLE else data.derived(
            "sample", lambda: load_set(store, cache, HistoryFilter(ids=sampled_ids())))
        result = data.derived("said vs drawn", lambda: said_vs_drawn(sample, cache))
        st.metric("Correlation (transcript similarity vs image similarity)", f"{result['correlation']:.3f}")
        shown = min(len(result["transcript"]), 5000)
        pick_pairs = np.random.default_rng(1).choice(len(result["transcript"]), shown, replace=False)
        st.plotly_chart(go.Figure(go.Scattergl(
            x=result["transcript"][pick_pairs], y=result["image"][pick_pairs], mode="markers", marker=dict(size=4),
        )).update_layout(xaxis_title="transcript similarity", yaxis_title="image similarity", height=420),
            width="stretch")
        scores = data.derived("alignment", lambda: alignment(cache, sample.rows))
        if scores:
            gains = np.array([s["gain"] for s in scores.values()])
            st.text(f"Image vs transcript: mean {np.mean([s['transcript'] for s in scores.values()]):.3f} · "
                    f"image vs prompt: mean {np.mean([s['prompt'] for s in scores.values()]):.3f} · "
                    f"the enhanced prompt is closer in {100 * np.mean(gains > 0):.0f}% of generations")

# 8. The map of every image: UMAP of the embeddings, cached; hover for the thumbnail, box-select to open or collect.
MAP_THUMBNAILS = 1500  # past this many points the hover shows words only (each thumbnail travels to the browser)
MAP_COLOURS = {"created_by": "person", "style": "style", "recipe": "recipe", "language": "language",
               "stars": "rating", "cluster": "cluster"}
RATING_GROUPS = ["unrated", "1 star", "2 stars", "3 stars", "4 stars", "5 stars"]


def map_group(point: dict, colour: str, makers: dict[str, str]) -> str:
    if colour == "stars":
        stars = point["stars"]
        return "unrated" if stars is None else RATING_GROUPS[min(5, max(1, round(stars)))]
    if colour == "created_by":
        return makers.get(point["created_by"], point["created_by"])
    return str(point[colour])


def map_chart(points: list[dict], colour: str):
    """A Vega-Lite scatter: colour groups labelled with their n; the hover shows the thumbnail (Vega's tooltip
    draws the field titled "image" as a picture), who made it and what was said; a box selection picks."""
    import altair as alt
    import pandas as pd

    makers = names_of(store, sorted({p["created_by"] for p in points}))
    groups = [map_group(p, colour, makers) for p in points]
    counts = {g: groups.count(g) for g in set(groups)}
    thumbnails = len(points) <= MAP_THUMBNAILS
    frame = pd.DataFrame([{
        "id": p["id"], "x": p["x"], "y": p["y"], "group": f"{g} (n={counts[g]})",
        "by": makers.get(p["created_by"], p["created_by"]), "style": p["style"], "recipe": p["recipe"],
        "said": p["transcript"][:120], **({"thumb": render.thumbnail(store.file_path(p["image_path"]))} if thumbnails
                                          else {}),
    } for p, g in zip(points, groups)])
    order = sorted(set(frame["group"]), key=lambda g: (RATING_GROUPS.index(g.rsplit(" (", 1)[0])
                                                       if colour == "stars" else 0, g))
    scale = alt.Scale(domain=order, range=["#bbbbbb", "#d73027", "#fc8d59", "#fee08b", "#91cf60", "#1a9850"][
        :len(order)] if colour == "stars" and order[0].startswith("unrated") else alt.Undefined)
    tooltip = ([alt.Tooltip("thumb:N", title="image")] if thumbnails else []) + [
        alt.Tooltip("by:N"), alt.Tooltip("style:N"), alt.Tooltip("recipe:N"), alt.Tooltip("said:N")]
    return alt.Chart(frame).mark_circle(size=80, opacity=0.85).encode(
        x=alt.X("x:Q", axis=None, scale=alt.Scale(domain=padded(frame["x"]), nice=False, zero=False)),
        y=alt.Y("y:Q", axis=None, scale=alt.Scale(domain=padded(frame["y"]), nice=False, zero=False)),
        color=alt.Color("group:N", title=MAP_COLOURS[colour], sort=order, scale=scale,
                        legend=alt.Legend(orient="bottom", columns=4)), tooltip=tooltip,
    ).add_params(alt.selection_interval(name="box", encodings=["x", "y"])).properties(
        height=600, description="A map of every image: each point is one image, near images look alike; "
                                "drag a box to pick images.",
    )


def padded(values) -> list[float]:
    """The axis range: the points' own, with a twentieth on each side so none sits on the edge."""
    low, high = (float(min(values)), float(max(values))) if len(values) else (0.0, 1.0)
    margin = (high - low) / 20 or 1.0
    return [low - margin, high + margin]


def collect_picked(picked: list[str]) -> None:
    left, right = st.columns([3, 1])
    name = left.selectbox("Add the picked images to a collection", [c["name"] for c in collections(store)],
                          index=None, accept_new_options=True, placeholder="pick one or type a new name",
                          key="map-collection")
    if right.button("Add them", key="map-collect") and name:
        try:
            stored = collect_all(store, picked, name, resources.person().id)
            st.toast(render.said("Added {n} to {name}", n=len(picked), name=stored))
        except V2IError as err:
            render.error(str(err))


with map_tab:
    if showing(map_tab):
        with st.spinner("Laying out the map (the first layout takes a few seconds per thousand images)..."):
            moved = image_map.update(store, cache.model_id, fit_at_most=MAP_FIT_ON_PAGE)
        # The points as this set's view last saw them: read again when this view moved the map (or the set changed).
        points = data.derived("map points", lambda: [p for p in image_map.points(store, cache.model_id)
                                                     if p["id"] in data.positions], moved.fitted, moved.placed)
        if moved.waiting:
            st.info(f"The map's layout of {moved.waiting} images runs in the background when the queue is quiet (a few "
                    "minutes at this size): " + ("the last map is shown meanwhile." if points else "come back soon."))
        drawn = points if len(points) <= MAP_POINTS else [points[i] for i in
                                                           np.linspace(0, len(points) - 1, MAP_POINTS).astype(int)]
        colour = st.selectbox("Colour by", list(MAP_COLOURS), format_func=MAP_COLOURS.get, key="map-colour")
        chart = data.derived("map chart", lambda: map_chart(drawn, colour), colour, len(drawn), moved.fitted,
                             moved.placed) if drawn else None
        event = st.altair_chart(chart, on_select="rerun", key="map-chart") if chart is not None else None
        sampled = f" (an even sample of {len(drawn)} is drawn)" if len(drawn) < len(points) else ""
        st.caption(f"{len(points)} images{sampled} · UMAP of the CLIP image embeddings; near images look alike. "
                   f"This view laid out {moved.fitted} and placed {moved.placed} new ones. Hover for the image; drag a "
                   "box to pick.")
        box = (event.selection.get("box") if event else None) or {}
        picked = image_map.within(drawn, box["x"], box["y"]) if box.get("x") and box.get("y") else []
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
            if roles.allowed(resources.person(), "collect"):
                collect_picked(picked)
