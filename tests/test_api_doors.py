"""The API's doors, locked (issue 44: 4, 5, 7, 8, 15): the token, the role, the declared length and the quota are
checked before a byte of the body is read, and the body is capped while it is read; a person removed from the
gate loses their tokens; the rate limit is per person; tokens expire and record their use."""

from __future__ import annotations

import select
import socket

import httpx
import pytest

from core import JobQueue, Person, Store, accounts, audit, tokens
from core.errors import InvalidOptionError
from core.generation.synth import recording
from test_api import auth, serve_api

ADA = Person("ada", "Ada", "admin", "cli")


@pytest.fixture(scope="module")
def api(tiny_models_dir, tmp_path_factory):
    """A real server behind the per-person passwords gate (accounts = true), its temp folder watched."""
    folder = tmp_path_factory.mktemp("doors")
    (folder / ".streamlit").mkdir()
    (folder / ".streamlit" / "secrets.toml").write_text("accounts = true\nviewers = [\"vera\"]\n")
    (folder / "tmp").mkdir()
    server = serve_api(folder, tiny_models_dir, cwd=folder, V2I_API_RATE_PER_MINUTE="30", V2I_MAX_UPLOAD_MB="5",
                       V2I_MAX_QUEUED_PER_PERSON="2", HOME=str(folder), TMPDIR=str(folder / "tmp"))
    url, port = next(server)
    store = Store(folder / "data")
    for name in ("bob", "carol", "vera", "rita"):
        accounts.add_person(store, name, ADA)
    people = {name: tokens.create(store, Person(name, name), "test")["token"] for name in ("bob", "carol", "vera")}
    yield url, store, people, folder / "tmp", port
    server.close()


