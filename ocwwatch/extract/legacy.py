"""Extractor for the pre-2022 OCW course page (the Plone site retired in 2022).

It owns that layout only (#course_title, #course_info, ul.specialfeatures, nav#course_nav),
read through its ids, classes and schema.org properties, never through one course's text.
Pure: parsed tree in, records out; no I/O, never raises.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ocwwatch.extract.dom import (
    Page,
    attr,
    canonical_url,
    clean_text,
    first_text,
    node_text,
    resolve_url,
    same_page,
    unique,
)
from ocwwatch.extract.html import html_title
from ocwwatch.extract.links import page_links
from ocwwatch.models import Extraction, Metadata, NavItem, PageKind

_MARKERS = ("nav#course_nav", "#course_title", "#course_info", "#course_inner_section")
# The number has no schema.org property: it is the paragraph after its label heading.
_NUMBER_LABEL = re.compile(r"course\s+number", re.I)
# A department's page on the old site: /courses/<department>/ (breadcrumb's last hop).
_DEPARTMENT_PATH = re.compile(r"^/courses/[^/]+/?$")
_LEVEL_SEPARATORS = re.compile(r"\s*[,/]\s*")


def is_legacy_course(tree: LexborHTMLParser) -> bool:
    """Whether the page has the pre-2022 course layout."""
    return any(tree.css_first(marker) is not None for marker in _MARKERS)


def extract_legacy(page: Page) -> Extraction:
    """Metadata and links of a pre-2022 course page."""
    tree = page.tree
    canonical = canonical_url(tree, page.base)
    nav = _read_nav(tree, page.base, canonical or page.url)
    title = first_text(tree, "#course_title h1", 'h1[property="dct:title"]')
    level = first_text(tree, '[itemprop="typicalAgeRange"]') or ""
    metadata = Metadata(
        page_kind=PageKind.OCW_LEGACY,
        title=title or html_title(tree),
        course_number=_course_number(tree),
        term=first_text(tree, '#course_info [itemprop="startDate"]', '[itemprop="startDate"]'),
        level=unique(_LEVEL_SEPARATORS.split(level)),
        instructors=_texts(tree, '#course_info [itemprop="author"]', "#course_info p.ins"),
        departments=_departments(tree, page.base),
        resource_types=_texts(tree, "ul.specialfeatures > li"),
        nav=nav,
        units=unique(item.title for item in nav),
        canonical_url=canonical,
        content_type=page.content_type,
        size_bytes=page.size_bytes,
        problems=page.problems + (() if title else ("no course title (#course_title h1)",)),
    )
    links, unfetchable = page_links(page)
    return Extraction(metadata=metadata, links=links, unfetchable=unfetchable)


def _texts(tree: LexborHTMLParser, *selectors: str) -> tuple[str, ...]:
    return unique(node_text(node) for selector in selectors for node in tree.css(selector))


def _course_number(tree: LexborHTMLParser) -> str | None:
    for heading in tree.css("#course_info h3"):
        if _NUMBER_LABEL.search(node_text(heading)):
            following = _next_element(heading)
            return node_text(following) or None if following is not None else None
    return None


def _next_element(node: LexborNode) -> LexborNode | None:
    sibling = node.next
    while sibling is not None and not sibling.is_element_node:
        sibling = sibling.next
    return sibling


def _departments(tree: LexborHTMLParser, base: str) -> tuple[str, ...]:
    """The breadcrumb hop that is a department's course list (/courses/<department>/)."""
    names = []
    for link in tree.css("nav#breadcrumb a[href]"):
        url = resolve_url(base, attr(link, "href"))
        if url is not None and _DEPARTMENT_PATH.match(urlsplit(url).path):
            names.append(node_text(link))
    return unique(names[-1:])


def _read_nav(tree: LexborHTMLParser, base: str, home: str) -> tuple[NavItem, ...]:
    """Top-level entries of nav#course_nav, without the one that points at the course home
    itself (decided by URL: its label varies)."""
    items = []
    for link in tree.css("nav#course_nav > ul > li > a"):
        url = resolve_url(base, attr(link, "href"))
        title = clean_text(node_text(link))
        if title and not same_page(url, home):
            items.append(NavItem(title=title, url=url))
    return tuple(items)
