"""What a (hostile) model mirror may send, checked before huggingface_hub builds cache paths from it: file names
and paths (relative, no ``..``), and the ETag and commit headers that name cache files (plain hex digests)."""

from __future__ import annotations

import re

from ..errors import ModelLoadError


class DownloadError(ModelLoadError):
    """A download that cannot start or finish (no network, no room, a model that cannot be downloaded)."""


SAFE_PART = re.compile(r"[A-Za-z0-9._-]+")
HEX_DIGEST = re.compile(r"[0-9a-fA-F]{7,128}")


def safe_name(text: str | None, what: str) -> str:
    """A file name or path from the hub (or a mirror of it): relative, no ``..``, no control characters; refused
    with a :class:`DownloadError` otherwise (huggingface_hub would build cache paths from it)."""
    text = str(text or "")
    parts = text.split("/")
    if not text or text.startswith("/") or "\\" in text or any(p in ("", ".", "..") or not SAFE_PART.fullmatch(p)
                                                               for p in parts):
        raise DownloadError(f"the model mirror sent an unsafe {what} {text[:80]!r}: refused, nothing was written "
                            "outside the cache. Check HF_ENDPOINT")
    return text


def check_headers(response) -> None:
    """Every response from the hub, before huggingface_hub reads it: the ETag names a blob file in the cache and
    X-Repo-Commit a snapshot folder, so both must be plain hex digests."""
    for header in ("ETag", "X-Linked-Etag", "X-Repo-Commit"):
        value = response.headers.get(header)
        if value is None:
            continue
        value = value.removeprefix("W/").strip('"')
        if not HEX_DIGEST.fullmatch(value):
            raise DownloadError(f"the model mirror sent an unsafe {header} {value[:80]!r} (a file name in the cache "
                                "must be a hex digest): refused, nothing was written. Check HF_ENDPOINT")


_guarded = False


def guard_hub_client() -> None:
    """Every request huggingface_hub makes in this process goes through :func:`check_headers` (its public
    ``set_client_factory``); once."""
    global _guarded
    if _guarded:
        return
    from huggingface_hub import set_client_factory  # huggingface_hub loads when a cache or the hub is looked at
    # huggingface_hub loads when a cache or the hub is looked at
    from huggingface_hub.utils._http import default_client_factory

    def factory():
        client = default_client_factory()
        client.event_hooks["response"] = [*client.event_hooks.get("response", []), check_headers]
        return client

    set_client_factory(factory)
    _guarded = True
