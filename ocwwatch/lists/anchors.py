"""`<a href>` in HTML, found by the standard library's tokenizer, which reports where each tag
starts, so that each URL has its line, column and characters in the document. Links inside
code, scripts and the like are not entries."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from html.parser import HTMLParser

from ocwwatch.lists.document import DocumentLink, line_and_column, line_starts

# An unquoted value runs to whitespace or `>`, as the HTML tokenizer reads it (`=` in a query too).
_HREF = re.compile(r"""\shref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)


# Elements whose text is shown as code or never shown: an <a> inside is not an entry.
_NOT_PROSE = frozenset({"pre", "code", "script", "style", "template", "textarea"})


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


def html_links(
    text: str, base: int, starts: Sequence[int], *, every_scheme: bool = False
) -> list[DocumentLink]:
    """The http(s) `<a href>` links of an HTML text that starts at `base` in the document
    (every `<a href>` with `every_scheme`)."""
    parser = _Anchors()
    parser.feed(text)
    parser.close()
    local = line_starts(text)
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
        place = line_and_column(starts, offset)
        name = " ".join("".join(label).split())
        links.append(DocumentLink(url, name, *place, offset, len(raw), form="html"))
    return links
