"""Helpers for the deep-check tests (no tests here): tiny course sites served on 127.0.0.1,
configs that watch them, and one deep run stored the way `ocwwatch check --deep` stores it.
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx

from ocwwatch.config import Config, DeepSettings, Settings
from ocwwatch.fetch import Fetcher, FetchPolicy, Recording
from ocwwatch.models import LinkCheck, Resource, ResourceKind
from ocwwatch.pipeline import Outcomes, run_check
from ocwwatch.store import Store
from support.loopback import LoopbackServer

PAGES = Path(__file__).parent.parent / "fixtures" / "pages"
OCW_404 = (PAGES / "errors" / "404.html").read_bytes()
T0 = datetime(2026, 3, 1, 6, 17, tzinfo=UTC)
HOME = "/courses/c1/"
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def page(*links: str | tuple[str, str], title: str = "A course page") -> bytes:
    """A small HTML page; each link is an href, or (href, anchor text)."""
    anchors = []
    for link in links:
        href, text = link if isinstance(link, tuple) else (link, link)
        anchors.append(f'<li><a href="{html.escape(href)}">{html.escape(text)}</a></li>')
    body = f"<html><head><title>{title}</title></head><body><h1>{title}</h1><ul>"
    return (body + "".join(anchors) + "</ul></body></html>").encode()


def ok(body: bytes, content_type: str = "text/html; charset=utf-8", **headers: str) -> Recording:
    return Recording(
        url="", status=200, headers={"content-type": content_type, **headers}, body=body
    )


def status(code: int, body: bytes = b"", **headers: str) -> Recording:
    return Recording(
        url="", status=code, headers={"content-type": "text/html", **headers}, body=body
    )


def moved(code: int, location: str) -> Recording:
    return Recording(url="", status=code, headers={"location": location})


def pdf(**headers: str) -> Recording:
    return ok(PDF, "application/pdf", **headers)


class Served(Protocol):
    """A LoopbackServer or a MockSite: something that names URLs of its paths."""

    def url(self, path: str) -> str: ...


def config(
    server: Served,
    *,
    home: str = HOME,
    failures_before_finding: int = 3,
    **deep: Any,
) -> Config:
    """One ocw-course resource at `home` on the server, with the given [deep] settings."""
    resource = Resource(id="c1", url=server.url(home), kind=ResourceKind.OCW_COURSE)
    settings = Settings(failures_before_finding=failures_before_finding, deep=DeepSettings(**deep))
    return Config(settings=settings, resources=(resource,))


LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


class LoopbackOnly(httpx.AsyncBaseTransport):
    """A real transport that refuses, without resolving it, any host but a 127/8 literal.

    Found links can name any host (an OCW page links to dspace.mit.edu); tests must never look
    one up, so the guard answers a connect error instead, as an unreachable network would.
    """

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.refused: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            loopback = ipaddress.ip_address(request.url.host) in LOOPBACK
        except ValueError:
            loopback = False
        if not loopback:
            self.refused.append(str(request.url))
            raise httpx.ConnectError(f"test guard: {request.url.host} is not loopback")
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def policy(**overrides: Any) -> FetchPolicy:
    """No politeness delay, no retries, short timeouts: tests stay fast."""
    values: dict[str, Any] = {
        "per_host_interval_seconds": 0.0,
        "retries": 0,
        "timeout_seconds": 2.0,
        "backoff_base_seconds": 0.0,
    }
    return FetchPolicy(**(values | overrides))


async def deep_run(
    cfg: Config,
    store: Store,
    *,
    at: datetime = T0,
    transport: httpx.AsyncBaseTransport | None = None,
    deep: bool = True,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    clock: Callable[[], float] | None = None,
    **policy_overrides: Any,
) -> Outcomes:
    """One `check --deep` run at time `at`, finished in the store as `publish_run` does.

    A fake `sleep` needs a `clock` that it moves: the fetcher times its waits with the clock.
    """
    transport = transport or LoopbackOnly()
    policy_overrides.setdefault("allowed_origins", cfg.trusted_origins())
    fetcher = Fetcher(
        policy(**policy_overrides),
        transport=transport,
        sleep=sleep or asyncio.sleep,
        clock=clock or time.monotonic,
    )
    async with fetcher:
        outcomes = await run_check(cfg, store, fetcher, now=lambda: at, deep=deep)
    run = outcomes.report.run
    store.finish_run(
        run.id, at + timedelta(minutes=1), run.counts, run.offline, outcomes.validators
    )
    return outcomes


def by_path(outcomes: Outcomes, server: Served) -> dict[str, LinkCheck]:
    """The run's links by path on `server` (other hosts' links keep their whole URL)."""
    prefix = server.url("/")[:-1]
    return {link.url.removeprefix(prefix): link for link in outcomes.report.links}


def serve(routes: Mapping[str, Recording], **options: Any) -> LoopbackServer:
    return LoopbackServer(routes, **options)


Handler = Callable[[httpx.Request], httpx.Response]


class MockSite:
    """Routes answered through an httpx.MockTransport as if from http://127.0.0.1:8000.

    `head` answers HEAD requests differently from GET; `errors` raise a transport error for a
    path (a timeout, a reset). Unknown paths answer 404. Every request is logged.
    """

    base_url = "http://127.0.0.1:8000"

    def __init__(
        self,
        routes: Mapping[str, Recording],
        *,
        head: Mapping[str, Recording] | None = None,
        errors: Mapping[str, Callable[[httpx.Request], Exception]] | None = None,
    ) -> None:
        self.routes = dict(routes)
        self.head = dict(head or {})
        self.errors = dict(errors or {})
        self.requests: list[tuple[str, str]] = []

    def url(self, path: str) -> str:
        return self.base_url + path

    def count(self, path: str) -> int:
        return sum(1 for _method, seen in self.requests if seen == path)

    def answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode()
        self.requests.append((request.method, path))
        if path in self.errors:
            raise self.errors[path](request)
        recording = (self.head.get(path) if request.method == "HEAD" else None) or self.routes.get(
            path, status(404, b"no route")
        )
        body = b"" if request.method == "HEAD" else recording.body
        return httpx.Response(recording.status, headers=dict(recording.headers), content=body)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.answer)
