"""Extractor for any HTML page, and the recogniser of OCW's "page not found" page.

It owns what every page has (title, canonical URL, links) and nothing site-specific beyond the
404 page's shape. Pure: takes a parsed tree, returns records; no I/O, never raises.
"""

from __future__ import annotations

import hashlib
import re

from selectolax.lexbor import LexborHTMLParser

from ocwwatch.extract.dom import (
    Page,
    canonical_url,
    clean_text,
    first_text,
    meta_content,
    node_text,
)
from ocwwatch.extract.links import page_links
from ocwwatch.models import Extraction, Metadata, PageKind

# A whole heading or title that only says "not found" (optionally "404", "error", "page").
_NOT_FOUND = re.compile(r"^(?:404\W*)?(?:error\W*)?(?:page\s+)?not\s+found\b\W*(?:404)?\W*$", re.I)
# OCW's static 404 layout (www/layouts/404.html): the heading sits in .page-title .title-text.
_OCW_404_HEADING = ".page-single .page-title .title-text"


def html_title(tree: LexborHTMLParser) -> str | None:
    """The page's title: <title>, else og:title, else the first <h1>."""
    title = node_text(tree.css_first("head title")) or node_text(tree.css_first("title"))
    if title:
        return title
    og_title = meta_content(tree, 'meta[property="og:title"]')
    if og_title:
        return og_title
    return first_text(tree, "h1")


def is_not_found(tree: LexborHTMLParser) -> bool:
    """Whether the page is a "not found" page, whatever status it was served with."""
    heading = first_text(tree, _OCW_404_HEADING)
    if heading is not None and "not found" in heading.casefold():
        return True
    candidates = (html_title(tree), first_text(tree, "h1"))
    return any(text is not None and _NOT_FOUND.match(clean_text(text)) for text in candidates)


def not_found_title(tree: LexborHTMLParser) -> str | None:
    """The 404 page's own heading (it has no <title>), else the generic title."""
    return first_text(tree, _OCW_404_HEADING) or html_title(tree)


MAX_MAIN_TEXT = 20_000  # characters kept for the next run's short text diff


def main_text(tree: LexborHTMLParser) -> str | None:
    """The text a reader reads: `<main>` (or `[role=main]`), else the body; without scripts,
    styles and the page's own navigation chrome. Prunes those from `tree`: call it last."""
    root = tree.css_first("main") or tree.css_first("[role=main]") or tree.body
    if root is None:
        return None
    for node in root.css("script, style, noscript, template, nav, header, footer"):
        node.decompose()
    return node_text(root) or None


def extract_html(page: Page) -> Extraction:
    """Title, canonical URL, links and main text of any HTML page (or of a "not found" page)."""
    tree = page.tree
    not_found = is_not_found(tree)
    title = not_found_title(tree) if not_found else html_title(tree)
    canonical = canonical_url(tree, page.base)
    links, unfetchable = page_links(page)
    text = None if not_found else main_text(tree)  # last: it prunes the tree
    metadata = Metadata(
        page_kind=PageKind.NOT_FOUND if not_found else PageKind.HTML,
        title=title,
        canonical_url=canonical,
        content_type=page.content_type,
        size_bytes=page.size_bytes,
        problems=page.problems,
        text_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest() if text else None,
        main_text=text[:MAX_MAIN_TEXT] if text else None,
    )
    return Extraction(metadata=metadata, links=links, unfetchable=unfetchable)
