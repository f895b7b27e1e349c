"""Successor search (issue 12): where a dead OCW course went when no redirect says so.

Candidates come from this run (another entry's pages that show the same course number, as when
the PDF chase reached the course's current site) and from OCW's catalogue (its sitemap, whose
entries name each course site by slug; a slug starts with the course number). Every candidate is
fetched and kept only if its page shows the list's course number; the best one is the fix, with
the evidence in its reason. Asks the run's Fetcher, so the address guard and politeness apply.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from ocwwatch.extract import extract_page
from ocwwatch.fetch import Fetcher
from ocwwatch.models import Metadata, PageKind, Resource, Suggestion
from ocwwatch.urls import InvalidURLError, parse_url

log = logging.getLogger(__name__)

MAX_CANDIDATES = 5  # fetched to verify, per dead entry
SITEMAP_PATH = "/sitemap.xml"
_LOC = re.compile(r"<loc>\s*([^<\s]+)\s*</loc>", re.IGNORECASE)
_COURSE_HOME = re.compile(r"^(/courses/[^/]+/)")


@dataclass(frozen=True)
class Candidate:
    url: str  # a course home
    found_in: str  # the evidence: where the candidate came from


def course_slug_prefix(course_number: str) -> str:
    """`RES.18-001` -> `res-18-001-`: how OCW starts a course's slug."""
    return re.sub(r"[^a-z0-9]+", "-", course_number.lower()).strip("-") + "-"


def course_home(url: str) -> str | None:
    """The course site's home (`https://ocw.mit.edu/courses/<slug>/`) a URL lies in, or None."""
    try:
        parsed = parse_url(url)
    except InvalidURLError:
        return None
    match = _COURSE_HOME.match(urlsplit(parsed.request_url).path)
    if match is None:
        return None
    return f"{parsed.origin.removesuffix(':443').removesuffix(':80')}{match.group(1)}"


def read_sitemap(body: bytes) -> list[str]:
    """Every `<loc>` of a sitemap or sitemap index (sitemaps.org), in document order."""
    text = body.decode("utf-8", errors="replace")
    return [html.unescape(loc) for loc in _LOC.findall(text)]


def catalogue_candidates(locations: Iterable[str], course_number: str) -> list[Candidate]:
    """Course homes in OCW's sitemap whose slug starts with the course number."""
    prefix = course_slug_prefix(course_number)
    found = []
    for loc in locations:
        home = course_home(loc)
        if home and urlsplit(home).path.removeprefix("/courses/").startswith(prefix):
            found.append(Candidate(home, "found in OCW's sitemap"))
    return found


def run_candidates(pages: Iterable[tuple[str, Metadata]], course_number: str) -> list[Candidate]:
    """Course homes of pages this run fetched that show the same course number."""
    found = []
    for url, metadata in pages:
        home = course_home(url)
        if home and same_number(metadata.course_number, course_number):
            found.append(Candidate(home, f"reached by this run at {url}"))
    return found


def same_number(shown: str | None, wanted: str) -> bool:
    return shown is not None and shown.strip().upper() == wanted.strip().upper()


async def find_successor(
    fetcher: Fetcher, resource: Resource, pages: Sequence[tuple[str, Metadata]]
) -> Suggestion | None:
    """The verified successor of a dead course entry, or None when none can be shown."""
    number = resource.expected.course_number
    if number is None:
        return None
    candidates = run_candidates(pages, number) + await ask_catalogue(fetcher, resource, number)
    unique = list({c.url: c for c in reversed(candidates)}.values())[::-1]
    verified = []
    for candidate in unique[:MAX_CANDIDATES]:
        metadata = await read_candidate(fetcher, candidate.url)
        if metadata is not None and same_number(metadata.course_number, number):
            verified.append((candidate, metadata))
    if not verified:
        return None
    title = resource.expected.title
    verified.sort(key=lambda pair: not _same_title(pair[1].title, title))
    best, metadata = verified[0]
    reason = f"same course number {number}, title {metadata.title!r}, {best.found_in}"
    others = [c.url for c, _ in verified[1:]]
    if others:
        reason += f"; also: {', '.join(others)}"
    return Suggestion(url=best.url, reason=reason, metadata=metadata)


async def ask_catalogue(fetcher: Fetcher, resource: Resource, number: str) -> list[Candidate]:
    origin = parse_url(resource.url).origin.removesuffix(":443").removesuffix(":80")
    result = await fetcher.fetch(origin + SITEMAP_PATH)
    if result.status != 200 or result.failure is not None:
        log.info("no sitemap to search for %s's successor (%s)", resource.id, result.status)
        return []
    return catalogue_candidates(read_sitemap(result.body), number)


async def read_candidate(fetcher: Fetcher, url: str) -> Metadata | None:
    result = await fetcher.fetch(url)
    if result.status != 200 or result.failure is not None:
        return None
    metadata = extract_page(result.body, result.final_url, result.content_type).metadata
    return None if metadata.page_kind is PageKind.NOT_FOUND else metadata


def _same_title(shown: str | None, wanted: str | None) -> bool:
    if not shown or not wanted:
        return False
    a, b = shown.casefold(), wanted.casefold()
    return a == b or a in b or b in a
