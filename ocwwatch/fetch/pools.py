"""Connection pools for the Fetcher: one transport, and so one pool, per origin (h1.py's for a
direct connection, httpx's through a proxy).

httpx's pool scans every connection it holds each time it hands one out or takes one back
(asking each idle socket whether the server closed it: a system call), and it counts all its
connections, busy or not, against `max_keepalive_connections`, closing idle ones once more than
that are open. A crawl keeps several hosts busy at once, so one shared pool made every request
pay for every host's connections and reconnect often. A pool per origin holds only that
origin's connections, at most the per-host concurrency: short scans, no early closing.

Pools of origins not in use are closed, least recently used first, beyond `MAX_POOLS`, so that
a crawl meeting hundreds of sites does not keep a socket open to each of them. Each transport
goes through the proxy the environment names for its origin (HTTP_PROXY, HTTPS_PROXY,
ALL_PROXY, NO_PROXY), as an httpx client would.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import urllib.request
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from ocwwatch.errors import ConfigError

MAX_POOLS = 32  # origins whose idle connections are kept open


@dataclass
class _Pool:
    transport: httpx.AsyncBaseTransport
    in_flight: int = 0


class OriginTransports:
    """Lends the transport for a URL's origin; closes idle origins' beyond MAX_POOLS.

    With `per_origin=False` every URL shares one transport: for a transport given from outside
    (a replay, a test's mock), which keeps no connections of its own.
    """

    def __init__(
        self, make: Callable[[str], httpx.AsyncBaseTransport], *, per_origin: bool
    ) -> None:
        self._make = make
        self._per_origin = per_origin
        self._pools: OrderedDict[str, _Pool] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def lease(self, url: str) -> AsyncIterator[httpx.AsyncBaseTransport]:
        """The transport for `url`'s origin, counted as busy until the block ends."""
        origin = _origin(url) if self._per_origin else ""
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = _Pool(self._make(url))
        self._pools.move_to_end(origin)
        pool.in_flight += 1
        try:
            yield pool.transport
        finally:
            pool.in_flight -= 1
            if len(self._pools) > MAX_POOLS:
                self._close_idle()

    async def aclose(self) -> None:
        pools = list(self._pools.values())
        self._pools.clear()
        await asyncio.gather(*self._closing, *(pool.transport.aclose() for pool in pools))

    def _close_idle(self) -> None:
        """Close the least recently used idle origins beyond the bound, in the background:
        never on the time of the request that happened to be last."""
        idle = [origin for origin, pool in self._pools.items() if pool.in_flight == 0]
        surplus = idle[: len(self._pools) - MAX_POOLS]  # least recently used first
        for origin in surplus:
            task = asyncio.create_task(self._pools.pop(origin).transport.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)


PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")  # the ones a web request may use
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def check_proxy_environment(environ: dict[str, str] | None = None) -> None:
    """Refuse a proxy variable that names no proxy URL, as one configuration error naming it
    (issue 11): else every request would fail alone, each with its own traceback."""
    problems = []
    for name, value in sorted((environ if environ is not None else dict(os.environ)).items()):
        if name.lower() not in PROXY_VARIABLES or not value.strip():
            continue
        problem = _proxy_problem(value.strip())
        if problem is not None:
            problems.append(f"environment: {name}={value!r}: {problem}")
    if problems:
        raise ConfigError("\n".join(problems))


def _proxy_problem(value: str) -> str | None:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a port that is no number raises here
    except ValueError as exc:
        return f"not a proxy URL ({exc}); write scheme://host:port, e.g. http://proxy:3128"
    if parts.scheme.lower() not in PROXY_SCHEMES or not parts.hostname:
        return "not a proxy URL; write scheme://host:port, e.g. http://proxy.example:3128"
    if parts.scheme.lower().startswith("socks") and importlib.util.find_spec("socksio") is None:
        return "a SOCKS proxy needs the socksio package (pip install 'httpx[socks]')"
    return None


def environment_proxy(url: str) -> str | None:
    """The proxy the environment names for `url`, or None (none set, or NO_PROXY says so)."""
    proxies = urllib.request.getproxies_environment()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not proxies or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxies.get(parts.scheme.lower()) or proxies.get("all")


def _origin(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""  # httpx will refuse it; any pool can say so
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"
