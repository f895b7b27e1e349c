"""The deep check across runs and inside `run_check`: conditional requests, failure streaks,
offline runs, and how deep links join the run's report. Served on 127.0.0.1 for real."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from support.crawl import (
    HOME,
    OCW_404,
    T0,
    MockSite,
    by_path,
    config,
    deep_run,
    ok,
    page,
    pdf,
    status,
)
from support.loopback import LoopbackServer

from ocwwatch.config import HttpSettings
from ocwwatch.errors import StoreError
from ocwwatch.fetch import Recording
from ocwwatch.judge import is_link_finding
from ocwwatch.models import (
    Expected,
    LinkChecks,
    LinkState,
    Promise,
    Resource,
    ResourceKind,
)
from ocwwatch.report import render_json
from ocwwatch.store import Store

pytestmark = pytest.mark.anyio


def course_routes() -> dict[str, Recording]:
    return {
        HOME: ok(page("pages/a/", "notes.pdf"), etag='"home-1"'),
        HOME + "pages/a/": ok(page("../b/", "../../notes.pdf"), etag='"a-1"'),
        HOME + "pages/b/": ok(page("../a/"), etag='"b-1"'),
        HOME + "notes.pdf": pdf(etag='"n-1"'),
    }


async def test_second_run_asks_pages_conditionally_and_still_finds_their_links(
    store: Store,
) -> None:
    """Run 2 sends each page's ETag, gets 304s, and reads the links from the store instead."""
    with LoopbackServer(course_routes()) as server:
        cfg = config(server)
        first = await deep_run(cfg, store, at=T0)
        server.reset_counts()
        second = await deep_run(cfg, store, at=T0 + timedelta(days=1))
        conditional = {
            path: headers.get("if-none-match")
            for method, path, headers in server.request_log
            if method == "GET" and path.startswith(HOME + "pages/")
        }
        first_links, second_links = set(by_path(first, server)), set(by_path(second, server))
    assert conditional == {HOME + "pages/a/": '"a-1"', HOME + "pages/b/": '"b-1"'}
    assert second_links == first_links
    assert {link.state for link in second.report.links} == {LinkState.OK}


async def test_course_home_answered_304_is_read_from_the_store(store: Store) -> None:
    """When the resource check gets a 304 for the course home, its links come from last run."""
    with LoopbackServer(course_routes()) as server:
        cfg = config(server)
        await deep_run(cfg, store, at=T0)
        server.reset_counts()
        second = await deep_run(cfg, store, at=T0 + timedelta(days=1))
        home_requests = [h for m, p, h in server.request_log if p == HOME]
        found = by_path(second, server)
    assert [h.get("if-none-match") for h in home_requests] == ['"home-1"']
    assert HOME + "notes.pdf" in found


async def test_a_link_failing_three_runs_then_recovering(store: Store) -> None:
    """A 503 for three runs counts 1, 2, 3 failed runs from the first failure; a 200 resets it."""
    routes = {HOME: ok(page("pages/flaky/")), HOME + "pages/flaky/": status(503)}
    seen = []
    with LoopbackServer(routes) as server:
        cfg = config(server, failures_before_finding=3)
        for n in range(4):
            if n == 3:
                server.routes[HOME + "pages/flaky/"] = ok(page())
            outcomes = await deep_run(cfg, store, at=T0 + timedelta(days=n))
            link = by_path(outcomes, server)[HOME + "pages/flaky/"]
            seen.append((link.state, link.failed_runs, link.first_failed_at, outcomes.findings))
    unknown = LinkState.UNKNOWN
    assert seen == [
        (unknown, 1, T0, False),
        (unknown, 2, T0, False),
        (unknown, 3, T0, True),
        (LinkState.OK, 0, None, False),
    ]


async def test_blocked_link_becomes_a_finding_only_after_n_runs(store: Store) -> None:
    """A 403 is not a finding on run 1 of 2, and is one on run 2."""
    mock = MockSite({HOME: ok(page("pages/x/")), HOME + "pages/x/": status(403)})
    cfg = config(mock, failures_before_finding=2)
    first = await deep_run(cfg, store, at=T0, transport=mock.transport())
    second = await deep_run(cfg, store, at=T0 + timedelta(days=1), transport=mock.transport())
    link_1 = by_path(first, mock)[HOME + "pages/x/"]
    link_2 = by_path(second, mock)[HOME + "pages/x/"]
    assert (is_link_finding(link_1, 2), first.report.run.counts.dead) == (False, 0)
    assert (is_link_finding(link_2, 2), second.report.run.counts.dead) == (True, 1)


async def test_dead_link_is_a_finding_at_once(store: Store) -> None:
    """A 404 inside the course counts as dead in the run's counts, and the run has findings."""
    mock = MockSite({HOME: ok(page("gone.pdf"))})
    outcomes = await deep_run(config(mock), store, transport=mock.transport())
    assert outcomes.report.run.counts.dead == 1
    assert outcomes.findings


