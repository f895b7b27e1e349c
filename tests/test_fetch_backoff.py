"""Host-wide politeness told apart from a URL's own faults (issue 11): a 429 or a Retry-After
slows down every request to its host, a 5xx on one URL only that URL's retries, several URLs
failing together the host; a run of other answers speeds it back up; a robots.txt Crawl-delay
keeps it slow; retries and waits stop at their budgets.

Time is injected (FakeTime): every wait is exact. Transports are httpx.MockTransport handlers
answering for 127.0.0.1 and 127.0.0.2; nothing is sent anywhere.
"""

from __future__ import annotations

import asyncio
import itertools
import logging

import httpx
import pytest
from support.fetching import LISTED_ORIGINS, FakeTime, make_fetcher

from ocwwatch.fetch import Fetcher, FetchPolicy
from ocwwatch.fetch.politeness import SLOW_INTERVAL_CAP_SECONDS, SPEED_UP_AFTER_ANSWERS
from ocwwatch.models import FailureKind

pytestmark = pytest.mark.anyio

HOST = "http://127.0.0.1"
OTHER_HOST = "http://127.0.0.2"


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


class Arrivals:
    """A handler that answers by path and notes when (fake time) each request arrived."""

    def __init__(self, fake: FakeTime, answers: dict[str, list[httpx.Response]]) -> None:
        self.fake = fake
        self.answers = answers
        self.seen: list[tuple[str, float]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((f"{request.url.host}{request.url.path}", self.fake.t))
        queue = self.answers.get(request.url.path, [httpx.Response(200)])
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return httpx.Response(answer.status_code, headers=answer.headers)


def busy(status: int = 429, retry_after: str | None = None) -> httpx.Response:
    headers = {} if retry_after is None else {"retry-after": retry_after}
    return httpx.Response(status, headers=headers)


async def test_retry_after_holds_back_the_host_but_not_other_hosts(fake: FakeTime) -> None:
    """After a 429 with Retry-After: 5, the next request to that host starts 5 s later; a
    request to another host starts at once."""
    handler = Arrivals(fake, {"/busy": [busy(429, "5")]})
    async with make_fetcher(fake, handler, retries=0) as fetcher:
        await fetcher.fetch(f"{HOST}/busy")
        await fetcher.fetch(f"{OTHER_HOST}/page")
        await fetcher.fetch(f"{HOST}/page")
    assert handler.seen == [
        ("127.0.0.1/busy", 0.0),
        ("127.0.0.2/page", 0.0),
        ("127.0.0.1/page", 5.0),
    ]


async def test_a_request_already_waiting_is_held_back_too(fake: FakeTime) -> None:
    """A request waiting for its turn when the 429 arrives waits out the Retry-After as well."""
    arrived: list[tuple[str, float]] = []
    answered = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        arrived.append((request.url.path, fake.t))
        await asyncio.sleep(0)  # let the second request take its place in the queue
        return busy(429, "5") if request.url.path == "/busy" else httpx.Response(200)

    async def sleep(seconds: float) -> None:
        """Time moves at once; the sleeper wakes only once the 429 has been taken in."""
        fake.sleeps.append(seconds)
        fake.t += seconds
        await answered.wait()

    policy = FetchPolicy(
        per_host_interval_seconds=1.0,
        per_host_concurrency=2,
        retries=0,
        allowed_origins=LISTED_ORIGINS,
    )
    transport = httpx.MockTransport(handler)
    async with Fetcher(
        policy, transport=transport, sleep=sleep, clock=fake.clock, now=fake.now
    ) as fetcher:
        refused = asyncio.create_task(fetcher.fetch(f"{HOST}/busy"))
        waiting = asyncio.create_task(fetcher.fetch(f"{HOST}/page"))
        await refused
        answered.set()
        await waiting
    # The second request was due at 1 s; the 429 came in then and moved it to 1 + 5 s.
    assert arrived == [("/busy", 0.0), ("/page", 6.0)]
    assert fake.sleeps == [1.0, 5.0]


async def test_a_request_waiting_for_the_place_a_429_frees_is_held_back(fake: FakeTime) -> None:
    """With one place per host, the request the 429's answer lets in meets the slow-down: the
    hand-over to it (issue 15) comes after the answer has set the host's pace."""
    arrivals = Arrivals(fake, {"/busy": [busy(429, "5")]})

    async def handler(request: httpx.Request) -> httpx.Response:
        answer = arrivals(request)
        for _ in range(20):  # the other request queues for the place meanwhile
            await asyncio.sleep(0)
        return answer

    async with make_fetcher(fake, handler, retries=0, per_host_concurrency=1) as fetcher:
        results = await fetcher.fetch_many([f"{HOST}/busy", f"{HOST}/page"])
    assert [result.status for result in results] == [429, 200]
    assert arrivals.seen == [("127.0.0.1/busy", 0.0), ("127.0.0.1/page", 5.0)]


async def test_429s_grow_the_interval_and_calm_answers_shrink_it_back(fake: FakeTime) -> None:
    """Each 429 doubles the host's interval (0.5 -> 1 -> 2 -> 4 s); each run of answers
    without one halves it, back to the configured 0.5 s."""
    run = SPEED_UP_AFTER_ANSWERS
    handler = Arrivals(fake, {"/": [busy(429), busy(429), busy(429), httpx.Response(200)]})
    async with make_fetcher(fake, handler, retries=0, per_host_interval_seconds=0.5) as fetcher:
        for _ in range(3 + 3 * run + 2):
            await fetcher.fetch(f"{HOST}/")
    refused = [1.0, 2.0]  # the waits before the second and third 503
    calming = [4.0] * run + [2.0] * run + [1.0] * run
    assert fake.sleeps == refused + calming + [0.5, 0.5]


async def test_the_interval_grows_no_further_than_the_cap(fake: FakeTime) -> None:
    """Without a configured interval, 429s slow a host from 0.25 s up to the cap, no further."""
    handler = Arrivals(fake, {"/": [busy(429)]})
    async with make_fetcher(fake, handler, retries=0) as fetcher:
        for _ in range(9):
            await fetcher.fetch(f"{HOST}/")
    cap = SLOW_INTERVAL_CAP_SECONDS
    assert fake.sleeps == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, cap, cap]