def raw_post(port: int, headers: dict[str, str], body_bytes: int, chunked: bool = False) -> tuple[int, int]:
    """POST /api/v1/jobs over a bare socket, sending up to ``body_bytes`` of a form (the recording's part, then
    zeros) until the server answers; returns the status and how many body bytes went out before the answer."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall(f"POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n".encode())
    preamble = (b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n'
                b"Content-Type: audio/wav\r\n\r\n")
    frame = (lambda data: b"%x\r\n%s\r\n" % (len(data), data)) if chunked else (lambda data: data)
    sent, chunk, answer = 0, b"\0" * 2 ** 16, b""
    try:
        sock.sendall(frame(preamble))
        sent = len(preamble)
        while sent < body_bytes and not select.select([sock], [], [], 0)[0]:
            sock.sendall(frame(chunk))  # blocking: a chunk goes out whole, or the server stopped reading
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass  # the server answered and stopped reading: what it should do
    try:
        while b"\r\n" not in answer:
            more = sock.recv(4096)
            if not more:
                break
            answer += more
    finally:
        sock.close()
    return int(answer.split()[1]), sent


def test_without_a_token_a_huge_body_is_refused_before_it_is_read_and_nothing_lands(api):
    url, store, people, tmp, port = api
    status, sent = raw_post(port, {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(400 * 2**20)},
                            400 * 2 ** 20)
    assert status == 401 and sent < 50 * 2 ** 20  # answered long before 400 MB went out
    assert list(tmp.iterdir()) == [] and not store.query("SELECT * FROM jobs")


def test_a_viewer_and_an_over_long_declared_body_are_refused_before_reading(api):
    url, store, people, tmp, port = api
    viewer, _ = raw_post(port, {"Authorization": f"Bearer {people['vera']}", "Content-Length": str(3 * 2**20),
                                "Content-Type": "multipart/form-data; boundary=x"}, 3 * 2 ** 20)
    assert viewer == 403
    long, sent = raw_post(port, {"Authorization": f"Bearer {people['bob']}", "Content-Length": str(400 * 2**20),
                                 "Content-Type": "multipart/form-data; boundary=x"}, 400 * 2 ** 20)
    assert long == 413 and sent < 50 * 2 ** 20
    assert list(tmp.iterdir()) == [] and not store.query("SELECT * FROM jobs")


def test_a_body_without_a_length_stops_at_the_limit(api):
    url, store, people, tmp, port = api
    status, sent = raw_post(port, {"Authorization": f"Bearer {people['bob']}", "Transfer-Encoding": "chunked",
                                   "Content-Type": "multipart/form-data; boundary=x"}, 400 * 2 ** 20, chunked=True)
    assert status == 413 and sent < 100 * 2 ** 20
    assert list(tmp.iterdir()) == [] and not store.query("SELECT * FROM jobs")


def test_the_quota_is_checked_before_the_recording_is_decoded(api):
    url, store, people, tmp, port = api
    queue = JobQueue(store)
    queue.set_paused(True, ADA)
    try:
        for _ in range(2):
            made = httpx.post(f"{url}/api/v1/jobs", headers=auth(people["carol"]), data={"force": "true"},
                              files={"file": ("memo.wav", recording("wav"), "audio/wav")})
            assert made.status_code == 201, made.text
        refused = httpx.post(f"{url}/api/v1/jobs", headers=auth(people["carol"]),
                             files={"file": ("noise.wav", b"not audio at all", "audio/wav")})
        assert refused.status_code == 429 and "jobs waiting" in refused.json()["error"]  # not 422: never decoded
        unknown = httpx.post(f"{url}/api/v1/jobs", headers=auth(people["bob"]), data={"colour": "red"},
                             files={"file": ("memo.wav", recording("wav"), "audio/wav")})
        assert unknown.status_code == 422 and "colour" in unknown.json()["error"]
    finally:
        for job in queue.list("carol"):
            queue.cancel(job["id"])
        queue.set_paused(False, ADA)


def test_a_removed_persons_tokens_get_401_and_the_removal_is_audited(api):
    url, store, people, tmp, port = api
    token = tokens.create(store, Person("rita", "rita"), "phone")["token"]
    assert httpx.get(f"{url}/api/v1/generations", headers=auth(token)).status_code == 200
    assert accounts.remove_person(store, "Rita", ADA) == 1
    assert httpx.get(f"{url}/api/v1/generations", headers=auth(token)).status_code == 401
    never = tokens.create(store, Person("dave", "dave"), "no account")["token"]  # the gate never let dave in
    assert httpx.get(f"{url}/api/v1/generations", headers=auth(never)).status_code == 401
    details = [(r["target"], r["detail"]) for r in audit.trail(store, action="account")]
    assert ("rita", "account removed, 1 API token revoked, 0 sign-ins ended") in details and ("rita", "account added") in details


def test_the_rate_limit_is_per_person_whatever_number_of_tokens(api):
    url, store, people, tmp, port = api
    extra = [tokens.create(store, Person("vera", "vera"), f"extra {n}")["token"] for n in range(3)]
    statuses = [httpx.get(f"{url}/api/v1/generations", headers=auth(extra[n % 3] if n % 4 else people["vera"]))
                .status_code for n in range(40)]
    assert statuses.count(200) <= 30 and 429 in statuses


def test_tokens_expire_are_capped_per_person_and_note_their_last_use(store):
    made = tokens.create(store, Person("ana", "ana"), "short", days=1)
    assert made["expires_at"] > made["expires_at"][:4]  # an ISO timestamp about a day away
    assert tokens.person_of_token(store, made["token"]) == "ana"
    first = tokens.listed(store, Person("ana", "ana"))[0]["last_used_at"]
    assert first is not None
    tokens.person_of_token(store, made["token"])
    assert tokens.listed(store, Person("ana", "ana"))[0]["last_used_at"] == first  # at most once a minute
    with store.write() as db:
        db.execute("UPDATE api_tokens SET expires_at = '2000-01-01T00:00:00+00:00'")
    assert tokens.person_of_token(store, made["token"]) is None
    for n in range(tokens.MAX_LIVE):
        tokens.create(store, Person("ana", "ana"), f"t{n}")
    with pytest.raises(InvalidOptionError, match="10 live tokens"):
        tokens.create(store, Person("ana", "ana"), "one too many")
    with pytest.raises(InvalidOptionError, match="1 to 3650 days"):
        tokens.create(store, Person("bo", "bo"), "forever", days=0)