async def test_offline_run_crawls_nothing_and_judges_nothing(store: Store) -> None:
    """No host answers: the run is offline, no link is judged, only the resource was tried."""
    tried: list[str] = []

    def unreachable(request: httpx.Request) -> httpx.Response:
        tried.append(str(request.url))
        raise httpx.ConnectError("network is unreachable", request=request)

    mock = MockSite({})
    outcomes = await deep_run(config(mock), store, transport=httpx.MockTransport(unreachable))
    assert outcomes.report.run.offline
    assert outcomes.report.links == ()
    assert tried == [mock.url(HOME)]
    assert not outcomes.findings


async def test_without_deep_nothing_beyond_the_resources_is_fetched(store: Store) -> None:
    """The plain check is unchanged: the course home only, no links judged."""
    mock = MockSite(course_routes())
    outcomes = await deep_run(config(mock), store, transport=mock.transport(), deep=False)
    assert mock.requests == [("GET", HOME)]
    assert outcomes.report.links == ()


async def test_pages_the_check_followed_are_merged_not_fetched_again(store: Store) -> None:
    """A promise page the resource check fetched is in `links`, once, and read for links."""
    mock = MockSite(course_routes())
    promise = Promise(text="Unit A", phrases=("nothing",), page="pages/a/")
    resource = Resource(
        id="c1",
        url=mock.url(HOME),
        kind=ResourceKind.OCW_COURSE,
        expected=Expected(promises=(promise,)),
    )
    cfg = config(mock).model_copy(update={"resources": (resource,)})
    outcomes = await deep_run(cfg, store, transport=mock.transport())
    links = by_path(outcomes, mock)
    assert mock.count(HOME + "pages/a/") == 1
    assert links[HOME + "pages/a/"].found_on[0] == mock.url(HOME)
    assert HOME + "pages/b/" in links  # found only on pages/a/


async def test_deep_links_are_stored_with_their_anchors(store: Store) -> None:
    """The report's link checks are the stored ones, read back with every anchor (issue 15:
    the run holds only the links to fix)."""
    mock = MockSite(course_routes())
    outcomes = await deep_run(config(mock), store, transport=mock.transport())
    stored = store.load_link_checks(outcomes.report.run.id)
    assert list(outcomes.report.links) == stored
    assert len(outcomes.report.links) == len(stored)
    notes = next(c for c in stored if c.url.endswith("notes.pdf"))
    assert [a.page for a in notes.anchors] == list(notes.found_on)


async def test_the_json_reports_pass_reads_the_stored_checks_without_their_anchors(
    store: Store,
) -> None:
    """`listed()` is every stored check in order with its anchors left out, and the JSON
    report, which lists none, is the same text from it as from the checks held whole."""
    mock = MockSite(course_routes())
    outcomes = await deep_run(config(mock), store, transport=mock.transport())
    report = outcomes.report
    stored = store.load_link_checks(report.run.id)
    assert any(check.anchors for check in stored)
    listed = list(report.links.listed())
    assert listed == [check.model_copy(update={"anchors": ()}) for check in stored]
    held = report.model_copy(update={"links": LinkChecks(stored)})
    assert render_json(report) == render_json(held)


async def test_links_found_ok_lately_are_not_asked_again_but_pages_are(store: Store) -> None:
    """Within recheck_after_hours a file found ok keeps its verdict unasked, a failing one is
    asked again, and pages are still read (conditionally); after the window all are asked."""
    routes = {**course_routes(), HOME + "pages/b/": ok(page("../a/", "../../gone.pdf"))}
    routes[HOME + "gone.pdf"] = status(404)
    with LoopbackServer(routes) as server:
        cfg = config(server, recheck_after_hours=20)
        await deep_run(cfg, store, at=T0)
        asked_per_run, notes_details = [], []
        for hours in (2, 2 + 21):
            server.reset_counts()
            outcome = await deep_run(cfg, store, at=T0 + timedelta(hours=hours))
            asked_per_run.append({path for _method, path, _headers in server.request_log})
            found = by_path(outcome, server)
            assert (found[HOME + "notes.pdf"].state, found[HOME + "gone.pdf"].state) == (
                LinkState.OK,
                LinkState.DEAD,
            )
            notes_details.append(found[HOME + "notes.pdf"].detail or "")
    soon, later = asked_per_run
    assert HOME + "notes.pdf" not in soon
    assert {HOME + "gone.pdf", HOME + "pages/a/", HOME + "pages/b/"} <= soon
    assert HOME + "notes.pdf" in later
    assert "not asked again" in notes_details[0]
    assert "not asked again" not in notes_details[1]


