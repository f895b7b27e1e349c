"""A document's links as the list's resources: one per distinct URL, with an id from its link
text that stays when the URL is rewritten, its kind inferred from the URL, and its place."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ocwwatch.errors import ConfigError
from ocwwatch.lists.document import DocumentLink, is_html, read_document
from ocwwatch.lists.links import find_links
from ocwwatch.models import Location, Resource, ResourceKind
from ocwwatch.urls import InvalidURLError, parse_url

_OCW_COURSE = re.compile(r"^/(courses|resources)/(?:[a-z-]+/)?[a-z0-9][^/]*/?$")


_SLUG = re.compile(r"[^a-z0-9]+")


def resources_of(path: Path, links: Sequence[DocumentLink]) -> tuple[Resource, ...]:
    """One resource per distinct URL (its first place), with an id from its link text that
    stays when the URL is rewritten, and its kind inferred from the URL."""
    resources: dict[str, Resource] = {}
    ids: set[str] = set()
    numbers: dict[str, int] = {}
    for link in links:
        if link.url in resources:
            continue
        resource_id = _unique(_slug(link.text) or "link", ids, numbers)
        location = Location(file=str(path), line=link.line, column=link.column, length=link.length)
        resources[link.url] = Resource(
            id=resource_id,
            url=link.url,
            kind=infer_kind(link.url),
            name=link.text or None,
            location=location,
        )
    if not resources:
        raise ConfigError(f"{path}: the document has no http(s) link outside code to check")
    return tuple(resources.values())


def infer_kind(url: str) -> ResourceKind:
    """An OCW course site, a PDF, or any other page."""
    try:
        parsed = parse_url(url)
    except InvalidURLError:
        return ResourceKind.PAGE
    path = parsed.request_url.split("?", 1)[0].removeprefix(f"{parsed.scheme}://")
    path = path[path.find("/") :] if "/" in path else "/"
    if path.lower().endswith(".pdf"):
        return ResourceKind.PDF
    if parsed.host == "ocw.mit.edu" and _OCW_COURSE.match(path):
        return ResourceKind.OCW_COURSE
    return ResourceKind.PAGE


def _slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-")[:48].strip("-")


def _unique(base: str, taken: set[str], numbers: dict[str, int]) -> str:
    """`base`, else the first of `base-2`, `base-3`, ... not taken. `numbers` keeps each base's
    next number to try (1 for `base` itself): ids are never given back, so a base's first free
    number only moves on, and a thousand links named `here` cost a step each, not a count from
    2 each (an explicit `here-3` in the document is still skipped, as taken)."""
    number = numbers.get(base, 1)
    candidate = base if number == 1 else f"{base}-{number}"
    while candidate in taken:
        number += 1
        candidate = f"{base}-{number}"
    taken.add(candidate)
    numbers[base] = number + 1
    return candidate


def load_document_list(path: Path) -> tuple[Resource, ...]:
    return resources_of(path, find_links(read_document(path), html_document=is_html(path)))
