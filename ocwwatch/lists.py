"""A Markdown or HTML document as the list (issue 13): its links are the resources, each with
where it stands (file, line, column), and fixes are written back into the document and nothing
else.

Owns markdown-it-py (no other module imports it). Links are found by the CommonMark parser (with
GFM tables), so URLs in code spans and code blocks are never resources and never rewritten; a
link's place is its destination (after `](`, inside `<...>`, or in its reference definition
after `]:`) within the lines the parser gives its block, never a mention of the URL elsewhere;
`<a href>` in an HTML document, or written as HTML inside Markdown, is found by the standard
library's HTML tokenizer, which reports where each tag starts. Every other byte of the document
survives a rewrite: only the old URL's characters change.
"""

from __future__ import annotations

import bisect
import difflib
import html
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from ocwwatch.errors import ConfigError
from ocwwatch.models import Location, Resource, ResourceKind
from ocwwatch.urls import InvalidURLError, parse_url

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
DOCUMENT_SUFFIXES = MARKDOWN_SUFFIXES | HTML_SUFFIXES
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
_OCW_COURSE = re.compile(r"^/(courses|resources)/(?:[a-z-]+/)?[a-z0-9][^/]*/?$")
_SLUG = re.compile(r"[^a-z0-9]+")
# An unquoted value runs to whitespace or `>`, as the HTML tokenizer reads it (`=` in a query too).
_HREF = re.compile(r"""\shref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
# Between `](` (or `]:`) and a destination: spaces, and at most one line ending.
_GAP = re.compile(r"[ \t]*(?:\r\n|\n|\r)?[ \t]*")
# Percent-encoded in a URL written into a list: what ends a Markdown destination or starts other
# syntax (space, parentheses, brackets, angle brackets, backslash, backtick) and control characters.
_UNSAFE_IN_LISTS = re.compile(r"[\x00-\x20\x7f-\x9f()<>\[\]\\`]")
_ENTITY_LIKE = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
_AUTOLINK = re.compile(r"[^<>\x00-\x20]*")  # what CommonMark allows between `<` and `>`
# Elements whose text is shown as code or never shown: an <a> inside is not an entry.
_NOT_PROSE = frozenset({"pre", "code", "script", "style", "template", "textarea"})


# Where a URL stands decides how a new one is written there: a Markdown link destination or
# reference definition (backslash escapes and entities apply), an autolink `<...>` (they do
# not), an HTML attribute value (character references apply).
LinkForm = Literal["destination", "autolink", "html"]


@dataclass(frozen=True)
class DocumentLink:
    """One http(s) link of the document outside code: its URL, its text, where it stands.

    `length` is how many characters the URL takes in the document: not the URL's length when
    it was written with character references (`&amp;`) inside an HTML attribute, or with
    backslash escapes or characters the parser percent-encodes in a Markdown destination.
    """

    url: str
    text: str
    line: int  # 1-based
    column: int  # 1-based, of the URL's first character
    offset: int  # of the URL's first character in the document
    length: int
    form: LinkForm = "destination"  # how a new URL must be written in its place


def is_document(path: Path) -> bool:
    return path.suffix.lower() in DOCUMENT_SUFFIXES


def is_html(path: Path) -> bool:
    return path.suffix.lower() in HTML_SUFFIXES


def read_document(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the list: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: is not UTF-8 text") from exc


def find_links(text: str, *, html_document: bool = False) -> list[DocumentLink]:
    """Every http(s) link outside code, in document order, each URL at its place in `text`."""
    if html_document:
        return _html_links(text, 0, _line_starts(text))
    parser, tokens, references = _parse_markdown(text)
    places = _Places(text, tokens, references, parser)
    starts = places.starts
    # In the order a reader meets them: a reference link where it is used, not where its URL
    # is defined; HTML links by their place.
    found: list[tuple[int, DocumentLink]] = []
    for block in tokens:
        if block.type != "inline" or not block.map:
            continue
        for index, token, place in places.of_block(block):
            href = str(token.attrs.get("href", "")) if token.type == "link_open" else ""
            if not href.lower().startswith(("http://", "https://")) or place is None:
                continue  # not a link checked, or a destination with no literal place
            line, column = _line_and_column(starts, place[0])
            label = _text_of(block.children or [], index)
            form: LinkForm = "autolink" if token.markup == "autolink" else "destination"
            link = DocumentLink(href, label, line, column, *place, form=form)
            found.append((starts[block.map[0]], link))
    for start, end in _html_regions(tokens, starts, len(text)):
        found += [
            (link.offset, link)
            for link in _html_links(text[start:end], start, starts)
            if not places.in_code(link.offset)
        ]
    return [link for _, link in sorted(found, key=lambda item: item[0])]


def _parse_markdown(text: str) -> tuple[MarkdownIt, list[Token], Mapping[str, Any]]:
    """The parser, the document's tokens, and its reference definitions (label -> href, map)."""
    from markdown_it import MarkdownIt  # noqa: PLC0415 - imported for Markdown lists only

    # store_labels: a reference link says which definition it uses, and so where its URL is.
    parser = MarkdownIt("commonmark", {"store_labels": True}).enable("table")
    env: dict[str, Any] = {}
    tokens = parser.parse(text, env)
    return parser, tokens, env.get("references", {})


def _destinations(text: str, *, html_document: bool) -> list[tuple[str, str]]:
    """Every link and image the document has, of any scheme, placed or not, as (kind, URL) in
    the parser's order: what a rewrite must leave as it was, but for the fixed URLs."""
    starts = _line_starts(text)
    if html_document:
        return [("link", a.url) for a in _html_links(text, 0, starts, every_scheme=True)]
    _, tokens, _ = _parse_markdown(text)
    found = [
        ("image", str(token.attrs.get("src", "")))
        if token.type == "image"
        else ("link", str(token.attrs.get("href", "")))
        for block in tokens
        for token in block.children or []
        if token.type in {"link_open", "image"}
    ]
    for start, end in _html_regions(tokens, starts, len(text)):
        anchors = _html_links(text[start:end], start, starts, every_scheme=True)
        found += [("link", anchor.url) for anchor in anchors]
    return found


def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in re.finditer("\n", text)]


