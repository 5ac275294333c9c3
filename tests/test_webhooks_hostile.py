"""Webhooks and chat targets as an attacker would use them (issue 44: 2, 3, 6): no request into the server's own
network (refused when added, and again at send time through a stubbed resolver, never by connecting), the
connection goes to the address that was checked, one deadline per delivery however a receiver answers, at most
a few KB of an answer read and none of it kept, targets shown to others as scheme and host only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core import Person, webhooks
from core.errors import InvalidOptionError
from core.hooks import egress
from helpers import old_database

ROOT = Path(__file__).resolve().parent.parent
ANA = Person("ana", "Ana", "member", "cli")
ADA = Person("ada", "Ada", "admin", "cli")
PUBLIC = "93.184.216.34"  # a public address; nothing here ever connects to it


@pytest.fixture
def resolver(monkeypatch):
    """The one resolver, stubbed: name -> addresses (changeable mid-test), and the names asked for."""
    answers: dict[str, list[str]] = {}
    asked: list[str] = []

    def resolve(host, port):
        asked.append(host)
        return list(answers.get(host, []))

    monkeypatch.setattr(egress, "resolve_host", resolve)
    return answers, asked


@pytest.fixture
def no_connections(monkeypatch):
    """Fails any attempt to open a connection (a refusal must happen before one)."""
    tried = []

    def connect(self, host, port, *args, **kwargs):
        tried.append((self.address, port))
        raise AssertionError(f"tried to connect to {self.address}")

    monkeypatch.setattr(egress.PinnedBackend, "connect_tcp", connect)
    return tried


def due_delivery(store, person="ana"):
    with store.write() as db:
        webhooks.job_ended(db, {"id": "a" * 32, "created_by": person, "audio_filename": "memo.wav"}, "done",
                           "b" * 32, None)


@pytest.mark.parametrize("url", [
    "https://169.254.169.254/latest/meta-data/", "https://10.0.0.1/", "https://192.168.1.20/hook",
    "https://172.16.0.5/", "https://100.64.0.1/", "https://127.0.0.1/", "https://localhost/x", "https://0.0.0.0/",
    "https://224.0.0.1/", "https://[::1]/", "https://[::ffff:10.0.0.1]/", "https://[::ffff:169.254.169.254]/",
    "https://[fd00::1]/", "https://[fe80::1]/", "https://[64:ff9b::a00:1]/", "https://[2002:a00:1::1]/",
    "https://240.0.0.1/"])
def test_a_member_cannot_add_an_internal_or_link_local_webhook(store, url, no_connections):
    with pytest.raises(InvalidOptionError, match="the server sends only to public addresses"):
        webhooks.add(store, ANA, "webhook", url)
    assert not store.query("SELECT * FROM hooks") and not no_connections


def test_a_name_that_resolves_inside_is_refused_when_added(store, resolver, no_connections):
    answers, _ = resolver
    answers["metadata.google.internal"] = ["169.254.169.254"]
    answers["sneaky.example"] = [PUBLIC, "10.1.2.3"]  # one inside address among public ones is enough
    for url in ("https://metadata.google.internal/computeMetadata/v1/", "https://sneaky.example/hook"):
        with pytest.raises(InvalidOptionError, match="is 169.254.169.254, a link-local|is 10.1.2.3, a private"):
            webhooks.add(store, ANA, "webhook", url)
    assert not no_connections


def test_plain_http_and_loopback_need_the_admins_local_switch(store, resolver):
    with pytest.raises(InvalidOptionError, match="must be an https:// URL"):
        webhooks.add(store, ANA, "webhook", "http://127.0.0.1:9/hook")
    assert webhooks.add(store, ANA, "webhook", "http://127.0.0.1:9/hook", allow_local=True)
    with pytest.raises(InvalidOptionError, match="private address"):  # the switch opens loopback, nothing else
        webhooks.add(store, ANA, "webhook", "http://10.0.0.1/hook", allow_local=True)


@pytest.mark.parametrize("url, match", [
    ("json://hooks.example/path?method=GET&+Metadata-Flavor=Google", "only an admin"),
    ("xml://hooks.example/", "only an admin"), ("form://hooks.example/", "only an admin"),
    ("syslog://10.0.0.1", "is not a chat or mail service"),
    ("matrix://user:pass@10.0.0.7/room", "private address"),
    ("mailtos://bot:pw@mail.example.invalid?smtp=10.0.0.2", "private address"),
    ("slack://T1/B1/C1?+X-Evil=1", "custom methods, headers"),
])
def test_apprise_is_kept_to_chat_and_mail_services_without_custom_headers(store, url, match, resolver):
    with pytest.raises(InvalidOptionError, match=match):
        webhooks.add(store, ANA, "apprise", url)


def test_an_admin_may_add_a_generic_kind_but_still_no_custom_method_or_header(store, resolver):
    resolver[0]["hooks.example"] = [PUBLIC]
    assert webhooks.add(store, ADA, "apprise", "json://hooks.example/notify", team=True)
    for url in ("json://hooks.example/x?method=GET", "json://hooks.example/x?+Metadata-Flavor=Google"):
        with pytest.raises(InvalidOptionError, match="custom methods, headers"):
            webhooks.add(store, ADA, "apprise", url, team=True)
    with pytest.raises(InvalidOptionError, match="link-local"):
        webhooks.add(store, ADA, "apprise", "json://169.254.169.254/latest", team=True)


def test_at_send_time_a_name_that_now_resolves_inside_is_refused_without_connecting(store, resolver,
                                                                                      no_connections):
    answers, _ = resolver
    answers["hooks.example"] = [PUBLIC]
    webhooks.add(store, ANA, "webhook", "https://hooks.example/hook")
    answers["hooks.example"] = ["10.0.0.1"]  # the name moved inside after it was added
    due_delivery(store)
    webhooks.Dispatcher(store).send_due()
    (delivery,) = webhooks.deliveries(store, ANA)
    assert delivery["last_status"] is None and delivery["state"] == "pending"
    assert delivery["reason"].startswith("refused: hooks.example is 10.0.0.1, a private address")
    assert not no_connections


class RawReceiver:
    """A loopback TCP server that reads one request and then answers as ``answer(connection)`` does."""

    def __init__(self, answer):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port, self.requests, self.answer = self.sock.getsockname()[1], [], answer
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length")), 0)
            while len(body) < length:
                body += conn.recv(65536)
            self.requests.append((head.decode(), body))
            try:
                self.answer(conn)
            except OSError:
                pass  # the sender hung up: what it should do

    def close(self):
        self.sock.close()


def huge(conn, total=300 * 2 ** 20):
    conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {total}\r\n\r\n".encode())
    chunk = b"x" * 2 ** 16
    for _ in range(total // len(chunk)):
        conn.sendall(chunk)


def drip(conn, seconds=120):
    for byte in (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" * 10)[:seconds]:
        conn.sendall(bytes([byte]))
        time.sleep(1.0)


def noisy(conn):
    body = b"SECRET-INTERNAL-DATA " * 50
    conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


@pytest.fixture
def raw_receiver():
    made = []

    def make(answer):
        made.append(RawReceiver(answer))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def test_the_connection_goes_to_the_checked_address_not_a_second_lookup(store, resolver, raw_receiver):
    answers, asked = resolver
    got = raw_receiver(lambda conn: conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n"))
    answers["rebind.test"] = ["127.0.0.1"]
    webhooks.add(store, ANA, "webhook", f"http://rebind.test:{got.port}/hook", allow_local=True)
    due_delivery(store)
    asked.clear()
    webhooks.Dispatcher(store, allow_local=True).send_due()  # the system resolver has never heard of rebind.test
    assert asked == ["rebind.test"]  # looked up once, at the check; the connection used that answer
    (head, _), = got.requests
    assert f"host: rebind.test:{got.port}" in head.lower()
    assert webhooks.deliveries(store, ANA)[0]["state"] == "delivered"


def test_a_drip_holds_a_delivery_no_longer_than_its_deadline_and_the_next_receiver_still_gets_its_own(
        store, raw_receiver):
    slow = raw_receiver(drip)
    fast = raw_receiver(lambda conn: conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    webhooks.add(store, ANA, "webhook", f"http://127.0.0.1:{slow.port}/", allow_local=True)
    webhooks.add(store, ANA, "webhook", f"http://127.0.0.1:{fast.port}/", allow_local=True)
    due_delivery(store)
    started = time.monotonic()
    assert webhooks.Dispatcher(store, allow_local=True, deadline_s=1.5).send_due() == 2
    assert time.monotonic() - started < 20  # the drip alone would take two minutes
    reasons = sorted(d["reason"] for d in webhooks.deliveries(store, ANA))
    assert reasons == ["HTTP 200 OK", "no answer within 1.5 s"]


def test_an_answers_body_is_never_kept(store, raw_receiver):
    got = raw_receiver(noisy)
    webhooks.add(store, ANA, "webhook", f"http://127.0.0.1:{got.port}/", allow_local=True)
    due_delivery(store)
    webhooks.Dispatcher(store, allow_local=True).send_due()
    (delivery,) = webhooks.deliveries(store, ANA)
    assert (delivery["last_status"], delivery["reason"]) == (500, "HTTP 500 Internal Server Error")
    assert "SECRET" not in json.dumps(store.query("SELECT * FROM deliveries"))


# The peak memory of this process alone (VmHWM starts afresh at exec; getrusage's maxrss would carry pytest's own).
MEASURED = ("import runpy, sys; sys.argv = ['core', 'hooks', 'send', '--as', 'ana']\n"
            "try:\n    runpy.run_module('core', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
            "print('maxrss_kb', hwm)")


@pytest.mark.parametrize("answer", [huge, drip], ids=["300 MB", "a byte a second"])
def test_hooks_send_returns_within_the_deadline_under_500_mb(store, tiny_env, raw_receiver, answer):
    got = raw_receiver(answer)
    webhooks.add(store, ANA, "webhook", f"http://127.0.0.1:{got.port}/", allow_local=True)
    due_delivery(store)
    env = {**os.environ, "V2I_WEBHOOKS_ALLOW_LOCAL": "1"}
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-c", MEASURED], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=110)
    elapsed = time.monotonic() - started
    assert run.returncode == 0 and "1 due delivery tried" in run.stdout, run.stderr
    rss_mb = int(run.stdout.split("maxrss_kb")[1]) / 1024
    assert rss_mb < 500 and elapsed < egress.DEADLINE_S + 30, (rss_mb, elapsed)
    (delivery,) = webhooks.deliveries(store, ANA)
    assert delivery["reason"] == ("HTTP 200 OK" if answer is huge else f"no answer within {egress.DEADLINE_S:g} s")


def test_others_see_a_target_as_scheme_and_host_and_only_its_adder_sees_it_whole(store, resolver, tiny_env):
    added = webhooks.add(store, ADA, "apprise", "mailtos://bot:PASSWORD@mail.example.invalid", team=True)
    assert "PASSWORD" in added["url"]  # shown once, to the admin adding it
    webhooks.add(store, ANA, "apprise", "slack://T000/B000/SECRETTOKEN")
    for person in (ANA, ADA):
        shown = json.dumps([webhooks.listed(store, person), webhooks.deliveries(store, person)])
        assert "PASSWORD" not in shown and "SECRETTOKEN" not in shown and "mailtos://mail.example.invalid" in shown
    listing = subprocess.run([sys.executable, "-m", "core", "hooks", "list", "--as", "vera", "--json"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0 and "PASSWORD" not in listing.stdout
    assert json.loads(listing.stdout)[0]["target"] == "mailtos://mail.example.invalid"


def test_a_person_has_at_most_ten_targets(store):
    for n in range(webhooks.MAX_HOOKS):
        webhooks.add(store, ANA, "webhook", f"https://hooks{n}.example.invalid/")
    with pytest.raises(InvalidOptionError, match="you have 10 targets, the most allowed"):
        webhooks.add(store, ANA, "webhook", "https://one-more.example.invalid/")
    assert webhooks.add(store, ADA, "webhook", "https://ada.example.invalid/")  # others are not counted


def test_the_upgrade_drops_the_answer_bodies_kept_before(tmp_path):
    from core.history.store import Store

    old = old_database(tmp_path, 16)
    old["hooks"].insert({"id": "h", "kind": "webhook", "url": "https://x.example/", "person": "ana"})
    old["deliveries"].insert({"id": "d", "hook_id": "h", "payload": "{}", "state": "delivered", "last_status": 200,
                              "last_answer": "internal admin page body"})
    old.close()
    store = Store(tmp_path)
    assert store.query("SELECT last_answer FROM deliveries") == [{"last_answer": "delivered"}]
    assert "expires_at" in {c.name for c in store.db["api_tokens"].columns}
