from apptest import button, errors, no_exception, open_app, texts
from helpers import files_under
from core.generation.synth import recording


def test_an_empty_history_says_how_to_start(app_env):
    at = open_app("pages/history.py")
    assert "No generations yet" in at.info[0].value


def test_rows_appear_newest_first_with_thumbnails(app_env, make_generation):
    first = make_generation("a lighthouse at dusk")
    second = make_generation("a red fox in the snow")
    at = open_app("pages/history.py")
    table = at.dataframe[0].value
    assert list(table["id"]) == [second["id"][:8], first["id"][:8]]
    assert all(str(uri).startswith("data:image/png;base64,") for uri in table["image"])


def test_full_text_search_filters_the_rows(app_env, make_generation):
    make_generation("a lighthouse at dusk")
    fox = make_generation("a red fox in the snow")
    at = open_app("pages/history.py")
    at.text_input[0].set_value("fox")
    no_exception(at.run())
    assert list(at.dataframe[0].value["id"]) == [fox["id"][:8]]
    at.text_input[0].set_value("zebra")
    no_exception(at.run())
    assert "No generations match." in at.info[0].value


def test_the_language_filter_narrows_the_rows(app_env, make_generation):
    make_generation("un phare", language="fr")
    english = make_generation("a lighthouse", language="en")
    at = open_app("pages/history.py")
    at.selectbox[0].set_value("en")
    no_exception(at.run())
    assert list(at.dataframe[0].value["id"]) == [english["id"][:8]]


def test_the_detail_shows_image_audio_transcript_prompt_and_timings(app_env, make_generation):
    row = make_generation("a lighthouse at dusk")
    at = open_app("pages/history.py")
    assert len(at.image) == 1
    assert len(at.get("audio")) == 1
    assert "a lighthouse at dusk" in texts(at)
    assert row["prompt"] in texts(at)
    assert len(at.get("plotly_chart")) == 1


def test_a_missing_image_file_is_shown_as_missing_not_a_crash(app_env, make_generation, data_dir):
    row = make_generation()
    (data_dir / row["image_path"]).unlink()
    (data_dir / row["audio_path"]).unlink()
    at = open_app("pages/history.py")
    warnings = [w.value for w in at.warning]
    assert "The image file is missing from the data folder." in warnings
    assert "The audio file is missing from the data folder." in warnings


def test_delete_asks_for_confirmation_then_moves_to_the_trash_and_restore_brings_it_back(app_env, make_generation,
                                                                                          store, data_dir):
    keep, gone = make_generation("keep me"), make_generation("delete me")
    at = open_app("pages/history.py")
    at.multiselect[0].set_value([gone["id"]]).run()
    no_exception(button(at, "Move 1 to the trash").click().run())
    assert store.count_generations() == 2  # nothing happens before the confirmation
    assert "can be restored for 30 days" in at.warning[0].value
    no_exception(button(at, "Yes, move them to the trash").click().run())
    assert [r["id"] for r in store.query_generations()] == [keep["id"]]
    assert len(files_under(data_dir / "images")) == 2  # its files wait in the trash
    (trashed,) = [e for e in at.expander if e.label.startswith("Trash (")]
    assert trashed.label == "Trash (1)" and list(trashed.dataframe[0].value["transcript"]) == ["delete me"]
    no_exception(button(at, "Restore it").click().run())
    assert sorted(r["id"] for r in store.query_generations()) == sorted([keep["id"], gone["id"]])
    assert [e.label for e in at.expander if e.label.startswith("Trash (")] == ["Trash (0)"]


def test_keeping_them_cancels_the_delete(app_env, make_generation, store):
    row = make_generation()
    at = open_app("pages/history.py")
    at.multiselect[0].set_value([row["id"]]).run()
    button(at, "Move 1 to the trash").click().run()
    no_exception(button(at, "Keep them").click().run())
    assert store.count_generations() == 1


