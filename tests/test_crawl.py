"""The deep check, one link state or crawl rule per test, on tiny course sites answered through
an httpx.MockTransport (MockSite) or served on 127.0.0.1 (LoopbackServer)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
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

from ocwwatch.crawl import readers
from ocwwatch.crawl.crawler import FOUND_ON_KEPT
from ocwwatch.extract import extract_links
from ocwwatch.models import LinkChecks, LinkKind, LinkState, ResourceKind
from ocwwatch.store import Store

pytestmark = pytest.mark.anyio


def site(*links: str | tuple[str, str], **routes: object) -> MockSite:
    """A course home at HOME linking `links`; `routes` maps more paths (as keywords) later."""
    return MockSite({HOME: ok(page(*links, title="Course home"))})


async def states(mock: MockSite, store: Store, **deep: Any) -> dict[str, LinkState]:
    outcomes = await deep_run(config(mock, **deep), store, transport=mock.transport())
    return {path: link.state for path, link in by_path(outcomes, mock).items()}


# --- crawling --------------------------------------------------------------------------------


async def test_pages_inside_the_prefix_are_read_for_more_links(store: Store) -> None:
    """A page under the course's prefix is read: the links on it are found and checked."""
    mock = site("pages/unit-1/")
    mock.routes[HOME + "pages/unit-1/"] = ok(page("session-1/"))
    mock.routes[HOME + "pages/unit-1/session-1/"] = ok(page())
    found = await states(mock, store)
    assert found[HOME + "pages/unit-1/session-1/"] is LinkState.OK


async def test_pages_outside_the_prefix_are_checked_but_not_read(store: Store) -> None:
    """A page of the same host outside the course is checked, and its links are not followed."""
    mock = site("/about/")
    mock.routes["/about/"] = ok(page("/about/team/"))
    found = await states(mock, store)
    assert found["/about/"] is LinkState.OK
    assert "/about/team/" not in found
    assert mock.count("/about/team/") == 0


async def test_each_url_is_fetched_once_per_run(store: Store) -> None:
    """Links repeated across pages, in other spellings, are fetched once."""
    upper = "HTTP://127.0.0.1:8000/courses/c1/pages/b/#top"
    mock = site("pages/a/", "pages/b/", "notes.pdf")
    mock.routes[HOME + "pages/a/"] = ok(page("../b/", "../../notes.pdf", HOME))
    mock.routes[HOME + "pages/b/"] = ok(page(upper, "/courses/c1/pages/a/", "../../notes.pdf"))
    mock.routes[HOME + "notes.pdf"] = pdf()
    await states(mock, store)
    counts = {path: mock.count(path) for _method, path in mock.requests}
    assert counts == {
        HOME: 1,
        "/robots.txt": 1,
        HOME + "pages/a/": 1,
        HOME + "pages/b/": 1,
        HOME + "notes.pdf": 1,
    }


async def test_found_on_lists_every_page_with_its_anchor_text(store: Store) -> None:
    """A link on two pages records both pages, and its text on each (in the store)."""
    mock = site(("pages/a/", "Unit A"), ("notes.pdf", "Lecture notes (PDF)"))
    mock.routes[HOME + "pages/a/"] = ok(page(("../../notes.pdf", "Notes")))
    mock.routes[HOME + "notes.pdf"] = pdf()
    outcomes = await deep_run(config(mock), store, transport=mock.transport())
    stored = store.load_link_checks(outcomes.report.run.id)
    link = next(check for check in stored if check.url == mock.url(HOME + "notes.pdf"))
    assert link.found_on == (mock.url(HOME), mock.url(HOME + "pages/a/"))
    assert [(a.page, a.text) for a in link.anchors] == [
        (mock.url(HOME), "Lecture notes (PDF)"),
        (mock.url(HOME + "pages/a/"), "Notes"),
    ]


async def test_max_pages_bounds_the_pages_read(store: Store) -> None:
    """With max_pages = 2, the home and one more page are read; the rest are only checked."""
    mock = site("pages/a/", "pages/b/")
    mock.routes[HOME + "pages/a/"] = ok(page("only-via-a/"))
    mock.routes[HOME + "pages/b/"] = ok(page("only-via-b/"))
    found = await states(mock, store, max_pages=2, workers=1)
    assert found[HOME + "pages/a/"] is LinkState.OK
    assert found[HOME + "pages/b/"] is LinkState.OK
    assert HOME + "pages/b/only-via-b/" not in found


