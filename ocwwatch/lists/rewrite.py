"""Fixes written back into the document: only the old URLs' characters change, each new URL is
written so that its place reads it as that one link, and the document read again must have
exactly the old links with the fixed URLs replaced, or nothing is written."""

from __future__ import annotations

import difflib
import html
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ocwwatch.errors import ConfigError
from ocwwatch.lists.document import LinkForm, is_html
from ocwwatch.lists.links import destinations, find_links
from ocwwatch.lists.markdown import read_destination
from ocwwatch.lists.resources import resources_of

# Percent-encoded in a URL written into a list: what ends a Markdown destination or starts other
# syntax (space, parentheses, brackets, angle brackets, backslash, backtick) and control characters.
_UNSAFE_IN_LISTS = re.compile(r"[\x00-\x20\x7f-\x9f()<>\[\]\\`]")


_ENTITY_LIKE = re.compile(r"&(?=#?[0-9A-Za-z]+;)")


@dataclass(frozen=True)
class Rewrite:
    """What applying fixes would do to the document: its new text, the diff, what was left."""

    text: str
    diff: str
    applied: list[str]
    skipped: list[str]
    moves: dict[str, str]  # checked URL -> new URL, for each fix applied


def _escaped(url: str) -> str:
    """A URL as an HTML attribute value holds it."""
    return url.replace("&", "&amp;").replace('"', "&quot;").replace("'", "&#39;")


def _written(url: str, form: LinkForm) -> str:
    """`url` as its place in the document must hold it to be read as that one URL and nothing
    more: a redirect's Location is a stranger's text, and `/x)[a](http://inside/` written as is
    would add a link the maintainer never wrote (and the list's origins pass the address
    guard). What ends a destination or starts other syntax is percent-encoded, which keeps it
    the same resource (WHATWG URL standard, percent-encode sets); then each form's escapes."""
    encoded = _UNSAFE_IN_LISTS.sub(lambda m: quote(m.group(), safe=""), url)
    if form == "html":
        return _escaped(encoded)
    if form == "destination":
        return _ENTITY_LIKE.sub(r"\\&", encoded)  # `&amp;` would be read as `&`
    return encoded  # an autolink takes no escapes and no entities


def _read_as(written: str, form: LinkForm) -> str:
    """The URL the parser reads from `written` in a place of `form`."""
    if form == "html":
        return html.unescape(written).strip()
    return read_destination(written, autolink=form == "autolink")


def rewrite_document(path: Path, text: str, fixes: Mapping[str, tuple[str, str]]) -> Rewrite:
    """Replace, for each id in `fixes` (id -> (checked URL, new URL)), the checked URL where
    the id's link stands now; an id whose link no longer has that URL is skipped (edited
    since). Every other character stays as it was, and the document's links are the old ones
    with exactly the fixed URLs replaced, or nothing is rewritten (ConfigError)."""
    links = find_links(text, html_document=is_html(path))
    current = {r.id: r for r in resources_of(path, links)}
    planned: dict[str, tuple[str, str, dict[int, tuple[int, str]]]] = {}
    skipped = []
    for resource_id, (checked, new) in sorted(fixes.items()):
        resource = current.get(resource_id)
        if resource is None or resource.url != checked:
            skipped.append(f"{resource_id}: the document no longer has {checked}; not changed")
            continue
        places = [link for link in links if link.url == checked]
        # Links sharing a reference definition share its place: a dict rewrites it once.
        edits = {link.offset: (link.length, _written(new, link.form)) for link in places}
        reads = _read_as(_written(new, places[0].form), places[0].form)
        planned[resource_id] = (checked, reads, edits)
    new_text = _checked_rewrite(path, text, planned)
    diff = "".join(
        difflib.unified_diff(
            text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            fromfile=f"a/{path.name}",
            tofile=f"b/{path.name}",
        )
    )
    applied = [f"{key}: {checked} -> {reads}" for key, (checked, reads, _) in planned.items()]
    moves = {checked: reads for checked, reads, _ in planned.values()}
    return Rewrite(new_text, diff, applied, skipped, moves)


def _checked_rewrite(
    path: Path, text: str, planned: Mapping[str, tuple[str, str, dict[int, tuple[int, str]]]]
) -> str:
    """`text` with every planned edit, once the parser reads in it exactly the old links with
    each fixed URL replaced (defence in depth behind `_written`); else a ConfigError naming
    the file and the entries whose edit does more, and nothing is to be written."""
    if not planned:
        return text
    html_document = is_html(path)
    before = destinations(text, html_document=html_document)

    def change(edits: Mapping[int, tuple[int, str]], moves: Mapping[str, str]) -> str | None:
        after = destinations(_edited(text, edits), html_document=html_document)
        expected = [(kind, moves.get(url, url) if kind == "link" else url) for kind, url in before]
        return _link_change(expected, after)

    every = {offset: edit for *_, edits in planned.values() for offset, edit in edits.items()}
    problem = change(every, {checked: reads for checked, reads, _ in planned.values()})
    if problem is None:
        return _edited(text, every)
    culprits = [
        key
        for key, (checked, reads, edits) in planned.items()
        if change(edits, {checked: reads}) is not None
    ]
    raise ConfigError(
        f"{path}: {', '.join(culprits or planned)}: read again, the rewritten list would "
        f"{problem}; nothing was written (edit that link by hand)"
    )


def _edited(text: str, edits: Mapping[int, tuple[int, str]]) -> str:
    for offset, (length, replacement) in sorted(edits.items(), reverse=True):
        text = text[:offset] + replacement + text[offset + length :]
    return text


def _link_change(
    expected: Sequence[tuple[str, str]], found: Sequence[tuple[str, str]]
) -> str | None:
    """How the links a rewrite leaves differ from those it should leave, or None."""
    if list(found) == list(expected):
        return None

    def named(links: Counter[tuple[str, str]]) -> str:
        return ", ".join(url if kind == "link" else f"{url} (an image)" for kind, url in links)

    extra, lost = Counter(found) - Counter(expected), Counter(expected) - Counter(found)
    if extra and lost:
        return f"link to {named(extra)} instead of {named(lost)}"
    if extra:
        return f"also link to {named(extra)}"
    return f"no longer link to {named(lost)}" if lost else "its links in another order"
