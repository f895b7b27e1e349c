"""The fetcher's two options for checking a file without downloading it: extra request headers
(a Range) sent on every hop, and `first_bytes`, which stops reading a body early without failing.

Time is injected (FakeTime); transports are httpx.MockTransport handlers for 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from support.fetching import FakeTime, make_fetcher

from ocwwatch.models import FailureKind, Validators

pytestmark = pytest.mark.anyio

HOST = "http://127.0.0.1"
MIB = 1024 * 1024


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


class Endless:
    """A body made on demand, one MiB at a time, counting what the client pulled."""

    def __init__(self, total_bytes: int) -> None:
        self.total_bytes = total_bytes
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = b"\0" * MIB
        while self.pulled < self.total_bytes:
            self.pulled += len(chunk)
            yield chunk


async def test_extra_headers_go_with_every_hop(fake: FakeTime) -> None:
    """A Range header is sent to the redirect and to its target; the target's validators are
    added to it there."""
    seen: list[tuple[str, str | None, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        seen.append((path, request.headers.get("range"), request.headers.get("if-none-match")))
        if path == "/old.pdf":
            return httpx.Response(301, headers={"location": "/new.pdf"})
        return httpx.Response(206, content=b"%")

    validators = {f"{HOST}/new.pdf": Validators(etag='"v1"')}
    async with make_fetcher(fake, handler) as fetcher:
        result = await fetcher.fetch(
            f"{HOST}/old.pdf", validators=validators, headers={"range": "bytes=0-0"}
        )
    assert result.status == 206
    assert seen == [("/old.pdf", "bytes=0-0", None), ("/new.pdf", "bytes=0-0", '"v1"')]


async def test_first_bytes_stops_reading_without_failing(fake: FakeTime) -> None:
    """Of a 1 GiB body, about `first_bytes` is read: kept, marked truncated, no failure."""
    body = Endless(1024 * MIB)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "video/mp4"}, content=body)

    async with make_fetcher(fake, handler) as fetcher:
        result = await fetcher.fetch(f"{HOST}/lecture.mp4", first_bytes=64 * 1024)
    assert (result.status, result.failure, result.truncated) == (200, None, True)
    assert len(result.body) == 64 * 1024
    assert body.pulled == MIB


async def test_first_bytes_past_the_cap_still_fails_at_the_cap(fake: FakeTime) -> None:
    """`first_bytes` never lifts the policy's max_bytes: over it is still TOO_LARGE."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 5000)

    async with make_fetcher(fake, handler, max_bytes=1000) as fetcher:
        result = await fetcher.fetch(f"{HOST}/big", first_bytes=4000)
    assert (len(result.body), result.failure) == (1000, FailureKind.TOO_LARGE)


async def test_a_body_read_in_part_offers_no_validators(fake: FakeTime) -> None:
    """An ETag that came with a body read only in part is not kept for a conditional request."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"etag": '"v1"'}, content=b"x" * 5000)

    async with make_fetcher(fake, handler) as fetcher:
        result = await fetcher.fetch(f"{HOST}/big", first_bytes=1000)
    assert (result.truncated, result.validators) == (True, Validators())