def test_a_viewer_browses_but_cannot_rate_collect_regenerate_or_delete(app_env, make_generation, monkeypatch):
    from core import local_person

    make_generation("a fox")
    monkeypatch.setenv("V2I_VIEWERS", local_person().name)
    at = open_app("pages/history.py")
    assert at.dataframe and not at.multiselect  # the table, but nothing to delete with
    labels = {b.label for b in at.button}
    assert not labels & {"Generate again with the same settings", "Use these settings", "Add"}
    assert "One of my favourites" not in [t.label for t in at.toggle] and not at.get("feedback")


def test_export_buttons_offer_csv_and_zip(app_env, make_generation):
    make_generation()
    at = open_app("pages/history.py")
    assert [b.label for b in at.get("download_button")] == ["Export CSV", "Export images (ZIP)"]


def test_generate_again_queues_a_job_with_the_same_settings(app_env, make_generation, data_dir):
    from core.execution.jobs import JobQueue
    from core.generation.request import GenerationRequest
    from core.history.store import Store

    row = make_generation("a lighthouse at dusk", seed=1234)
    at = open_app("pages/history.py")
    no_exception(button(at, "Generate again with the same settings").click().run())
    (job,) = JobQueue(Store(data_dir)).list()
    spec = GenerationRequest.from_json(job["options"])
    assert (spec.options.seed, spec.options.steps, spec.prompt, spec.transcript) == (1234, 2, row["prompt"], row["transcript"])


def test_use_these_settings_prefills_the_generate_page(app_env, make_generation):
    make_generation(seed=99)
    at = open_app("pages/history.py")
    no_exception(button(at, "Use these settings").click().run())
    assert at.text_input(key="opt-seed").value == "99"
    assert at.number_input(key="opt-steps").value == 2


def test_the_detail_shows_clip_alignment_and_novelty_once_embeddings_exist(app_env, make_generation, store, models):
    from core.analytics.similarity import load_set, texts_of
    from core.analytics.embeddings import EmbeddingCache

    make_generation("a lighthouse", seed=1)
    make_generation("a red fox", seed=2)
    at = open_app("pages/history.py")
    assert not any(t.startswith("CLIP alignment") for t in texts(at))
    cache = EmbeddingCache(store, models.clip())
    load_set(store, cache)
    cache.text_embeddings(texts_of(store.query_generations()))
    no_exception(at.run())
    assert any(t.startswith("CLIP alignment: image vs transcript ") for t in texts(at))
    assert any(t.startswith("Novelty: closest earlier image at ") for t in texts(at))


def test_a_search_runs_once_per_rerun_and_a_shortened_one_says_so(app_env, make_generation, monkeypatch):
    from core.history.store import Store

    fox = make_generation("a red fox in the snow")
    at = open_app("pages/history.py")
    searches = []
    query = Store.query
    monkeypatch.setattr(Store, "query", lambda self, sql, params=(): (
        searches.append(sql) if "MATCH" in sql else None, query(self, sql, params))[1])
    at.text_input[0].set_value("fox " * 5000)
    no_exception(at.run())
    assert len(searches) == 2  # the count of all that match, and the page's rows (a keyset seek)
    assert list(at.dataframe[0].value["id"]) == [fox["id"][:8]]
    assert any("The search was shortened" in c.value for c in at.caption)


def test_a_damaged_database_shows_a_plain_message_not_a_traceback(app_env, make_generation, data_dir, store):
    make_generation()
    at = open_app("pages/history.py")
    store.close()
    for suffix in ("", "-wal", "-shm"):
        path = data_dir / f"v2i.db{suffix}"
        if path.exists():
            path.write_bytes(b"garbage" * 2000)
    no_exception(at.run())
    assert any("damaged" in e for e in errors(at))


def test_a_served_dashboard_shows_no_traceback_to_people():
    import tomllib

    from helpers import ROOT

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"


def test_a_link_with_an_ids_first_characters_opens_it(app_env, make_generation):
    from streamlit.testing.v1 import AppTest
    from apptest import DASHBOARD, TIMEOUT

    row = make_generation("a fox in the snow")
    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT)
    at.query_params["id"] = row["id"][:8]
    at.run()
    at.switch_page("pages/history.py").run()
    assert "Linked generation" in [s.value for s in at.subheader]


