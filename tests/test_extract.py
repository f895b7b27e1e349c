"""Tests of the extract stage: recorded pages against golden files, then targeted behaviours."""

from __future__ import annotations

import json
import random
import re
import time
from typing import Any
from urllib.parse import urljoin

import pytest
from selectolax.lexbor import LexborHTMLParser
from support.extract import (
    FIXTURES,
    OCW,
    FixturePage,
    absolutise_hrefs,
    check_golden,
    drop_instructors,
    fixture_pages,
    make_pdf,
    page,
    replace_once,
)

from ocwwatch.extract import extract_links, extract_page, find_missing_phrases
from ocwwatch.models import Extraction, Link, PageKind

HOME_1801 = "18.01sc/home.html"
HOME_1803 = "18.03sc/home.html"
HOME_RES001 = "res-18-001/home.html"
LEGACY = "18.01sc/legacy-home-pre2022.html"
NOT_FOUND = "errors/404.html"
GENERIC = "synthetic/generic-links.html"


def extract(fixture: FixturePage, body: bytes | None = None) -> Extraction:
    return extract_page(fixture.body() if body is None else body, fixture.url, fixture.content_type)


# --- golden files ---------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", fixture_pages(), ids=lambda fixture: fixture.name)
def test_fixture_page_matches_golden(fixture: FixturePage) -> None:
    """Every fixture page extracts to exactly its reviewed golden JSON."""
    check_golden(fixture.name, extract(fixture))


@pytest.mark.parametrize(
    ("file", "kind"),
    [
        (HOME_1801, PageKind.OCW_COURSE),
        ("18.01sc/unit-1-differentiation.html", PageKind.OCW_PAGE),
        ("18.01sc/resource-mit18_01scf10_ses1a.html", PageKind.OCW_RESOURCE),
        (LEGACY, PageKind.OCW_LEGACY),
        (NOT_FOUND, PageKind.NOT_FOUND),
        (GENERIC, PageKind.HTML),
    ],
)
def test_page_shape_is_recognised(file: str, kind: PageKind) -> None:
    """Each fixture is recognised as the page shape it is."""
    assert extract(page(file)).metadata.page_kind is kind


# --- OCW course home ------------------------------------------------------------------------


def test_units_are_deduplicated_and_in_page_order() -> None:
    """The menu is rendered twice (phone, desktop) but units list each entry once, in order."""
    fixture = page(HOME_1803)
    assert fixture.body().count(b'<nav class="course-nav"') == 2
    assert extract(fixture).metadata.units == (
        "Syllabus",
        "Unit I: First Order Differential Equations",
        "Unit II: Second Order Constant Coefficient Linear Equations",
        "Unit III: Fourier Series and Laplace Transform",
        "Unit IV: First-order Systems",
        "Final Exam",
    )


def test_course_home_reads_the_info_panel() -> None:
    """A course home yields number, term, level, instructors and resource types."""
    metadata = extract(page(HOME_1803)).metadata
    assert (metadata.title, metadata.course_number, metadata.term) == (
        "Differential Equations",
        "18.03SC",
        "Fall 2011",
    )
    assert metadata.level == ("Undergraduate",)
    assert metadata.instructors == (
        "Dr. John Lewis",
        "Prof. Arthur Mattuck",
        "Dr. Jeremy Orloff",
        "Prof. Haynes Miller",
    )
    assert "Lecture Videos" in metadata.resource_types
    assert metadata.problems == ()


def test_resource_types_exclude_icon_ligatures() -> None:
    """Learning resource types are the names, not the Material Icons text beside them."""
    metadata = extract(page(HOME_RES001)).metadata
    assert metadata.resource_types == ("Open Textbooks", "Problem Sets with Solutions")


def test_nav_keeps_children_under_their_unit() -> None:
    """The nav tree nests a unit's parts under it, with absolute URLs."""
    nav = extract(page(HOME_1801)).metadata.nav
    unit_1 = nav[1]
    assert unit_1.title == "Unit 1: Differentiation"
    assert (
        unit_1.url
        == f"{OCW}/courses/18-01sc-single-variable-calculus-fall-2010/pages/1.-differentiation/"
    )
    assert unit_1.children[0].title == "Part A: Definition and Basic Rules"


