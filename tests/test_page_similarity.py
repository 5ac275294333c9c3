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
    assert len(at.get("plotly_chart")) == 3  # heatmap, consistency scatter, map
    assert [t.label for t in at.tabs] == ["Heatmap", "Compare", "Neighbours", "Duplicates & novelty", "Search",
                                         "Consistency", "Map"]
    plain_words = [t.value for t in at.main.text if t.value.startswith("In plain words: ")]
    assert plain_words and plain_words[0][len("In plain words: "):] in (
        "near-identical", "very similar", "moderately similar", "different")
    # The neighbours tab lists the first image's two others, best first, as core ranks them.
    data, cache = similarity_set(settings)
    transcript = {row["id"]: row["transcript"] for row in data.rows}
    expected = neighbours(data, data.ids[0], 2)
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


def test_transcripts_in_the_heatmap_and_map_are_escaped(app_env, make_generation):
    make_generation("<b>bold</b> <script>alert(1)</script>")
    make_generation("y")
    at = open_app("pages/similarity.py")
    for chart in (at.get("plotly_chart")[0].proto.spec, at.get("plotly_chart")[2].proto.spec):
        assert "<script>" not in chart and "&lt;script&gt;" in chart


def test_the_heatmap_axes_read_the_first_words_of_each_transcript(app_env, make_generation):
    import json

    make_generation("a red fox in the snow at dusk", seed=1)
    make_generation("a red fox in the snow at dawn", seed=2)
    make_generation("a lighthouse", seed=3)
    at = open_app("pages/similarity.py")
    heatmap = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert sorted(heatmap["x"]) == ["a lighthouse", "a red fox in", "a red fox in (2)"]


def test_the_map_shows_every_image_coloured_by_person_with_counts(app_env, settings, make_generation):
    import json

    from core import Person, Store, atlas, remember_person

    store = Store(settings.data_dir)
    remember_person(store, Person("ann@example.com", "Ann"))
    for i in range(3):
        make_generation(f"picture {i}", seed=i, created_by="ann@example.com" if i else "unknown")
    at = open_app("pages/similarity.py")
    figure = json.loads(at.get("plotly_chart")[2].proto.spec)
    assert sorted(trace["name"] for trace in figure["data"]) == ["Ann (n=2)", "unknown (n=1)"]
    mapped = {p["id"]: (p["x"], p["y"]) for p in atlas.points(store, settings.clip_embedding_id)}
    shown = {i: (x, y) for trace in figure["data"] for i, x, y in zip(trace["customdata"], trace["x"], trace["y"])}
    assert shown == mapped
    at.selectbox(key="map-colour").set_value("stars")
    figure = json.loads(no_exception(at.run()).get("plotly_chart")[2].proto.spec)
    assert [trace["name"] for trace in figure["data"]] == ["unrated", "rated"]
