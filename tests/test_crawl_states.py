"""The deep check's link states (DESIGN.md, "Link states"), one per test, and the politeness and
safety rules that decide whether a link is fetched at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from support.crawl import (
    HOME,
    OCW_404,
    MockSite,
    Served,
    by_path,
    config,
    deep_run,
    moved,
    ok,
    page,
    pdf,
    status,
)

from ocwwatch.config import Config, HttpSettings, Settings
from ocwwatch.fetch import Recording, load_scenario, replay_transport
from ocwwatch.models import LinkCheck, LinkState, Resource, ResourceKind
from ocwwatch.store import Store

pytestmark = pytest.mark.anyio


async def check_one(
    store: Store, target: str, mock: MockSite | None = None, **deep: Any
) -> LinkCheck:
    """Crawl a home that links only `target` (a path or URL); return that link's check."""
    mock = mock or MockSite({})
    mock.routes[HOME] = ok(page(target, title="Course home"))
    outcomes = await deep_run(config(mock, **deep), store, transport=mock.transport())
    return by_path(outcomes, mock)[target]


def served(mock: Served, path: str) -> str:
    return mock.url(path)


# --- dead and soft 404 ----------------------------------------------------------------------


@pytest.mark.parametrize("code", [404, 410])
async def test_not_found_and_gone_are_dead(store: Store, code: int) -> None:
    """A page answering 404 or 410 is dead, with its status."""
    mock = MockSite({HOME + "pages/x/": status(code)})
    link = await check_one(store, HOME + "pages/x/", mock)
    assert (link.state, link.http_status) == (LinkState.DEAD, code)


async def test_a_name_that_cannot_resolve_is_dead(store: Store) -> None:
    """A link to a host under .invalid is dead, and no lookup is tried."""
    link = await check_one(store, "https://course-notes.invalid/ch1.pdf")
    assert link.state is LinkState.DEAD
    assert ".invalid" in (link.detail or "")


async def test_not_found_page_served_with_200_is_soft404(store: Store) -> None:
    """OCW's 404 body answered with status 200 is a soft 404."""
    mock = MockSite({HOME + "pages/x/": ok(OCW_404)})
    link = await check_one(store, HOME + "pages/x/", mock)
    assert (link.state, link.http_status) == (LinkState.SOFT404, 200)


async def test_redirect_to_the_site_home_is_soft404(store: Store) -> None:
    """A deep link redirected to the host's home page is a soft 404, with no suggestion."""
    mock = MockSite({HOME + "pages/x/": moved(302, "/"), "/": ok(page(title="OCW"))})
    link = await check_one(store, HOME + "pages/x/", mock)
    assert link.state is LinkState.SOFT404
    assert link.suggestion is None
    assert link.detail == f"redirects to the site's home page ({mock.url('/')})"


# --- redirected ----------------------------------------------------------------------------


async def test_permanent_redirect_is_redirected_with_a_suggestion(store: Store) -> None:
    """A 301 to a page that answers is `redirected`, with the chain and the new URL suggested."""
    mock = MockSite({HOME + "old/": moved(301, HOME + "new/"), HOME + "new/": ok(page())})
    link = await check_one(store, HOME + "old/", mock)
    assert link.state is LinkState.REDIRECTED
    assert [(hop.url, hop.status) for hop in link.redirects] == [(mock.url(HOME + "old/"), 301)]
    assert link.final_url == mock.url(HOME + "new/")
    assert link.suggestion is not None
    assert link.suggestion.url == mock.url(HOME + "new/")


async def test_temporary_redirect_is_redirected_without_a_suggestion(store: Store) -> None:
    """A 302 is `redirected`, but the list is not told to change."""
    mock = MockSite({HOME + "old/": moved(302, HOME + "new/"), HOME + "new/": ok(page())})
    link = await check_one(store, HOME + "old/", mock)
    assert (link.state, link.suggestion) == (LinkState.REDIRECTED, None)


# --- blocked and unknown -------------------------------------------------------------------


@pytest.mark.parametrize("code", [401, 403, 429])
async def test_refusals_are_blocked_not_dead(store: Store, code: int) -> None:
    """401, 403 and 429 are `blocked`, failing for the first run."""
    mock = MockSite({HOME + "pages/x/": status(code)})
    link = await check_one(store, HOME + "pages/x/", mock)
    assert (link.state, link.failed_runs) == (LinkState.BLOCKED, 1)