async def test_per_resource_override_of_max_pages(store: Store) -> None:
    """`[deep.resources.c1] max_pages = 1` reads the home only."""
    mock = site("pages/a/")
    mock.routes[HOME + "pages/a/"] = ok(page("deeper/"))
    found = await states(mock, store, resources={"c1": {"max_pages": 1}})
    assert HOME + "pages/a/deeper/" not in found


async def test_a_course_left_out_of_deep_runs_is_not_crawled(store: Store) -> None:
    """`[deep.resources.c1] crawl = false`: the course is checked, its site is not crawled."""
    mock = site("pages/a/")
    found = await states(mock, store, resources={"c1": {"crawl": False}})
    assert found == {}
    assert mock.requests == [("GET", HOME)]


async def test_links_of_a_not_found_page_are_not_followed(store: Store) -> None:
    """OCW's 404 page links to the site's chrome; those links are not checked."""
    mock = site("pages/gone/")
    mock.routes[HOME + "pages/gone/"] = ok(OCW_404)
    found = await states(mock, store)
    assert set(found) == {HOME + "pages/gone/"}


async def test_redirect_target_linked_directly_is_not_fetched_again(store: Store) -> None:
    """A page reached through a redirect is not fetched again for a direct link to it."""
    mock = site("old/", "pages/new/")
    mock.routes[HOME + "old/"] = moved(301, HOME + "pages/new/")
    mock.routes[HOME + "pages/new/"] = ok(page())
    found = await states(mock, store, workers=1)
    assert found[HOME + "pages/new/"] is LinkState.OK
    assert mock.count(HOME + "pages/new/") == 1


async def test_frontier_and_sources_live_in_the_store(store: Store, tmp_path: Path) -> None:
    """Every found URL has one frontier row, done, with one source row per page."""
    mock = site("pages/a/", "notes.pdf")
    mock.routes[HOME + "pages/a/"] = ok(page("../../notes.pdf"))
    mock.routes[HOME + "notes.pdf"] = pdf()
    outcomes = await deep_run(config(mock), store, transport=mock.transport())
    run_id = outcomes.report.run.id
    assert store.count_frontier(run_id) == {"queued": 0, "claimed": 0, "done": 3}
    [notes] = [f for f in store.load_found_links(run_id, 0, 100) if f.entry.url.endswith(".pdf")]
    [stored] = [c for c in store.load_link_checks(run_id) if c.url == notes.entry.url]
    assert stored.found_on_count == 2


async def test_reports_carry_every_page_of_a_broken_link_and_the_first_of_a_working_one(
    store: Store,
) -> None:
    """A link on more pages than FOUND_ON_KEPT: the report lists them all when it is broken
    (each is a place to fix), the first ones and the count when it works; the store keeps the
    same, so that a run's checks do not copy a site's menu links once per page (issue 15)."""
    pages = [f"pages/p{n:02}/" for n in range(FOUND_ON_KEPT + 5)]
    mock = site(*pages)
    for path in pages:
        mock.routes[HOME + path] = ok(page("../../notes.pdf", "../../gone.pdf"))
    mock.routes[HOME + "notes.pdf"] = pdf()
    # One link in flight: pages are read in page order, so found_on is in that order too.
    outcomes = await deep_run(config(mock, workers=1), store, transport=mock.transport())
    links = by_path(outcomes, mock)
    notes, gone = links[HOME + "notes.pdf"], links[HOME + "gone.pdf"]
    assert (notes.state, gone.state) == (LinkState.OK, LinkState.DEAD)
    every_page = tuple(mock.url(HOME + path) for path in pages)
    assert notes.found_on == every_page[:FOUND_ON_KEPT]
    assert notes.found_on_count == len(pages)
    assert (gone.found_on, gone.found_on_count) == (every_page, len(pages))
    stored = {c.url: c for c in store.load_link_checks(outcomes.report.run.id)}
    assert (stored[notes.url], stored[gone.url]) == (notes, gone)
    assert len(notes.anchors) == FOUND_ON_KEPT


