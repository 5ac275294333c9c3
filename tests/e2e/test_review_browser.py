"""A blind review round in two real browser contexts, each signed in through a real OpenID Connect provider: bob
reviews alice's images without her name or anyone's stars until he has rated, alice reviews bob's, nobody is
dealt their own, and each image reaches its three ratings from different people."""

from __future__ import annotations

from playwright.sync_api import expect
from waiting import settle
from test_team_browser import oidc_issuer, sign_in, signed_in_server, snapshot  # noqa: F401 (fixtures)

from core import rate

ALICE, BOB = "alice@team.org", "bob@team.org"


def review_page(browser, server, email):
    page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    page.set_default_timeout(60_000)
    sign_in(page, server, email)
    page.goto(f"{server.url}/review")
    settle(page)
    return page


def rate_shown(page, stars: int, note: str = "") -> None:
    page.get_by_role("radiogroup", name="Your stars").get_by_text(f"({stars})").click()
    if note:
        page.get_by_label("A short note (optional)").fill(note)
    page.get_by_role("button", name="Rate", exact=True).click()
    settle(page)


def test_bob_reviews_alices_images_blind_and_each_image_reaches_three_raters(browser, signed_in_server, models):
    server, store = signed_in_server, signed_in_server.store()
    first = server.add_generation(models, "a lighthouse at dusk", frequency=330.0, created_by=ALICE)
    second = server.add_generation(models, "a red fox in the snow", frequency=440.0, created_by=ALICE)
    bobs = server.add_generation(models, "a boat on a calm lake", frequency=550.0, created_by=BOB)
    for image in (first, bobs):  # two people who reviewed earlier (blind, through core as the page does)
        for person in ("carol@team.org", "dan@team.org"):
            rate(store, image["id"], person, stars=3, blind=True, note=f"seen by {person.split('@')[0]}")
    rate(store, second["id"], "dan@team.org", stars=4, blind=True)

    bob = review_page(browser, server, BOB)
    main = bob.get_by_test_id("stMain")
    expect(main.get_by_text("Prompt: a lighthouse at dusk", exact=False)).to_be_visible()  # the oldest first
    shown = main.inner_text()
    for hidden in ("alice", "Alice", "carol", "dan", "seen by"):  # no maker, no rater, no note before he rates
        assert hidden not in shown, hidden
    expect(main.get_by_test_id("stDataFrame")).to_have_count(0)
    snapshot(bob, "review-blind")
    rate_shown(bob, 4, "warm light")
    expect(main.get_by_text("The image was made by Alice", exact=False)).to_be_visible()
    expect(main.get_by_test_id("stDataFrame")).to_have_count(1)  # everyone's stars, now
    snapshot(bob, "review-revealed")
    bob.get_by_role("button", name="Next image").click()
    settle(bob)
    expect(main.get_by_text("Prompt: a red fox in the snow", exact=False)).to_be_visible()
    rate_shown(bob, 2)
    bob.get_by_role("button", name="Next image").click()
    settle(bob)
    expect(main.get_by_text("Nothing left for you to review", exact=False)).to_be_visible()  # his own is never dealt

    alice = review_page(browser, server, ALICE)
    expect(alice.get_by_test_id("stMain").get_by_text("Prompt: a boat on a calm lake", exact=False)).to_be_visible()
    rate_shown(alice, 5)
    alice.get_by_role("button", name="Next image").click()
    settle(alice)
    expect(alice.get_by_text("Nothing left for you to review", exact=False)).to_be_visible()

    raters = {row["id"]: row for row in store.query(
        "SELECT g.id, g.created_by, count(r.person) AS n, count(DISTINCT r.person) AS people, min(r.blind) AS blind, "
        "sum(r.person = g.created_by) AS own FROM generations g JOIN ratings r ON r.generation_id = g.id "
        "GROUP BY g.id")}
    assert (raters[first["id"]]["n"], raters[bobs["id"]]["n"], raters[second["id"]]["n"]) == (3, 3, 2)
    assert all(r["people"] == r["n"] and r["blind"] == 1 and r["own"] == 0 for r in raters.values())
    assert store.query("SELECT note FROM ratings WHERE person = ? AND generation_id = ?", [BOB, first["id"]]) == [
        {"note": "warm light"}]
