"""Wayback Machine suggestions for dead links found by the deep check (issue 4, item 5): what is
asked, what is suggested and stored, what is cached, and that a failing archive never fails a run.

archive.org's availability API is a stand-in on 127.0.0.1 (through an httpx.MockTransport)
answering the synthetic recordings in tests/fixtures/wayback/; nothing here goes live.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.crawl import HOME, T0, MockSite, by_path, config, deep_run, ok, page, policy

from ocwwatch.archive import ArchiveOptions, suggest_snapshots
from ocwwatch.config import Config, DeepSettings, Settings
from ocwwatch.fetch import Fetcher, Recording, Scenario, replay_transport
from ocwwatch.models import (
    LinkCheck,
    LinkKind,
    LinkState,
    Outcome,
    Resource,
    ResourceKind,
    Suggestion,
)
from ocwwatch.pipeline import Outcomes
from ocwwatch.store import Store

pytestmark = pytest.mark.anyio

WAYBACK = Path(__file__).parent / "fixtures" / "wayback"
ENDPOINT = MockSite.base_url + "/wayback/available"
GONE = HOME + "gone.pdf"
SNAPSHOT = "http://web.archive.org/web/20250110083015/http://127.0.0.1:8000/courses/c1/gone.pdf"

Answer = Callable[[httpx.Request], Awaitable[httpx.Response]]


def recorded(name: str, code: int = 200) -> Answer:
    """archive.org answering with a recording of tests/fixtures/wayback/."""
    body = (WAYBACK / name).read_bytes()

    async def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(code, headers={"content-type": "application/json"}, content=body)

    return answer


async def too_slow(_request: httpx.Request) -> httpx.Response:
    await asyncio.sleep(1)  # within the fetcher's own timeout (2 s), beyond the lookup's
    return httpx.Response(200, content=(WAYBACK / "hit.json").read_bytes())


class Archive:
    """The availability API at ENDPOINT, on the course site's MockSite; logs every lookup."""

    def __init__(self, site: MockSite, answer: Answer) -> None:
        self.site = site
        self.answer = answer
        self.lookups: list[tuple[str, str]] = []  # (the URL asked about, the timestamp)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/wayback/available":
            return self.site.answer(request)
        self.lookups.append((request.url.params["url"], request.url.params["timestamp"]))
        return await self.answer(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def asked(self) -> list[str]:
        return [url for url, _timestamp in self.lookups]


class PublicSite(MockSite):
    """The course site under a public-looking name: only such links are named to archive.org."""

    base_url = "http://ocw.example:8000"


def course(*links: str) -> MockSite:
    """A course home linking `links`; every link not routed answers 404."""
    return PublicSite({HOME: ok(page(*links))})


def wayback_config(site: MockSite, **deep: Any) -> Config:
    return config(site, wayback_endpoint=ENDPOINT, **deep)


async def run(
    store: Store, archive: Archive, cfg: Config, *, days: int = 0, **policy: Any
) -> Outcomes:
    """One deep run, `days` after T0, against the course site and the archive."""
    at = T0 + timedelta(days=days)
    return await deep_run(cfg, store, at=at, transport=archive.transport(), **policy)


def stored_suggestions(store: Store, outcomes: Outcomes) -> dict[str, Suggestion | None]:
    checks = store.load_link_checks(outcomes.report.run.id)
    return {check.url: check.suggestion for check in checks}


# --- a snapshot found ----------------------------------------------------------------------


async def test_dead_link_gets_the_closest_snapshot_in_the_report_and_the_store(
    store: Store,
) -> None:
    """A 404 is looked up as of its first failure; the snapshot is its suggestion, stored too."""
    site = course("gone.pdf")
    archive = Archive(site, recorded("hit.json"))
    outcomes = await run(store, archive, wayback_config(site))
    link = by_path(outcomes, site)[GONE]
    assert archive.lookups == [(site.url(GONE), "20260301")]
    assert link.state is LinkState.DEAD
    assert link.suggestion == Suggestion(
        url=SNAPSHOT,
        reason="the Wayback Machine's snapshot of 2025-01-10,"
        " the closest it has to when the link started failing",
    )
    assert stored_suggestions(store, outcomes)[site.url(GONE)] == link.suggestion


async def test_a_link_dead_for_days_is_looked_up_as_of_its_first_failure(store: Store) -> None:
    """The snapshot asked for is the one closest to the day the link started failing."""
    site = course("gone.pdf")
    await run(store, Archive(site, recorded("hit.json")), wayback_config(site, wayback=False))
    archive = Archive(site, recorded("hit.json"))
    await run(store, archive, wayback_config(site), days=10)
    assert archive.lookups == [(site.url(GONE), "20260301")]


async def test_a_snapshot_found_is_reused_without_asking_again(store: Store) -> None:
    """The next run suggests the cached snapshot and sends archive.org no request."""
    site = course("gone.pdf")
    cfg = wayback_config(site)
    await run(store, Archive(site, recorded("hit.json")), cfg)
    archive = Archive(site, recorded("miss.json"))
    second = await run(store, archive, cfg, days=400)
    assert archive.lookups == []
    assert by_path(second, site)[GONE].suggestion is not None
    assert stored_suggestions(store, second)[site.url(GONE)] is not None


# --- no snapshot ---------------------------------------------------------------------------


async def test_no_snapshot_means_no_suggestion_and_is_not_asked_again_soon(store: Store) -> None:
    """A miss is cached: no suggestion, and no new lookup within wayback_miss_retry_days."""
    site = course("gone.pdf")
    cfg = wayback_config(site, wayback_miss_retry_days=30)
    archive = Archive(site, recorded("miss.json"))
    first = await run(store, archive, cfg)
    second = await run(store, archive, cfg, days=29)
    assert archive.asked() == [site.url(GONE)]
    assert by_path(first, site)[GONE].suggestion is None
    assert by_path(second, site)[GONE].suggestion is None


async def test_a_miss_is_asked_again_once_its_retry_window_is_over(store: Store) -> None:
    """After wayback_miss_retry_days the lookup is made again, and a new snapshot is suggested."""
    site = course("gone.pdf")
    cfg = wayback_config(site, wayback_miss_retry_days=30)
    await run(store, Archive(site, recorded("miss.json")), cfg)
    archive = Archive(site, recorded("hit.json"))
    later = await run(store, archive, cfg, days=31)
    assert archive.asked() == [site.url(GONE)]
    assert by_path(later, site)[GONE].suggestion is not None


async def test_a_snapshot_of_an_error_page_is_no_suggestion(store: Store) -> None:
    """The closest capture answered 404: only a 2xx capture is worth suggesting (a miss)."""
    site = course("gone.pdf")
    archive = Archive(site, recorded("error-capture.json"))
    outcomes = await run(store, archive, wayback_config(site))
    assert by_path(outcomes, site)[GONE].suggestion is None
    lookup = store.load_wayback_lookups([site.url(GONE)])[site.url(GONE)]
    assert lookup.snapshot is None


# --- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(too_slow, id="timeout"),
        pytest.param(recorded("hit.json", 503), id="503"),
        pytest.param(recorded("malformed.json"), id="malformed-json"),
        pytest.param(recorded("wrong-shape.json"), id="wrong-shape"),
    ],
)
async def test_a_failed_lookup_gives_no_suggestion_and_is_not_cached(
    store: Store, answer: Answer
) -> None:
    """The run completes with the link dead and unsuggested; the next run asks again."""
    site = course("gone.pdf")
    cfg = wayback_config(site, wayback_timeout_seconds=0.05)
    archive = Archive(site, answer)
    first = await run(store, archive, cfg)
    await run(store, archive, cfg, days=1)
    link = by_path(first, site)[GONE]
    assert (link.state, link.suggestion) == (LinkState.DEAD, None)
    assert store.load_wayback_lookups([site.url(GONE)]) == {}
    assert archive.asked() == [site.url(GONE)] * 2


