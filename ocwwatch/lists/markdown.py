"""A Markdown list read by markdown-it-py, the CommonMark parser (with GFM tables): its tokens,
and where each link's destination stands in the text. The only module that imports it."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ocwwatch.lists.document import line_starts

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token


_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)


# Between `](` (or `]:`) and a destination: spaces, and at most one line ending.
_GAP = re.compile(r"[ \t]*(?:\r\n|\n|\r)?[ \t]*")


_AUTOLINK = re.compile(r"[^<>\x00-\x20]*")  # what CommonMark allows between `<` and `>`


def parse_markdown(text: str) -> tuple[MarkdownIt, list[Token], Mapping[str, Any]]:
    """The parser, the document's tokens, and its reference definitions (label -> href, map)."""
    from markdown_it import MarkdownIt  # noqa: PLC0415 - imported for Markdown lists only

    # store_labels: a reference link says which definition it uses, and so where its URL is.
    parser = MarkdownIt("commonmark", {"store_labels": True}).enable("table")
    env: dict[str, Any] = {}
    tokens = parser.parse(text, env)
    return parser, tokens, env.get("references", {})


def read_destination(written: str, *, autolink: bool) -> str:
    """The URL markdown-it reads from a link destination (or, with `autolink`, from between
    `<` and `>`, where backslash escapes and entities do not apply)."""
    from markdown_it.common.normalize_url import normalizeLink  # noqa: PLC0415
    from markdown_it.common.utils import unescapeAll  # noqa: PLC0415

    return str(normalizeLink(written if autolink else unescapeAll(written)))


def html_regions(
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


def text_of(children: Sequence[Token], index: int) -> str:
    """The text of the link that opens at `children[index]`, its spaces folded."""
    label = []
    # By index, not a slice: a copy of the rest of a paragraph of many links for each of them
    # would make reading them quadratic.
    for at in range(index + 1, len(children)):
        if children[at].type == "link_close":
            break
        label.append(children[at].content)
    return " ".join("".join(label).split())


def _code_ranges(text: str, tokens: Sequence[Token]) -> list[tuple[int, int]]:
    """Character ranges of code blocks, fences and code spans: never links, never rewritten.
    (An HTML block is no code: its anchors are links, `html_regions`.)"""
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    ranges = []
    for token in tokens:
        if token.type in {"fence", "code_block"} and token.map:
            first, last = token.map
            ranges.append((starts[first], starts[last] if last < len(starts) else len(text)))
    ranges += [(m.start(), m.end()) for m in _CODE_SPAN.finditer(text)]
    return ranges


def _merged(ranges: Iterable[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """The union of half-open ranges as sorted, disjoint ones (their starts, their ends): an
    offset is in one of them if it is before the end of the last that starts at or before it."""
    starts: list[int] = []
    ends: list[int] = []
    for start, end in sorted(r for r in ranges if r[0] < r[1]):
        if ends and start <= ends[-1]:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


class Places:
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
        self.starts = line_starts(text)
        # One bisect per question, not a scan of every code range: a document with a code span
        # on each line asks once for each `](` it has.
        self._code_starts, self._code_ends = _merged(_code_ranges(text, tokens))
        self.references = references
        self.parser = parser
        self._defined: dict[str, tuple[int, int] | None] = {}

    def in_code(self, offset: int) -> bool:
        at = bisect.bisect_right(self._code_starts, offset) - 1
        return at >= 0 and offset < self._code_ends[at]

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