async def test_a_link_whose_head_was_not_believed_is_asked_by_get_alone_next_run(
    store: Store,
) -> None:
    """A file that answered 404, and one that answered OCW's "not found" page, were asked by
    HEAD and then by the GET that decided: the next run asks them by that GET alone, with the
    same verdicts. Once the file answers again, the run after asks HEAD first again."""
    gone, lost = HOME + "gone.pdf", HOME + "lost.pdf"
    routes = {**course_routes(), HOME + "pages/b/": ok(page("../a/", "../../gone.pdf"))}
    routes[HOME + "pages/a/"] = ok(page("../b/", "../../notes.pdf", "../../lost.pdf"))
    routes[gone], routes[lost] = status(404), ok(OCW_404)
    asked, states = [], []
    with LoopbackServer(routes) as server:
        cfg = config(server, recheck_after_hours=0)
        for day in range(4):
            if day == 2:
                server.routes[gone] = pdf()
            server.reset_counts()
            outcome = await deep_run(cfg, store, at=T0 + timedelta(days=day))
            log = server.request_log
            asked.append([[m for m, path, _ in log if path == url] for url in (gone, lost)])
            found = by_path(outcome, server)
            states.append((found[gone].state, found[lost].state))
    assert asked == [
        [["HEAD", "GET"], ["HEAD", "GET"]],
        [["GET"], ["GET"]],
        [["GET"], ["GET"]],  # the file is back: the GET alone finds it
        [["HEAD"], ["GET"]],  # its HEAD is believed again
    ]
    assert states == [
        (LinkState.DEAD, LinkState.SOFT404),
        (LinkState.DEAD, LinkState.SOFT404),
        (LinkState.OK, LinkState.SOFT404),
        (LinkState.OK, LinkState.SOFT404),
    ]


async def test_another_sites_link_that_failed_is_still_asked_head_first(store: Store) -> None:
    """Another site's page is checked by HEAD, and a 2xx HEAD is believed without reading the
    page: after one failing run, its next check is HEAD first again, not the GET that would
    read a page about "404 Not Found" as a soft 404 (a review's reproduction)."""
    elsewhere = "http://127.0.0.2/docs/404"
    about_404 = b"<html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1>"
    mock = MockSite({})
    mock.routes[HOME] = ok(page(elsewhere, title="Course home"))
    asked: list[list[str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host != "127.0.0.2":
            return mock.answer(request)
        if request.url.path == "/robots.txt":
            return httpx.Response(404)
        asked[-1].append(request.method)
        if len(asked) == 1:
            return httpx.Response(503, headers={"content-type": "text/html"})
        body = b"" if request.method == "HEAD" else about_404
        return httpx.Response(200, headers={"content-type": "text/html"}, content=body)

    cfg = config(mock, recheck_after_hours=0)
    http = HttpSettings(allowed_private_hosts=("http://127.0.0.2",))
    cfg = cfg.model_copy(update={"settings": cfg.settings.model_copy(update={"http": http})})
    states = []
    for day in range(3):
        asked.append([])
        at = T0 + timedelta(days=day)
        outcome = await deep_run(cfg, store, at=at, transport=httpx.MockTransport(answer))
        states.append(by_path(outcome, mock)[elsewhere].state)
    assert asked == [["HEAD", "GET"], ["HEAD"], ["HEAD"]]
    assert states[1:] == [LinkState.OK, LinkState.OK]


async def test_recheck_after_zero_asks_every_link_every_run(store: Store) -> None:
    """recheck_after_hours = 0 turns the window off: a run minutes later asks the file again."""
    with LoopbackServer(course_routes()) as server:
        cfg = config(server, recheck_after_hours=0)
        await deep_run(cfg, store, at=T0)
        server.reset_counts()
        await deep_run(cfg, store, at=T0 + timedelta(minutes=5))
        asked = {path for _method, path, _headers in server.request_log}
    assert HOME + "notes.pdf" in asked


async def test_the_recheck_window_counts_from_the_run_that_asked(store: Store) -> None:
    """Runs every 12 hours: the second takes over the first's answer, the third (24 hours after
    the answer, though 12 after the second run) asks again."""
    with LoopbackServer(course_routes()) as server:
        cfg = config(server, recheck_after_hours=20)
        await deep_run(cfg, store, at=T0)
        asked_per_run = []
        for hours in (12, 24):
            server.reset_counts()
            await deep_run(cfg, store, at=T0 + timedelta(hours=hours))
            asked_per_run.append({path for _method, path, _headers in server.request_log})
    assert [HOME + "notes.pdf" in asked for asked in asked_per_run] == [False, True]


async def test_a_deep_runs_report_holds_the_links_to_fix_and_reads_the_rest(
    store: Store, tmp_path: Path
) -> None:
    """Issue 15: a deep run's memory does not grow with its links. The report holds the links
    to fix; every pass over all of them reads the store again, a batch at a time."""
    routes = course_routes()
    routes[HOME + "pages/b/"] = ok(page("../a/", "../../gone.pdf"), etag='"b-1"')
    mock = MockSite(routes)
    outcomes = await deep_run(config(mock), store, transport=mock.transport())
    links = outcomes.report.links
    [gone] = links.where({LinkState.DEAD})
    assert gone.url.endswith("gone.pdf")
    assert len(links) == len(list(links)) == 4
    store.close()
    store.path.rename(tmp_path / "elsewhere.db")
    assert list(links.where({LinkState.DEAD})) == [gone]  # held: no store needed
    with pytest.raises(StoreError, match="no database yet"):
        list(links.where({LinkState.OK}))  # the working ones live in the store only