async def test_a_failing_archive_is_given_up_after_three_failures(store: Store) -> None:
    """Six dead links and an archive answering garbage: three lookups, then none this run."""
    site = course(*(f"gone-{n}.pdf" for n in range(6)))
    archive = Archive(site, recorded("malformed.json"))
    await run(store, archive, wayback_config(site), per_host_concurrency=1)
    assert len(archive.lookups) == 3


class Logged(httpx.AsyncBaseTransport):
    """A transport that remembers the URLs asked of the one it wraps."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.urls: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        return await self.inner.handle_async_request(request)


async def test_replay_asks_the_recording_not_archive_org_and_caches_nothing(store: Store) -> None:
    """In a replay the lookup goes to the scenario, which has no answer: no suggestion, no cache."""
    home = "https://ocw.mit.edu/courses/c1/"
    html = {"content-type": "text/html"}
    scenario = Scenario(
        name="one-dead-link",
        recordings=(
            Recording(url=home, status=200, headers=html, body=page("gone/")),
            Recording(url=home + "gone/", status=404, headers=html),
        ),
    )
    resource = Resource(id="c1", url=home, kind=ResourceKind.OCW_COURSE)
    settings = Settings(deep=DeepSettings(respect_robots=False))
    replay = Logged(replay_transport(scenario, strict=False))
    cfg = Config(settings=settings, resources=(resource,))
    outcomes = await deep_run(cfg, store, transport=replay)
    link = next(link for link in outcomes.report.links if link.url == home + "gone/")
    assert (link.state, link.suggestion) == (LinkState.DEAD, None)
    lookups = [httpx.URL(url) for url in replay.urls if url.startswith("https://archive.org/")]
    assert [(url.path, url.params["url"]) for url in lookups] == [
        ("/wayback/available", home + "gone/")
    ]
    assert store.load_wayback_lookups([home + "gone/"]) == {}


# --- limits and settings -------------------------------------------------------------------


async def test_at_most_wayback_max_lookups_per_run(store: Store) -> None:
    """Three dead links and a cap of two: two lookups now, the third on the next run."""
    site = course("gone-0.pdf", "gone-1.pdf", "gone-2.pdf")
    cfg = wayback_config(site, wayback_max_lookups=2)
    archive = Archive(site, recorded("hit.json"))
    first = await run(store, archive, cfg)
    first_asked = archive.asked()
    second = await run(store, archive, cfg, days=1)
    suggested = [link.url for link in first.report.links if link.suggestion is not None]
    assert len(first_asked) == 2
    assert sorted(suggested) == sorted(first_asked)
    assert len(archive.asked()) == 3
    assert all(link.suggestion for link in second.report.links if link.state is LinkState.DEAD)


async def test_wayback_off_sends_no_lookup(store: Store) -> None:
    """With `wayback = false` archive.org is never asked and dead links stay unsuggested."""
    site = course("gone.pdf")
    archive = Archive(site, recorded("hit.json"))
    outcomes = await run(store, archive, wayback_config(site, wayback=False))
    assert archive.lookups == []
    assert by_path(outcomes, site)[GONE].suggestion is None


# --- which links are looked up -------------------------------------------------------------

DEAD = LinkCheck(
    url=PublicSite.base_url + "/dead", state=LinkState.DEAD, first_failed_at=T0, failed_runs=1
)
MOVED = Suggestion(url=PublicSite.base_url + "/new", reason="permanent redirect (301; 1 hop)")


async def suggest(store: Store, archive: Archive, check: LinkCheck) -> list[LinkCheck]:
    """`suggest_snapshots` alone, on one check of a run just started."""
    run_id = store.start_run(T0)
    options = ArchiveOptions(endpoint=ENDPOINT)
    async with Fetcher(
        policy(allowed_origins=(ENDPOINT,)), transport=archive.transport()
    ) as fetcher:
        return await suggest_snapshots(
            store,
            fetcher,
            run_id,
            [check],
            options=options,
            now=lambda: T0,
            progress=lambda _l: None,
        )


@pytest.mark.parametrize(
    "check",
    [
        pytest.param(DEAD.model_copy(update={"suggestion": MOVED}), id="already-suggested"),
        pytest.param(DEAD.model_copy(update={"kind": LinkKind.EMBED}), id="video-embed"),
        pytest.param(DEAD.model_copy(update={"state": LinkState.BLOCKED}), id="blocked"),
        pytest.param(DEAD.model_copy(update={"state": LinkState.UNKNOWN}), id="unknown"),
    ],
)
async def test_links_not_looked_up(store: Store, check: LinkCheck) -> None:
    """A redirect's suggestion wins; embeds and links not dead are not looked up either."""
    archive = Archive(MockSite({}), recorded("hit.json"))
    assert await suggest(store, archive, check) == [check]
    assert archive.lookups == []


