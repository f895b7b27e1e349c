"""The Fetcher's connection pools: one transport per origin, idle ones closed beyond a bound,
and the proxy the environment names, as httpx's own client would pick it."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import httpx
import pytest

from ocwwatch.fetch import pools
from ocwwatch.fetch.pools import OriginTransports, environment_proxy

pytestmark = pytest.mark.anyio


class Counted(httpx.AsyncBaseTransport):
    """A transport that only records that it was made and closed."""

    made: ClassVar[list[str]] = []
    closed: ClassVar[list[str]] = []

    def __init__(self, url: str) -> None:
        self.url = url
        Counted.made.append(url)

    async def aclose(self) -> None:
        Counted.closed.append(self.url)


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    Counted.made, Counted.closed = [], []


async def test_one_transport_per_origin() -> None:
    """Two URLs of one origin share a transport; another port or scheme gets its own."""
    transports = OriginTransports(Counted, per_origin=True)
    seen = []
    for url in ("http://a.test/x", "HTTP://A.test/y", "http://a.test:8080/", "https://a.test/"):
        async with transports.lease(url) as transport:
            seen.append(transport)
    assert seen[0] is seen[1]
    assert len({id(t) for t in seen}) == 3
    await transports.aclose()
    assert len(Counted.closed) == 3


async def test_idle_origins_beyond_the_bound_are_closed_least_recent_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past MAX_POOLS origins, the least recently used idle ones are closed; busy ones stay."""
    monkeypatch.setattr(pools, "MAX_POOLS", 2)
    transports = OriginTransports(Counted, per_origin=True)
    async with transports.lease("http://busy.test/"):
        for host in ("one", "two", "three"):
            async with transports.lease(f"http://{host}.test/"):
                pass
        await asyncio.sleep(0)  # closing runs in the background, off the request's time
        assert Counted.closed == ["http://one.test/", "http://two.test/"]
    await transports.aclose()


async def test_a_given_transport_is_shared_by_every_origin() -> None:
    transports = OriginTransports(Counted, per_origin=False)
    for url in ("http://a.test/", "http://b.test/"):
        async with transports.lease(url):
            pass
    assert Counted.made == ["http://a.test/"]


def test_environment_proxy_follows_the_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    assert environment_proxy("https://ocw.mit.edu/") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("NO_PROXY", "archive.org")
    assert environment_proxy("https://ocw.mit.edu/") == "http://proxy.test:3128"
    assert environment_proxy("http://ocw.mit.edu/") is None
    assert environment_proxy("https://archive.org/wayback/available") is None