async def test_the_store_answers_as_a_pass_over_every_check_would(store: Store) -> None:
    """`first_by_url` and `states_of` on a deep run's checks are answered by the store (sorted
    and picked there): the same links, in the same order, as a pass over every check read back
    (issue 15)."""
    pages = [f"pages/p{n:02}/" for n in range(12)]
    mock = site(*pages)
    for n, path in enumerate(pages):
        mock.routes[HOME + path] = ok(page(f"../../notes-{n}.pdf", f"../../gone-{n}.pdf"))
        mock.routes[HOME + f"notes-{n}.pdf"] = pdf()
    outcomes = await deep_run(config(mock), store, transport=mock.transport())
    links = outcomes.report.links
    assert "stored" in repr(links)  # read back from the store, not held
    working = {LinkState.OK, LinkState.SKIPPED}
    every = sorted((c for c in links if c.state in working), key=lambda c: c.url)
    assert len(every) > 12
    assert links.first_by_url(5, working) == every[:5]
    assert links.first_by_url(1000, working) == every
    dead = links.first_by_url(3, {LinkState.DEAD})
    assert [c.url for c in dead] == sorted(c.url for c in links.where({LinkState.DEAD}))[:3]
    asked = {dead[0].url, every[0].url, HOME + "never-linked/"}
    states = {dead[0].url: LinkState.DEAD, every[0].url: every[0].state}
    assert links.states_of(asked) == states
    held = LinkChecks(tuple(links))  # the same checks held: the pass in Python agrees
    assert held.first_by_url(5, working) == every[:5]
    assert held.states_of(asked) == states


async def test_link_kinds_are_recorded(store: Store) -> None:
    """Pages, files, other sites' links and video embeds each get their kind."""
    mock = site("pages/a/", "notes.pdf", "/about/", "https://www.youtube.com/embed/XXcL1p0001a")
    mock.routes[HOME + "notes.pdf"] = pdf()
    outcomes = await deep_run(config(mock), store, transport=mock.transport())
    kinds = {path: link.kind for path, link in by_path(outcomes, mock).items()}
    assert kinds == {
        HOME + "pages/a/": LinkKind.PAGE,
        HOME + "notes.pdf": LinkKind.FILE,
        "/about/": LinkKind.EXTERNAL,
        "https://www.youtube.com/embed/XXcL1p0001a": LinkKind.EMBED,
    }


# --- files: HEAD, and GET where HEAD fails ---------------------------------------------------


async def test_a_file_is_checked_by_head_alone(store: Store) -> None:
    """A PDF that answers HEAD with 200 is ok after one HEAD, its body never fetched."""
    mock = site("notes.pdf")
    mock.routes[HOME + "notes.pdf"] = pdf()
    found = await states(mock, store)
    assert found[HOME + "notes.pdf"] is LinkState.OK
    assert ("GET", HOME + "notes.pdf") not in mock.requests
    assert ("HEAD", HOME + "notes.pdf") in mock.requests


@pytest.mark.parametrize("refusal", [405, 501])
async def test_head_refused_falls_back_to_get(store: Store, refusal: int) -> None:
    """HEAD answered 405 or 501: a GET decides, and the file is ok."""
    mock = site("notes.pdf")
    mock.routes[HOME + "notes.pdf"] = pdf()
    mock.head[HOME + "notes.pdf"] = status(refusal)
    found = await states(mock, store)
    assert found[HOME + "notes.pdf"] is LinkState.OK
    assert ("GET", HOME + "notes.pdf") in mock.requests


async def test_head_that_lies_is_overruled_by_get(store: Store) -> None:
    """A server that answers HEAD with 404 but GET with the file: ok, not dead."""
    mock = site("notes.pdf")
    mock.routes[HOME + "notes.pdf"] = pdf()
    mock.head[HOME + "notes.pdf"] = status(404)
    assert (await states(mock, store))[HOME + "notes.pdf"] is LinkState.OK