def test_topics_include_subtopics_once() -> None:
    """Topics list the top-level topic and its subtopics once each, in page order."""
    topics = extract(page(HOME_1803)).metadata.topics
    assert topics == ("Mathematics", "Differential Equations", "Linear Algebra")


# --- unseen pages: the extractor follows structure, not one course's text -------------------


def test_unseen_course_home_follows_the_markup() -> None:
    """A course home with another title, number, term and one instructor is read as such."""
    html = page(HOME_1803).body().decode("utf-8")
    html = replace_once(
        html,
        "18.03SC | Fall 2011 | Undergraduate",
        "6.042J | Spring 2015 | Graduate, Undergraduate",
    )
    html = replace_once(
        html, ">Differential Equations</a>\n      </h1>", ">Mathematics for CS</a>\n      </h1>"
    )
    html = drop_instructors(html, keep=1)
    html = html.replace("/search/?l=Undergraduate", "/search/?l=Graduate").replace(
        ">Undergraduate</a>", ">Graduate</a>"
    )
    metadata = extract(page(HOME_1803), html.encode("utf-8")).metadata
    assert metadata.title == "Mathematics for CS"
    assert (metadata.course_number, metadata.term) == ("6.042J", "Spring 2015")
    assert metadata.instructors == ("Dr. John Lewis",)
    assert metadata.level == ("Graduate",)


def test_unseen_course_home_with_absolute_hrefs() -> None:
    """Absolute https://ocw.mit.edu hrefs give the same nav, links and units as root-relative."""
    fixture = page(HOME_1801)
    relative = extract(fixture)
    absolute = extract(fixture, absolutise_hrefs(fixture.body().decode("utf-8")).encode("utf-8"))
    assert absolute.metadata.nav == relative.metadata.nav
    assert absolute.links == relative.links


def test_course_home_without_menu_reports_a_problem() -> None:
    """A course page whose menu is gone says so in problems instead of inventing units."""
    html = page(HOME_1801).body().decode("utf-8").replace('class="course-nav"', 'class="menu"')
    metadata = extract(page(HOME_1801), html.encode("utf-8")).metadata
    assert metadata.units == ()
    assert any("navigation" in problem for problem in metadata.problems)


# --- OCW content and resource pages ---------------------------------------------------------


def test_content_page_reports_course_metadata_from_the_banner() -> None:
    """A content page carries its own title plus the course's number and term."""
    metadata = extract(page("18.03sc/unit-i-first-order-differential-equations.html")).metadata
    assert metadata.title == "Unit I: First Order Differential Equations"
    assert (metadata.course_number, metadata.term) == ("18.03SC", "Fall 2011")


def test_content_page_parent_is_its_menu_parent() -> None:
    """A session page's parent_url is the menu entry above it."""
    metadata = extract(page("18.01sc/session-1-introduction-to-derivatives.html")).metadata
    assert metadata.parent_url == (
        f"{OCW}/courses/18-01sc-single-variable-calculus-fall-2010/pages/1.-differentiation/"
        "part-a-definition-and-basic-rules/"
    )


def test_content_page_links_videos_with_anchor_text() -> None:
    """A content page's links include its video pages and downloads, with their text."""
    links = extract(page("18.01sc/session-1-introduction-to-derivatives.html")).links
    course = f"{OCW}/courses/18-01sc-single-variable-calculus-fall-2010"
    video_page = f"{course}/resources/clip-1-introduction-to-18-01/"
    assert Link(url=video_page, text="View video page") in links
    assert any(link.url.startswith("https://www.youtube.com/embed/") for link in links)


def test_resource_page_gives_the_file_url() -> None:
    """A resource page's file_url is its download link, made absolute."""
    metadata = extract(page("res-18-001/resource-mitres_18_001_f17_full_book_pdf.html")).metadata
    assert (
        metadata.file_url
        == f"{OCW}/courses/res-18-001-calculus-fall-2023/mitres_18_001_f17_full_book.pdf"
    )
    assert metadata.parent_url == f"{OCW}/courses/res-18-001-calculus-fall-2023/pages/textbook/"


