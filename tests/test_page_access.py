import pytest
from apptest import DASHBOARD, TIMEOUT, no_exception
from streamlit.testing.v1 import AppTest

from core import SignInThrottle, Store, Throttle, accounts, client_address


@pytest.fixture(autouse=True)
def fresh_throttle(monkeypatch):
    """Each test starts with no recorded guesses, on a clock it moves itself."""
    from ui import auth

    now = [1000.0]
    monkeypatch.setattr(auth, "GUESSES", SignInThrottle(clock=lambda: now[0]))
    return now


def gated_app(page=None):
    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT)
    at.secrets["password"] = "correct horse"
    at.run()
    return no_exception(at)


def sign_in(at, password: str, name: str | None = None) -> AppTest:
    fields = {t.label: t for t in at.text_input}
    if name is not None:
        fields["Your name"].set_value(name)
    fields["Password" if name is not None else "Team password"].set_value(password)
    return no_exception(at.button[0].click().run())


def test_without_configuration_there_is_no_gate(app_env):
    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT)
    at.run()
    assert [t.value for t in at.title] == ["Voice to Image"]
    assert not {"Team password", "Password", "Your name"} & {t.label for t in at.text_input}  # no sign-in form


def test_a_configured_password_hides_every_page_until_given(app_env):
    at = gated_app()
    assert [t.label for t in at.text_input] == ["Team password"]
    assert not at.metric and not at.info  # nothing of the dashboard shows
    at.switch_page("pages/history.py").run()
    assert [t.label for t in at.text_input] == ["Team password"]


def test_a_wrong_password_is_refused_and_the_right_one_lets_in(app_env, fresh_throttle):
    at = gated_app()
    assert sign_in(at, "wrong").error[0].value == "That password is not right."
    fresh_throttle[0] += 1.0  # past the delay a wrong guess earns
    sign_in(at, "correct horse")
    assert "No generations yet" in at.info[0].value
    assert "Team" in [t.value for t in at.sidebar.text]


def test_the_shared_password_gives_one_shared_identity_and_says_so(app_env, data_dir):
    """Typing a colleague's name no longer makes you them: there is no name to type."""
    at = gated_app()
    assert "one shared identity" in at.caption[0].value
    sign_in(at, "correct horse")
    assert {"id": "team", "name": "Team"} in Store(data_dir).query("SELECT id, name FROM people")


@pytest.mark.parametrize("line", ['password = ""', "password = false", "password = 0", 'password = "   "',
                                  "accounts = 1", 'accounts = "yes"'])
def test_an_empty_or_false_password_is_broken_configuration_not_an_open_gate(app_env, secrets_file, line, caplog):
    secrets_file.write_text(line + "\n")
    with caplog.at_level("ERROR", logger="v2i.auth"):
        at = no_exception(AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT).run())
    assert "configuration is broken" in at.error[0].value
    assert not at.text_input and not at.metric and not at.info
    assert "must be" in caplog.text


def accounts_app():
    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT)
    at.secrets["accounts"] = True
    return no_exception(at.run())


def test_personal_passwords_a_one_time_password_must_be_replaced_first(app_env, data_dir, fresh_throttle):
    store = Store(data_dir)
    one_time = accounts.add_person(store, "Alice")
    at = accounts_app()
    assert [t.label for t in at.text_input] == ["Your name", "Password"]
    assert sign_in(at, "not her password", name="Alice").error[0].value == "That name or password is not right."
    fresh_throttle[0] += 1.0
    sign_in(at, one_time, name="Alice")
    assert [t.label for t in at.text_input] == ["New password", "New password again"] and not at.metric
    fields = {t.label: t for t in at.text_input}
    fields["New password"].set_value("short")
    fields["New password again"].set_value("short")
    assert "10 to 200 characters" in no_exception(at.button[0].click().run()).error[0].value
    fields = {t.label: t for t in at.text_input}
    fields["New password"].set_value("alice's own long phrase")
    fields["New password again"].set_value("alice's own long phrase")
    no_exception(at.button[0].click().run())
    assert "No generations yet" in at.info[0].value and "Alice" in [t.value for t in at.sidebar.text]
    assert accounts.sign_in(store, "Alice", "alice's own long phrase") == accounts.SignIn(True, "alice", False, "Alice")
    assert not accounts.sign_in(store, "Alice", one_time).ok  # the one-time password is spent


