"""Two people at once in the real browser, signed in through st.login against a real OpenID Connect provider
started on loopback (oidc-provider-mock): alice generates and keeps her job across a reload; bob sees her name,
rates and collects her image and opens it from its link; an account outside the allow-list is refused. Then the
personal-password gate: a one-time password replaced at first sign-in."""

from __future__ import annotations

import pytest
from conftest import SCREENSHOTS, free_port, running_dashboard
from playwright.sync_api import expect

from core.generation.synth import recording
from test_browser import set_steps
from waiting import eventually, settle

ALLOWED = {"alice@team.org": "Alice", "bob@team.org": "Bob", "vera@team.org": "Vera"}


@pytest.fixture(scope="module")
def oidc_issuer():
    from oidc_provider_mock import User, run_server_in_thread

    users = [User(sub=email, claims={"email": email, "email_verified": True, "name": name}) for email, name in
             [*ALLOWED.items(), ("eve@elsewhere.org", "Eve")]]
    with run_server_in_thread(user_claims=users) as provider:
        yield f"http://localhost:{provider.server_port}"


@pytest.fixture(scope="module")
def signed_in_server(tiny_models_dir, tmp_path_factory, oidc_issuer):
    folder = tmp_path_factory.mktemp("e2e-oidc")
    port = free_port()
    secrets = folder / "secrets.toml"
    secrets.write_text(
        'allowed_emails = ["alice@team.org"]\nallowed_domains = ["team.org"]\nviewers = ["vera@team.org"]\n\n[auth]\n'
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\ncookie_secret = "a-long-random-test-secret"\n'
        f'client_id = "v2i"\nclient_secret = "v2i-secret"\n'
        f'server_metadata_url = "{oidc_issuer}/.well-known/openid-configuration"\n')
    with running_dashboard(tiny_models_dir, folder, "--secrets.files", str(secrets), port=port) as running:
        yield running


def snapshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"team-{name}.png"), full_page=True)


