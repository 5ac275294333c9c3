"""The Similarity page's Map tab: every image laid out in 2D (UMAP of the CLIP embeddings, cached by
``core.image_map``); hover for the thumbnail, colour by a property, box-select to open or collect."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core import V2IError, collect_all, collections, image_map, names_of, roles
from ui import render, resources
from ui.similarity import SimilarityView

MAP_FIT_ON_PAGE = 5000  # a map fit of more images is left to the worker's background upkeep
MAP_POINTS = 10_000  # past this many, the map draws an even sample (each point travels to the browser)
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


def map_chart(view: SimilarityView, points: list[dict], colour: str):
    """A Vega-Lite scatter: colour groups labelled with their n; the hover shows the thumbnail (Vega's tooltip
    draws the field titled "image" as a picture), who made it and what was said; a box selection picks."""
    import altair as alt
    import pandas as pd

    makers = names_of(view.store, sorted({p["created_by"] for p in points}))
    groups = [map_group(p, colour, makers) for p in points]
    counts = {g: groups.count(g) for g in set(groups)}
    thumbnails = len(points) <= MAP_THUMBNAILS
    frame = pd.DataFrame([{
        "id": p["id"], "x": p["x"], "y": p["y"], "group": f"{g} (n={counts[g]})",
        "by": makers.get(p["created_by"], p["created_by"]), "style": p["style"], "recipe": p["recipe"],
        "said": p["transcript"][:120],
        **({"thumb": render.thumbnail(view.store.file_path(p["image_path"]))} if thumbnails else {}),
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


def collect_picked(view: SimilarityView, picked: list[str]) -> None:
    left, right = st.columns([3, 1])
    name = left.selectbox("Add the picked images to a collection", [c["name"] for c in collections(view.store)],
                          index=None, accept_new_options=True, placeholder="pick one or type a new name",
                          key="map-collection")
    if right.button("Add them", key="map-collect") and name:
        try:
            stored = collect_all(view.store, picked, name, resources.person())
            st.toast(render.said("Added {n} to {name}", n=len(picked), name=stored))
        except V2IError as err:
            render.error(str(err))


def show_picked(view: SimilarityView, picked: list[str]) -> None:
    """The images a box picked: the first few, a link that opens them all in History, and collecting them."""
    st.subheader(f"{len(picked)} picked")
    shown_ids = picked[:24]
    columns = st.columns(6)
    for i, generation_id in enumerate(shown_ids):
        with columns[i % 6]:
            view.image(view.row(generation_id))
    if len(picked) > len(shown_ids):
        st.caption(f"The first {len(shown_ids)} are shown here; all {len(picked)} open in History.")
    st.page_link("pages/history.py", label=f"Open the {min(len(picked), 200)} picked in History",
                 query_params={"ids": ",".join(picked[:200])}, icon=":material/open_in_new:")
    if roles.allowed(resources.person(), "collect"):
        collect_picked(view, picked)


def map_of_images(view: SimilarityView) -> None:
    """The map, laid out (or placed) as far as the page may, drawn, and what a box picks."""
    store, cache, data = view.store, view.cache, view.data
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
    chart = data.derived("map chart", lambda: map_chart(view, drawn, colour), colour, len(drawn), moved.fitted,
                         moved.placed) if drawn else None
    event = st.altair_chart(chart, on_select="rerun", key="map-chart") if chart is not None else None
    sampled = f" (an even sample of {len(drawn)} is drawn)" if len(drawn) < len(points) else ""
    st.caption(f"{len(points)} images{sampled} · UMAP of the CLIP image embeddings; near images look alike. "
               f"This view laid out {moved.fitted} and placed {moved.placed} new ones. Hover for the image; drag a "
               "box to pick.")
    box = (event.selection.get("box") if event else None) or {}
    picked = image_map.within(drawn, box["x"], box["y"]) if box.get("x") and box.get("y") else []
    if picked:
        show_picked(view, picked)