def test_a_rating_nobody_gave_is_blank_not_none(app_env, make_generation, store):
    from core import rate

    rated, unrated = make_generation("rated one", seed=1), make_generation("unrated one", seed=2)
    rate(store, rated["id"], "ana", stars=4)
    table = open_app("pages/history.py").dataframe[0].value
    assert dict(zip(table["id"], table["rating"])) == {rated["id"][:8]: "4.0", unrated["id"][:8]: ""}


def test_the_detail_says_when_in_words_with_the_exact_time_on_hover(app_env, make_generation):
    from core import timefmt

    row = make_generation("a fox")
    at = open_app("pages/history.py")
    (made,) = [t for t in at.text if t.value == timefmt.readable(row["created_at"])]
    assert made.value == "just now" and made.proto.help == timefmt.exact(row["created_at"])


def test_a_spoken_search_fills_the_search_box_with_what_was_heard(app_env, make_generation):
    make_generation("a red fox in the snow")
    at = open_app("pages/history.py")
    at.audio_input(key="voice-search").set_value(("query.wav", recording("wav", seconds=1.5), "audio/wav"))
    no_exception(at.run())
    heard = at.text_input(key="search").value
    assert heard and any(c.value == f"Heard: {heard}" for c in at.caption)  # the tiny whisper's words, as heard
    at.text_input(key="search").set_value("fox")  # and the person can still edit them
    no_exception(at.run())
    assert at.text_input(key="search").value == "fox"


def test_the_opened_generation_stays_open_while_colleagues_images_arrive(app_env, make_generation, store):
    """Issue 39, 1: what a person opened is held by its id, not by its position or by options that change."""
    from core import local_person

    mine = make_generation("alice's lighthouse")
    make_generation("an early fox", created_by="bob")
    at = open_app("pages/history.py")
    opened(at).set_value(mine["id"])
    no_exception(at.run())
    for n in range(3):  # bob's jobs end while alice looks at hers
        make_generation(f"bob's owl number {n}", created_by="bob", seed=10 + n)
    at.toggle(key="open-favourite-" + mine["id"]).set_value(True)  # her next click
    no_exception(at.run())
    assert opened(at).value == mine["id"]
    assert "alice's lighthouse" in texts(at)
    assert not [t for t in texts(at) if t.startswith("bob's owl")]  # no other detail opened
    favourites = store.query("SELECT generation_id FROM ratings WHERE person = ? AND favourite",
                             [local_person().id])
    assert [r["generation_id"] for r in favourites] == [mine["id"]]



def opened(at):
    return next(s for s in at.selectbox if s.label == "Open a generation")


def test_the_filters_wait_behind_one_control_that_counts_the_ones_set(app_env, make_generation):
    """Issue 39, 11: the results come first; "Filters (N active)" says how many narrow them, right after a change."""
    make_generation("un phare", language="fr")
    make_generation("a red fox", language="en")
    at = open_app("pages/history.py")
    assert [e.label for e in at.expander if e.label.startswith("Filters")] == ["Filters"]
    at.text_input(key="search").set_value("fox")
    no_exception(at.run())
    assert [e.label for e in at.expander if e.label.startswith("Filters")] == ["Filters (1 active)"]
    at.selectbox(key="language").set_value("en")
    no_exception(at.run())
    assert [e.label for e in at.expander if e.label.startswith("Filters")] == ["Filters (2 active)"]
    assert len(at.dataframe[0].value) == 1


def test_a_link_with_a_search_counts_it_as_a_filter_on_first_open(app_env, make_generation):
    make_generation("a red fox")
    at = open_app()
    at.query_params["search"] = "fox"
    no_exception(at.switch_page("pages/history.py").run())
    assert [e.label for e in at.expander if e.label.startswith("Filters")] == ["Filters (1 active)"]