def sign_in(page, server, email: str) -> None:
    page.goto(server.url)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_placeholder("sub").fill(email)  # the provider's own login form
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{server.url}/**")
    settle(page)


def test_alice_keeps_her_job_across_a_reload_and_bob_rates_collects_and_links_it(browser, signed_in_server):
    server = signed_in_server
    alice = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    sign_in(alice, server, "alice@team.org")
    expect(alice.get_by_test_id("stSidebar").get_by_text("Alice", exact=True)).to_be_visible()
    alice.goto(f"{server.url}/generate")
    settle(alice)
    wav = server.data_dir.parent / "alice.wav"
    wav.write_bytes(recording("wav", seconds=1.5))
    alice.locator('input[type="file"]').first.set_input_files(wav)
    settle(alice)
    set_steps(alice, 2)
    alice.get_by_role("button", name="Generate", exact=True).click()
    settle(alice)
    alice.reload()  # a reload is a new session: her jobs are still hers
    settle(alice)
    expect(alice.get_by_text("Your jobs")).to_be_visible()
    expect(alice.get_by_text("alice.wav  ·  ", exact=False).first).to_be_visible()
    store = server.store()
    assert eventually(alice, lambda: store.query(
        "SELECT status FROM jobs WHERE created_by = 'alice@team.org' AND status = 'done'"), seconds=300)
    (row,) = store.query("SELECT id, created_by FROM generations")
    assert row["created_by"] == "alice@team.org"

    bob = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    sign_in(bob, server, "bob@team.org")
    bob.goto(f"{server.url}/history")
    settle(bob)
    expect(bob.get_by_text("Alice", exact=True).first).to_be_visible()  # "Made by" in the detail
    favourite = bob.get_by_text("One of my favourites")
    expect(favourite).to_be_visible()
    settle(bob)
    favourite.click()
    assert eventually(bob, lambda: store.query("SELECT person, favourite FROM ratings") == [
        {"person": "bob@team.org", "favourite": 1}])
    bob.get_by_label("Add to a collection").first.fill("Launch ideas")
    bob.keyboard.press("Enter")
    settle(bob)
    bob.get_by_role("button", name="Add", exact=True).first.click()
    assert eventually(bob, lambda: store.query("SELECT collection, added_by FROM collection_items") == [
        {"collection": "Launch ideas", "added_by": "bob@team.org"}])
    bob.goto(f"{server.url}/history?id={row['id']}")  # the link a colleague pasted
    settle(bob)
    expect(bob.get_by_text("Linked generation")).to_be_visible()
    snapshot(alice, "alice-generate-after-reload")
    snapshot(bob, "bob-history-linked")
    for context_page in (alice, bob):
        expect(context_page.get_by_test_id("stException")).to_have_count(0)
        context_page.context.close()


def test_an_account_outside_the_allow_list_is_refused(browser, signed_in_server):
    eve = browser.new_context().new_page()
    sign_in(eve, signed_in_server, "eve@elsewhere.org")
    expect(eve.get_by_text("is not allowed here", exact=False)).to_be_visible()
    expect(eve.get_by_role("button", name="Sign out")).to_be_visible()
    snapshot(eve, "eve-refused")
    for heading in ("History", "Generate"):
        expect(eve.get_by_role("heading", name=heading, exact=True)).to_have_count(0)
    eve.context.close()


def test_a_personal_password_is_chosen_at_first_sign_in_on_the_gate_alone_and_the_link_survives(
        browser, tiny_models_dir, tmp_path_factory, models):
    """Issue 39, 6: before sign-in the gate shows alone (no list of pages); and the link the person opened is where
    they land once in."""
    from core import Store, accounts

    folder = tmp_path_factory.mktemp("e2e-password")
    secrets = folder / "secrets.toml"
    secrets.write_text('accounts = true\n')
    with running_dashboard(tiny_models_dir, folder, "--secrets.files", str(secrets)) as server:
        one_time = accounts.add_person(Store(server.data_dir), "Carla")  # what `people add Carla` does
        shared = server.add_generation(models, "a shared lighthouse")
        page = browser.new_context().new_page()
        page.goto(f"{server.url}/history?id={shared['id']}")  # a colleague's link
        settle(page)
        expect(page.get_by_role("textbox", name="Your name")).to_be_visible()
        expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)  # no pages listed before sign-in
        expect(page.get_by_role("link", name="History")).to_have_count(0)
        snapshot(page, "carla-gate-alone")
        page.get_by_role("textbox", name="Your name").fill("Carla")
        page.get_by_label("Password", exact=True).fill(one_time)
        page.get_by_role("button", name="Sign in").click()
        settle(page)
        page.get_by_label("New password", exact=True).fill("carla's own long phrase")
        page.get_by_label("New password again").fill("carla's own long phrase")
        page.get_by_role("button", name="Save and sign in").click()
        settle(page, shows="Linked generation")  # the link she opened, with its query
        expect(page.get_by_test_id("stSidebar").get_by_text("Carla", exact=True)).to_be_visible()
        expect(page.get_by_test_id("stText").filter(has_text="a shared lighthouse").first).to_be_visible()
        assert f"id={shared['id']}" in page.url
        snapshot(page, "carla-password-gate")
        signed_in_across_reloads_tabs_and_links(page, server, shared["id"])


def session_cookie(page) -> dict | None:
    return next((c for c in page.context.cookies() if c["name"] == "v2i_session"), None)


def signed_in_across_reloads_tabs_and_links(page, server, generation_id: str) -> None:
    """Issue 39, 5: Carla's sign-in is a session this browser keeps (an HttpOnly, SameSite cookie): a reload, a
    new tab and a pasted link find her signed in; signing out ends it; a password reset ends it elsewhere."""
    from core import Store, accounts

    assert eventually(page, lambda: session_cookie(page) is not None), "the sign-in set no session cookie"
    page.wait_for_url(f"**/history?id={generation_id}")  # back from /session/start to the link she opened
    cookie = session_cookie(page)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["expires"] > __import__("time").time() + 13 * 86400
    page.reload()
    settle(page, shows="Linked generation")
    expect(page.get_by_test_id("stSidebar").get_by_text("Carla", exact=True)).to_be_visible()
    tab = page.context.new_page()  # another tab, another of her links
    tab.goto(f"{server.url}/generate")
    settle(tab)
    expect(tab.get_by_role("heading", name="Generate", exact=True)).to_be_visible()
    expect(tab.get_by_role("textbox", name="Your name")).to_have_count(0)
    tab.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    tab.wait_for_url(f"{server.url}/")  # the cookie cleared on the way
    settle(tab)
    expect(tab.get_by_role("textbox", name="Your name")).to_be_visible()
    assert session_cookie(page) is None
    page.reload()  # the first tab too: the session is over
    settle(page)
    expect(page.get_by_role("textbox", name="Your name")).to_be_visible()
    # Signed in again, then an admin resets her password: the browser's session ends with it.
    page.get_by_role("textbox", name="Your name").fill("Carla")
    page.get_by_label("Password", exact=True).fill("carla's own long phrase")
    page.get_by_role("button", name="Sign in").click()
    assert eventually(page, lambda: session_cookie(page) is not None)
    accounts.reset_password(Store(server.data_dir), "Carla")
    page.reload()
    settle(page)
    expect(page.get_by_role("textbox", name="Your name")).to_be_visible()
    page.context.close()