async def test_a_retried_request_waits_for_its_own_retry_after_only(fake: FakeTime) -> None:
    """The request that met the 429 retries after its Retry-After, not twice that."""
    handler = Arrivals(fake, {"/busy": [busy(429, "5"), httpx.Response(200)]})
    async with make_fetcher(fake, handler, retries=1) as fetcher:
        result = await fetcher.fetch(f"{HOST}/busy")
    assert (result.status, fake.sleeps) == (200, [5.0])


async def test_a_slow_down_is_logged_once(fake: FakeTime, caplog: pytest.LogCaptureFixture) -> None:
    """One INFO line when a host is slowed down, not one per refused request."""
    handler = Arrivals(fake, {"/": [busy(503, "3")]})
    with caplog.at_level(logging.INFO, logger="ocwwatch.fetch.client"):
        async with make_fetcher(fake, handler, retries=0) as fetcher:
            for _ in range(4):
                await fetcher.fetch(f"{HOST}/")
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == ["slowing down on 127.0.0.1: 503, waiting 3.0 s, then 0.25 s between requests"]


async def test_one_failing_url_does_not_slow_its_host(fake: FakeTime) -> None:
    """A URL answering 503 forever is retried with its own backoff; the host's other URLs keep
    the configured pace (0.5 s apart) afterwards."""
    handler = Arrivals(fake, {"/down": [busy(503)]})
    async with make_fetcher(
        fake, handler, retries=3, per_host_interval_seconds=0.5, backoff_base_seconds=2.0
    ) as fetcher:
        down = await fetcher.fetch(f"{HOST}/down")
        retry_waits = list(fake.sleeps)
        for n in range(8):
            await fetcher.fetch(f"{HOST}/page{n}")
    assert (down.status, down.attempts) == (503, 4)
    assert 1 <= retry_waits[0] <= 2
    assert 2 <= retry_waits[1] <= 4
    assert 4 <= retry_waits[2] <= 8
    assert fake.sleeps[3:] == pytest.approx([0.5] * 8)


async def test_several_urls_failing_together_slow_the_host(fake: FakeTime) -> None:
    """Four distinct URLs of a host failing (503, no good answer between) slow the host: the
    next request starts a doubled interval later."""
    handler = Arrivals(fake, {f"/down{n}": [busy(503)] for n in range(4)})
    async with make_fetcher(fake, handler, retries=0, per_host_interval_seconds=0.5) as fetcher:
        for n in range(3):
            await fetcher.fetch(f"{HOST}/down{n}")
        await fetcher.fetch(f"{HOST}/page")  # a good answer among three faults: not yet
        await fetcher.fetch(f"{HOST}/down3")
        await fetcher.fetch(f"{HOST}/down0")  # the same URLs again: no further slow-down
        await fetcher.fetch(f"{HOST}/page")
    assert fake.sleeps == [0.5, 0.5, 0.5, 0.5, 1.0, 1.0]


