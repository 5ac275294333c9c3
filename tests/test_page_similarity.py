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
    assert len(at.get("plotly_chart")) == 2  # heatmap and consistency scatter
    assert [t.label for t in at.tabs] == ["Heatmap", "Compare", "Neighbours", "Duplicates & novelty", "Search",
                                         "Consistency"]
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


def test_prompts_in_the_heatmap_hover_are_escaped(app_env, make_generation):
    make_generation("x", prompt="<b>bold</b> <script>alert(1)</script>")
    make_generation("y")
    at = open_app("pages/similarity.py")
    chart = at.get("plotly_chart")[0].proto.spec
    assert "<script>" not in chart and "&lt;script&gt;" in chart