def pick(page, label_text: str) -> None:
    """Choose the one option of History's trash multiselect whose label contains ``label_text``."""
    chooser = page.get_by_test_id("stMultiSelect").get_by_role("combobox")
    chooser.click()
    chooser.press_sequentially(label_text)
    expect(page.get_by_role("option")).to_have_count(1)
    page.get_by_role("option").click()
    page.keyboard.press("Escape")
    settle(page)


def test_bob_cannot_trash_alices_image_she_trashes_and_restores_it_whole_and_a_viewer_cannot_generate(
        browser, signed_in_server, models):
    from core import abtest, collect, rate

    server, store = signed_in_server, signed_in_server.store()
    made = server.add_generation(models, "alice's own lighthouse", created_by="alice@team.org")
    rate(store, made["id"], "bob@team.org", stars=4, favourite=True)
    collect(store, made["id"], "Keepers", "bob@team.org")
    before = {table: store.query(f"SELECT * FROM {table} WHERE generation_id = ?", [made["id"]])
              for table in ("ratings", "collection_items")}

    bob = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    sign_in(bob, server, "bob@team.org")
    bob.goto(f"{server.url}/history")
    settle(bob)
    expect(bob.get_by_text("Only its maker or an admin can move a generation to the trash", exact=False)).to_be_visible()
    chooser = bob.get_by_test_id("stMultiSelect").get_by_role("combobox")
    if chooser.count():  # bob has his own to offer: hers is not among them
        chooser.click()
        chooser.press_sequentially(made["id"][:8])
        expect(bob.get_by_role("option", name=made["id"][:8], exact=False)).to_have_count(0)
        bob.keyboard.press("Escape")

    alice = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    sign_in(alice, server, "alice@team.org")
    alice.goto(f"{server.url}/history")
    settle(alice)
    pick(alice, made["id"][:8])
    alice.get_by_role("button", name="Move 1 to the trash").click()
    settle(alice)
    # The question first (a busy machine may still be drawing the page when settle() returns), then the answer.
    expect(alice.get_by_text("Move 1 generation(s) to the trash?", exact=False)).to_be_visible()
    alice.get_by_role("button", name="Yes, move them to the trash").click()
    settle(alice)
    expect(alice.get_by_text("Trash (1)", exact=True)).to_be_visible()
    assert made["id"] not in [r["id"] for r in store.query_generations(limit=1000)]
    assert not store.query("SELECT * FROM ratings WHERE generation_id = ?", [made["id"]])
    bob.goto(f"{server.url}/history?id={made['id']}")  # his link no longer opens it
    settle(bob)
    expect(bob.get_by_text("Linked generation")).to_have_count(0)

    alice.get_by_text("Trash (1)", exact=True).click()
    settle(alice)
    alice.get_by_role("button", name="Restore it").click()
    settle(alice)
    expect(alice.get_by_text("Trash (0)", exact=True)).to_be_visible()  # the restore's rerun has been drawn
    assert made["id"] in [r["id"] for r in store.query_generations(limit=1000)]
    assert {table: store.query(f"SELECT * FROM {table} WHERE generation_id = ?", [made["id"]])
            for table in ("ratings", "collection_items")} == before
    snapshot(alice, "alice-restored")

    vera = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    sign_in(vera, server, "vera@team.org")
    vera.goto(f"{server.url}/generate")
    settle(vera)
    expect(vera.get_by_text("you are a viewer here", exact=False)).to_be_visible()
    expect(vera.get_by_role("button", name="Generate", exact=True)).to_have_count(0)
    snapshot(vera, "vera-viewer-generate")
    assert [r["action"] for r in store.query("SELECT action FROM audit ORDER BY id")][-2:] == ["delete", "restore"]
    for context_page in (alice, bob, vera):
        expect(context_page.get_by_test_id("stException")).to_have_count(0)
        context_page.context.close()


