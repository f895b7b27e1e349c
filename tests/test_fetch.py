"""Tests of the fetch stage: redirects, conditional requests, retries, caps, politeness, failures.

Time is injected (FakeTime); transports are httpx.MockTransport or a real server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import socket
import time
import zlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from support.fetching import START, FakeTime, make_fetcher
from support.loopback import LoopbackServer

from ocwwatch.fetch import DEFAULT_USER_AGENT, Fetcher, FetchPolicy, Recording
from ocwwatch.fetch.h1 import H1Transport
from ocwwatch.fetch.replay import load_scenario, replay_transport
from ocwwatch.fetch.sockets import AsyncioBackend
from ocwwatch.fetch.urls import is_reserved_invalid
from ocwwatch.models import FailureKind, Hop, Validators

pytestmark = pytest.mark.anyio

SCENARIOS = Path(__file__).parent / "fixtures" / "scenarios"
OLD_URL = "http://ocw.mit.edu/courses/mathematics/18-01sc-single-variable-calculus-fall-2010/"
HTTPS_OLD_URL = (
    "https://ocw.mit.edu/courses/mathematics/18-01sc-single-variable-calculus-fall-2010/"
)
NEW_URL = "https://ocw.mit.edu/courses/18-01sc-single-variable-calculus-fall-2010/"


def redirect(status: int, location: str) -> httpx.Response:
    return httpx.Response(status, headers={"location": location})


def statuses(*answers: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    """A handler answering the given responses in order, then the last one forever.

    Each answer goes out as a fresh, unread stream of its raw bytes, as a network would send it.
    """
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return httpx.Response(answer.status_code, headers=answer.headers, stream=answer.stream)

    return handler


# --- redirects -----------------------------------------------------------------------------


async def test_redirect_chain_is_recorded_hop_by_hop(fake: FakeTime) -> None:
    """301 then 307 then 200: each hop is recorded and the final URL is the 200's."""
    scenario = load_scenario(SCENARIOS / "unit-moved-course")
    transport = replay_transport(scenario, strict=True)
    async with make_fetcher(fake, transport=transport) as fetcher:
        result = await fetcher.fetch(OLD_URL)
    assert result.redirects == (Hop(url=OLD_URL, status=301), Hop(url=HTTPS_OLD_URL, status=307))
    assert (result.status, result.final_url, result.failure) == (200, NEW_URL, None)
    assert result.content_type == "text/html"
    assert b"Single Variable Calculus" in result.body


async def test_redirect_loop_is_detected(fake: FakeTime) -> None:
    """A chain that comes back to a URL it already visited stops with REDIRECT_LOOP."""

    def handler(request: httpx.Request) -> httpx.Response:
        return redirect(301, "/b" if request.url.path == "/a" else "/a")

    async with make_fetcher(fake, handler) as fetcher:
        result = await fetcher.fetch("https://example.org/a")
    assert result.failure is FailureKind.REDIRECT_LOOP
    assert [hop.url for hop in result.redirects] == [
        "https://example.org/a",
        "https://example.org/b",
    ]
    assert result.status == 301


async def test_too_many_redirects(fake: FakeTime) -> None:
    """A chain longer than max_redirects stops with TOO_MANY_REDIRECTS."""

    def handler(request: httpx.Request) -> httpx.Response:
        return redirect(302, f"/{int(request.url.path[1:]) + 1}")

    async with make_fetcher(fake, handler, max_redirects=3) as fetcher:
        result = await fetcher.fetch("https://example.org/0")
    assert result.failure is FailureKind.TOO_MANY_REDIRECTS
    assert len(result.redirects) == 4


async def test_non_http_location_is_a_bad_redirect(fake: FakeTime) -> None:
    """A Location outside http(s) is refused with BAD_REDIRECT and never requested."""
    async with make_fetcher(fake, statuses(redirect(301, "ftp://example.org/file"))) as fetcher:
        result = await fetcher.fetch("https://example.org/")
    assert result.failure is FailureKind.BAD_REDIRECT
    assert result.redirects == (Hop(url="https://example.org/", status=301),)