# --- 404 ------------------------------------------------------------------------------------


def test_not_found_page_served_with_200_is_not_found() -> None:
    """OCW's 404 body is NOT_FOUND from its markup alone, whatever URL or status it came with."""
    body = page(NOT_FOUND).body()
    extraction = extract_page(
        body, f"{OCW}/courses/18-01sc-single-variable-calculus-fall-2010/", "text/html"
    )
    assert extraction.metadata.page_kind is PageKind.NOT_FOUND
    assert extraction.metadata.title == "Page Not Found"


def test_page_merely_mentioning_not_found_is_plain_html() -> None:
    """A page whose text talks about "not found" errors is not itself a 404 page."""
    body = b"<title>Why links rot</title><h1>Debugging not found errors</h1>"
    assert (
        extract_page(body, "https://blog.example/", "text/html").metadata.page_kind is PageKind.HTML
    )


# --- legacy ---------------------------------------------------------------------------------


def test_legacy_page_fields() -> None:
    """The pre-2022 page yields title, number, term, level, instructors and features."""
    metadata = extract(page(LEGACY)).metadata
    assert (metadata.title, metadata.course_number, metadata.term) == (
        "Single Variable Calculus",
        "18.01SC",
        "Fall 2010",
    )
    assert metadata.level == ("Undergraduate",)
    assert metadata.instructors == ("Prof. David Jerison",)
    assert metadata.resource_types[0] == "Video lectures"
    assert len(metadata.resource_types) == 6
    assert metadata.departments == ("Mathematics",)


def test_legacy_units_skip_the_entry_pointing_home() -> None:
    """The legacy menu's first entry is dropped because it links to the course home itself."""
    units = extract(page(LEGACY)).metadata.units
    assert units[:2] == ("Syllabus", "1. Differentiation")
    assert "Course Home" not in units


def test_legacy_home_entry_is_decided_by_url_not_label() -> None:
    """A "Course Home" label that links elsewhere stays; a renamed home link is still dropped."""
    html = page(LEGACY).body().decode("utf-8")
    html = replace_once(html, 'class="selected">Course Home</a>', 'class="selected">Start Here</a>')
    html = replace_once(html, '/syllabus/">Syllabus</a>', '/syllabus/">Course Home</a>')
    units = extract(page(LEGACY), html.encode("utf-8")).metadata.units
    assert units[0] == "Course Home"
    assert "Start Here" not in units


# --- generic HTML ---------------------------------------------------------------------------


def test_generic_links_resolve_against_base_href() -> None:
    """Relative hrefs resolve against <base href>, with fragments and whitespace removed."""
    urls = [link.url for link in extract(page(GENERIC)).links]
    assert urls[:2] == [
        "https://www.example.org/books/thompson/chapter-1.html",
        "https://www.example.org/books/thompson/chapter-2.html",
    ]
    assert "https://cdn.example.net/book.epub" in urls


def test_generic_links_drop_non_web_schemes() -> None:
    """mailto:, javascript:, ftp: and fragment-only links are not kept."""
    urls = [link.url for link in extract(page(GENERIC)).links]
    assert not [url for url in urls if not url.startswith(("http://", "https://"))]
    assert len(urls) == 6  # five anchors and the cover image (issue 14)


def test_generic_links_keep_first_anchor_text() -> None:
    """A URL linked twice appears once, with the first anchor's text."""
    links = extract(page(GENERIC)).links
    url = "https://www.example.org/books/thompson/chapter-1.html"
    # the first was linked as chapter-1.html#start: the fragment is kept apart (issue 14)
    assert Link(url=url, text="Chapter I", fragments=("start",)) in links


def test_generic_image_link_uses_alt_text() -> None:
    """An image-only link takes the image's alt text as its text."""
    links = extract(page(GENERIC)).links
    assert Link(url="https://www.gutenberg.org/ebooks/33283", text="Cover") in links


def test_generic_title_and_canonical() -> None:
    """Title is <title> with whitespace collapsed; the canonical URL resolves against the base."""
    metadata = extract(page(GENERIC)).metadata
    assert metadata.title == "Calculus Made Easy by Silvanus P. Thompson"
    assert metadata.canonical_url == "https://www.example.org/books/thompson/calculus-made-easy/"


