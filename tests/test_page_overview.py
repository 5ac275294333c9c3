import json

from apptest import no_exception, open_app


def test_an_empty_database_shows_a_friendly_start(app_env):
    at = open_app()
    assert "No generations yet" in at.info[0].value
    assert not at.error


def test_every_page_loads_without_an_exception_on_an_empty_database(app_env):
    at = open_app()
    for page in ("pages/generate.py", "pages/history.py", "pages/overview.py"):
        no_exception(at.switch_page(page).run())


def test_totals_timings_latest_images_and_languages(app_env, make_generation):
    make_generation("a red fox", language="en")
    make_generation("un renard", language="fr")
    make_generation("a blue fox", language="en")
    at = open_app()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["All generations"] == "3"
    assert metrics["Today"] == "3"
    assert metrics["This week"] == "3"
    assert metrics["Queued / running"] == "0 / 0"
    assert len(at.get("plotly_chart")) == 2  # seconds per stage, generations per person
    assert len(at.image) == 3
    languages = at.dataframe[0].value
    assert list(languages["language"]) == ["en", "fr"] and list(languages["generations"]) == [2, 1]


def test_the_sidebar_shows_profile_device_and_the_tiny_warning(app_env):
    at = open_app()
    assert "profile: tiny\ndevice: cpu" in [t.value for t in at.sidebar.text]
    assert "images are noise" in at.sidebar.warning[0].value


def test_the_enhancement_summary_appears_once_embeddings_exist(app_env, make_generation, store, models):
    from core.analytics.similarity import load_set, texts_of
    from core.analytics.embeddings import EmbeddingCache

    rows = [make_generation(f"picture {i}", seed=i) for i in range(2)]
    cache = EmbeddingCache(store, models.clip())
    load_set(store, cache)
    cache.text_embeddings(texts_of(rows))
    at = open_app()
    summary = [t.value for t in at.text if t.value.startswith("Over the latest 2 generations with CLIP embeddings")]
    assert summary and "% of them." in summary[0]


def test_a_mistyped_setting_is_named_not_a_traceback(app_env, monkeypatch):
    from apptest import errors

    monkeypatch.setenv("V2I_PROFILE", "huge")
    at = open_app()
    assert errors(at) == ["The dashboard's configuration is not valid: V2I_PROFILE='huge' is not a profile; "
                          "choose one of: default, tiny"]


def test_people_show_what_each_made_their_waits_and_the_weeks_top_rated(app_env, make_generation, store, wav):
    from core import JobQueue, Worker, load_settings, rate, shared_models
    from core.config.recipes import GenerationOptions
    from core.generation.request import GenerationRequest

    settings = load_settings()
    queue = JobQueue(store)
    for person in ("ana", "ana", "ben"):
        queue.submit(wav, GenerationRequest(transcript=f"a fox for {person}", language="en",
                                            options=GenerationOptions(steps=2, width=64, height=64)), created_by=person)
    Worker(settings, shared_models(settings), store).run_pending()
    best, other = store.query_generations(limit=2)
    rate(store, best["id"], "cy", stars=5)  # someone else's stars: a maker's own are in no statistic
    rate(store, other["id"], "cy", stars=2)
    at = open_app()
    people_chart = at.get("plotly_chart")[1].proto.spec
    assert '"name":"ana"' in people_chart and '"name":"ben"' in people_chart
    waits = at.dataframe[1].value
    assert list(waits["person"]) == ["ana", "ben"] and list(waits["jobs"]) == [2, 1]
    assert "5.0 of 5 (1)" == [t.value for t in at.text if " of 5 (" in t.value][0]  # the best first


def test_a_persons_name_is_text_in_the_people_chart_never_a_link(app_env, make_generation, store):
    from core import Person, remember_person

    hostile = '<a href="https://evil.example/login">Alice (IT)</a>'
    remember_person(store, Person("alice", hostile))
    make_generation("a fox", created_by="alice")
    figure = json.loads(open_app().get("plotly_chart")[1].proto.spec)
    assert [trace["name"] for trace in figure["data"]] == [
        "&lt;a href=&quot;https://evil.example/login&quot;&gt;Alice (IT)&lt;/a&gt;"]


def test_admins_read_the_audit_trail_on_overview_and_members_do_not(app_env, make_generation, store, monkeypatch):
    from core import Person, local_person, trash

    row = make_generation("a fox", created_by=local_person().id)
    trash.delete(store, row["id"], Person(local_person().id, local_person().name, "admin", "cli"))
    at = open_app()  # no gate: the local user is an admin
    (trail,) = [e for e in at.expander if e.label == "Audit trail (admins)"]
    assert list(trail.dataframe[0].value["what"]) == ["delete"]
    monkeypatch.setenv("V2I_VIEWERS", local_person().name)
    assert "Audit trail (admins)" not in [e.label for e in open_app().expander]


def test_overview_shows_the_last_backups_result(app_env, make_generation, store, tmp_path):
    from core import Person, backup

    make_generation("a fox")
    at = open_app()
    assert any("No backup yet" in c.value for c in at.caption)
    backup.backup(store, tmp_path / "bk", Person("ada", "Ada", "admin", "cli"))
    at = open_app()
    assert any("Last backup" in c.value and "2 files, 2 copied, 0 missing" in c.value for c in at.caption)