async def test_redirect_without_location_is_a_bad_redirect(fake: FakeTime) -> None:
    """A 3xx with no Location header stops with BAD_REDIRECT."""
    async with make_fetcher(fake, statuses(httpx.Response(302))) as fetcher:
        result = await fetcher.fetch("https://example.org/")
    assert result.failure is FailureKind.BAD_REDIRECT


# --- conditional requests ------------------------------------------------------------------


async def test_etag_validator_gets_not_modified(fake: FakeTime) -> None:
    """A stored ETag is sent as If-None-Match and a 304 is reported as not modified."""
    transport = replay_transport(load_scenario(SCENARIOS / "unit-moved-course"), strict=True)
    known = {NEW_URL: Validators(etag='"unit-18-01sc-v1"')}
    async with make_fetcher(fake, transport=transport) as fetcher:
        result = await fetcher.fetch(OLD_URL, validators=known)
    assert (result.status, result.not_modified, result.final_url) == (304, True, NEW_URL)
    assert len(result.redirects) == 2
    assert result.body == b""


async def test_last_modified_validator_gets_not_modified(fake: FakeTime) -> None:
    """A stored Last-Modified is sent as If-Modified-Since and a 304 is reported."""
    transport = replay_transport(load_scenario(SCENARIOS / "unit-moved-course"), strict=True)
    known = {NEW_URL: Validators(last_modified="Tue, 01 Oct 2024 12:00:00 GMT")}
    async with make_fetcher(fake, transport=transport) as fetcher:
        result = await fetcher.fetch(NEW_URL, validators=known)
    assert (result.status, result.not_modified) == (304, True)


async def test_stale_validator_gets_the_full_page(fake: FakeTime) -> None:
    """A validator that no longer matches gets the 200 and its new validators."""
    transport = replay_transport(load_scenario(SCENARIOS / "unit-moved-course"), strict=True)
    known = {NEW_URL: Validators(etag='"old"')}
    async with make_fetcher(fake, transport=transport) as fetcher:
        result = await fetcher.fetch(NEW_URL, validators=known)
    assert (result.status, result.not_modified) == (200, False)
    assert result.validators.etag == '"unit-18-01sc-v1"'


# --- retries -------------------------------------------------------------------------------


async def test_retry_on_503_then_success(fake: FakeTime) -> None:
    """A 503 is retried after a backoff; the 200 that follows is the result, attempts=2."""
    handler = statuses(httpx.Response(503), httpx.Response(200, text="ok"))
    async with make_fetcher(fake, handler, backoff_base_seconds=0.5) as fetcher:
        result = await fetcher.fetch("https://example.org/")
    assert (result.status, result.attempts, result.failure) == (200, 2, None)
    assert len(fake.sleeps) == 1
    assert 0.25 <= fake.sleeps[0] <= 0.5


async def test_retry_after_seconds_is_honoured(fake: FakeTime) -> None:
    """Retry-After in seconds is the delay before the next try."""
    handler = statuses(httpx.Response(429, headers={"retry-after": "7"}), httpx.Response(200))
    async with make_fetcher(fake, handler) as fetcher:
        result = await fetcher.fetch("https://example.org/")
    assert result.status == 200
    assert fake.sleeps == [7.0]


async def test_retry_after_http_date_is_honoured(fake: FakeTime) -> None:
    """Retry-After as an HTTP-date waits until that moment, measured with the injected now."""
    later = "Thu, 01 Jan 2026 00:00:09 GMT"  # START + 9 s
    handler = statuses(httpx.Response(503, headers={"retry-after": later}), httpx.Response(200))
    async with make_fetcher(fake, handler) as fetcher:
        result = await fetcher.fetch("https://example.org/")
    assert result.status == 200
    assert fake.sleeps == [9.0]


async def test_retry_after_is_capped(fake: FakeTime) -> None:
    """A Retry-After longer than max_retry_after_seconds waits only the cap."""
    handler = statuses(httpx.Response(503, headers={"retry-after": "86400"}), httpx.Response(200))
    async with make_fetcher(fake, handler, max_retry_after_seconds=60) as fetcher:
        await fetcher.fetch("https://example.org/")
    assert fake.sleeps == [60.0]


