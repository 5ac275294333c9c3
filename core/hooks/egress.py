"""Requests the server sends to addresses people gave it (webhooks, chat targets), and what keeps them from
reaching where people may not: the server's own network.

- Every name is resolved by the server, and every address it resolves to must be public: loopback, private,
  link-local (cloud metadata), multicast, reserved, unspecified and unique-local addresses are refused, IPv4 and
  IPv6 alike, including IPv4 carried inside IPv6 (mapped, 6to4, NAT64). ``allow_local`` (an admin's
  ``V2I_WEBHOOKS_ALLOW_LOCAL``, for trying a receiver out) lets loopback through, nothing else.
- The connection goes to the address that was checked (:class:`PinnedBackend`): no second lookup that a DNS
  rebinding could answer differently. TLS still checks the certificate against the URL's host name.
- One overall deadline covers connect, send and answer (:class:`DeadlineStream`), however slowly a receiver
  drips; at most ``MAX_ANSWER_BYTES`` of an answer are read, and only its status and reason are kept. No
  redirect is followed and no proxy from the environment is used.

``resolve_host`` is the one resolver: tests replace it to check refusals without connecting anywhere."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass

import httpcore
import httpx

from ..errors import InvalidOptionError

DEADLINE_S = 10.0  # connect + send + answer, for one delivery
MAX_ANSWER_BYTES = 4096  # read of an answer, at most; then the connection is closed
NAT64 = ipaddress.ip_network("64:ff9b::/96")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedTarget(InvalidOptionError):
    """A target the server will not send to (an internal address); the message names the host and why."""


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver), or [] when it resolves to none."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return list(dict.fromkeys(info[4][0] for info in infos))


def why_refused(address: Address, allow_local: bool = False) -> str | None:
    """Why the server may not send to ``address`` (a few words), or None when it may."""
    if address.version == 6:
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and address in NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            return why_refused(inner, allow_local)
        if address.teredo:
            return "a Teredo tunnel address"
    if address.is_loopback:
        return None if allow_local else "a loopback address (this machine)"
    checks = (("is_unspecified", "an unspecified address"),
              ("is_link_local", "a link-local address (where cloud metadata services answer)"),
              ("is_multicast", "a multicast address"), ("is_private", "a private address (an internal network)"),
              ("is_reserved", "a reserved address"))
    for attribute, words in checks:
        if getattr(address, attribute):
            return words
    if address.version == 6 and address in ipaddress.ip_network("fc00::/7"):
        return "a unique-local address (an internal network)"
    return None if address.is_global else "not a public address"


@dataclass(frozen=True)
class Target:
    """A URL's host and port, and the one address checked for it (what the connection goes to)."""

    host: str
    port: int
    address: str


def _host_and_port(url: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(url)
    try:
        port = parsed.port or (443 if parsed.scheme in ("https", "jsons", "xmls", "forms") else 80)
    except ValueError:
        raise InvalidOptionError(f"the address {shown(url)!r} has a port that is not a number") from None
    if not parsed.hostname:
        raise InvalidOptionError(f"the address {shown(url)!r} names no host")
    return parsed.hostname, port


def check_host(host: str, port: int, *, allow_local: bool = False, unresolved_ok: bool = False) -> Target | None:
    """The host's checked address: every address it resolves to must be public (``why_refused``); a literal
    address is checked as it is. An unresolvable name raises, or gives None with ``unresolved_ok`` (registering
    a target whose name does not resolve yet: it is checked again at every send)."""
    try:
        addresses = [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        if host.rstrip(".").lower() == "localhost" or host.rstrip(".").lower().endswith(".localhost"):
            addresses = ["127.0.0.1"]
        else:
            addresses = resolve_host(host, port)
    if not addresses:
        if unresolved_ok:
            return None
        raise RefusedTarget(f"{host} does not resolve to any address")
    for text in addresses:
        reason = why_refused(ipaddress.ip_address(text.split("%")[0]), allow_local)
        if reason:
            raise RefusedTarget(f"{host} is {text}, {reason}: the server sends only to public addresses")
    return Target(host, port, addresses[0])


def check_url(url: str, *, allow_local: bool = False, unresolved_ok: bool = False) -> Target | None:
    host, port = _host_and_port(url)
    return check_host(host, port, allow_local=allow_local, unresolved_ok=unresolved_ok)


def shown(url: str) -> str:
    """A target as others may see it: its scheme and host, never its path, query or credentials."""
    parsed = urllib.parse.urlsplit(str(url))
    return f"{parsed.scheme}://{parsed.hostname or ''}"


class Deadline:
    """Seconds left before a moment; past it, every network operation fails at once."""

    def __init__(self, seconds: float):
        self.seconds, self.at = seconds, time.monotonic() + seconds

    def left(self, timeout: float | None, error=httpcore.ReadTimeout) -> float:
        remaining = self.at - time.monotonic()
        if remaining <= 0:
            raise error(f"no answer within {self.seconds:g} s")
        return remaining if timeout is None else min(timeout, remaining)


class DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the deadline, however the other side drips."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: Deadline):
        self._stream, self._deadline = stream, deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._deadline.left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadline.left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        stream = self._stream.start_tls(ssl_context, server_hostname, self._deadline.left(timeout,
                                                                                           httpcore.ConnectTimeout))
        return DeadlineStream(stream, self._deadline)

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class PinnedBackend(httpcore.NetworkBackend):
    """Connects to the checked address whatever host the URL names (TLS still verifies that host's name)."""

    def __init__(self, address: str, deadline: Deadline):
        self.address, self.deadline, self._backend = address, deadline, httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options=None) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(self.address, port, self.deadline.left(timeout, httpcore.ConnectTimeout),
                                           local_address, socket_options)
        return DeadlineStream(stream, self.deadline)

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None):
        raise httpcore.ConnectError("no unix sockets")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def post(url: str, body: bytes, headers: dict[str, str], *, allow_local: bool = False,
         deadline_s: float | None = None) -> tuple[int, str]:
    """POST ``body`` to ``url`` once, to its checked address, within the deadline; returns the answer's status
    and reason phrase (the first ``MAX_ANSWER_BYTES`` of its body are read and dropped). Raises RefusedTarget for
    an internal address, httpcore's errors for the rest."""
    deadline = Deadline(DEADLINE_S if deadline_s is None else deadline_s)
    target = check_url(url, allow_local=allow_local)
    timeouts = {"connect": deadline.seconds, "read": deadline.seconds, "write": deadline.seconds,
                "pool": deadline.seconds}
    context = httpx.create_ssl_context()  # certifi's roots, as httpx uses
    with httpcore.ConnectionPool(ssl_context=context, network_backend=PinnedBackend(target.address, deadline),
                                 retries=0) as pool:
        with pool.stream("POST", url, headers=list(headers.items()), content=body,
                         extensions={"timeout": timeouts}) as answer:
            read = 0
            for chunk in answer.iter_stream():
                read += len(chunk)
                if read >= MAX_ANSWER_BYTES:
                    break
            reason = answer.extensions.get("reason_phrase", b"")
            return answer.status, reason.decode("ascii", "replace")[:80] if isinstance(reason, bytes) else ""
