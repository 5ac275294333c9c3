"""Webhooks and chat notifications when a job ends (issue 31, 3): a signed JSON POST to a receiver on loopback,
retried with backoff, every delivery kept; a receiver that hangs never holds the queue; apprise to a JSON target.
Receivers here are on loopback, so targets are added and sent with ``allow_local`` (V2I_WEBHOOKS_ALLOW_LOCAL)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook

from core import Person, webhooks
from core.config.recipes import GenerationOptions
from core.errors import InvalidOptionError
from core.execution.jobs import JobQueue
from core.execution.worker import Worker
from core.generation.request import GenerationRequest

ANA = Person("ana", "Ana", "member", "cli")
FAST = GenerationOptions(steps=2, width=64, height=64)


class Receiver:
    """A loopback HTTP receiver: records each request; answers from ``statuses`` (then 200); may hold requests."""

    def __init__(self, statuses=(), hold: threading.Event | None = None):
        self.requests, self.statuses, self.hold, self.arrived = [], list(statuses), hold, threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                receiver.arrived.set()
                if receiver.hold is not None:
                    receiver.hold.wait(60)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    made = []

    def make(**kw):
        made.append(Receiver(**kw))
        return made[-1]

    yield make
    for r in made:
        if r.hold is not None:
            r.hold.set()
        r.close()


def run_one(store, settings, models, wav, public_url=""):
    job_id = JobQueue(store).submit(wav, GenerationRequest(transcript="a fox", language="en", options=FAST),
                                    created_by=ANA.id)
    Worker(settings, models, store, embed=False).run_pending()
    return JobQueue(store).get(job_id)


def test_a_done_job_posts_a_body_signed_as_standard_webhooks_with_the_public_link(store, settings, models, wav,
                                                                                   receiver):
    got = receiver()
    hook = webhooks.add(store, ANA, "webhook", got.url, allow_local=True)
    assert hook["secret"].startswith("whsec_")
    job = run_one(store, settings, models, wav)
    assert webhooks.Dispatcher(store, "https://team.example/v2i", allow_local=True).send_due() == 1
    (headers, body), = got.requests
    event = Webhook(hook["secret"]).verify(body, headers)  # the standardwebhooks library's own check
    (delivery,) = webhooks.deliveries(store, ANA)
    assert headers["webhook-id"] == delivery["id"]
    assert (event["event"], event["job_id"], event["generation_id"]) == ("job.done", job["id"], job["generation_id"])
    assert event["link"] == f"https://team.example/v2i/history?id={job['generation_id']}"
    assert (delivery["state"], delivery["attempts"], delivery["last_status"]) == ("delivered", 1, 200)
    assert delivery["reason"] == "HTTP 200 OK" and delivery["target"] == "http://127.0.0.1"
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(webhooks.new_secret()).verify(body, headers)  # another secret does not verify it
    stale = {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 6 * 60)}
    with pytest.raises(Exception, match="too old"):
        Webhook(hook["secret"]).verify(body, stale)  # the 5-minute replay window


def test_without_a_public_url_the_link_is_present_and_null(store, settings, models, wav, receiver):
    got = receiver()
    webhooks.add(store, ANA, "webhook", got.url, allow_local=True)
    run_one(store, settings, models, wav)
    webhooks.Dispatcher(store, allow_local=True).send_due()
    (_, body), = got.requests
    event = json.loads(body)
    assert "link" in event and event["link"] is None


def test_a_receiver_that_answers_500_twice_gets_the_third_try(store, settings, models, wav, receiver, monkeypatch):
    monkeypatch.setattr(webhooks, "FIRST_RETRY_S", 0.0)  # the backoff's schedule, without its waiting
    got = receiver(statuses=[500, 500])
    webhooks.add(store, ANA, "webhook", got.url, allow_local=True)
    run_one(store, settings, models, wav)
    dispatcher = webhooks.Dispatcher(store, allow_local=True)
    for _ in range(3):
        dispatcher.send_due()
    (delivery,) = webhooks.deliveries(store, ANA)
    assert (delivery["state"], delivery["attempts"], len(got.requests)) == ("delivered", 3, 3)
    assert dispatcher.send_due() == 0  # delivered: never again


def test_retries_back_off_and_stop_after_an_hour(store, settings, models, wav, receiver):
    got = receiver(statuses=[503] * 10)
    webhooks.add(store, ANA, "webhook", got.url, allow_local=True)
    run_one(store, settings, models, wav)
    webhooks.Dispatcher(store, allow_local=True).send_due()
    (delivery,) = webhooks.deliveries(store, ANA)
    assert delivery["state"] == "pending" and delivery["last_status"] == 503
    assert delivery["reason"] == "HTTP 503 Service Unavailable"
    assert webhooks.Dispatcher(store, allow_local=True).send_due() == 0  # not yet: the next try is 10 s later
    with store.write() as db:  # an hour on: its next try would be past the hour, so it is the last
        db.execute("UPDATE deliveries SET next_at = created_at, attempts = 9, "
                   "created_at = '2000-01-01T00:00:00+00:00'")
    webhooks.Dispatcher(store, allow_local=True).send_due()
    assert webhooks.deliveries(store, ANA)[0]["state"] == "failed"


def test_a_receiver_that_hangs_never_holds_the_queue(store, settings, models, wav, receiver):
    hold = threading.Event()
    got = receiver(hold=hold)
    webhooks.add(store, ANA, "webhook", got.url, allow_local=True)
    worker = Worker(settings.with_overrides(webhooks_allow_local=True), models, store, embed=False, poll_seconds=0.05).start()
    try:
        queue = JobQueue(store)
        first = queue.submit(wav, GenerationRequest(transcript="one", language="en", options=FAST), created_by=ANA.id)
        assert got.arrived.wait(120)  # the first job's notification is being received... and held
        second = queue.submit(wav, GenerationRequest(transcript="two", language="en", options=FAST), created_by=ANA.id)
        worker.wake()
        for _ in range(600):
            if queue.get(second)["status"] == "done":
                break
            threading.Event().wait(0.1)
        assert queue.get(first)["status"] == queue.get(second)["status"] == "done"
        assert not hold.is_set()  # the receiver still holds the first delivery
    finally:
        hold.set()
        worker.stop()


def test_apprise_tells_a_chat_target_with_the_images_link(store, settings, models, wav, receiver):
    got = receiver()
    webhooks.add(store, Person("ada", "Ada", "admin", "cli"), "apprise", got.url.replace("http://", "json://"),
                 allow_local=True, team=True)  # the generic json:// kind: an admin's
    job = run_one(store, settings, models, wav)
    webhooks.Dispatcher(store, "https://team.example/v2i", allow_local=True).send_due()
    (headers, body), = got.requests
    message = json.loads(body)
    assert message["title"] == "Voice to Image"
    assert f"https://team.example/v2i/history?id={job['generation_id']}" in message["message"]


def test_a_webhook_must_be_https_except_to_this_machine_and_team_targets_are_for_admins(store):
    with pytest.raises(InvalidOptionError, match="must be an https:// URL"):
        webhooks.add(store, ANA, "webhook", "http://hooks.example/x")
    with pytest.raises(InvalidOptionError, match="is not a chat or mail service"):
        webhooks.add(store, ANA, "apprise", "nonsense://x")
    with pytest.raises(Exception, match="only admins"):
        webhooks.add(store, ANA, "webhook", "https://hooks.example/x", team=True)
    assert webhooks.add(store, Person("ada", "Ada", "admin", "cli"), "webhook", "https://hooks.example/x", team=True)