async def test_no_retry_on_404(fake: FakeTime) -> None:
    """A 404 is final at once: one try, no sleep, status returned as a value."""
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(404)

    async with make_fetcher(fake, handler) as fetcher:
        result = await fetcher.fetch("https://example.org/gone")
    assert (result.status, result.attempts, result.failure) == (404, 1, None)
    assert len(calls) == 1
    assert fake.sleeps == []


async def test_429_exhausted_is_returned_as_value(fake: FakeTime) -> None:
    """When every try answers 429, the 429 itself is the result after retries+1 tries."""
    async with make_fetcher(fake, statuses(httpx.Response(429)), retries=3) as fetcher:
        result = await fetcher.fetch("https://example.org/")
    assert (result.status, result.attempts, result.failure) == (429, 4, None)
    assert len(fake.sleeps) == 3


async def test_backoff_grows_exponentially(fake: FakeTime) -> None:
    """Backoff delays double each try (with jitter within the upper half)."""
    async with make_fetcher(fake, statuses(httpx.Response(500)), backoff_base_seconds=1) as f:
        await f.fetch("https://example.org/")
    for attempt, delay in enumerate(fake.sleeps):
        assert 2**attempt / 2 <= delay <= 2**attempt


async def test_timeout_is_reported_as_timeout(fake: FakeTime) -> None:
    """A read timeout on every try is FailureKind.TIMEOUT with status None."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with make_fetcher(fake, handler, retries=1) as fetcher:
        result = await fetcher.fetch("https://example.org/")
    assert (result.failure, result.status, result.attempts) == (FailureKind.TIMEOUT, None, 2)


async def test_total_deadline_stops_a_slow_answer(fake: FakeTime) -> None:
    """The total deadline covers the whole request, whatever the transport does."""

    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    async with make_fetcher(fake, handler, timeout_seconds=0.05, retries=0) as fetcher:
        result = await fetcher.fetch("https://example.org/")
    assert result.failure is FailureKind.TIMEOUT


# --- bodies --------------------------------------------------------------------------------


async def test_body_over_cap_is_truncated(fake: FakeTime) -> None:
    """A body over max_bytes keeps max_bytes bytes and is marked truncated / TOO_LARGE."""
    handler = statuses(httpx.Response(200, content=b"x" * 5000))
    async with make_fetcher(fake, handler, max_bytes=1000) as fetcher:
        result = await fetcher.fetch("https://example.org/big")
    assert (len(result.body), result.truncated, result.failure) == (
        1000,
        True,
        FailureKind.TOO_LARGE,
    )
    assert result.status == 200


async def test_gzip_bomb_is_capped_after_decoding(fake: FakeTime) -> None:
    """A small gzip body that inflates past the cap stops at the cap, decoded."""
    squeezer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1024 * 1024)
    bomb = b"".join(squeezer.compress(block) for _ in range(64)) + squeezer.flush()
    assert len(bomb) < 100_000  # 64 MiB of zeros on the wire as well under 100 kB
    headers = {"content-encoding": "gzip", "content-length": str(len(bomb))}
    handler = statuses(httpx.Response(200, headers=headers, stream=httpx.ByteStream(bomb)))
    async with make_fetcher(fake, handler, max_bytes=2 * 1024 * 1024) as fetcher:
        result = await fetcher.fetch("https://example.org/bomb")
    assert (result.truncated, result.failure) == (True, FailureKind.TOO_LARGE)
    assert result.body == bytes(2 * 1024 * 1024)


async def test_deflate_bomb_is_capped_after_decoding(fake: FakeTime) -> None:
    """A small deflate body that inflates past the cap stops at the cap, decoded."""
    squeezer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    bomb = b"".join(squeezer.compress(block) for _ in range(64)) + squeezer.flush()
    headers = {"content-encoding": "deflate"}
    handler = statuses(httpx.Response(200, headers=headers, stream=httpx.ByteStream(bomb)))
    async with make_fetcher(fake, handler, max_bytes=1024 * 1024) as fetcher:
        result = await fetcher.fetch("https://example.org/bomb")
    assert (len(result.body), result.truncated, result.failure) == (
        1024 * 1024,
        True,
        FailureKind.TOO_LARGE,
    )


async def test_brotli_body_is_refused_not_decoded(fake: FakeTime) -> None:
    """`br` is never asked for (it cannot be inflated under the cap here): a server that sends
    it anyway gets a PROTOCOL failure and an empty body, however large it would inflate."""
    stream = httpx.ByteStream(b"\x1b\xff\xff" * 1000)
    handler = statuses(httpx.Response(200, headers={"content-encoding": "br"}, stream=stream))
    async with make_fetcher(fake, handler) as fetcher:
        result = await fetcher.fetch("https://example.org/")
    assert (result.failure, result.body) == (FailureKind.PROTOCOL, b"")


async def test_gzip_body_is_decoded(fake: FakeTime) -> None:
    """A gzip-encoded body under the cap arrives decoded."""
    handler = statuses(
        httpx.Response(200, headers={"content-encoding": "gzip"}, content=gzip.compress(b"hi"))
    )
    async with make_fetcher(fake, handler) as fetcher:
        result = await fetcher.fetch("https://example.org/")
    assert (result.body, result.failure) == (b"hi", None)


async def test_undecodable_body_is_a_protocol_failure(fake: FakeTime) -> None:
    """Bytes that claim to be gzip but are not give FailureKind.PROTOCOL."""
    stream = httpx.ByteStream(b"not gzip")
    handler = statuses(httpx.Response(200, headers={"content-encoding": "gzip"}, stream=stream))
    async with make_fetcher(fake, handler) as fetcher:
        result = await fetcher.fetch("https://example.org/")
    assert (result.failure, result.status) == (FailureKind.PROTOCOL, 200)


class _BreakingStream(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"first part"
        raise httpx.ReadError("connection reset by peer")


async def test_reset_mid_body_is_reset(fake: FakeTime) -> None:
    """A connection that breaks while the body streams is FailureKind.RESET."""
    handler = statuses(httpx.Response(200, stream=_BreakingStream()))
    async with make_fetcher(fake, handler, retries=0) as fetcher:
        result = await fetcher.fetch("https://example.org/")
    assert (result.failure, result.status) == (FailureKind.RESET, 200)


async def test_headers_and_content_type_are_normalised(fake: FakeTime) -> None:
    """Header names are lower-case; content_type is the bare media type, lower-case."""
    handler = statuses(
        httpx.Response(200, headers={"Content-Type": "Application/PDF; name=x", "ETag": '"e"'})
    )
    async with make_fetcher(fake, handler) as fetcher:
        result = await fetcher.fetch("https://example.org/book.pdf")
    assert result.content_type == "application/pdf"
    assert result.headers["etag"] == '"e"'
    assert result.fetched_at == START


async def test_fetched_at_is_utc_by_default() -> None:
    """Without an injected clock, fetched_at is timezone-aware UTC."""
    handler = statuses(httpx.Response(200))
    policy = FetchPolicy(per_host_interval_seconds=0)
    async with Fetcher(policy, transport=httpx.MockTransport(handler)) as fetcher:
        result = await fetcher.fetch("https://example.org/")
    assert result.fetched_at.utcoffset() == timedelta(0)


async def test_head_reads_no_body(fake: FakeTime) -> None:
    """method="HEAD" sends HEAD and keeps the headers."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        return httpx.Response(200, headers={"content-type": "application/pdf"})

    async with make_fetcher(fake, handler) as fetcher:
        result = await fetcher.fetch("https://example.org/book.pdf", method="HEAD")
    assert (seen, result.status, result.body) == (["HEAD"], 200, b"")