def test_generic_title_falls_back_to_og_title_then_h1() -> None:
    """Without <title>, og:title is the title; without both, the first <h1>."""
    og = b'<meta property="og:title" content="OG Title"><h1>Heading</h1>'
    assert extract_page(og, "https://x.example/", "text/html").metadata.title == "OG Title"
    assert (
        extract_page(b"<h1> Heading </h1>", "https://x.example/", "text/html").metadata.title
        == "Heading"
    )


# --- PDF ------------------------------------------------------------------------------------


def test_pdf_gives_pages_title_and_hash() -> None:
    """A generated 3-page PDF yields pages=3, its /Title, size and SHA-256."""
    import hashlib

    body = make_pdf(title="Calculus", pages=3)
    metadata = extract_page(body, "https://ocw.mit.edu/book.pdf", "application/pdf").metadata
    assert metadata.page_kind is PageKind.PDF
    assert (metadata.pages, metadata.title, metadata.size_bytes) == (3, "Calculus", len(body))
    assert metadata.sha256 == hashlib.sha256(body).hexdigest()
    assert metadata.content_type == "application/pdf"
    assert metadata.problems == ()


def test_pdf_recognised_by_magic_whatever_the_content_type() -> None:
    """A body starting with %PDF- is a PDF even when served as octet-stream or with none."""
    body = make_pdf()
    for content_type in ("application/octet-stream", None, "text/html"):
        assert (
            extract_page(body, "https://x.example/f", content_type).metadata.page_kind
            is PageKind.PDF
        )


def test_truncated_pdf_is_a_problem_not_an_exception() -> None:
    """Half a PDF gives a PDF record whose problems say it is truncated."""
    body = make_pdf()[:300]
    metadata = extract_page(body, "https://x.example/f.pdf", "application/pdf").metadata
    assert metadata.page_kind is PageKind.PDF
    assert any("truncated" in problem for problem in metadata.problems)


def test_encrypted_pdf_is_a_problem() -> None:
    """A PDF locked with a user password reports that it is encrypted."""
    body = make_pdf(password="secret")
    metadata = extract_page(body, "https://x.example/f.pdf", "application/pdf").metadata
    assert any("encrypted" in problem for problem in metadata.problems)


def test_hostile_pdf_is_bounded_in_time() -> None:
    """Megabytes of garbage behind a PDF header are judged quickly, with problems."""
    rng = random.Random(7)
    body = b"%PDF-1.7\n" + rng.randbytes(4_000_000) + b"\ntrailer << /Root 1 0 R /Size 99999999 >>"
    started = time.perf_counter()
    metadata = extract_page(body, "https://x.example/f.pdf", "application/pdf").metadata
    assert time.perf_counter() - started < 5
    assert metadata.problems


def test_html_served_as_pdf_is_read_as_html() -> None:
    """The PDF link that now answers with an HTML page is HTML, with the mismatch noted."""
    fixture = page("res-18-001/textbook.html")
    metadata = extract_page(fixture.body(), fixture.url, "application/pdf").metadata
    assert metadata.page_kind is PageKind.OCW_PAGE
    assert any("served as application/pdf" in problem for problem in metadata.problems)


# --- hostile and odd bodies -----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x00" * 1000,
        random.Random(1).randbytes(100_000),
        "<title>Caf\u00e9 cr\u00e8me</title>".encode("latin-1"),
        b"<html><body>" + b"<div>" * 50_000 + b"deep",
        b"<ul class='x'>" + b"<li class='course-nav-list-item'><ul>" * 5_000,
        b'<nav class="course-nav"><ul>'
        + b'<li class="course-nav-list-item"><a href="/a">A</a><ul>' * 3000,
        b"<a href='http://[::1'>bad ipv6</a><a href='https://ok.example/'>ok</a>",
        b"<meta charset='x-unknown-charset'><title>t</title>",
        b"\xff\xfe<\x00h\x001\x00>\x00",
        b"%PDF-",
    ],
    ids=[
        "empty",
        "nul",
        "random",
        "latin1",
        "deep",
        "deep-nav-ul",
        "deep-nav",
        "bad-ipv6",
        "charset",
        "utf16",
        "pdf-magic",
    ],
)
@pytest.mark.parametrize(
    "content_type", ["text/html", None, "application/octet-stream", "application/pdf"]
)
def test_odd_bodies_never_raise(body: bytes, content_type: str | None) -> None:
    """Empty, binary, truncated, mis-encoded or deeply nested bodies give a record, no raise."""
    extraction = extract_page(body, "https://x.example/page", content_type)
    assert extraction.metadata.size_bytes == len(body)


