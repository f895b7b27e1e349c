"""The deep check's file checks and its pace: the ranged GET behind a doubtful HEAD (206, a
server that ignores Range, 416, soft 404s) and robots.txt Crawl-delay, one behaviour per test.

Sites are answered through httpx.MockTransport as if from 127.0.0.1; time is injected where
a test measures it.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from support.crawl import (
    HOME,
    OCW_404,
    MockSite,
    by_path,
    config,
    deep_run,
    moved,
    ok,
    page,
    pdf,
    status,
)
from support.fetching import FakeTime

from ocwwatch.crawl.probe import FILE_START_BYTES
from ocwwatch.crawl.robots import MAX_CRAWL_DELAY_SECONDS
from ocwwatch.models import LinkCheck, LinkState
from ocwwatch.store import Store

pytestmark = pytest.mark.anyio

FILE = HOME + "notes.pdf"
RANGE = re.compile(r"bytes=(\d+)-(\d+)")
MIB = 1024 * 1024


class RangeSite(MockSite):
    """A MockSite whose GETs honour `Range: bytes=a-b` (206, or 416 past the end) as OCW's CDN
    does; every request's headers are kept."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[str, str, httpx.Headers]] = []

    def answer(self, request: httpx.Request) -> httpx.Response:
        response = super().answer(request)
        self.sent.append((request.method, request.url.path, request.headers))
        wanted = RANGE.fullmatch(request.headers.get("range", ""))
        if request.method != "GET" or response.status_code != 200 or wanted is None:
            return response
        body, first, last = response.content, int(wanted[1]), int(wanted[2])
        headers = {k: v for k, v in response.headers.items() if k != "content-length"}
        if first >= len(body):
            headers["content-range"] = f"bytes */{len(body)}"
            return httpx.Response(416, headers=headers)
        part = body[first : last + 1]
        headers["content-range"] = f"bytes {first}-{first + len(part) - 1}/{len(body)}"
        return httpx.Response(206, headers=headers, content=part)

    def ranges(self, path: str) -> list[str | None]:
        """The Range header of each GET of `path`."""
        return [h.get("range") for method, p, h in self.sent if (method, p) == ("GET", path)]


async def check_file(store: Store, mock: MockSite, target: str = FILE, **run: Any) -> LinkCheck:
    """Crawl a home that links only `target`; return that link's check."""
    mock.routes[HOME] = ok(page(target, title="Course home"))
    outcomes = await deep_run(config(mock), store, transport=mock.transport(), **run)
    return by_path(outcomes, mock)[target]


# --- the ranged GET behind a doubtful HEAD ---------------------------------------------------


async def test_refused_head_is_followed_by_a_ranged_get(store: Store) -> None:
    """HEAD answered 405: a GET for the first 64 KiB follows, answered 206: ok."""
    mock = RangeSite({FILE: pdf()}, head={FILE: status(405)})
    link = await check_file(store, mock)
    assert (link.state, link.http_status) == (LinkState.OK, 206)
    assert mock.ranges(FILE) == [f"bytes=0-{FILE_START_BYTES - 1}"]


async def test_a_server_ignoring_range_is_read_no_further_than_the_start(store: Store) -> None:
    """A server that answers the ranged GET with 200 and a 1 GiB video: the first bytes are
    read, the rest never asked for, and the file is ok."""
    video = HOME + "lecture.mp4"
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        chunk = b"\0" * MIB
        while pulled < 1024 * MIB:
            pulled += len(chunk)
            yield chunk

    mock = MockSite({}, head={video: status(405)})

    def answer(request: httpx.Request) -> httpx.Response:
        if (request.method, request.url.path) == ("GET", video):
            return httpx.Response(200, headers={"content-type": "video/mp4"}, content=endless())
        return mock.answer(request)

    mock.routes[HOME] = ok(page(video, title="Course home"))
    transport = httpx.MockTransport(answer)
    outcomes = await deep_run(config(mock), store, transport=transport)
    link = by_path(outcomes, mock)[video]
    assert (link.state, link.http_status) == (LinkState.OK, 200)
    assert pulled == MIB