async def test_user_agent_is_sent(fake: FakeTime) -> None:
    """Every request carries the honest User-Agent that names the project."""
    agents: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        agents.append(request.headers["user-agent"])
        return httpx.Response(200)

    async with make_fetcher(fake, handler) as fetcher:
        await fetcher.fetch("https://example.org/")
    assert agents == [DEFAULT_USER_AGENT]
    assert DEFAULT_USER_AGENT.startswith("ocwwatch/0.1.0 (+https://github.com/ocwwatch/ocwwatch;")


# --- politeness ----------------------------------------------------------------------------


async def test_per_host_concurrency_never_exceeds_the_limit(fake: FakeTime) -> None:
    """Seven URLs on one host overlap, but never more than per_host_concurrency at once."""
    active, peak = 0, 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.005)
        active -= 1
        return httpx.Response(200)

    urls = [f"https://ocw.mit.edu/{n}" for n in range(7)]
    async with make_fetcher(fake, handler, per_host_concurrency=2) as fetcher:
        results = await fetcher.fetch_many(urls)
    assert [r.status for r in results] == [200] * 7
    assert peak == 2


async def test_per_host_interval_spaces_request_starts() -> None:
    """Request starts to one host are at least per_host_interval_seconds apart (real clock)."""
    interval = 0.03
    starts: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        starts.append(time.monotonic())
        return httpx.Response(200)

    policy = FetchPolicy(per_host_concurrency=4, per_host_interval_seconds=interval)
    urls = [f"https://ocw.mit.edu/{n}" for n in range(4)]
    async with Fetcher(policy, transport=httpx.MockTransport(handler)) as fetcher:
        await fetcher.fetch_many(urls)
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert len(starts) == 4
    assert min(gaps) >= interval - 0.001  # the loop may wake a hair early


