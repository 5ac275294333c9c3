from apptest import no_exception, open_app

from core import Bands, EmbeddingCache, Store, load_set, neighbours, search, shared_models


def similarity_set(settings):
    cache = EmbeddingCache(Store(settings.data_dir), shared_models(settings).clip())
    return load_set(cache.store, cache), cache


def status_line(at):
    return next(t.value for t in at.main.text if " images · embeddings computed now: " in t.value)


def test_with_fewer_than_two_images_the_page_says_what_to_do(app_env, make_generation):
    make_generation()
    at = open_app("pages/similarity.py")
    assert "at least two stored images" in at.info[0].value


def test_heatmap_compare_neighbours_search_and_consistency_after_three_generations(app_env, settings, make_generation):
    for i in range(3):
        make_generation(f"picture {i}", seed=i)
    at = open_app("pages/similarity.py")
    assert status_line(at).startswith("3 images · embeddings computed now: 3")
    assert len(at.get("plotly_chart")) == 1 and len(at.get("vega_lite_chart")) == 2  # consistency; heatmap, map
    assert [t.label for t in at.tabs] == ["Heatmap", "Compare", "Neighbours", "Duplicates & novelty", "Search",
                                         "Consistency", "Map"]
    plain_words = [t.value for t in at.main.text if t.value.startswith("In plain words: ")]
    assert plain_words and plain_words[0][len("In plain words: "):] in (
        "near-identical", "very similar", "moderately similar", "different")
    # The neighbours tab lists the newest image's two others (the choosers list the newest first), best first, as
    # core ranks them.
    data, cache = similarity_set(settings)
    transcript = {row["id"]: row["transcript"] for row in data.rows}
    expected = neighbours(data, data.ids[-1], 2)
    assert [t.value for t in at.tabs[2].text] == [
        line for item in expected
        for line in (f"{item['score']:.3f}  {Bands().describe(item['score'])}", transcript[item["id"]])]
    # A search lists every image, best match first, with its score.
    box = [t for t in at.text_input if t.label == "Describe the picture you are looking for"][0]
    box.set_value("a red fox")
    no_exception(at.run())
    hits = search(data, cache, "a red fox", k=3)
    assert sorted(item["id"] for item in hits) == sorted(data.ids)
    assert [t.value for t in at.tabs[4].text] == [
        line for item in hits for line in (f"{item['score']:.3f}", transcript[item["id"]])]


def test_a_second_visit_computes_no_embeddings(app_env, make_generation):
    for i in range(3):
        make_generation(f"picture {i}", seed=i)
    open_app("pages/similarity.py")
    at = open_app("pages/similarity.py")
    assert status_line(at).startswith("3 images · embeddings computed now: 0 (model calls: 0)")


def vega_chart(at, index: int):
    """A Vega-Lite chart's spec and its datasets, as the browser receives them (0: the heatmap, 1: the map)."""
    import json

    import pyarrow

    chart = at.get("vega_lite_chart")[index].proto
    return json.loads(chart.spec), [pyarrow.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.datasets]


def map_of(at):
    spec, [data] = vega_chart(at, 1)
    return spec, data


def test_the_heatmap_hover_shows_the_row_image_and_both_transcripts(app_env, make_generation):
    made = [make_generation(f"picture number {i}", seed=i) for i in range(3)]
    at = open_app("pages/similarity.py")
    spec, (cells, images, columns) = vega_chart(at, 0)
    assert len(cells) == 9 and set(cells["a"]) == {"picture number 0", "picture number 1", "picture number 2"}
    assert spec["encoding"]["tooltip"][0] == {"field": "thumb", "title": "image", "type": "nominal"}
    assert all(uri.startswith("data:image/png;base64,") for uri in images["thumb"])
    assert sorted(images["row_said"]) == sorted(row["transcript"] for row in made)
    assert [t["lookup"] for t in spec["transform"]] == ["a", "b"]  # each image's thumbnail travels once


def test_markup_in_a_transcript_reaches_the_heatmap_as_plain_words(app_env, make_generation):
    make_generation("<b>bold</b> <script>alert(1)</script>")
    make_generation("y")
    at = open_app("pages/similarity.py")
    spec, (cells, images, columns) = vega_chart(at, 0)
    # Vega draws labels as text and its tooltip escapes values: the words are data, never markup.
    assert "<b>bold</b> <script>alert(1)</script>" in set(images["row_said"])


