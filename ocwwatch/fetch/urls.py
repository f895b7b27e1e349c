"""URL rules of the fetch stage: the one normal form used to compare URLs, and the safety check.

Owns what a URL may be fetched at all (http or https, no private address when the policy says so,
never a name that cannot resolve). Pure functions of the text; nothing here resolves or connects.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache

import httpx

from ocwwatch.models import FailureKind

DEFAULT_PORTS = {"http": 80, "https": 443}
CACHED_URLS = 8192  # URLs whose normal form and host are remembered (about 2 MB)


@lru_cache(maxsize=CACHED_URLS)
def normalise_url(url: str) -> str:
    """Lower-case scheme and host, drop the default port, the user info and the fragment.

    Raises ValueError when the text is not a URL httpx can parse. Cached: a crawl asks about
    the same URL several times (its frontier key, its redirect chain, its validators), and
    httpx's parser checks every character in Python.
    """
    parsed = _parse(url)
    scheme = parsed.scheme.lower()
    host = parsed.host.lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    port = parsed.port
    netloc = host if port is None or DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    return f"{scheme}://{netloc}{parsed.raw_path.decode('ascii')}"


@lru_cache(maxsize=CACHED_URLS // 4)  # an httpx.URL weighs about 1 kB; recent ones suffice
def parsed_url(url: str) -> httpx.URL:
    """`url` parsed by httpx (immutable, so shared): a redirect, a retry or the next check of
    the same URL does not parse it again. Raises ValueError when httpx cannot parse it."""
    return _parse(url)


def request_host(url: str) -> str:
    """The lower-case host httpx will connect to for `url` (politeness is per host).

    Raises ValueError when the text is not a URL httpx can parse.
    """
    return parsed_url(url).host.lower()


def check_target(url: str, *, allow_private_addresses: bool) -> tuple[FailureKind, str] | None:
    """Say why `url` must not be fetched (its failure kind and a detail), or None when it may.

    An unparsable URL or a scheme other than http(s) is PROTOCOL; the caller turns that into
    BAD_REDIRECT when the URL came from a Location header. A name under `.invalid` is DNS.
    """
    try:
        parsed = _parse(url)
    except ValueError as exc:
        return FailureKind.PROTOCOL, str(exc)
    if parsed.scheme.lower() not in DEFAULT_PORTS:
        return FailureKind.PROTOCOL, f"not an http(s) URL: {url}"
    if not parsed.host:
        return FailureKind.PROTOCOL, f"URL has no host: {url}"
    if is_reserved_invalid(parsed.host):
        return FailureKind.DNS, f"{parsed.host}: names under .invalid never resolve (RFC 6761, 6.4)"
    if not allow_private_addresses and is_private_host(parsed.host):
        return FailureKind.BLOCKED_ADDRESS, f"private or loopback address refused: {parsed.host}"
    return None


def is_reserved_invalid(host: str) -> bool:
    """True for `invalid` and every name under it, which must fail without a lookup.

    RFC 6761, section 6.4: applications "SHOULD recognize 'invalid' names as special and SHOULD
    NOT attempt to look up" them; asking the resolver would send a query for nothing.
    """
    name = host.lower().rstrip(".")
    return name == "invalid" or name.endswith(".invalid")


def is_private_host(host: str) -> bool:
    """True for `localhost` names and IP literals that are not globally routable.

    Only literals are judged: a public name that resolves to a private address needs a resolver
    hook, which this stage does not have yet.
    """
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = _ip_literal(name)
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    # Resolvers accept legacy IPv4 spellings ("127.1", "2130706433", "0x7f.1"); so must we.
    if not host or not all(c in "0123456789abcdefx." for c in host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _parse(url: str) -> httpx.URL:
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"not a valid URL: {url!r} ({exc})") from exc