async def test_different_hosts_run_concurrently(fake: FakeTime) -> None:
    """Requests to different hosts are in flight at the same time."""
    hosts = ["a.example.org", "b.example.org", "c.example.org"]
    arrived: set[str] = set()
    everyone = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        arrived.add(request.url.host)
        if len(arrived) == len(hosts):
            everyone.set()
        await asyncio.wait_for(everyone.wait(), timeout=1)  # fails unless all are in flight
        return httpx.Response(200)

    async with make_fetcher(fake, handler, per_host_concurrency=1, retries=0) as fetcher:
        results = await fetcher.fetch_many(f"https://{host}/" for host in hosts)
    assert [(r.status, r.failure) for r in results] == [(200, None)] * 3


@pytest.mark.parametrize("ours", [True, False], ids=["own-transport", "httpx-transport"])
async def test_a_freed_place_sends_the_waiting_request_before_the_answer_is_worked_on(
    fake: FakeTime, ours: bool
) -> None:
    """With one place per host, the request waiting for it is on the wire before the caller of
    the first answer goes on (a page's parse holds the loop; the host must not idle meanwhile).
    Without the hand-over it arrives only after the hold. Through our own transport (direct
    connections) and httpx's (through a proxy)."""
    page = Recording(url="/", status=200, headers={"content-type": "text/html"}, body=b"<p>")
    routes = {path: page for path in ("/warm", "/first", "/next")}
    went_on: list[float] = []
    with LoopbackServer(routes) as server:
        transport: httpx.AsyncBaseTransport = (
            H1Transport(AsyncioBackend(), None, max_idle=1) if ours else httpx.AsyncHTTPTransport()
        )
        origins = (server.base_url,)
        async with make_fetcher(
            fake, transport=transport, allowed_origins=origins, per_host_concurrency=1
        ) as fetcher:
            await fetcher.fetch(server.url("/warm"))  # a kept-alive connection: no connecting

            async def first() -> None:
                await fetcher.fetch(server.url("/first"))
                went_on.append(time.monotonic())
                time.sleep(0.5)  # the loop held, as by a big page's parse

            async with asyncio.TaskGroup() as group:
                group.create_task(first())
                group.create_task(fetcher.fetch(server.url("/next")))
    assert server.arrived["/next"] < went_on[0] + 0.25  # not after the 0.5 s hold


