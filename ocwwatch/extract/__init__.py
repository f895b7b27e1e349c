"""The extract stage: bytes of one response in, an `Extraction` (metadata and links) out.

It owns telling page shapes apart (PDF, course-v2 OCW, pre-2022 OCW, "not found", any HTML,
anything else) and hands each to its extractor. Pure: no I/O, no fetching, no storing, and it
never raises, whatever the bytes; what it cannot read goes into `Metadata.problems`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial

from ocwwatch.extract.dom import (
    Page,
    decode_html,
    fold_text,
    load_page,
    parse_html,
    visible_text,
)
from ocwwatch.extract.html import extract_html, is_not_found
from ocwwatch.extract.legacy import extract_legacy, is_legacy_course
from ocwwatch.extract.links import page_links_fast, page_targets
from ocwwatch.extract.ocw import course_links, course_page_kind, extract_ocw, is_course_site
from ocwwatch.extract.pdf import PDF_MAGIC, extract_pdf
from ocwwatch.models import HTML_TYPES, Extraction, Metadata, PageKind

__all__ = [
    "LINKS_CUT",
    "MAX_LINKS_PER_PAGE",
    "extract_links",
    "extract_page",
    "find_missing_phrases",
    "links_were_cut",
]

log = logging.getLogger(__name__)

PDF_TYPE = "application/pdf"
# Types that say nothing reliable about the body, so the body is sniffed instead.
_UNINFORMATIVE = frozenset({"", "application/octet-stream", "binary/octet-stream", PDF_TYPE})
# The HTML standard's sniffing patterns (MIME Sniffing, "identifying a resource with an
# unknown MIME type"): a known tag or a comment opening the body, after whitespace.
_HTML_START = re.compile(
    rb"^\s*<(?:!doctype\s+html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body"
    rb"|br|p|!--)[\s>/]",
    re.I,
)
# How one HTML page is read: its Page and the problems found before reading it in.
Reader = Callable[[Page, tuple[str, ...]], Extraction]
# A page's links are collected up to this many (the `[deep] max_links_per_page` default): a
# hostile page's million links would otherwise become a million records. The problem that
# says so starts with LINKS_CUT.
MAX_LINKS_PER_PAGE = 10_000
LINKS_CUT = "links cut at"


def extract_page(
    body: bytes, url: str, content_type: str | None, *, max_links: int = MAX_LINKS_PER_PAGE
) -> Extraction:
    """Extract what one response says about itself; never raises.

    At most `max_links` links are kept, the first in page order; a problem starting with
    LINKS_CUT says when the page had more.
    """
    media_type = _media_type(content_type)
    try:
        return _dispatch(body, url, media_type, max_links)
    except Exception as exc:  # the stage's contract: one bad body never stops the run
        log.debug("extraction failed for %s", url, exc_info=exc)
        problem = f"extraction failed: {type(exc).__name__}: {exc}"[:200]
        return _other(body, media_type, (problem,))


def extract_links(
    body: bytes,
    url: str,
    content_type: str | None,
    *,
    max_links: int = MAX_LINKS_PER_PAGE,
    fragments: bool = False,
) -> Extraction:
    """`extract_page` cut to what a crawl needs: the page kind and the links; never raises.

    The links and the kind are those `extract_page` finds (within `max_links` likewise); the
    other metadata (title, menu, instructors...) is not read, and a PDF is recognised but not
    parsed. With `fragments`, also what `#id`s can name on the page (`targets`) and the ids
    its own `href="#id"` links name (`own_fragments`).
    """
    media_type = _media_type(content_type)
    try:
        read = partial(_links_only, fragments=fragments)
        return _dispatch(body, url, media_type, max_links, read=read)
    except Exception as exc:  # as extract_page: one bad body never stops the run
        log.debug("link extraction failed for %s", url, exc_info=exc)
        problem = f"extraction failed: {type(exc).__name__}: {exc}"[:200]
        return _other(body, media_type, (problem,))


def find_missing_phrases(body: bytes, phrases: Sequence[str]) -> tuple[str, ...]:
    """The phrases that do not occur in the page's visible text (case- and space-insensitive).

    Scripts, styles and templates are not visible text. An empty phrase is never missing.
    """
    try:
        text = fold_text(visible_text(parse_html(decode_html(body)[0])[0]))
    except Exception as exc:  # as above: a promise check must not crash the run
        log.debug("could not read page text", exc_info=exc)
        text = ""
    return tuple(phrase for phrase in phrases if fold_text(phrase) not in text)


def links_were_cut(metadata: Metadata) -> bool:
    """Whether the extraction kept only the first `max_links` of the page's links."""
    return any(problem.startswith(LINKS_CUT) for problem in metadata.problems)