def test_latin1_body_is_decoded_with_a_problem() -> None:
    """Undeclared latin-1 bytes are read as windows-1252 and the guess is recorded."""
    body = "<title>Caf\u00e9 cr\u00e8me</title>".encode("latin-1")
    metadata = extract_page(body, "https://x.example/", "text/html").metadata
    assert metadata.title == "Caf\u00e9 cr\u00e8me"
    assert any("windows-1252" in problem for problem in metadata.problems)


def test_declared_charset_is_honoured() -> None:
    """A <meta charset> declaration decides how the bytes are read."""
    body = '<meta charset="windows-1251"><title>Привет</title>'.encode("windows-1251")
    assert extract_page(body, "https://x.example/", "text/html").metadata.title == "Привет"


def test_unknown_type_is_other_with_size() -> None:
    """A body that is neither PDF nor HTML is OTHER with its content type and size."""
    metadata = extract_page(
        b"\x89PNG\r\n\x1a\n....", "https://x.example/i.png", "image/png"
    ).metadata
    assert (metadata.page_kind, metadata.content_type, metadata.size_bytes) == (
        PageKind.OTHER,
        "image/png",
        12,
    )


def test_html_is_sniffed_without_content_type() -> None:
    """With no content type, a body that opens like HTML is read as HTML."""
    metadata = extract_page(
        b"  <!DOCTYPE html><title>T</title>", "https://x.example/", None
    ).metadata
    assert (metadata.page_kind, metadata.title, metadata.content_type) == (
        PageKind.HTML,
        "T",
        "text/html",
    )


def test_content_type_parameters_are_ignored() -> None:
    """`Text/HTML; charset=utf-8` counts as text/html."""
    metadata = extract_page(
        b"<title>T</title>", "https://x.example/", "Text/HTML; charset=utf-8"
    ).metadata
    assert (metadata.page_kind, metadata.content_type) == (PageKind.HTML, "text/html")


# --- find_missing_phrases -------------------------------------------------------------------


def test_missing_phrases_are_reported_in_order() -> None:
    """Only the phrases absent from the page come back, in the order asked."""
    body = b"<p>Chapter 1: Introduction to Calculus</p><p>Chapter 2: Derivatives</p>"
    asked = ["Chapter 3: Limits", "Chapter 2: Derivatives", "Chapter 9: Series"]
    assert find_missing_phrases(body, asked) == ("Chapter 3: Limits", "Chapter 9: Series")


def test_phrases_match_case_and_whitespace_insensitively() -> None:
    """Case, line breaks, tag boundaries and curly quotes do not hide a phrase."""
    body = "<li><strong>Interactive   Java</strong>\n Applets</li><p>L’Hospital’s Rule</p>".encode()
    assert find_missing_phrases(body, ["interactive java applets", "L'Hospital's rule"]) == ()


def test_phrases_in_scripts_and_styles_are_not_visible() -> None:
    """Text inside <script>, <style> and <noscript> does not count as present."""
    body = b"<script>var t='Secret Chapter';</script><style>.Secret{}</style><p>Shown</p>"
    assert find_missing_phrases(body, ["Secret Chapter", "Secret", "shown"]) == (
        "Secret Chapter",
        "Secret",
    )


def test_phrases_on_a_real_page() -> None:
    """The 18.03SC home shows its unit titles and not an invented one."""
    body = page(HOME_1803).body()
    asked = [
        "Unit IV: First-order Systems",
        "Course Description",
        "Unit V: Partial Differential Equations",
    ]
    assert find_missing_phrases(body, asked) == ("Unit V: Partial Differential Equations",)