async def test_four_failing_urls_are_one_fault_among_many_good_answers(fake: FakeTime) -> None:
    """Four failing URLs among more good answers in the window leave the host's pace alone."""
    handler = Arrivals(fake, {f"/down{n}": [busy(503)] for n in range(4)})
    async with make_fetcher(fake, handler, retries=0, per_host_interval_seconds=0.5) as fetcher:
        for n in range(5):
            await fetcher.fetch(f"{HOST}/page{n}")
        for n in range(4):
            await fetcher.fetch(f"{HOST}/down{n}")
        await fetcher.fetch(f"{HOST}/page")
    assert set(fake.sleeps) == {0.5}


async def test_a_503_with_retry_after_holds_back_the_host(fake: FakeTime) -> None:
    """A Retry-After on a 503 is the host speaking: every request to it waits it out."""
    handler = Arrivals(fake, {"/down": [busy(503, "4")]})
    async with make_fetcher(fake, handler, retries=0) as fetcher:
        await fetcher.fetch(f"{HOST}/down")
        await fetcher.fetch(f"{HOST}/page")
    assert handler.seen == [("127.0.0.1/down", 0.0), ("127.0.0.1/page", 4.0)]


async def test_a_urls_repeated_429_doubles_the_interval_once(fake: FakeTime) -> None:
    """Retries of one URL meeting 429 again wait out each Retry-After but slow the host once."""
    handler = Arrivals(fake, {"/busy": [busy(429, "1")]})
    async with make_fetcher(fake, handler, retries=3, per_host_interval_seconds=0.5) as fetcher:
        await fetcher.fetch(f"{HOST}/busy")
        await fetcher.fetch(f"{HOST}/page")
    # Each retry waits its Retry-After (1 s); the interval doubled once, to 1 s (not 8 s).
    starts = [t for _where, t in handler.seen]
    assert [b - a for a, b in itertools.pairwise(starts)] == [1.0, 1.0, 1.0, 1.0]


async def test_a_urls_retries_stop_at_its_wait_budget(fake: FakeTime) -> None:
    """Retry-After: 40 with a 60 s budget per URL: one retry (40 s), not a second (80 s)."""
    handler = Arrivals(fake, {"/busy": [busy(503, "40")]})
    async with make_fetcher(fake, handler, retries=3, url_wait_budget_seconds=60) as fetcher:
        result = await fetcher.fetch(f"{HOST}/busy")
    assert (result.status, result.attempts) == (503, 2)


async def test_a_spent_run_budget_stops_retries_and_long_waits(fake: FakeTime) -> None:
    """Once the run's wait budget is spent, a failing URL gets no retry and a request that
    its host would hold back past the budget is not sent: `timeout`, saying why."""
    handler = Arrivals(fake, {"/busy": [busy(429, "30")]})
    async with make_fetcher(fake, handler, retries=3, run_wait_budget_seconds=50) as fetcher:
        first = await fetcher.fetch(f"{HOST}/busy")
        other = await fetcher.fetch(f"{HOST}/page")
    assert (first.status, first.attempts) == (429, 2)
    assert (other.status, other.failure) == (None, FailureKind.TIMEOUT)
    assert other.failure_detail is not None
    assert other.failure_detail.startswith("not asked: 127.0.0.1 is slowed down for")
    assert sum(fake.sleeps) <= 50


async def test_slow_host_spaces_that_host_only(fake: FakeTime) -> None:
    """slow_host (a Crawl-delay) keeps that host's starts apart; other hosts keep their pace."""
    handler = Arrivals(fake, {})
    async with make_fetcher(fake, handler, per_host_interval_seconds=0.5) as fetcher:
        fetcher.slow_host("127.0.0.1", 3.0)
        for url in [f"{OTHER_HOST}/"] * 3 + [f"{HOST}/"] * 3:
            await fetcher.fetch(url)
    assert [t for _where, t in handler.seen] == [0.0, 0.5, 1.0, 1.0, 4.0, 7.0]