async def test_bot_challenge_is_blocked(store: Store) -> None:
    """A 503 that is a bot challenge (cf-mitigated) is `blocked`, not `unknown`."""
    headers = {"content-type": "text/html", "cf-mitigated": "challenge"}
    challenge = Recording(url="", status=503, headers=headers, body=b"<title>Just a moment</title>")
    mock = MockSite({HOME + "pages/x/": challenge})
    link = await check_one(store, HOME + "pages/x/", mock)
    assert link.state is LinkState.BLOCKED
    assert "bot challenge" in (link.detail or "")


@pytest.mark.parametrize("code", [500, 502, 503])
async def test_server_errors_are_unknown(store: Store, code: int) -> None:
    """5xx says nothing about the link itself: `unknown`."""
    mock = MockSite({HOME + "pages/x/": status(code)})
    link = await check_one(store, HOME + "pages/x/", mock)
    assert (link.state, link.http_status) == (LinkState.UNKNOWN, code)


async def test_timeout_is_unknown(store: Store) -> None:
    """A link whose server never answers in time is `unknown`."""
    timeout = {HOME + "pages/x/": lambda r: httpx.ReadTimeout("too slow", request=r)}
    link = await check_one(store, HOME + "pages/x/", MockSite({}, errors=timeout))
    assert (link.state, link.http_status) == (LinkState.UNKNOWN, None)


async def test_reset_connection_is_unknown(store: Store) -> None:
    """A connection reset before any answer is `unknown`."""
    reset = {HOME + "pages/x/": lambda r: httpx.ReadError("connection reset", request=r)}
    link = await check_one(store, HOME + "pages/x/", MockSite({}, errors=reset))
    assert link.state is LinkState.UNKNOWN


async def test_retry_after_is_honoured_before_judging(store: Store) -> None:
    """A 429 with Retry-After: 7 is retried after 7 s; the second answer (200) decides."""
    too_many = Recording(url="", status=429, headers={"retry-after": "7"})
    answers = iter([too_many, ok(page())])
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    def clock() -> float:
        return sum(slept)  # time passes only in sleep, as the fetcher's waits assume

    mock = MockSite({})
    mock.routes[HOME] = ok(page("pages/x/"))

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == HOME + "pages/x/":
            recording = next(answers)
            return httpx.Response(recording.status, headers=dict(recording.headers))
        return mock.answer(request)

    outcomes = await deep_run(
        config(mock),
        store,
        transport=httpx.MockTransport(answer),
        sleep=sleep,
        clock=clock,
        retries=1,
    )
    assert by_path(outcomes, mock)[HOME + "pages/x/"].state is LinkState.OK
    assert slept == [7.0]


# --- skipped: robots.txt and safety --------------------------------------------------------


async def test_robots_disallowed_link_is_skipped_with_the_reason(store: Store) -> None:
    """A URL robots.txt disallows for ocwwatch is `skipped`, never fetched."""
    robots = ok(b"User-agent: ocwwatch\nDisallow: /courses/c1/private/\n", "text/plain")
    mock = MockSite({"/robots.txt": robots})
    link = await check_one(store, HOME + "private/notes/", mock)
    assert link.state is LinkState.SKIPPED
    assert link.detail == "disallowed by robots.txt for 'ocwwatch'"
    assert mock.count(HOME + "private/notes/") == 0


async def test_robots_rules_for_other_agents_do_not_apply(store: Store) -> None:
    """Rules written for another crawler leave ocwwatch free to check the link."""
    robots = ok(b"User-agent: BadBot\nDisallow: /\n", "text/plain")
    mock = MockSite({"/robots.txt": robots, HOME + "pages/x/": ok(page())})
    assert (await check_one(store, HOME + "pages/x/", mock)).state is LinkState.OK


async def test_robots_answering_5xx_skips_the_host(store: Store) -> None:
    """robots.txt answering 503 means 'assume all disallowed' (RFC 9309): links are skipped."""
    mock = MockSite({"/robots.txt": status(503), HOME + "pages/x/": ok(page())})
    link = await check_one(store, HOME + "pages/x/", mock)
    assert link.state is LinkState.SKIPPED
    assert "RFC 9309" in (link.detail or "")


