"""A document's links: every http(s) link outside code, at its place (`find_links`), and every
link and image of any scheme (`destinations`), which a rewrite must leave as they were."""

from __future__ import annotations

from ocwwatch.lists.anchors import html_links
from ocwwatch.lists.document import DocumentLink, LinkForm, line_and_column, line_starts
from ocwwatch.lists.markdown import Places, html_regions, parse_markdown, text_of


def find_links(text: str, *, html_document: bool = False) -> list[DocumentLink]:
    """Every http(s) link outside code, in document order, each URL at its place in `text`."""
    if html_document:
        return html_links(text, 0, line_starts(text))
    parser, tokens, references = parse_markdown(text)
    places = Places(text, tokens, references, parser)
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
            line, column = line_and_column(starts, place[0])
            label = text_of(block.children or [], index)
            form: LinkForm = "autolink" if token.markup == "autolink" else "destination"
            link = DocumentLink(href, label, line, column, *place, form=form)
            found.append((starts[block.map[0]], link))
    for start, end in html_regions(tokens, starts, len(text)):
        found += [
            (link.offset, link)
            for link in html_links(text[start:end], start, starts)
            if not places.in_code(link.offset)
        ]
    return [link for _, link in sorted(found, key=lambda item: item[0])]


def destinations(text: str, *, html_document: bool) -> list[tuple[str, str]]:
    """Every link and image the document has, of any scheme, placed or not, as (kind, URL) in
    the parser's order: what a rewrite must leave as it was, but for the fixed URLs."""
    starts = line_starts(text)
    if html_document:
        return [("link", a.url) for a in html_links(text, 0, starts, every_scheme=True)]
    _, tokens, _ = parse_markdown(text)
    found = [
        ("image", str(token.attrs.get("src", "")))
        if token.type == "image"
        else ("link", str(token.attrs.get("href", "")))
        for block in tokens
        for token in block.children or []
        if token.type in {"link_open", "image"}
    ]
    for start, end in html_regions(tokens, starts, len(text)):
        anchors = html_links(text[start:end], start, starts, every_scheme=True)
        found += [("link", anchor.url) for anchor in anchors]
    return found
