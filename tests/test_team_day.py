"""A team's ordinary day (issue 39, 7 and 9): a person sees their role and what it allows, `people list` shows
each account's role, and health reports a worker alive when any worker on the data folder beats."""

from __future__ import annotations

import json

from apptest import open_app
from fastapi.testclient import TestClient

from core import Store, accounts, roles
from core.cli import main
from core.execution.worker import Worker
from core.web.api import create_app
from helpers import wait_until


def test_the_sidebar_shows_the_role_and_what_it_allows(app_env):
    at = open_app()
    (role,) = [c for c in at.sidebar.caption if c.value.startswith("Role: ")]
    assert role.value == "Role: admin"  # no gate: the local user
    assert role.proto.help == f"An admin may {roles.MAY['admin']}."


def test_people_list_shows_each_accounts_role(tiny_env, data_dir, capsys, monkeypatch):
    store = Store(data_dir)
    for name in ("Ada", "Bob", "Vera"):
        accounts.add_person(store, name)
    monkeypatch.setenv("V2I_ADMINS", "ada")
    monkeypatch.setenv("V2I_VIEWERS", "Vera")
    assert main(["people", "list", "--json"]) == 0
    listed = {r["name"]: r["role"] for r in json.loads(capsys.readouterr().out)}
    assert listed == {"Ada": "admin", "Bob": "member", "Vera": "viewer"}
    assert main(["people", "list"]) == 0
    assert "Vera  viewer  (one-time password not yet replaced)" in capsys.readouterr().out


def test_health_reports_a_worker_alive_while_any_worker_on_the_folder_beats(settings, models, store):
    with TestClient(create_app(settings, store)) as client:
        assert client.get("/api/v1/health").json()["worker_alive"] is False
        worker = Worker(settings, models, store, embed=False).start()  # as the dashboard's, in another process
        try:
            assert wait_until(lambda: client.get("/api/v1/health").json()["worker_alive"] is True, timeout=30)
        finally:
            worker.stop()
        assert client.get("/api/v1/health").json()["worker_alive"] is False  # a stopped worker says so
        with store.write() as db:  # one that died without saying so goes stale
            db.execute("INSERT INTO workers (id, heartbeat_at) VALUES ('gone', '2000-01-01T00:00:00+00:00')")
        assert client.get("/api/v1/health").json()["worker_alive"] is False