def test_the_heatmap_axes_read_the_first_words_of_each_transcript(app_env, make_generation):
    make_generation("a red fox in the snow at dusk", seed=1)
    make_generation("a red fox in the snow at dawn", seed=2)
    make_generation("a lighthouse", seed=3)
    at = open_app("pages/similarity.py")
    spec, _ = vega_chart(at, 0)
    assert sorted(spec["encoding"]["x"]["sort"]) == ["a lighthouse", "a red fox in", "a red fox in (2)"]


def test_the_map_shows_every_image_coloured_by_person_with_its_thumbnail_in_the_hover(app_env, settings,
                                                                                     make_generation):
    from core import Person, Store, image_map, remember_person

    store = Store(settings.data_dir)
    remember_person(store, Person("ann@example.com", "Ann"))
    for i in range(3):
        make_generation(f"picture {i}", seed=i, created_by="ann@example.com" if i else "unknown")
    at = open_app("pages/similarity.py")
    spec, data = map_of(at)
    assert sorted(set(data["group"])) == ["Ann (n=2)", "unknown (n=1)"]
    mapped = {p["id"]: (p["x"], p["y"]) for p in image_map.points(store, settings.clip_embedding_id)}
    assert {row.id: (row.x, row.y) for row in data.itertuples()} == mapped
    # Vega's tooltip draws the field titled "image" as a picture: every point carries its thumbnail.
    assert spec["encoding"]["tooltip"][0] == {"field": "thumb", "title": "image", "type": "nominal"}
    assert all(uri.startswith("data:image/png;base64,") for uri in data["thumb"])
    assert {t["field"] for t in spec["encoding"]["tooltip"]} == {"thumb", "by", "style", "recipe", "said"}
    assert spec["params"][0]["select"] == {"type": "interval", "encodings": ["x", "y"]}
    at.selectbox(key="map-colour").set_value("stars")
    no_exception(at.run())
    assert sorted(set(map_of(at)[1]["group"])) == ["unrated (n=3)"]


def test_a_collection_name_in_a_toast_is_text_never_a_link_or_an_image():
    from ui import render

    hostile = "![x](http://127.0.0.1:9/t.png) [re-login](https://evil.example/)"
    message = render.said("Added {n} to {name}", n=3, name=hostile)
    assert "](" not in message.replace("\\](", "").replace("\\]\\(", "")
    assert message == "Added 3 to " + render.escape_markdown(hostile)
    assert "\\!\\[x\\]\\(http" in message


def test_past_two_thousand_images_only_the_open_tab_is_computed(app_env, settings):
    """At 100,000 images every tab at once made the first view 3.6 s: a large history gets lazy tabs."""
    import numpy as np

    from core.analytics.embeddings import IMAGE, normalise

    store = Store(settings.data_dir)
    vectors = normalise(np.random.default_rng(0).normal(size=(2100, 16))).astype(np.float32)
    with store.write() as db:
        db["generations"].insert_all({
            "id": f"{i:032x}", "created_at": f"2026-11-{1 + i // 100:02d}T10:00:{i % 60:02d}.{i:06d}",
            "transcript": f"words {i}", "prompt": f"prompt {i}", "image_path": f"images/{i:032x}.png",
            "audio_path": f"audio/{i:032x}.wav", "image_sha256": f"{i:064x}"} for i in range(2100))
        db["embeddings"].insert_all({"sha256": f"{i:064x}", "model": settings.clip_embedding_id, "kind": IMAGE,
                                     "dim": 16, "vector": v.tobytes(), "created_at": "x"} for i, v in enumerate(vectors))
    at = open_app("pages/similarity.py")
    assert status_line(at).startswith("2100 images · embeddings computed now: 0")
    assert [t.label for t in at.tabs][:2] == ["Heatmap", "Compare"]
    assert not at.metric and len(at.get("plotly_chart")) == 2  # the heatmap's blocks and zoom; no other tab ran
    at.session_state["similarity-tab"] = "Compare"
    no_exception(at.run())
    assert [m.label for m in at.metric] == ["Cosine similarity"] and len(at.get("plotly_chart")) == 0