def test_an_admin_pauses_the_queue_and_moves_a_job_to_the_front_on_overview(app_env, make_generation, store, wav):
    from core import GenerationOptions, GenerationRequest, JobQueue

    make_generation("a fox")
    queue = JobQueue(store)
    queue.set_paused(True, __import__("core").Person("ada", "Ada", "admin", "cli"))  # the worker starts nothing
    first, second = (queue.submit(wav, GenerationRequest(options=GenerationOptions(steps=2, width=64, height=64)),
                                  created_by=p) for p in ("ana", "ben"))
    at = open_app()
    assert "The queue is paused" in at.warning[0].value
    at.selectbox(key="queue-job").set_value(second).run()
    no_exception([b for b in at.button if b.label == "Move it to the front"][0].click().run())
    assert [j["id"] for j in queue.order()] == [second, first]
    no_exception([b for b in at.button if b.label == "Resume the queue"][0].click().run())
    assert not queue.paused


def test_overview_shows_storage_per_person_and_kind_and_a_queue_waiting_for_room(app_env, make_generation, store,
                                                                               wav, monkeypatch):
    import core.history.disk
    from core import GenerationOptions, GenerationRequest, JobQueue

    make_generation("a fox", created_by="ana")
    JobQueue(store).set_paused(True, __import__("core").Person("ada", "Ada", "admin", "cli"))
    JobQueue(store).submit(wav, GenerationRequest(options=GenerationOptions(steps=2, width=64, height=64)))
    monkeypatch.setattr(core.history.disk, "free_bytes", lambda folder: 100 * 2**20)
    at = open_app()
    assert any("The queue waits for disk space" in w.value for w in at.warning)
    (held,) = [e for e in at.expander if e.label == "Storage"]
    table = held.dataframe[0].value
    assert list(table["person"]) == ["ana"] and table["images MB"][0] >= 0 and "Database:" in held.text[0].value


def test_overview_says_whether_images_are_signed(app_env, make_generation):
    make_generation("a fox")
    assert any("no C2PA signing key is configured" in c.value for c in open_app().caption)


def test_a_person_creates_and_revokes_an_api_token_in_the_account_panel(app_env, store, monkeypatch):
    from datetime import datetime, timedelta, timezone

    from core import local_person, tokens

    monkeypatch.setenv("V2I_TOKEN_DAYS", "7")
    at = open_app()
    no_exception([b for b in at.sidebar.button if b.label == "Create a token"][0].click().run())
    (shown,) = at.sidebar.code
    assert shown.value.startswith("v2i_") and tokens.person_of_token(store, shown.value) == local_person().id
    (made,) = tokens.listed(store, local_person())
    in_a_week = (datetime.now(timezone.utc) + timedelta(days=7)).isoformat()
    assert in_a_week[:10] <= made["expires_at"][:10] <= (datetime.now(timezone.utc) + timedelta(days=8)).isoformat()
    at.run()
    assert any(f"expires {made['expires_at'][:10]}" in t.value for t in at.sidebar.text)
    no_exception([b for b in at.sidebar.button if b.label == "Revoke"][0].click().run())
    assert tokens.person_of_token(store, shown.value) is None


def test_a_person_registers_a_webhook_in_the_sidebar_and_sees_its_secret_once(app_env, store):
    from core import local_person, webhooks

    at = open_app()
    at.sidebar.text_input(key="hook-url").set_value("https://hooks.example/v2i").run()
    no_exception([b for b in at.sidebar.button if b.label == "Tell it when my jobs end"][0].click().run())
    (shown,) = at.sidebar.code  # the full address and the secret, this once
    (hook,) = webhooks.listed(store, local_person())
    assert hook["target"] == "https://hooks.example"  # listed: scheme and host only
    assert shown.value == f"https://hooks.example/v2i\nsecret: {store.query('SELECT secret FROM hooks')[0]['secret']}"
    assert not any("/v2i" in t.value for t in at.sidebar.text)
    at.run()
    assert not at.sidebar.code  # gone on the next run
    at.sidebar.text_input(key="hook-url").set_value("http://hooks.example/plain").run()
    no_exception([b for b in at.sidebar.button if b.label == "Tell it when my jobs end"][0].click().run())
    assert any("must be an https" in e.value for e in at.sidebar.error)


def test_overview_counts_generations_by_where_they_came_from(app_env, make_generation, store):
    make_generation("from the page")
    make_generation("from the command line", source="cli")
    make_generation("from the API", source="api")
    with store.write() as db:  # a row from before sources were recorded
        db.execute("UPDATE generations SET source = NULL WHERE transcript = 'from the page'")
    captions = [c.value for c in open_app().caption]
    (line,) = [c for c in captions if c.startswith("Generations by where they came from")]
    assert "command line 1" in line and "API 1" in line and "before this was recorded 1" in line
    assert any(c.startswith("Queued jobs (the dashboard's and the API's") for c in captions)
