"""A Markdown document as the list (issue 13): its links are the resources, each with where it
stands (file, line, column), and fixes are written back into the document and nothing else.

Owns markdown-it-py (no other module imports it). Links are found by the CommonMark parser (with
GFM tables), so URLs in code spans and code blocks are never resources and never rewritten.
Every other byte of the document survives a rewrite: only the old URL's characters change.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from ocwwatch.errors import ConfigError
from ocwwatch.models import Location, Resource, ResourceKind
from ocwwatch.urls import InvalidURLError, parse_url

DOCUMENT_SUFFIXES = frozenset({".md", ".markdown"})
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
_OCW_COURSE = re.compile(r"^/(courses|resources)/(?:[a-z-]+/)?[a-z0-9][^/]*/?$")
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class DocumentLink:
    """One http(s) link of the document outside code: its URL, its text, where it stands."""

    url: str
    text: str
    line: int  # 1-based
    column: int  # 1-based, of the URL's first character
    offset: int  # of the URL's first character in the document


def is_document(path: Path) -> bool:
    return path.suffix.lower() in DOCUMENT_SUFFIXES


def read_document(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the list: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: is not UTF-8 text") from exc


def find_links(text: str) -> list[DocumentLink]:
    """Every http(s) link outside code, in document order, each URL at its place in `text`."""
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    code = _code_ranges(text, tokens)
    found: list[DocumentLink] = []
    taken: set[int] = set()
    for href, label in _links_of(tokens):
        offset = _place_of(text, href, code, taken)
        if offset is None:
            continue  # a URL the parser normalised: it has no literal place to point at
        taken.add(offset)
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        found.append(DocumentLink(href, label, line, column, offset))
    return found


def _links_of(tokens: Sequence[Token]) -> Iterable[tuple[str, str]]:
    for block in tokens:
        children = block.children or []
        for index, token in enumerate(children):
            href = str(token.attrs.get("href", "")) if token.type == "link_open" else ""
            if not href.lower().startswith(("http://", "https://")):
                continue
            label = []
            for inner in children[index + 1 :]:
                if inner.type == "link_close":
                    break
                label.append(inner.content)
            yield href, " ".join("".join(label).split())


def _code_ranges(text: str, tokens: Sequence[Token]) -> list[tuple[int, int]]:
    """Character ranges of code blocks, fences and code spans: never links, never rewritten."""
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    ranges = []
    for token in tokens:
        if token.type in {"fence", "code_block", "html_block"} and token.map:
            first, last = token.map
            ranges.append((starts[first], starts[last] if last < len(starts) else len(text)))
    ranges += [(m.start(), m.end()) for m in _CODE_SPAN.finditer(text)]
    return ranges


def _place_of(text: str, url: str, code: Sequence[tuple[int, int]], taken: set[int]) -> int | None:
    start = 0
    while (offset := text.find(url, start)) != -1:
        start = offset + 1
        if offset in taken or any(a <= offset < b for a, b in code):
            continue
        return offset
    return None


def resources_of(path: Path, links: Sequence[DocumentLink]) -> tuple[Resource, ...]:
    """One resource per distinct URL (its first place), with an id from its link text that
    stays when the URL is rewritten, and its kind inferred from the URL."""
    resources: dict[str, Resource] = {}
    ids: set[str] = set()
    for link in links:
        if link.url in resources:
            continue
        resource_id = _unique(_slug(link.text) or "link", ids)
        location = Location(file=str(path), line=link.line, column=link.column)
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


def _unique(base: str, taken: set[str]) -> str:
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    taken.add(candidate)
    return candidate


def load_document_list(path: Path) -> tuple[Resource, ...]:
    return resources_of(path, find_links(read_document(path)))


@dataclass(frozen=True)
class Rewrite:
    """What applying fixes would do to the document: its new text, the diff, what was left."""

    text: str
    diff: str
    applied: list[str]
    skipped: list[str]


def rewrite_document(path: Path, text: str, fixes: Mapping[str, tuple[str, str]]) -> Rewrite:
    """Replace, for each id in `fixes` (id -> (checked URL, new URL)), the checked URL where
    the id's link stands now; an id whose link no longer has that URL is skipped (edited
    since). Every other character stays as it was."""
    links = find_links(text)
    current = {r.id: r for r in resources_of(path, links)}
    places = {link.url: [lk.offset for lk in links if lk.url == link.url] for link in links}
    edits: list[tuple[int, int, str]] = []
    applied, skipped = [], []
    for resource_id, (checked, new) in sorted(fixes.items()):
        resource = current.get(resource_id)
        if resource is None or resource.url != checked:
            skipped.append(f"{resource_id}: the document no longer has {checked}; not changed")
            continue
        edits += [(offset, len(checked), new) for offset in places[checked]]
        applied.append(f"{resource_id}: {checked} -> {new}")
    new_text = text
    for offset, length, replacement in sorted(edits, reverse=True):
        new_text = new_text[:offset] + replacement + new_text[offset + length :]
    diff = "".join(
        difflib.unified_diff(
            text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            fromfile=f"a/{path.name}",
            tofile=f"b/{path.name}",
        )
    )
    return Rewrite(new_text, diff, applied, skipped)