async def test_range_not_satisfiable_is_an_empty_file_that_exists(store: Store) -> None:
    """An empty file answers the ranged GET with 416: it is there, so ok, not unknown."""
    empty = ok(b"", "application/pdf")
    mock = RangeSite({FILE: empty}, head={FILE: status(405)})
    link = await check_file(store, mock)
    assert (link.state, link.http_status) == (LinkState.OK, 416)


async def test_head_and_ranged_get_both_404_is_dead(store: Store) -> None:
    """HEAD 404, then the ranged GET 404 too: dead."""
    mock = RangeSite({FILE: status(404)})
    link = await check_file(store, mock)
    assert (link.state, link.http_status) == (LinkState.DEAD, 404)
    assert mock.ranges(FILE) == [f"bytes=0-{FILE_START_BYTES - 1}"]


async def test_not_found_page_in_a_files_place_is_soft404(store: Store) -> None:
    """A .pdf link answering OCW's "not found" page: the ranged GET's 206 brings the whole page
    (a few KiB), which is read and judged a soft 404, as a whole GET's 200 was."""
    mock = RangeSite({FILE: ok(OCW_404)})
    link = await check_file(store, mock)
    assert (link.state, link.http_status) == (LinkState.SOFT404, 206)
    assert len(OCW_404) < FILE_START_BYTES


async def test_file_redirected_to_the_home_page_is_soft404(store: Store) -> None:
    """A .pdf link redirected to the site's home page, whose ranged GET answers 206: soft 404,
    not a PDF link landing on HTML."""
    mock = RangeSite({FILE: moved(302, "/"), "/": ok(page(title="OCW"))})
    link = await check_file(store, mock)
    assert link.state is LinkState.SOFT404
    assert link.detail == f"redirects to the site's home page ({mock.url('/')})"


# --- robots.txt Crawl-delay ----------------------------------------------------------------


def robots(*lines: str) -> dict[str, Any]:
    return {"/robots.txt": ok("\n".join(("User-agent: *", *lines)).encode(), "text/plain")}


async def starts_after_robots(store: Store, *lines: str) -> list[float]:
    """Crawl a home linking three pages, robots.txt saying `lines`, with one request to the
    host at a time; the gaps (fake seconds) between request starts after robots.txt's."""
    pages = [HOME + f"pages/{n}/" for n in range(3)]
    mock = MockSite(robots(*lines) | {path: ok(page()) for path in pages})
    mock.routes[HOME] = ok(page(*pages, title="Course home"))
    fake = FakeTime()
    started: list[tuple[str, float]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        started.append((request.url.path, fake.t))
        return mock.answer(request)

    transport = httpx.MockTransport(answer)
    await deep_run(
        config(mock),
        store,
        transport=transport,
        sleep=fake.sleep,
        clock=fake.clock,
        per_host_concurrency=1,
    )
    robots_at = next(n for n, (path, _t) in enumerate(started) if path == "/robots.txt")
    after = [t for _path, t in started[robots_at:]]
    assert len(after) == 1 + len(pages)
    return [later - earlier for earlier, later in itertools.pairwise(after)]


@pytest.mark.parametrize(
    ("line", "seconds"), [("Crawl-delay: 4", 4.0), ("Request-rate: 1/5s", 5.0)]
)
async def test_crawl_delay_spaces_request_starts(store: Store, line: str, seconds: float) -> None:
    """Crawl-delay (or Request-rate) in robots.txt spaces the host's request starts."""
    assert await starts_after_robots(store, line) == [seconds] * 3


async def test_crawl_delay_above_the_cap_is_capped(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A Crawl-delay of an hour spaces requests by the cap, and the log says so."""
    with caplog.at_level(logging.INFO, logger="ocwwatch.crawl.robots"):
        gaps = await starts_after_robots(store, "Crawl-delay: 3600")
    assert gaps == [MAX_CRAWL_DELAY_SECONDS] * 3
    assert f"Crawl-delay honoured up to {MAX_CRAWL_DELAY_SECONDS:g} s" in caplog.text