def test_missing_phrases_never_raise_on_garbage() -> None:
    """Binary garbage gives every phrase as missing, without raising."""
    assert find_missing_phrases(random.Random(3).randbytes(5000), ["alpha"]) == ("alpha",)


def test_deeply_nested_html_is_cut_with_a_problem() -> None:
    """Pathological nesting is read only to a bounded depth, quickly, and the cut is reported."""
    body = b"<title>Deep</title><body>" + b"<div>" * 60_000 + b"<a href='/x'>x</a>"
    started = time.perf_counter()
    metadata = extract_page(body, "https://x.example/", "text/html").metadata
    assert time.perf_counter() - started < 2
    assert metadata.title == "Deep"
    assert any("nests deeper" in problem for problem in metadata.problems)


# --- pages rendered from further course exports (tests/fixtures/pages/README.md) -------------

EXPORT_EXPECTED = FIXTURES / "expected" / "export-metadata.json"
# The theme sorts these; the export lists them in its own order.
UNORDERED_FIELDS = ("topics",)
HOME_FIELDS_UNORDERED = ("resource_types",)
# Not metadata: links a page lists (a gallery's videos), expected among its links in this order.
LINK_FIELDS = ("listed_videos",)


def export_expected() -> dict[str, dict[str, Any]]:
    loaded: dict[str, dict[str, Any]] = json.loads(EXPORT_EXPECTED.read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize("name", sorted(export_expected()))
def test_rendered_page_matches_export(name: str) -> None:
    """Every field extracted from a rendered page equals the value read from the course export."""
    expected = export_expected()[name]
    fixture = next(candidate for candidate in fixture_pages() if candidate.name == name)
    extraction = extract(fixture)
    actual = extraction.metadata.model_dump(mode="json")
    links = [link.model_dump(mode="json") for link in extraction.links]
    unordered = UNORDERED_FIELDS + (
        HOME_FIELDS_UNORDERED if expected["page_kind"] == "ocw-course" else ()
    )
    for field, value in expected.items():
        if field in LINK_FIELDS:  # compared by what the export knows: URL and text
            shown = [{key: link[key] for key in ("url", "text")} for link in links]
            assert in_order(value, shown), f"{name}: {field}"
            continue
        got, want = actual[field], value
        if field in unordered:
            got, want = sorted(got), sorted(want)
        assert got == want, f"{name}: {field}"


def in_order(wanted: list[Any], items: list[Any]) -> bool:
    """Whether every wanted item is among `items`, in the same order (others may come between)."""
    rest = iter(items)
    return all(item in rest for item in wanted)


def test_content_page_with_course_description_heading_is_a_page() -> None:
    """A syllabus whose Markdown has a "Course Description" heading is a content page."""
    metadata = extract(page("15.071/syllabus.html")).metadata
    assert metadata.page_kind is PageKind.OCW_PAGE
    assert metadata.title == "Syllabus"
    assert metadata.parent_url == f"{OCW}/courses/15-071-the-analytics-edge-spring-2017/"


def test_resource_type_icon_ligature_in_span_is_not_in_the_name() -> None:
    """The `co_present` ligature wrapped in a span inside the icon is not part of the type name."""
    types = extract(page("21m.380/home.html")).metadata.resource_types
    assert "Instructor Insights" in types
    assert not any("co_present" in name for name in types)


def test_video_resource_file_is_its_download_link() -> None:
    """A video resource page's file URL is the player's download link."""
    metadata = extract(page("15.071/resource-video-1-introduction-to-netflix-0.html")).metadata
    assert metadata.file_url == (
        "https://archive.org/download/MIT15.071S17/MIT15_071S17_Session_6.2.01_300k.mp4"
    )
    assert metadata.problems == ()


def test_resource_parent_found_by_menu_label_shorter_than_title() -> None:
    """A parent titled "Core C: Control Structures, …" is found under its menu label "Core C"."""
    metadata = extract(page("6.s096/resource-mit6_s096_iap13_lec2.html")).metadata
    assert metadata.parent_url == (
        f"{OCW}/courses/6-s096-introduction-to-c-and-c-january-iap-2013/pages/"
        "lectures-and-assignments/core-c-control-structures-variables-scope-and-uninitialized-memory/"
    )


def test_resource_with_two_types_lists_both() -> None:
    """A resource with two learning resource types yields two names, not one joined string."""
    metadata = extract(page("synthetic/6.042j-resource-two-lrts.html")).metadata
    assert metadata.resource_types == ("Online Textbook", "Lecture Notes")


# --- a video gallery (course-v2 video_galleries/: video-gallery-page.html, video-gallery-item.html)

GALLERY = "6.0001/lecture-videos.html"
GALLERY_VIDEO = "6.0001/resource-lecture-1-what-is-computation.html"
# One card per video of the gallery's `videos` (video-gallery-item.html).
GALLERY_CARD = ".video-gallery-card a.video-link"
GALLERY_CARD_TITLE = ".video-title"
GALLERY_THUMBNAIL = re.compile(r'<img class="thumbnail" src="[^"]*" alt="" />')


def gallery_cards(fixture: FixturePage, body: bytes | None = None) -> list[Link]:
    """The gallery's cards as the theme renders them: the card's link, named by its title."""
    tree = LexborHTMLParser(fixture.body() if body is None else body)
    cards = []
    for card in tree.css(GALLERY_CARD):
        title = card.css_first(GALLERY_CARD_TITLE)
        assert title is not None, "a gallery card without its title"
        url = urljoin(fixture.url, card.attributes["href"] or "")
        cards.append(Link(url=url, text=" ".join(title.text().split())))
    return cards


def test_video_gallery_is_a_content_page_under_the_home() -> None:
    """A gallery is a content page: its header's title, its menu entry, the course home above."""
    fixture = page(GALLERY)
    metadata = extract(fixture).metadata
    home = fixture.url.removesuffix("video_galleries/lecture-videos/")
    assert metadata.page_kind is PageKind.OCW_PAGE
    assert metadata.title == "Lecture Videos"
    assert (metadata.course_number, metadata.term) == ("6.0001", "Fall 2016")
    assert metadata.parent_url == home
    assert [item.url for item in metadata.nav if item.title == metadata.title] == [fixture.url]
    assert metadata.problems == ()


def test_video_gallery_lists_every_card_as_a_link_named_by_its_title() -> None:
    """Each video card is a link to its resource page, in the gallery's order, named by the card
    title; the links-only extraction of --deep finds the same videos."""
    fixture = page(GALLERY)
    cards = gallery_cards(fixture)
    assert len(cards) == len(export_expected()["6.0001--lecture-videos"]["listed_videos"])
    assert all("/resources/" in card.url for card in cards)
    assert in_order(cards, list(extract(fixture).links))
    deep = extract_links(fixture.body(), fixture.url, fixture.content_type)
    assert deep.metadata.page_kind is PageKind.OCW_PAGE
    assert {card.url for card in cards} <= {link.url for link in deep.links}


def test_video_gallery_card_without_thumbnail_is_named_by_its_title() -> None:
    """A card whose video has no thumbnail shows the YouTube logo (alt "YouTube") instead; the
    link is still named by the card's title."""
    fixture = page(GALLERY)
    html = fixture.body().decode()
    logo = '<img class="youtube-logo-overlay" src="/static_shared/youtube.svg" alt="YouTube" />'
    assert GALLERY_THUMBNAIL.search(html) is not None
    body = GALLERY_THUMBNAIL.sub(logo, html).encode()
    cards = gallery_cards(fixture, body)
    links = {link.url: link.text for link in extract(fixture, body).links}
    assert cards
    assert all(links[card.url] == card.text for card in cards)


def test_video_in_a_gallery_has_the_gallery_as_parent() -> None:
    """A video resource whose parent is the gallery (its header's parent title) points there."""
    metadata = extract(page(GALLERY_VIDEO)).metadata
    assert metadata.page_kind is PageKind.OCW_RESOURCE
    assert metadata.parent_url == page(GALLERY).url
    assert metadata.file_url is not None
    assert metadata.file_url.endswith(".mp4")
    assert metadata.problems == ()
