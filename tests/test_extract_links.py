"""The crawl's links-only fast path (`extract_links`) against the full `extract_page`."""

from __future__ import annotations

import pytest
from support.extract import FixturePage, fixture_pages, make_pdf

from ocwwatch.extract import extract_links, extract_page
from ocwwatch.models import PageKind

OCW = "https://ocw.mit.edu/courses/x/"


def same_answer(body: bytes, url: str, content_type: str | None) -> PageKind:
    """Assert that both paths agree on kind and links (text included, in order)."""
    fast = extract_links(body, url, content_type)
    full = extract_page(body, url, content_type)
    assert fast.metadata.page_kind is full.metadata.page_kind
    assert fast.links == full.links
    return full.metadata.page_kind


@pytest.mark.parametrize("fixture", fixture_pages(), ids=lambda fixture: fixture.name)
def test_fast_path_matches_extract_page_on_fixtures(fixture: FixturePage) -> None:
    """Every fixture page: the same kind and exactly the same links as the full extraction."""
    full = extract_page(fixture.body(), fixture.url, fixture.content_type)
    assert full.links  # a real comparison: every fixture page has links
    same_answer(fixture.body(), fixture.url, fixture.content_type)


@pytest.mark.parametrize("content_type", [None, "application/octet-stream", "text/plain"])
@pytest.mark.parametrize("fixture", fixture_pages(), ids=lambda fixture: fixture.name)
def test_fast_path_matches_when_sniffed(fixture: FixturePage, content_type: str | None) -> None:
    """The same when the type is missing or uninformative (the body is sniffed)."""
    same_answer(fixture.body(), fixture.url, content_type)


def test_repeated_hrefs_keep_the_first_text() -> None:
    """Repeats of one href, and distinct hrefs naming one URL, keep the first text."""
    body = (
        b"<html><head><base href='https://ocw.mit.edu/sub/'><title>t</title></head><body>"
        b"<a href='a'></a><a href='a'>later</a><a href='a#x'>frag</a>"
        b"<a href='b' aria-label='Bee'></a><a href='b'>b2</a>"
        b"<a href='c'><img alt='See'></a><a href=' c '>c2</a>"
        b"<a href='javascript:x'>js</a><a href='#top'>top</a><a href=''>empty</a>"
        b"<a href='mailto:x@y'>m</a><a href='//other.org/p#q'>other</a><a href='d\n'>d</a>"
        b"<a href='http://[::1'>bad</a><a href='/root/x?q=1#f'>root</a>"
        b"<a href='https://ocw.mit.edu'>host</a><a href='http://ocw.mit.edu/../p'>http</a>"
        b"<a href='/./y/../z'>dots</a><a href='https:/rel'>rel</a></body></html>"
    )
    assert same_answer(body, OCW, "text/html") is PageKind.HTML
    links = extract_links(body, OCW, "text/html").links
    assert [(link.url, link.text) for link in links] == [
        ("https://ocw.mit.edu/sub/a", ""),
        ("https://ocw.mit.edu/sub/b", "Bee"),
        ("https://ocw.mit.edu/sub/c", "See"),
        ("https://other.org/p", "other"),
        ("https://ocw.mit.edu/sub/d", "d"),
        ("https://ocw.mit.edu/root/x?q=1", "root"),
        ("https://ocw.mit.edu/", "host"),  # serialised as a browser does
        ("http://ocw.mit.edu/p", "http"),  # another scheme; dot segments resolved as browsers do
        ("https://ocw.mit.edu/z", "dots"),
        ("https://ocw.mit.edu/rel", "rel"),
    ]


@pytest.mark.parametrize("fixture", fixture_pages(), ids=lambda fixture: fixture.name)
def test_fast_path_matches_under_other_bases(fixture: FixturePage) -> None:
    """Hrefs resolved for one page of a site are reused on others: never with a wrong base."""
    for url in (OCW, "http://ocw.mit.edu/a/b/c.html;p?q", "https://other.org:8443/x/"):
        same_answer(fixture.body(), url, fixture.content_type)


def test_embeds_and_not_found_and_pdf() -> None:
    """Course embeds follow the anchors; a 404 page and a PDF get their kinds."""
    course = (
        b"<html><body><div id='course-banner'><h1><a href='/c/'>C</a></h1></div>"
        b"<div id='course-content-section'><a href='https://youtube.com/embed/v'>v</a>"
        b"<iframe src='https://youtube.com/embed/v' title='first'></iframe>"
        b"<iframe src='https://youtube.com/embed/w' title=' W  '></iframe></div></body></html>"
    )
    assert same_answer(course, OCW, "text/html") is PageKind.OCW_COURSE
    not_found = b"<html><head><title>Page not found</title></head><a href='/'>home</a></html>"
    assert same_answer(not_found, OCW, "text/html") is PageKind.NOT_FOUND
    assert same_answer(make_pdf(), OCW + "f.pdf", None) is PageKind.PDF
    assert same_answer(b"\x00\xff garbage", OCW, "text/html") is PageKind.HTML
    assert same_answer(b"", OCW, None) is PageKind.OTHER