async def test_pdf_link_landing_on_html_is_dead(store: Store) -> None:
    """A .pdf link that now answers with a web page is dead (DESIGN.md), though it says 200."""
    mock = site("book.pdf")
    mock.routes[HOME + "book.pdf"] = moved(301, HOME + "pages/textbook/")
    mock.routes[HOME + "pages/textbook/"] = ok(page(title="Textbook"))
    outcomes = await deep_run(config(mock), store, transport=mock.transport())
    link = by_path(outcomes, mock)[HOME + "book.pdf"]
    assert (link.state, link.http_status) == (LinkState.DEAD, 200)
    assert link.detail == "the PDF link now lands on text/html, not a PDF"


def reader_site() -> MockSite:
    mock = site("pages/a/", "notes.pdf")
    mock.routes[HOME + "pages/a/"] = ok(page("session-1/"))
    mock.routes[HOME + "pages/a/session-1/"] = ok(page())
    mock.routes[HOME + "notes.pdf"] = pdf()
    return mock


READER_FOUND = {
    HOME + "pages/a/": LinkState.OK,
    HOME + "notes.pdf": LinkState.OK,
    HOME + "pages/a/session-1/": LinkState.OK,
}


async def test_a_crawl_with_page_readers_finds_the_same_links(store: Store) -> None:
    """With deep.extract_workers = 1 the crawl finds what it finds reading pages itself (pages
    that come before the reader is ready are read here)."""
    assert await states(reader_site(), store, extract_workers=1) == READER_FOUND


async def test_a_reader_process_reads_pages_as_this_process_would() -> None:
    """Once started, a reader answers with the kind and links extract_links finds."""
    body = page("pages/a/", "notes.pdf", "https://www.youtube.com/embed/abc")
    url = "http://127.0.0.1:8000" + HOME
    async with readers.PageReaders(1) as pool:
        await pool.started()
        assert pool.ready
        read = await pool.read(body, url, "text/html")
    direct = extract_links(body, url, "text/html")
    assert (read.metadata.page_kind, read.links) == (direct.metadata.page_kind, direct.links)
    assert len(read.links) == 3


async def test_a_reader_outlives_the_signals_sent_to_its_process_group() -> None:
    """SIGINT and SIGTERM reach the readers with the crawl; the crawl decides when they stop,
    so a reader goes on reading after either."""
    body = page("pages/a/")
    url = "http://127.0.0.1:8000" + HOME
    async with readers.PageReaders(1) as pool:
        await pool.started()
        for reader in pool._processes:
            reader.send_signal(signal.SIGTERM)
            reader.send_signal(signal.SIGINT)
        await asyncio.sleep(0.2)
        read = await pool.read(body, url, "text/html")
        assert pool.ready
    assert read.links == extract_links(body, url, "text/html").links


@pytest.mark.parametrize(
    ("main", "warning"),
    [
        ("raise SystemExit(0)", "a page reader did not start"),
        ("import sys; sys.stdout.buffer.write(b'ready\\n'); sys.stdout.flush()", "failed"),
    ],
    ids=["exits at start", "exits after saying ready"],
)
async def test_a_reader_that_dies_leaves_the_pages_to_this_process(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, main: str, warning: str
) -> None:
    """A reader process that exits: a warning, and the page still read here."""
    monkeypatch.setattr(readers, "READER_MAIN", main)
    body = page("pages/a/")
    url = "http://127.0.0.1:8000" + HOME
    async with readers.PageReaders(1) as pool:
        await pool.started()
        read = await pool.read(body, url, "text/html")
    assert read == extract_links(body, url, "text/html")
    assert warning in caplog.text


async def test_a_page_resource_has_its_own_links_checked_one_level(store: Store) -> None:
    """--deep reads a `page` resource alone: its links are checked, theirs are not (issue 12)."""
    site = MockSite(
        {
            "/reading/": ok(page("/reading/notes/", "/gone/")),
            "/reading/notes/": ok(page("/reading/notes/deeper/")),
        }
    )
    cfg = config(site, home="/reading/")
    listed = cfg.resources[0].model_copy(update={"kind": ResourceKind.PAGE})
    cfg = cfg.model_copy(update={"resources": (listed,)})
    outcomes = await deep_run(cfg, store, transport=httpx.MockTransport(site.answer))
    links = by_path(outcomes, site)
    assert links["/gone/"].state is LinkState.DEAD
    assert links["/reading/notes/"].state is LinkState.OK
    assert "/reading/notes/deeper/" not in links