async def test_soft_404_is_looked_up(store: Store) -> None:
    """A soft 404 is dead too: it gets a snapshot."""
    archive = Archive(MockSite({}), recorded("hit.json"))
    check = DEAD.model_copy(update={"state": LinkState.SOFT404})
    [suggested] = await suggest(store, archive, check)
    assert archive.asked() == [check.url]
    assert suggested.suggestion is not None
    assert suggested.suggestion.url == SNAPSHOT


# --- a dead listed resource without a successor (issue 12) ---------------------------------


def dead_entry_config(site: MockSite, **deep: Any) -> Config:
    """The list names one PDF that now answers 404, with nothing that says where it went."""
    resource = Resource(id="book", url=site.url(GONE), kind=ResourceKind.PDF)
    settings = Settings(deep=DeepSettings(wayback_endpoint=ENDPOINT, **deep))
    return Config(settings=settings, resources=(resource,))


async def test_a_dead_entry_without_successor_gets_its_archived_copy_once(store: Store) -> None:
    """A plain check: the snapshot is the entry's fix; the next run reuses the cached answer."""
    site = course()
    archive = Archive(site, recorded("hit.json"))
    cfg = dead_entry_config(site)
    outcomes = await run(store, archive, cfg, deep=False)
    (item,) = outcomes.report.resources
    assert item.outcome is Outcome.DEAD
    assert item.suggestion is not None
    assert item.suggestion.url == SNAPSHOT
    assert item.suggestion.reason.startswith("no successor found; the Wayback Machine's snapshot")
    again = await run(store, archive, cfg, days=1, deep=False)
    assert again.report.resources[0].suggestion == item.suggestion
    assert archive.asked() == [site.url(GONE)]  # asked once, then cached


async def test_a_dead_entry_on_a_private_host_is_never_named_to_the_archive(store: Store) -> None:
    site = MockSite({HOME: ok(page())})  # 127.0.0.1: not public
    archive = Archive(site, recorded("hit.json"))
    outcomes = await run(store, archive, dead_entry_config(site), deep=False)
    assert outcomes.report.resources[0].suggestion is None
    assert archive.lookups == []
