"""A sign-in that lasts (issue 39, 5): a personal-password session kept by the browser in an HttpOnly, SameSite
cookie, expiring (V2I_SESSION_DAYS), ended by signing out, a password reset or the person's removal; the cookie is
set by a route from a one-time grant (its value never in a URL), and the route goes on only to this app's pages."""

from datetime import datetime, timedelta, timezone

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from core import Store, accounts, load_settings, sessions
from core.team.sessions import Grants


@pytest.fixture
def store(data_dir) -> Store:
    return Store(data_dir)


@pytest.fixture
def carla(store) -> str:
    one_time = accounts.add_person(store, "Carla")
    accounts.change_password(store, "Carla", one_time, "carla's own long phrase")
    return "carla"


def test_a_session_signs_its_person_in_by_name_until_it_ends(store, carla):
    value, expires = sessions.start(store, carla, days=14)
    assert 13.9 < (expires - datetime.now(timezone.utc)).total_seconds() / 86400 <= 14
    person = sessions.person_of(store, value)
    assert (person.id, person.name) == ("carla", "Carla")
    assert value.split(".", 1)[1] not in str(store.query("SELECT * FROM sessions"))  # only its hash is kept
    sessions.end(store, value)
    assert sessions.person_of(store, value) is None


@pytest.mark.parametrize("value", [None, "", "nodot", "x" * 300, "abc.def"])
def test_a_missing_malformed_or_unknown_cookie_signs_nobody_in(store, carla, value):
    sessions.start(store, carla, days=1)
    assert sessions.person_of(store, value) is None


def test_a_forged_secret_for_a_real_session_signs_nobody_in(store, carla):
    value, _ = sessions.start(store, carla, days=1)
    session_id = value.split(".")[0]
    assert sessions.person_of(store, f"{session_id}.guessed") is None
    sessions.end(store, f"{session_id}.guessed")  # a forged sign-out ends nothing
    assert sessions.person_of(store, value) is not None


def test_an_expired_session_signs_nobody_in(store, carla):
    value, _ = sessions.start(store, carla, days=1)
    with store.write() as db:
        db.execute("UPDATE sessions SET expires_at = ?", [(datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()])
    assert sessions.person_of(store, value) is None


def test_a_password_reset_ends_every_session_of_that_person_and_only_theirs(store, carla):
    accounts.add_person(store, "Dan")
    phone, _ = sessions.start(store, carla, days=14)
    laptop, _ = sessions.start(store, carla, days=14)
    dans, _ = sessions.start(store, "dan", days=14)
    accounts.reset_password(store, "Carla")
    assert sessions.person_of(store, phone) is None and sessions.person_of(store, laptop) is None
    assert sessions.person_of(store, dans).id == "dan"
    assert store.query("SELECT detail FROM audit WHERE target = 'carla' ORDER BY at DESC LIMIT 1")[0]["detail"] == \
        "password reset to a one-time password, 2 sign-ins ended"


def test_removing_a_person_ends_their_sessions(store, carla):
    value, _ = sessions.start(store, carla, days=14)
    accounts.remove_person(store, "Carla")
    assert sessions.person_of(store, value) is None
    assert store.query("SELECT count(*) AS n FROM sessions WHERE revoked_at IS NULL")[0]["n"] == 0


def test_a_grant_hands_its_cookie_over_once_and_only_while_fresh():
    now = [0.0]
    grants = Grants(ttl_s=60, clock=lambda: now[0])
    expires = datetime.now(timezone.utc)
    grant = grants.put("id.secret", expires)
    assert grants.take("unknown") is None
    assert grants.take(grant) == ("id.secret", expires)
    assert grants.take(grant) is None  # once
    late = grants.put("id.other", expires)
    now[0] = 61.0
    assert grants.take(late) is None


def test_the_session_days_setting_is_read_and_checked():
    assert load_settings({}).session_days == 14
    assert load_settings({"V2I_SESSION_DAYS": "1.5"}).session_days == 1.5
    with pytest.raises(ValueError, match="V2I_SESSION_DAYS"):
        load_settings({"V2I_SESSION_DAYS": "0"})


@pytest.fixture
def routes(monkeypatch):
    from ui import serving

    monkeypatch.setattr(serving, "MOUNTED", serving.MOUNTED)  # routes() marks them mounted: undone after the test
    return TestClient(Starlette(routes=serving.routes()), follow_redirects=False)


def test_the_route_sets_an_httponly_samesite_cookie_from_a_grant_and_goes_on_to_the_link(routes):
    expires = datetime.now(timezone.utc) + timedelta(days=14)
    grant = sessions.GRANTS.put("id.secret", expires)
    answer = routes.get("/session/start", params={"grant": grant, "next": "/history?id=abc"})
    assert answer.status_code == 303 and answer.headers["location"] == "/history?id=abc"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("v2i_session=id.secret;") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie and "expires=" in cookie.lower() and "Path=/" in cookie
    again = routes.get("/session/start", params={"grant": grant, "next": "/history"})
    assert again.status_code == 303 and "set-cookie" not in again.headers  # a grant works once


def test_over_https_the_cookie_is_secure(routes):
    grant = sessions.GRANTS.put("id.secret", datetime.now(timezone.utc) + timedelta(days=1))
    answer = routes.get("/session/start", params={"grant": grant}, headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in answer.headers["set-cookie"]


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "evil", "/\\evil.example", ""])
def test_the_route_goes_on_only_to_this_apps_pages(routes, target):
    answer = routes.get("/session/start", params={"grant": "none", "next": target})
    assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_signing_out_clears_the_cookie(routes):
    answer = routes.get("/session/end")
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    assert answer.headers["set-cookie"].startswith('v2i_session="";') and "Max-Age=0" in answer.headers["set-cookie"]


def signed_in_tab(name: str, password: str):
    """A dashboard tab (AppTest) with personal passwords, signed in."""
    from streamlit.testing.v1 import AppTest

    from apptest import no_exception
    from helpers import ROOT

    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.secrets["accounts"] = True
    no_exception(at.run())
    fields = {t.label: t for t in at.text_input}
    fields["Your name"].set_value(name)
    fields["Password"].set_value(password)
    return no_exception(at.button[0].click().run())


def test_an_open_tab_is_signed_out_at_its_next_run_once_the_person_is_removed(app_env, data_dir, carla):
    from apptest import no_exception

    at = signed_in_tab("Carla", "carla's own long phrase")
    assert "Carla" in [t.value for t in at.sidebar.text] and at.session_state["session"]
    accounts.remove_person(Store(data_dir), "Carla")
    no_exception(at.run())
    assert [t.label for t in at.text_input] == ["Your name", "Password"]  # the gate, at once
    assert "person" not in at.session_state


def test_signing_out_ends_the_session_for_every_tab(app_env, data_dir, carla):
    from apptest import button, no_exception

    at = signed_in_tab("Carla", "carla's own long phrase")
    value = at.session_state["session"]
    no_exception(button(at, "Sign out").click().run())
    assert [t.label for t in at.text_input] == ["Your name", "Password"]
    assert sessions.person_of(Store(data_dir), value) is None  # a cookie holding it signs nobody in