def _dispatch(
    body: bytes, url: str, media_type: str | None, max_links: int, *, read: Reader | None = None
) -> Extraction:
    """The extraction of one body by its type; an HTML page's by `read` (default: all of it)."""
    head = body[:1024]
    sniffed_html = _HTML_START.match(head.lstrip(b"\xef\xbb\xbf")) is not None
    if PDF_MAGIC in head or (media_type == PDF_TYPE and not sniffed_html):
        if read is not None:  # a crawl's read: a PDF has no links, its kind is all it needs
            metadata = Metadata(page_kind=PageKind.PDF, content_type=PDF_TYPE, size_bytes=len(body))
            return Extraction(metadata=metadata)
        return extract_pdf(body, _mismatch(media_type, PDF_TYPE))
    read = read or _extract_html
    if media_type in HTML_TYPES:
        return _cap_links(read(load_page(body, url, media_type, max_links), ()), max_links)
    if (media_type is None or media_type in _UNINFORMATIVE) and sniffed_html:
        page = load_page(body, url, "text/html", max_links)
        return _cap_links(read(page, _mismatch(media_type, "text/html")), max_links)
    return _other(body, media_type, ())


def _cap_links(extraction: Extraction, max_links: int) -> Extraction:
    """Keep the first `max_links` links; the extractors stop one past it, so more says cut."""
    if len(extraction.links) <= max_links:
        return extraction
    problem = f"{LINKS_CUT} {max_links}: the page has more (deep.max_links_per_page)"
    metadata = extraction.metadata
    metadata = metadata.model_copy(update={"problems": (*metadata.problems, problem)})
    return extraction.model_copy(
        update={"metadata": metadata, "links": extraction.links[:max_links]}
    )


def _extract_html(page: Page, problems: tuple[str, ...] = ()) -> Extraction:
    """Pick the HTML shape by the markup's structure, most specific first."""
    if problems:
        page = replace(page, problems=page.problems + problems)
    if is_course_site(page.tree):
        return extract_ocw(page)
    if is_legacy_course(page.tree):
        return extract_legacy(page)
    return extract_html(page)


def _links_only(
    page: Page, problems: tuple[str, ...] = (), *, fragments: bool = False
) -> Extraction:
    """The page kind and links `_extract_html` would find, without the rest of the metadata."""
    tree = page.tree
    anchors, unfetchable, own = page_links_fast(page)
    if is_course_site(tree):
        kind, links = course_page_kind(tree), course_links(page, anchors)
    elif is_legacy_course(tree):
        kind, links = PageKind.OCW_LEGACY, anchors
    else:
        kind = PageKind.NOT_FOUND if is_not_found(tree) else PageKind.HTML
        links = anchors
    metadata = Metadata(
        page_kind=kind,
        content_type=page.content_type,
        size_bytes=page.size_bytes,
        problems=page.problems + problems,
    )
    return Extraction(
        metadata=metadata,
        links=links,
        unfetchable=unfetchable,
        targets=page_targets(tree) if fragments else (),
        own_fragments=own if fragments else (),
    )


def _other(body: bytes, media_type: str | None, problems: tuple[str, ...]) -> Extraction:
    metadata = Metadata(
        page_kind=PageKind.OTHER,
        content_type=media_type or None,
        size_bytes=len(body),
        problems=problems,
    )
    return Extraction(metadata=metadata)


def _media_type(content_type: str | None) -> str | None:
    """`Text/HTML; charset=utf-8` -> `text/html`; None stays None."""
    if content_type is None:
        return None
    return content_type.split(";", 1)[0].strip().lower()


def _mismatch(media_type: str | None, actual: str) -> tuple[str, ...]:
    if not media_type or media_type == actual:
        return ()
    return (f"served as {media_type} but the body is {actual}",)
