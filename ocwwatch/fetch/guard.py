"""The address guard: which addresses any request of ocwwatch may reach (issue 9).

Owns the rule and the name resolution behind it. Every host is resolved here, every address it
resolves to is judged, and connections are made only to addresses that passed (`GuardedBackend`),
so a name that answers differently the second time cannot slip through. Refused: loopback,
private, link-local, shared (CGNAT), unspecified, multicast and reserved addresses, also when
written as IPv4-mapped, IPv4-compatible, NAT64, 6to4 or Teredo IPv6. An origin (scheme, host,
port) that the list itself names, or that the settings allow, is the one exception.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import httpcore

from ocwwatch.fetch.urls import is_reserved_invalid
from ocwwatch.urls import HostKind, InvalidURLError, WebURL, parse_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses the name resolves to (text), or socket.gaierror.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

RESOLVED_TTL_SECONDS = 60.0  # how long an answer of the resolver is reused
RESOLVED_KEPT = 1024  # names whose answers are kept
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
ALLOW_HINT = "to check an internal site on purpose, name its origin in [http] allowed_private_hosts"


class AddressRefusedError(Exception):
    """A connection the guard will not make; the message says which address and why."""


@dataclass(frozen=True)
class Refusal:
    """Why a URL must not be fetched: a sentence for the report."""

    reason: str


def address_problem(address: IPAddress) -> str | None:
    """What makes `address` one ocwwatch must not reach ("a loopback address"), or None."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        problem = address_problem(embedded)
        return f"{problem} written as IPv6" if problem else None
    checks = (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    )
    for attribute, problem in checks:
        if getattr(address, attribute):
            return problem
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "a site-local address"
    if not address.is_global:
        return "an address that is not globally routable (shared or special-purpose)"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, compatible, NAT64, 6to4, Teredo)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    packed = int(address)
    if address in NAT64 or address in NAT64_LOCAL:
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    if packed >> 32 == 0 and packed > 1:  # ::a.b.c.d, the deprecated IPv4-compatible form
        return ipaddress.IPv4Address(packed)
    return None


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """The addresses the operating system resolves `host` to (raises socket.gaierror)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:
        # A name the WHATWG parser lets through but no resolver takes (an empty label, one of
        # 64 characters or more): Python's IDNA codec refuses it before any lookup. It is a
        # name that does not resolve, not a crash of the fetch (or of every fetch beside it).
        raise socket.gaierror(socket.EAI_NONAME, f"{host}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# An origin, the unit in which private addresses are allowed: scheme, host, port.
Origin = tuple[str, str, int | None]


def origin_key(scheme: str, host: str, port: int | None) -> Origin:
    """`http://h:8080` and `https://h:8080` are two origins: naming one allows only it."""
    return scheme.lower(), host.lower().strip("[]"), port


class AddressGuard:
    """Judges every URL and every connection of one run against the address rule.

    `allowed_origins` are URLs or `scheme://host:port` texts whose origin may be private (the
    list's own, the settings'). `resolver` None judges only what the URL itself says (a replay
    never asks a resolver); `proxied` says which URLs go through a proxy, which resolves them.
    """

    def __init__(
        self,
        allowed_origins: Iterable[str] = (),
        *,
        resolver: Resolver | None = system_resolver,
        proxied: Callable[[str], bool] = lambda _url: False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.allowed: frozenset[Origin] = frozenset(
            origin_key(url.scheme, url.host, url.port) for url in _parse_all(allowed_origins)
        )
        # A connection knows its host and port, not the scheme of the request it is for; it
        # may use a private address when an allowed origin has that host and port, as before
        # origins had schemes. The scheme is held to before every request (`admit`).
        self._allowed_endpoints = frozenset((host, port) for _scheme, host, port in self.allowed)
        self._resolver = resolver
        self._proxied = proxied
        self._clock = clock
        self._resolved: OrderedDict[tuple[str, int], tuple[float, tuple[str, ...]]] = OrderedDict()

    def is_allowed(self, url: WebURL) -> bool:
        """Whether `url`'s origin (scheme, host and port) is one that may be private."""
        return origin_key(url.scheme, url.host, url.port) in self.allowed

    def refusal(self, url: WebURL) -> Refusal | None:
        """Why `url` must not be fetched, judging only what it says (no resolver asked)."""
        if not url.is_web:
            return Refusal(f"not an http(s) URL: {url.href}")
        if self.is_allowed(url):
            return None
        problem = literal_problem(url)
        if problem is None:
            return None
        return Refusal(f"{url.host} is {problem}; refused ({ALLOW_HINT})")

    async def admit(self, url: WebURL) -> Refusal | None:
        """`refusal`, and for a name the addresses it resolves to: refused when none may be
        reached. A name that does not resolve is not refused here: the request says so."""
        refused = self.refusal(url)
        if refused is not None or url.host_kind is not HostKind.NAME:
            return refused
        if self._resolver is None or self._proxied(url.request_url):
            return None
        if self.is_allowed(url):
            return None
        try:
            # Not `addresses`: that would let https://h:p through where only http://h:p is
            # allowed, since a connection knows no scheme.
            await self._passed(url.host, url.port or 0, allowed=False)
        except AddressRefusedError as exc:
            return Refusal(str(exc))
        except OSError:
            return None
        return None

    async def addresses(self, host: str, port: int) -> tuple[str, ...]:
        """The addresses of `host` a connection to `port` may use: any, when an allowed origin
        has that host and port, else the public ones. Raises AddressRefusedError when none,
        socket.gaierror when the name does not resolve."""
        endpoint = origin_key("", host, port)[1:]
        return await self._passed(host, port, allowed=endpoint in self._allowed_endpoints)

    async def _passed(self, host: str, port: int, *, allowed: bool) -> tuple[str, ...]:
        """`host`'s addresses, each (unless `allowed`) judged by the address rule."""
        literal = _ip_or_none(host)
        if literal is not None:
            resolved: tuple[str, ...] = (str(literal),)
        else:
            resolved = await self._resolve(host, port)
        if allowed:
            return resolved
        passed = tuple(a for a in resolved if address_problem(ipaddress.ip_address(a)) is None)
        if not passed:
            first = resolved[0] if resolved else host
            problem = address_problem(ipaddress.ip_address(first)) if resolved else "no address"
            shown = host if first == host else f"{host} resolves to {first}, which"
            raise AddressRefusedError(f"{shown} is {problem}; refused ({ALLOW_HINT})")
        return passed

    async def _resolve(self, host: str, port: int) -> tuple[str, ...]:
        key = (host.lower(), port)
        now = self._clock()
        cached = self._resolved.get(key)
        if cached is not None and cached[0] > now:
            self._resolved.move_to_end(key)
            return cached[1]
        resolver = self._resolver or system_resolver
        answer = tuple(await resolver(host, port))
        self._resolved[key] = (now + RESOLVED_TTL_SECONDS, answer)
        while len(self._resolved) > RESOLVED_KEPT:
            self._resolved.popitem(last=False)
        return answer

    async def is_public(self, text: str) -> bool:
        """Whether `text` is a URL whose host is public (and so may be named to a third party,
        such as the Wayback Machine): a literal or a resolved name that the rule lets through,
        never an origin that is allowed only as an exception."""
        try:
            url = parse_url(text)
        except InvalidURLError:
            return False
        if not url.is_web or literal_problem(url) is not None:
            return False
        if url.host_kind is not HostKind.NAME or self._resolver is None:
            return not is_reserved_invalid(url.host)
        if is_reserved_invalid(url.host):
            return False  # never looked up (RFC 6761, 6.4), never public
        try:
            resolved = await self._resolve(url.host, url.port or 0)
        except OSError:
            return False
        return bool(resolved) and all(
            address_problem(ipaddress.ip_address(a)) is None for a in resolved
        )


def literal_problem(url: WebURL) -> str | None:
    """What the URL's host says of itself: an IP literal's problem, or `localhost` names'."""
    if url.host_kind is HostKind.NAME:
        name = url.host.rstrip(".")
        if name == "localhost" or name.endswith(".localhost"):
            return "a loopback name (localhost)"
        return None
    return address_problem(ipaddress.ip_address(url.host))


def _ip_or_none(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _parse_all(texts: Iterable[str]) -> list[WebURL]:
    parsed = []
    for text in texts:
        try:
            parsed.append(parse_url(text))
        except InvalidURLError:
            continue
    return parsed


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the guard let through.

    The name is resolved once, by the guard; the socket is opened to the address itself (TLS
    still checks the certificate against the name, which httpcore passes as server_hostname).
    """

    def __init__(
        self, guard: AddressGuard, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self._guard = guard
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._guard.addresses(host, port)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"{host}: {exc}") from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefusedError(f"unix socket {path}: ocwwatch connects over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