async def test_robots_can_be_ignored_by_setting(store: Store) -> None:
    """With respect_robots = false, robots.txt is neither fetched nor obeyed."""
    robots = ok(b"User-agent: *\nDisallow: /\n", "text/plain")
    mock = MockSite({"/robots.txt": robots, HOME + "pages/x/": ok(page())})
    link = await check_one(store, HOME + "pages/x/", mock, respect_robots=False)
    assert link.state is LinkState.OK
    assert mock.count("/robots.txt") == 0


async def test_link_to_a_private_address_is_skipped(store: Store) -> None:
    """A found link to a loopback host no resource lives on is skipped, never fetched."""
    link = await check_one(store, "http://127.0.0.2:8080/admin/")
    assert link.state is LinkState.SKIPPED
    assert "127.0.0.2 is a loopback address; refused" in (link.detail or "")


async def test_allowed_private_hosts_may_be_reached(store: Store) -> None:
    """A private origin named in [http] allowed_private_hosts is checked like any other."""
    mock = MockSite({})
    mock.routes[HOME] = ok(page("http://127.0.0.2/notes.pdf"))

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "127.0.0.2":
            return httpx.Response(200, headers={"content-type": "application/pdf"})
        return mock.answer(request)

    cfg = config(mock)
    http = HttpSettings(allowed_private_hosts=("http://127.0.0.2",))
    cfg = cfg.model_copy(update={"settings": cfg.settings.model_copy(update={"http": http})})
    outcomes = await deep_run(cfg, store, transport=httpx.MockTransport(answer))
    link = by_path(outcomes, mock)["http://127.0.0.2/notes.pdf"]
    assert link.state is LinkState.OK


async def test_external_links_can_be_left_unchecked(store: Store) -> None:
    """With check_external = false, links leaving the course sites are skipped."""
    mock = MockSite({"/about/": ok(page())})
    link = await check_one(store, "/about/", mock, check_external=False)
    assert link.state is LinkState.SKIPPED
    assert mock.count("/about/") == 0


async def test_a_verdict_taken_over_does_not_outlive_check_external_false(store: Store) -> None:
    """An external link found ok an hour ago is skipped, not ok, once check_external is off:
    the settings of this run come before the recheck window."""
    mock = MockSite({"/about/": ok(page())})
    assert (await check_one(store, "/about/", mock)).state is LinkState.OK
    link = await check_one(store, "/about/", mock, check_external=False)
    assert link.state is LinkState.SKIPPED


async def test_file_outside_the_site_is_checked_by_head(store: Store) -> None:
    """A file on another path of the host is checked (HEAD), not read."""
    mock = MockSite({"/files/book.pdf": pdf()})
    link = await check_one(store, "/files/book.pdf", mock)
    assert link.state is LinkState.OK
    assert mock.requests[-1] == ("HEAD", "/files/book.pdf")


# --- video embeds: YouTube oEmbed, from recorded responses -----------------------------------

YOUTUBE = Path(__file__).parent / "fixtures" / "scenarios" / "deep-youtube"
COURSE = "https://ocw.mit.edu/courses/18-01sc-single-variable-calculus-fall-2010/"


async def embed_states(store: Store) -> dict[str, LinkCheck]:
    """The deep-youtube scenario replayed strictly: the embed URLs themselves are never asked."""
    resource = Resource(id="18.01sc", url=COURSE, kind=ResourceKind.OCW_COURSE)
    cfg = Config(settings=Settings(), resources=(resource,))
    transport = replay_transport(load_scenario(YOUTUBE), strict=True)
    outcomes = await deep_run(cfg, store, transport=transport)
    return {link.url.rsplit("/", 1)[-1]: link for link in outcomes.report.links}


async def test_existing_video_is_ok(store: Store) -> None:
    """An embed whose video oEmbed knows is ok."""
    assert (await embed_states(store))["XXcL1p0001a"].state is LinkState.OK


async def test_removed_video_is_dead_though_its_embed_would_answer_200(store: Store) -> None:
    """oEmbed's 404 makes the embed dead, with the reason."""
    link = (await embed_states(store))["XXcL1p0002b"]
    assert (link.state, link.http_status) == (LinkState.DEAD, 404)
    assert link.detail == "YouTube has no such video (oEmbed answered 404)"


async def test_private_video_is_blocked(store: Store) -> None:
    """oEmbed's 401 (a private video) is blocked: a finding only after several runs."""
    link = (await embed_states(store))["XXcL1p0003c"]
    assert (link.state, link.failed_runs) == (LinkState.BLOCKED, 1)
