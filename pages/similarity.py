"""Similarity: a clustered heatmap of every stored image, comparisons, neighbours, near-duplicates,
novelty, semantic search, the voice-to-image consistency view and the map, all on cached CLIP embeddings.
The panels are in ``ui/similarity.py`` and ``ui/image_map.py``."""

import streamlit as st

from core import Bands, HistoryFilter, ModelLoadError, aggregates, load_set, set_version
from ui import forms, render, resources, similarity
from ui.image_map import map_of_images

resources.ensure_navigation()

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
        f"read from the cache: {n - data.computed} · model: {render.model_name(cache.model_id)}")
if n < 2:
    st.info("Similarity needs at least two stored images: make a few on Generate.")
    st.stop()

# 2. One tab per view of the set. Past LAZY_TABS_FROM images only the open tab's content runs (Streamlit's lazy
# tabs): at 100,000 every tab at once made the first view 3.6 s; a small history keeps every tab ready at once.
view = similarity.view_of(store, cache, data, bands)
similarity.open_linked_pair(view)
PANELS = {"Heatmap": similarity.heatmap, "Compare": similarity.compare_two, "Neighbours": similarity.nearest,
          "Duplicates & novelty": similarity.duplicates_and_novelty, "Search": similarity.search_by_words,
          "Consistency": similarity.consistency, "Map": map_of_images}
lazy = n > LAZY_TABS_FROM
tabs = st.tabs(list(PANELS), key="similarity-tab", on_change="rerun" if lazy else "ignore")
for tab, panel in zip(tabs, PANELS.values()):
    with tab:
        if not lazy or tab.open:
            panel(view)