def test_with_personal_passwords_typing_a_name_is_not_enough(app_env, data_dir, fresh_throttle):
    accounts.add_person(Store(data_dir), "Alice")
    at = accounts_app()
    assert sign_in(at, "", name="Alice").error[0].value == "That name or password is not right."
    fresh_throttle[0] += 1.0
    assert sign_in(at, "anything at all", name="Bob").error[0].value == "That name or password is not right."
    assert not at.info and not Store(data_dir).query("SELECT * FROM people WHERE lower(id) IN ('alice', 'bob')")


def test_someone_elses_typos_lock_a_right_password_out_for_a_few_seconds_at_most(app_env, data_dir, fresh_throttle,
                                                                                  monkeypatch):
    from ui import auth

    now = fresh_throttle
    addresses = iter(f"198.51.100.{n}" for n in range(1, 100))  # each guess from another address
    monkeypatch.setattr(auth, "client_address", lambda *_: next(addresses))
    store = Store(data_dir)
    accounts.add_person(store, "Alice")
    accounts.change_password(store, "Alice", accounts.reset_password(store, "Alice"), "alice's own long phrase")
    for n in range(6):  # guesses at Alice's account from new sessions, each as soon as the throttle lets them
        if n:
            now[0] += 4.0
        assert sign_in(accounts_app(), "guess", name="Alice").error[0].value == "That name or password is not right."
    alice = accounts_app()  # her own session, right after Mallory's last guess
    waited = sign_in(alice, "alice's own long phrase", name="Alice").error
    assert [w.value for w in waited] == ["Too many wrong passwords: try again in 4 s."]
    now[0] += 4.0
    sign_in(alice, "alice's own long phrase", name="Alice")
    assert "No generations yet" in alice.info[0].value


def test_new_sessions_do_not_buy_more_guesses_at_one_account(app_env, data_dir, fresh_throttle):
    """Six sessions (as with six forged X-Forwarded-For headers) get one guess between them, not six."""
    accounts.add_person(Store(data_dir), "Alice")
    answers = [sign_in(accounts_app(), "guess", name="Alice").error[0].value for _ in range(6)]
    assert answers[0] == "That name or password is not right."
    assert all(a.startswith("Too many wrong passwords") for a in answers[1:])


def test_every_wrong_guess_counts_towards_a_cap_for_everyone_together():
    now = [0.0]
    throttle = SignInThrottle(clock=lambda: now[0], per_minute_all=5)
    for n in range(5):
        throttle.failed([("session", str(n))], f"account-{n}")
    assert throttle.wait([("session", "new")], "someone-else") > 0
    now[0] += 61
    assert throttle.wait([("session", "new")], "someone-else") == 0


@pytest.mark.parametrize("peer, forwarded, trusted, client", [
    (None, None, [], "127.0.0.1"),  # straight from this machine
    ("10.0.0.7", None, [], "10.0.0.7"),
    (None, "203.0.113.9", [], None),  # a header nobody vouches for: no client can be believed
    ("203.0.113.9", "203.0.113.9", [""], None),  # the server may already have swallowed the forged header
    (None, "1.2.3.4, 203.0.113.9", ["127.0.0.1"], "203.0.113.9"),  # the proxy's own hop, not the forged one
    (None, "203.0.113.9, 10.0.0.2", ["127.0.0.1", "10.0.0.2"], "203.0.113.9"),  # two proxies of ours
])
def test_a_forwarded_address_is_believed_only_from_a_configured_proxy(peer, forwarded, trusted, client):
    assert client_address(peer, forwarded, trusted) == client


def test_a_page_opened_first_after_a_restart_leaves_streamlits_old_pages_mode(monkeypatch):
    """ensure_navigation() sets a Streamlit internal (checked on the pinned 1.67.0): if an upgrade renames
    it, this fails here rather than leaving a bookmarked page without its gate and sidebar."""
    from streamlit.runtime.pages_manager import PagesManager

    from ui import resources

    assert hasattr(PagesManager, "uses_pages_directory")
    reruns = []
    monkeypatch.setattr(PagesManager, "uses_pages_directory", True)
    monkeypatch.setattr(resources.st, "rerun", lambda: reruns.append(1))
    resources.ensure_navigation()
    assert PagesManager.uses_pages_directory is False and reruns == [1]
    resources.ensure_navigation()  # already in navigation mode: nothing to do
    assert reruns == [1]


@pytest.fixture
def secrets_file(tmp_path, monkeypatch):
    """Point Streamlit at a secrets file of the test's own (and forget any secrets parsed before)."""
    import streamlit as st
    from streamlit import config

    path = tmp_path / "secrets.toml"
    saved = config.get_option("secrets.files")
    config.set_option("secrets.files", [str(path)])
    st.secrets._reset()
    yield path
    config.set_option("secrets.files", saved)
    st.secrets._reset()


