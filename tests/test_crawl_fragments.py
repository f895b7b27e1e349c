"""Issue 14, `[deep] check_fragments`: a `page#id` link is checked against the ids of the page
the crawl read, and a missing id is its own state, not a dead page."""

from __future__ import annotations

from typing import Any

import pytest
from support.crawl import HOME, MockSite, by_path, config, deep_run, ok, page, status

from ocwwatch.extract import extract_links
from ocwwatch.judge import is_link_finding
from ocwwatch.models import LinkCheck, LinkState
from ocwwatch.store import Store

pytestmark = pytest.mark.anyio

C = HOME
TARGET = (
    b"<html><head><title>Notes</title></head><body><h2 id='intro'>Intro</h2>"
    b"<a name='legacy'></a><div name='not-an-anchor'></div><p id='sec one'>x</p></body></html>"
)


def test_a_links_fragments_are_kept_decoded_and_without_text_directives() -> None:
    """Every distinct `#id` a page links a URL with, percent-decoded; a text fragment
    (`#:~:text=`) names no element and is left out."""
    body = (
        b"<a href='p#a'>1</a><a href='p#b'>2</a><a href='p#a'>3</a><a href='q#sec%20one'>4</a>"
        b"<a href='r#:~:text=words'>5</a><a href='s'>6</a>"
    )
    links = extract_links(body, "https://a.test/", "text/html").links
    assert [(link.url, link.fragments) for link in links] == [
        ("https://a.test/p", ("a", "b")),
        ("https://a.test/q", ("sec one",)),
        ("https://a.test/r", ()),
        ("https://a.test/s", ()),
    ]


def test_a_pages_targets_are_its_ids_and_named_anchors() -> None:
    """ids of any element, and `name` of `<a>` only (a div's name names nothing)."""
    targets = extract_links(TARGET, "https://a.test/", "text/html", fragments=True).targets
    assert extract_links(TARGET, "https://a.test/", "text/html").targets == ()  # not asked for
    assert sorted(targets) == ["intro", "legacy", "sec one"]  # a set: the order says nothing


def fragment_site() -> MockSite:
    links = (
        C + "notes/#intro",
        C + "notes/#gone",
        C + "notes/#legacy",
        C + "notes/#sec%20one",
        C + "notes/#top",
        C + "missing/#x",
        "https://elsewhere.test/page#y",
    )
    return MockSite(
        {
            C: ok(page(*links)),
            C + "notes/": ok(TARGET, etag='"n1"'),
            C + "missing/": status(404),
        }
    )


async def fragment_run(store: Store, mock: MockSite, **deep: Any) -> dict[str, LinkCheck]:
    outcomes = await deep_run(config(mock, **deep), store, transport=mock.transport())
    return by_path(outcomes, mock)


# (link, its state with check_fragments = true); None: no verdict of its own.
FRAGMENTS = [
    ("notes/#intro", LinkState.OK),
    ("notes/#legacy", LinkState.OK),
    ("notes/#sec one", LinkState.OK),
    ("notes/#top", LinkState.OK),
    ("notes/#gone", LinkState.MISSING_FRAGMENT),
    ("notes/", LinkState.OK),  # the page itself works
    ("missing/#x", None),  # a dead page: the page's own link says so
    ("missing/", LinkState.DEAD),
]


@pytest.mark.parametrize(("path", "state"), FRAGMENTS, ids=[row[0] for row in FRAGMENTS])
async def test_a_fragment_is_judged_by_the_ids_of_its_page(
    store: Store, path: str, state: LinkState | None
) -> None:
    """An id the page has is ok (a named anchor, `top` too); one it lacks is missing-fragment,
    a finding, while the page's own link stays ok. A dead page's fragment gets no verdict."""
    links = await fragment_run(store, fragment_site(), check_fragments=True)
    if state is None:
        assert C + path not in links
        return
    assert links[C + path].state is state
    if state is LinkState.MISSING_FRAGMENT:
        assert "'gone'" in (links[C + path].detail or "")
        assert is_link_finding(links[C + path], failures_before_finding=3)


async def test_fragments_are_not_checked_unless_asked(store: Store) -> None:
    """With check_fragments off (the default), no `page#id` verdicts: only the pages."""
    links = await fragment_run(store, fragment_site())
    assert not [path for path in links if "#" in path]
    assert links[C + "notes/"].state is LinkState.OK


async def test_another_sites_fragment_is_not_judged(store: Store) -> None:
    """A page the crawl does not read (another site's) has no ids to judge a fragment by."""
    links = await fragment_run(store, fragment_site(), check_fragments=True)
    assert not [url for url in links if url.startswith("https://elsewhere.test/page#")]


async def test_a_304_keeps_the_ids_of_the_page_it_stands_for(store: Store) -> None:
    """The second run's 304 for the target page still judges its fragments."""
    mock = fragment_site()
    await fragment_run(store, mock, check_fragments=True)
    mock.routes[C + "notes/"] = status(304)
    links = await fragment_run(store, mock, check_fragments=True)
    assert links[C + "notes/#intro"].state is LinkState.OK
    assert links[C + "notes/#gone"].state is LinkState.MISSING_FRAGMENT


OWN = (
    b"<html><head><title>Home</title></head><body><a href='#skip'>skip</a>"
    b"<a href='#nowhere'>broken</a><a href=' #top '>top</a><main id='skip'>"
    b"<a href='notes/#intro'>notes</a></main></body></html>"
)


async def test_a_pages_links_to_its_own_sections_are_checked(store: Store) -> None:
    """`href="#skip"` names an id of the page itself: ok; `#nowhere` is missing-fragment; and
    so again when the page answers 304 the next run."""
    mock = fragment_site()
    mock.routes[C] = ok(OWN, etag='"h1"')
    links = await fragment_run(store, mock, check_fragments=True)
    assert links[C + "#skip"].state is LinkState.OK
    assert links[C + "#nowhere"].state is LinkState.MISSING_FRAGMENT
    assert links[C + "#top"].state is LinkState.OK
    assert links[C + "notes/#intro"].state is LinkState.OK
    mock.routes[C] = status(304)
    links = await fragment_run(store, mock, check_fragments=True)
    assert links[C + "#nowhere"].state is LinkState.MISSING_FRAGMENT