async def test_redirect_to_an_unlisted_loopback_origin_is_refused(fake: FakeTime) -> None:
    """A redirect to a loopback origin the list does not name is refused before connecting."""
    requested: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        return redirect(302, "http://127.0.0.1:8080/admin")

    async with make_fetcher(fake, handler) as fetcher:
        result = await fetcher.fetch("https://example.org/")
    assert result.failure is FailureKind.BLOCKED_ADDRESS
    assert requested == ["https://example.org/"]


# --- connection failures -------------------------------------------------------------------


async def test_dns_failure_is_dns(fake: FakeTime) -> None:
    """A ConnectError caused by socket.gaierror is FailureKind.DNS, and is not retried."""

    def handler(request: httpx.Request) -> httpx.Response:
        cause = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        raise httpx.ConnectError("cannot resolve", request=request) from cause

    async with make_fetcher(fake, handler) as fetcher:
        result = await fetcher.fetch("https://ocw.example/")
    assert (result.failure, result.status, result.attempts) == (FailureKind.DNS, None, 1)


async def test_invalid_name_fails_as_dns_without_any_lookup(
    fake: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`.invalid` names are DNS failures at once: no resolver call, no request (RFC 6761 6.4)."""
    looked_up: list[object] = []
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **_: looked_up.append(args))
    transport = httpx.AsyncHTTPTransport()
    async with make_fetcher(fake, transport=transport, retries=2) as fetcher:
        result = await fetcher.fetch("http://nothing.invalid/")
    assert (result.failure, result.status, result.attempts) == (FailureKind.DNS, None, 1)
    assert result.failure_detail is not None
    assert "RFC 6761" in result.failure_detail
    assert looked_up == []
    assert fake.sleeps == []


async def test_redirect_to_an_invalid_name_is_dns(fake: FakeTime) -> None:
    """A redirect into `.invalid` stops there as DNS, with the hop recorded and no request."""
    requested: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        return httpx.Response(301, headers={"location": "https://gone.invalid./x"})

    async with make_fetcher(fake, handler) as fetcher:
        result = await fetcher.fetch("https://ocw.example/")
    assert (result.failure, result.final_url) == (FailureKind.DNS, "https://gone.invalid./x")
    assert result.redirects == (Hop(url="https://ocw.example/", status=301),)
    assert requested == ["https://ocw.example/"]


@pytest.mark.parametrize(
    ("host", "reserved"),
    [
        ("invalid", True),
        ("nothing.invalid", True),
        ("A.B.INVALID.", True),
        ("invalid.example", False),
        ("notinvalid", False),
        ("127.0.0.1", False),
    ],
)
def test_reserved_invalid_names(host: str, reserved: bool) -> None:
    """Only `invalid` and names under it are refused before any lookup."""
    assert is_reserved_invalid(host) is reserved


async def test_refused_connection_detail_names_the_socket_reason(fake: FakeTime) -> None:
    """The detail of a refused connect says "Connection refused", not only anyio's summary."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = httpx.AsyncHTTPTransport()
    origins = (f"http://127.0.0.1:{port}",)
    async with make_fetcher(
        fake, transport=transport, retries=0, allowed_origins=origins
    ) as fetcher:
        result = await fetcher.fetch(f"http://127.0.0.1:{port}/")
    assert result.failure_detail is not None
    assert result.failure_detail.endswith("(Connection refused)")


async def test_failed_answer_offers_no_validators(fake: FakeTime) -> None:
    """A body that broke off keeps its status but drops ETag/Last-Modified: nothing to 304."""
    headers = {"etag": '"v2"', "last-modified": "Wed, 01 Jan 2025 00:00:00 GMT"}
    handler = statuses(httpx.Response(200, headers=headers, stream=_BreakingStream()))
    async with make_fetcher(fake, handler, retries=0) as fetcher:
        result = await fetcher.fetch("https://example.org/")
    assert (result.status, result.failure) == (200, FailureKind.RESET)
    assert result.validators == Validators()


async def test_refused_connection_on_loopback_is_connect(fake: FakeTime) -> None:
    """A real refused connection to a closed 127.0.0.1 port is FailureKind.CONNECT."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = httpx.AsyncHTTPTransport()  # explicit: no proxy from the environment
    origins = (f"http://127.0.0.1:{port}",)
    async with make_fetcher(
        fake, transport=transport, retries=1, allowed_origins=origins
    ) as fetcher:
        result = await fetcher.fetch(f"http://127.0.0.1:{port}/")
    assert (result.failure, result.status, result.attempts) == (FailureKind.CONNECT, None, 2)


async def test_trickling_body_hits_the_total_deadline(fake: FakeTime) -> None:
    """A real server trickling its body slower than the deadline gets TIMEOUT in time."""
    slow = Recording(url="/slow", status=200, body=b"z" * 40)
    with LoopbackServer({"/slow": slow}, chunk_bytes=1, chunk_delay_seconds=0.02) as server:
        transport = httpx.AsyncHTTPTransport()
        async with make_fetcher(
            fake,
            transport=transport,
            timeout_seconds=0.3,
            retries=0,
            allowed_origins=(server.base_url,),
        ) as fetcher:
            began = asyncio.get_running_loop().time()
            result = await fetcher.fetch(server.url("/slow"))
            took = asyncio.get_running_loop().time() - began
    assert (result.status, result.failure) == (200, FailureKind.TIMEOUT)
    assert result.failure_detail == "the body did not arrive within 0.3 s"
    assert took < 0.6  # each byte came within the read timeout; only the total deadline fires


async def test_loopback_server_answers_conditional_requests(fake: FakeTime) -> None:
    """Against the real loopback server a stored ETag gets a 304 and no body bytes."""
    page = Recording(url="/p", status=200, headers={"etag": '"v1"'}, body=b"<html></html>")
    with LoopbackServer({"/p": page}) as server:
        transport = httpx.AsyncHTTPTransport()
        origins = (server.base_url,)
        async with make_fetcher(fake, transport=transport, allowed_origins=origins) as fetcher:
            first = await fetcher.fetch(server.url("/p"))
            second = await fetcher.fetch(
                server.url("/p"), validators={server.url("/p"): first.validators}
            )
    assert (first.status, second.status, second.not_modified) == (200, 304, True)
    assert server.requests["/p"] == 2
    assert server.bytes_sent["/p"] == len(page.body)


async def test_loopback_serves_a_scenario_with_rewritten_redirects(fake: FakeTime) -> None:
    """serve_scenario maps one origin onto the loopback server, Location headers included."""
    scenario = load_scenario(SCENARIOS / "unit-moved-course")
    with LoopbackServer() as server:
        urls = server.serve_scenario(scenario, "https://ocw.mit.edu")
        transport = httpx.AsyncHTTPTransport()
        origins = (server.base_url,)
        async with make_fetcher(fake, transport=transport, allowed_origins=origins) as fetcher:
            result = await fetcher.fetch(urls[HTTPS_OLD_URL])
    assert [hop.status for hop in result.redirects] == [307]
    assert (result.status, result.final_url) == (200, urls[NEW_URL])
    assert server.requests["/courses/18-01sc-single-variable-calculus-fall-2010/"] == 1


async def test_raw_deflate_body_is_decoded(fake: FakeTime) -> None:
    """`deflate` without the zlib wrapper, as some servers send it, still decodes."""
    squeezer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw = squeezer.compress(b"plain words") + squeezer.flush()
    stream = httpx.ByteStream(raw)
    handler = statuses(httpx.Response(200, headers={"content-encoding": "deflate"}, stream=stream))
    async with make_fetcher(fake, handler) as fetcher:
        result = await fetcher.fetch("https://example.org/")
    assert (result.body, result.failure) == (b"plain words", None)


def test_the_fetch_policy_has_one_set_of_defaults() -> None:
    """The settings' [http] defaults and FetchPolicy's are the same: `record` caps bodies as
    `check` does."""
    from ocwwatch.config import HttpSettings
    from ocwwatch.pipeline import fetch_policy

    built = fetch_policy(HttpSettings(), replay=False)
    assert built == FetchPolicy()