def _line_and_column(starts: Sequence[int], offset: int) -> tuple[int, int]:
    line = bisect.bisect_right(starts, offset)
    return line, offset - starts[line - 1] + 1


def _html_regions(
    tokens: Sequence[Token], starts: Sequence[int], size: int
) -> Iterable[tuple[int, int]]:
    """The character ranges of the Markdown's HTML: its HTML blocks, and the paragraphs (or
    table cells) whose inline content has HTML tags."""
    for token in tokens:
        has_html = token.type == "html_block" or (
            token.type == "inline" and any(c.type == "html_inline" for c in token.children or [])
        )
        if has_html and token.map:
            first, last = token.map
            yield starts[first], starts[last] if last < len(starts) else size


class _Anchors(HTMLParser):
    """The `<a href>` start tags of an HTML text, with where each tag starts and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[tuple[int, int], str, list[str]]] = []
        self._hidden = 0
        self._open: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _NOT_PROSE:
            self._hidden += 1
        elif tag == "a" and not self._hidden and self.get_starttag_text():
            self._open = []
            self.found.append((self.getpos(), self.get_starttag_text() or "", self._open))

    def handle_endtag(self, tag: str) -> None:
        if tag in _NOT_PROSE and self._hidden:
            self._hidden -= 1
        elif tag == "a":
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open.append(data)


def _html_links(
    text: str, base: int, starts: Sequence[int], *, every_scheme: bool = False
) -> list[DocumentLink]:
    """The http(s) `<a href>` links of an HTML text that starts at `base` in the document
    (every `<a href>` with `every_scheme`)."""
    parser = _Anchors()
    parser.feed(text)
    parser.close()
    local = _line_starts(text)
    links = []
    for (line, column), tag, label in parser.found:
        match = _HREF.search(tag)
        if match is None:
            continue
        group = next(g for g in (1, 2, 3) if match.group(g) is not None)
        raw = match.group(group)
        url = html.unescape(raw).strip()
        if not every_scheme and not url.lower().startswith(("http://", "https://")):
            continue
        offset = base + local[line - 1] + column + match.start(group)
        place = _line_and_column(starts, offset)
        name = " ".join("".join(label).split())
        links.append(DocumentLink(url, name, *place, offset, len(raw), form="html"))
    return links


def _text_of(children: Sequence[Token], index: int) -> str:
    """The text of the link that opens at `children[index]`, its spaces folded."""
    label = []
    for inner in children[index + 1 :]:
        if inner.type == "link_close":
            break
        label.append(inner.content)
    return " ".join("".join(label).split())


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


class _Places:
    """Where the parser's links stand in the text. markdown-it gives no column, only the lines
    of each block (token `map`) and of each reference definition; a destination is searched
    for within those lines only, after the syntax that opens it (`](`, `<`, `]:`), and is read
    whole, as the parser reads it. A mention of the URL in prose, the link's text, or a longer
    URL that starts with it is never its place."""

    def __init__(
        self,
        text: str,
        tokens: Sequence[Token],
        references: Mapping[str, Mapping[str, Any]],
        parser: MarkdownIt,
    ) -> None:
        self.text = text
        self.starts = _line_starts(text)
        self.code = _code_ranges(text, tokens)
        self.references = references
        self.parser = parser
        self._defined: dict[str, tuple[int, int] | None] = {}

    def in_code(self, offset: int) -> bool:
        return any(a <= offset < b for a, b in self.code)

    def of_block(self, block: Token) -> Iterable[tuple[int, Token, tuple[int, int] | None]]:
        """Each link and image of an inline block, with its index among the block's children
        and the place of its URL (offset, length), in the order their destinations are
        written: a link's after its text, so an image inside the text comes first."""
        start, end = self._span(block.map or [0, 0])
        children = block.children or []
        opened: list[int] = []
        for index, token in enumerate(children):
            if token.type == "link_open":
                opened.append(index)
                continue
            at = index
            if token.type == "link_close" and opened:
                at = opened.pop()
            elif token.type != "image":
                continue
            place = self._place_of(children[at], start, end)
            if place is not None and "label" not in children[at].meta:
                start = place[0] + place[1]  # the next destination is written after this one
            yield at, children[at], place

    def _span(self, lines: Sequence[int]) -> tuple[int, int]:
        first, last = lines
        return self.starts[first], self.starts[last] if last < len(self.starts) else len(self.text)

    def _place_of(self, token: Token, start: int, end: int) -> tuple[int, int] | None:
        href = str(token.attrs.get("src" if token.type == "image" else "href", ""))
        label = token.meta.get("label")
        if label is not None:  # `[text][label]`: the URL stands in the definition
            return self._definition(str(label), href)
        if token.markup == "autolink":
            return self._find(start, end, "<", href)
        return self._find(start, end, "](", href)

    def _definition(self, label: str, href: str) -> tuple[int, int] | None:
        if label not in self._defined:
            lines = self.references.get(label, {}).get("map")
            found = self._find(*self._span(lines), "]:", href) if lines else None
            self._defined[label] = found
        return self._defined[label]

    def _find(self, start: int, end: int, opener: str, href: str) -> tuple[int, int] | None:
        """The first destination after an unescaped `opener` outside code in [start, end)
        that the parser reads as `href`: its offset and length (`<...>` brackets left out)."""
        at = start
        while (at := self.text.find(opener, at, end)) != -1:
            found = not _is_escaped(self.text, at) and not self.in_code(at)
            at += 1
            if opener == "<":
                place = self._autolink(at, end, href) if found else None
            else:
                gap = _GAP.match(self.text, at - 1 + len(opener), end)
                place = self._destination(gap.end(), end, href) if found and gap else None
            if place is not None:
                return place
        return None

    def _autolink(self, first: int, end: int, href: str) -> tuple[int, int] | None:
        close = self.text.find(">", first, end)
        raw = self.text[first:close]
        if close == -1 or not _AUTOLINK.fullmatch(raw) or self.parser.normalizeLink(raw) != href:
            return None
        return first, len(raw)

    def _destination(self, first: int, end: int, href: str) -> tuple[int, int] | None:
        result = self.parser.helpers.parseLinkDestination(self.text, first, end)
        if not result.ok or self.parser.normalizeLink(result.str) != href:
            return None
        pointy = int(self.text[first] == "<")
        return first + pointy, result.pos - first - 2 * pointy


def _is_escaped(text: str, at: int) -> bool:
    """Whether the character at `at` follows an odd run of backslashes."""
    run = 0
    while at - run > 0 and text[at - run - 1] == "\\":
        run += 1
    return run % 2 == 1


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
    return resources_of(path, find_links(read_document(path), html_document=is_html(path)))


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
    from markdown_it.common.normalize_url import normalizeLink  # noqa: PLC0415
    from markdown_it.common.utils import unescapeAll  # noqa: PLC0415

    return normalizeLink(written if form == "autolink" else unescapeAll(written))


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
    before = _destinations(text, html_document=html_document)

    def change(edits: Mapping[int, tuple[int, str]], moves: Mapping[str, str]) -> str | None:
        after = _destinations(_edited(text, edits), html_document=html_document)
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
