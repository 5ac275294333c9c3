"""The Review page: one image at a time, made by someone else, no name or stars shown until you rate."""

from apptest import button, errors, no_exception, texts
from test_page_team import app_as

from core import Store, rate


def dealt(at) -> bool:
    """Whether the page offers stars for an image (the sidebar has radios of its own)."""
    return any(r.key == "review-stars" for r in at.radio)


def page_text(at) -> str:
    return " ".join([*texts(at), *(m.value for m in at.markdown), *(c.value for c in at.caption),
                     *(s.value for s in at.success), *(i.value for i in at.info)])


def test_bob_rates_alices_image_blind_then_sees_who_made_it_and_the_others_stars(app_env, make_generation, store,
                                                                                  monkeypatch):
    image = make_generation("a lighthouse at dusk", created_by="alice")
    rate(store, image["id"], "carol", stars=2, blind=True, note="too dark")
    at = app_as("pages/review.py", user="bob", monkeypatch=monkeypatch)
    before = page_text(at)
    assert "a lighthouse at dusk" in before
    assert "alice" not in before and "carol" not in before and not at.dataframe  # blind: no maker, no stars
    at.radio(key="review-stars").set_value(4)
    at.text_input(key="review-note").set_value("lovely light")
    no_exception(button(at, "Rate").click().run())
    after = page_text(at)
    assert "made by alice" in after and "1 other rating(s) besides yours" in after
    shown = at.dataframe[0].value
    assert sorted(zip(shown["person"], shown["stars"], shown["note"])) == [("bob", 4, "lovely light"),
                                                                          ("carol", 2, "too dark")]
    stored = Store(app_env["V2I_DATA_DIR"]).query("SELECT stars, blind, note FROM ratings WHERE person = 'bob'")
    assert stored == [{"stars": 4, "blind": 1, "note": "lovely light"}]
    no_exception(button(at, "Next image").click().run())
    assert "Nothing left for you to review" in page_text(at)


def test_nobody_is_dealt_their_own_image(app_env, make_generation, monkeypatch):
    make_generation("a lighthouse at dusk", created_by="alice")
    at = app_as("pages/review.py", user="alice", monkeypatch=monkeypatch)
    assert "Nothing left for you to review" in page_text(at) and not dealt(at)


def test_rating_without_stars_asks_for_them_and_stores_nothing(app_env, make_generation, store, monkeypatch):
    make_generation("a lighthouse at dusk", created_by="alice")
    at = app_as("pages/review.py", user="bob", monkeypatch=monkeypatch)
    no_exception(button(at, "Rate").click().run())
    assert errors(at) == ["Choose 1 to 5 stars, or skip this image."]
    assert store.query("SELECT * FROM ratings") == []


def test_a_skipped_image_is_not_dealt_again_and_the_next_is(app_env, make_generation, store, monkeypatch):
    first = make_generation("a lighthouse at dusk", created_by="alice", seed=1)
    make_generation("a red fox in the snow", created_by="alice", seed=2)
    at = app_as("pages/review.py", user="bob", monkeypatch=monkeypatch)
    assert "a lighthouse at dusk" in page_text(at)
    no_exception(button(at, "Skip this image").click().run())
    assert "a red fox in the snow" in page_text(at)
    assert store.query("SELECT generation_id, person FROM review_skips") == [
        {"generation_id": first["id"], "person": "bob"}]


def test_a_viewer_may_look_but_is_not_dealt_images(app_env, make_generation, monkeypatch):
    make_generation("a lighthouse at dusk", created_by="alice")
    monkeypatch.setenv("V2I_VIEWERS", "vic")
    at = app_as("pages/review.py", user="vic", monkeypatch=monkeypatch)
    assert "not rate it" in page_text(at) and not dealt(at)


def test_the_makers_name_is_shown_as_text_never_markdown(app_env, make_generation, store, monkeypatch):
    hostile = "**Eve** [win](https://evil.example)"
    make_generation("a lighthouse at dusk", created_by=hostile)
    at = app_as("pages/review.py", user="bob", monkeypatch=monkeypatch)
    at.radio(key="review-stars").set_value(3)
    no_exception(button(at, "Rate").click().run())
    shown = at.success[0].value
    assert "\\*\\*Eve\\*\\*" in shown and "\\[win\\]" in shown  # escaped: read as the characters typed