def open_generation(page, generation_id: str) -> None:
    """Choose a generation in History's "Open a generation" by typing the start of its id, as a person would."""
    chooser = page.get_by_test_id("stSelectbox").filter(has_text="Open a generation").get_by_role("combobox")
    chooser.click()
    chooser.press_sequentially(generation_id[:8])
    expect(page.get_by_role("option")).to_have_count(1)
    page.get_by_role("option").click()
    settle(page)


def test_bobs_job_ending_while_alice_rates_leaves_her_image_open_and_her_stars_on_it(
        browser, signed_in_server, models):
    """Issue 39, 1: two people at once. The generation alice opened stays open, and her click lands on it, however
    many of bob's images arrive meanwhile."""
    server, store = signed_in_server, signed_in_server.store()
    hers = server.add_generation(models, "alice's quiet harbour", created_by="alice@team.org")
    server.add_generation(models, "bob's loud market", frequency=550, created_by="bob@team.org")  # newest, for now

    alice = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    sign_in(alice, server, "alice@team.org")
    alice.goto(f"{server.url}/history")
    settle(alice)
    open_generation(alice, hers["id"])
    detail_words = alice.get_by_test_id("stText").filter(has_text="alice's quiet harbour")
    expect(detail_words.first).to_be_visible()

    bob = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    sign_in(bob, server, "bob@team.org")
    bob.goto(f"{server.url}/history")
    settle(bob)
    before = store.count_generations()
    bob.get_by_role("button", name="Generate again with the same settings").first.click()  # a real job of his
    assert eventually(bob, lambda: store.count_generations() == before + 1, seconds=300)

    alice.get_by_test_id("stFeedback").first.get_by_role("radio", name="3 out of 5 stars").click()  # on the page as
    # it was drawn before bob's image landed
    assert eventually(alice, lambda: store.query("SELECT generation_id, stars FROM ratings WHERE person = ?",
                                                 ["alice@team.org"]) == [{"generation_id": hers["id"], "stars": 3}])
    settle(alice)
    expect(detail_words.first).to_be_visible()  # still hers, not bob's newest
    expect(alice.get_by_role("combobox", name="Open a generation")).to_match_aria_snapshot(
        f'- combobox "Open a generation": /{hers["id"][:8]} .*/')
    snapshot(alice, "alice-rated-while-bob-painted")
    for context_page in (alice, bob):
        expect(context_page.get_by_test_id("stException")).to_have_count(0)
        context_page.context.close()
