"""Item 6 of "Safe by default": a page or a run cannot make the deep check collect unbounded
links. Each cap cuts the crawl where it says, and the run's reports say it was cut."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from support.crawl import HOME, MockSite, by_path, config, deep_run, ok, page

from ocwwatch.crawl import readers
from ocwwatch.extract import LINKS_CUT, extract_links, links_were_cut
from ocwwatch.extract.dom import collect_links
from ocwwatch.models import ElementKind
from ocwwatch.report import render_json, render_markdown
from ocwwatch.store import Store

pytestmark = pytest.mark.anyio

URL = "https://example.org/p/"


def test_extraction_keeps_the_first_max_links_and_says_it_cut() -> None:
    """A page with five links read with max_links = 3: the first three, and a LINKS_CUT problem."""
    body = page("a", "b", "c", "d", "e")
    extraction = extract_links(body, URL, "text/html", max_links=3)
    assert [link.url for link in extraction.links] == [URL + "a", URL + "b", URL + "c"]
    assert [p for p in extraction.metadata.problems if p.startswith(LINKS_CUT)] == [
        f"{LINKS_CUT} 3: the page has more (deep.max_links_per_page)"
    ]


def test_a_page_within_max_links_is_not_cut() -> None:
    """Exactly max_links links: all kept, no problem."""
    extraction = extract_links(page("a", "b", "c"), URL, "text/html", max_links=3)
    assert (len(extraction.links), extraction.metadata.problems) == (3, ())


def test_link_collection_stops_reading_one_past_the_cap() -> None:
    """collect_links takes one pair past the limit and no more: the rest are never resolved."""

    def pairs() -> Iterator[tuple[str, str, str, ElementKind, bool]]:
        yield from ((f"/{n}", "", "a[href]", ElementKind.LINK, False) for n in range(3))
        raise AssertionError("read past the cap")

    assert len(collect_links(pairs(), URL, limit=2)) == 3


async def test_max_links_per_page_cuts_a_page_and_the_run_says_so(store: Store) -> None:
    """A home with five links and max_links_per_page = 3: three are checked; a run note says."""
    mock = MockSite({HOME: ok(page("a/", "b/", "c/", "d/", "e/", title="Course home"))})
    for name in "abcde":
        mock.routes[HOME + f"{name}/"] = ok(page())
    outcomes = await deep_run(config(mock, max_links_per_page=3), store, transport=mock.transport())
    found = set(by_path(outcomes, mock))
    assert found == {HOME + "a/", HOME + "b/", HOME + "c/"}
    assert mock.count(HOME + "d/") == 0
    (note,) = outcomes.report.run.notes
    assert note.startswith("deep.max_links_per_page (3) cut the links of 1 page(s)")
    assert json.loads(render_json(outcomes.report))["run"]["notes"] == [note]
    assert f"- {note}" in render_markdown(outcomes.report).replace("\\", "")


async def test_max_links_per_run_stops_queueing_and_the_run_says_so(store: Store) -> None:
    """max_links_per_run = 3: the crawl queues three links, drops the rest, and notes it."""
    mock = MockSite({HOME: ok(page("a/", "b/", title="Course home"))})
    mock.routes[HOME + "a/"] = ok(page("../c/", "../d/", "../e/"))
    for name in "bcde":
        mock.routes[HOME + f"{name}/"] = ok(page())
    outcomes = await deep_run(
        config(mock, max_links_per_run=3, workers=1), store, transport=mock.transport()
    )
    found = set(by_path(outcomes, mock))
    assert found == {HOME + "a/", HOME + "b/", HOME + "c/"}
    assert (mock.count(HOME + "d/"), mock.count(HOME + "e/")) == (0, 0)
    (note,) = outcomes.report.run.notes
    assert note.startswith(f"deep.max_links_per_run (3) was reached on {mock.url(HOME + 'a/')}")
    assert ": 2 link(s) found after that were not checked" in note


async def test_a_run_within_the_caps_has_no_notes(store: Store) -> None:
    """No cap reached: the run's notes are empty, in the JSON too."""
    mock = MockSite({HOME: ok(page("a/", title="Course home"))})
    mock.routes[HOME + "a/"] = ok(page())
    outcomes = await deep_run(config(mock), store, transport=mock.transport())
    assert json.loads(render_json(outcomes.report))["run"]["notes"] == []


async def test_a_reader_process_cuts_a_page_as_this_process_does() -> None:
    """A page read by a reader process (extract_workers) keeps its first max_links links and
    the LINKS_CUT problem, as extract_links does here."""
    body = page("a", "b", "c", "d")
    async with readers.PageReaders(1, max_links=2) as pool:
        await pool.started()
        read = await pool.read(body, URL, "text/html")
    assert read.links == extract_links(body, URL, "text/html", max_links=2).links
    assert links_were_cut(read.metadata)
