"""A model hub on loopback, for download tests: it serves folders in the Hugging Face hub's HTTP layout
(``/api/models/<repo>/revision/<rev>``, ``/api/models/<repo>/tree/<rev>``, ``/<repo>/resolve/<rev>/<file>``
with HEAD, ETag, X-Repo-Commit and byte ranges), so huggingface_hub's own download code runs against it
through ``HF_ENDPOINT``. It records every request, and can stall a file part way to stand for a network that
drops: the client retries it, or the test kills the download and starts it again.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Repo:
    commit: str
    files: dict[str, bytes]


@dataclass
class Hub:
    repos: dict[str, Repo] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Range header
    stall: dict[str, int] = field(default_factory=dict)  # file name -> bytes to send before stalling (once)
    drop: dict[str, int] = field(default_factory=dict)  # file name -> bytes to send before closing the connection (once)
    stalled: threading.Event = field(default_factory=threading.Event)
    sent: dict[str, int] = field(default_factory=dict)  # file name -> body bytes sent in all
    # A hostile mirror: a file's ETag header replaced, or bytes served other than those listed (with a matching
    # Content-Length, as a truncated or tampered body would come).
    etag: dict[str, str] = field(default_factory=dict)
    serve_bytes: dict[str, bytes] = field(default_factory=dict)
    url: str = ""

    def add_folder(self, repo_id: str, folder: Path, commit: str | None = None) -> Repo:
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        commit = commit or hashlib.sha1(repo_id.encode() + b"".join(files.values())).hexdigest()
        self.repos[repo_id] = Repo(commit, files)
        return self.repos[repo_id]

    def ranges(self, filename: str) -> list[str | None]:
        return [r for method, path, r in self.requests if method == "GET" and path.endswith("/" + filename)]


def _handler(hub: Hub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_HEAD(self):
            self._serve(body=False)

        def do_GET(self):
            self._serve(body=True)

        def _serve(self, body: bool):
            hub.requests.append((self.command, self.path.split("?")[0], self.headers.get("Range")))
            path = self.path.split("?")[0]
            if m := re.fullmatch(r"/api/models/(.+?)/revision/([^/]+)", path):
                return self._repo_info(m[1], m[2])
            if m := re.fullmatch(r"/api/models/(.+?)/tree/([^/]+)(/.*)?", path):
                return self._tree(m[1], m[2])
            if m := re.fullmatch(r"/(.+?)/resolve/([^/]+)/(.+)", path):
                return self._file(m[1], m[2], m[3], body)
            self._json({"error": "not found"}, 404)

        def _repo(self, repo_id: str, revision: str) -> Repo | None:
            repo = hub.repos.get(repo_id)
            if repo is None or revision not in ("main", repo.commit):
                self._json({"error": f"{repo_id}@{revision} not found"}, 404,
                           {"X-Error-Code": "RepoNotFound" if repo is None else "RevisionNotFound"})
                return None
            return repo

        def _repo_info(self, repo_id: str, revision: str):
            if repo := self._repo(repo_id, revision):
                self._json({"id": repo_id, "modelId": repo_id, "sha": repo.commit, "private": False,
                            "siblings": [{"rfilename": name} for name in repo.files]})

        def _tree(self, repo_id: str, revision: str):
            if repo := self._repo(repo_id, revision):
                self._json([{"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest(),
                             "lfs": {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 130}}
                            for name, data in repo.files.items()])

        def _file(self, repo_id: str, revision: str, name: str, body: bool):
            repo = self._repo(repo_id, revision)
            if repo is None:
                return
            if name not in repo.files:
                return self._json({"error": "entry not found"}, 404, {"X-Error-Code": "EntryNotFound"})
            data = hub.serve_bytes.get(name, repo.files[name])
            start = 0
            if body and (r := self.headers.get("Range")):
                start = int(re.match(r"bytes=(\d+)-", r)[1])
            part = data[start:]
            self.send_response(206 if start else 200)
            headers = {"X-Repo-Commit": repo.commit,
                       "ETag": hub.etag.get(name, f'"{hashlib.sha256(repo.files[name]).hexdigest()}"'),
                       "Content-Length": str(len(part)), "Accept-Ranges": "bytes",
                       "Content-Type": "application/octet-stream"}
            if start:
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if not body:
                return
            hang = name in hub.stall  # else a drop: the connection breaks after ``cut`` bytes
            cut = hub.stall.pop(name, None) if hang else hub.drop.pop(name, None)
            if cut is not None:  # send part of it, then hang or break as a failing network does
                self.wfile.write(part[:cut])
                self.wfile.flush()
                hub.sent[name] = hub.sent.get(name, 0) + cut
                if hang:
                    hub.stalled.set()
                    time.sleep(3600)
                self.close_connection = True
                return
            self.wfile.write(part)
            hub.sent[name] = hub.sent.get(name, 0) + len(part)

        def _json(self, payload, status: int = 200, extra: dict | None = None):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

    return Handler


def serve(hub: Hub) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    server.daemon_threads = True
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