def test_a_secrets_file_that_does_not_parse_serves_no_page(app_env, secrets_file, caplog):
    secrets_file.write_text('password = "correct horse\n[auth\n')  # a typo: unterminated string and table
    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT)
    with caplog.at_level("ERROR", logger="v2i.auth"):
        no_exception(at.run())
    assert "configuration is broken" in at.error[0].value
    assert not at.text_input and not at.metric and not at.info and not at.dataframe  # no gate form, no page
    assert str(secrets_file) in caplog.text  # the server log names the file
    at.switch_page("pages/history.py").run()
    assert "configuration is broken" in at.error[0].value and not at.dataframe


def test_a_secrets_file_that_cannot_be_read_serves_no_page(app_env, secrets_file):
    secrets_file.write_bytes(b'password = "\xff\xfe"\n')  # not UTF-8
    at = no_exception(AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT).run())
    assert "configuration is broken" in at.error[0].value and not at.text_input


def test_a_valid_secrets_file_still_gates_with_its_password(app_env, secrets_file):
    secrets_file.write_text('password = "correct horse"\n')
    at = no_exception(AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT).run())
    assert [t.label for t in at.text_input] == ["Team password"]


def test_repeated_wrong_passwords_are_slowed_down_and_logged(app_env, fresh_throttle, caplog):
    now = fresh_throttle
    at = gated_app()

    def guess(text):
        return sign_in(at, text)

    with caplog.at_level("WARNING", logger="v2i.auth"):
        assert guess("wrong").error[0].value == "That password is not right."
    assert "wrong team password for team from 127.0.0.1" in caplog.text  # the real client, not None
    # At once again: refused without even comparing, even if it were the right one.
    assert guess("correct horse").error[0].value == "Too many wrong passwords: try again in 1 s."
    now[0] += 1.0
    assert guess("wrong again").error[0].value == "That password is not right."
    assert guess("correct horse").error[0].value == "Too many wrong passwords: try again in 2 s."  # it doubles
    now[0] += 2.0
    no_exception(guess("correct horse"))
    assert not at.error and "No generations yet" in at.info[0].value


def test_the_throttle_grows_its_delay_and_caps_guesses_per_minute():
    now = [0.0]
    throttle = Throttle(base_delay=1.0, max_delay=8.0, per_minute=5, clock=lambda: now[0])
    keys = [("address", "10.0.0.1")]
    delays = []
    for _ in range(5):
        throttle.failed(keys)
        delays.append(throttle.wait(keys))
        now[0] += delays[-1]
    assert delays[:4] == [1.0, 2.0, 4.0, 8.0]  # doubling, capped at max_delay
    # 5 failures within a minute: the address waits until the oldest is a minute old.
    assert throttle.wait(keys) == pytest.approx(60.0 - sum(delays))
    assert throttle.wait([("address", "10.0.0.2")]) == 0.0  # other addresses are not affected


def oidc_app(**claims):
    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT)
    at.secrets["auth"] = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "s" * 32,
                          "client_id": "v2i", "client_secret": "v2i", "server_metadata_url": "http://127.0.0.1:9/x"}
    at.secrets["allowed_emails"] = ["boss@kodak.com"]
    at.secrets["allowed_domains"] = ["team.org"]
    at.user = {"is_logged_in": True, "email_verified": True, **claims}
    return no_exception(at.run())


def test_an_unverified_email_is_refused_even_on_the_allow_list(app_env, data_dir):
    at = oidc_app(email="alice@team.org", email_verified=False, name="Not Alice")
    assert "has not verified the email alice@team\\.org" in at.error[0].value
    assert not at.metric and not at.info
    assert not Store(data_dir).query("SELECT * FROM people WHERE id = 'alice@team.org'")  # nobody renamed


def test_a_look_alike_email_is_refused(app_env):
    at = oidc_app(email="boss@\u212Aodak.com", name="Boss")
    assert "is not allowed here" in at.error[0].value and not at.info


@pytest.mark.parametrize("name, shown", [("Zahra\u200cKarimi", "Zahra\u200cKarimi"),
                                         ("\U0001F469\u200d\U0001F52C Ana", "\U0001F469\u200d\U0001F52C Ana"),
                                         ("   ", "ana@team.org"), ("Eve\u202eevil", "Eveevil")])
def test_real_names_get_in_and_odd_ones_fall_back_to_something_safe(app_env, name, shown):
    at = oidc_app(email="Ana@Team.org", name=name)
    assert "No generations yet" in at.info[0].value
    assert shown in [t.value for t in at.sidebar.text]
