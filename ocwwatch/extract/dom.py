"""HTML plumbing shared by the HTML extractors: decoding, parsing, text, URLs and links.

It owns the one place where bytes become a selectolax tree and hrefs become absolute URLs.
It knows nothing about OCW's page shapes and must not do I/O or raise on any input.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ocwwatch.models import ElementKind, Link
from ocwwatch.urls import InvalidURLError, parse_url, redact_url

# The HTML standard only honours a charset declared in the first 1024 bytes.
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SPACES = re.compile(r"\s+")
# WHATWG URL parsing drops ASCII tab and newline anywhere inside an href.
_URL_NOISE = re.compile(r"[\t\n\r]")
# Typographic quotes and dashes would make "L'Hospital" miss "L’Hospital".
_TYPOGRAPHY = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-"})
# Whether a page can have CSS URLs at all: most have none, and then no style="" is read.
# Substrings, not a case-blind regex: that scanned a whole page for each page read.
_CSS_HINTS = ("url(", "URL(", "Url(", "@import")
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)")
_VOID = ("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "wbr")
_OPTIONAL_END = ("li", "p", "dt", "dd", "option", "optgroup", "tr", "td", "th", "rt", "rp")
_IMPLIED = ("html", "head", "body", "thead", "tbody", "tfoot", "colgroup", "caption")
_SELF_CLOSING = frozenset(_VOID + _OPTIONAL_END + _IMPLIED + ("param", "source", "track"))
MAX_DEPTH = 5000
WEB_SCHEMES = frozenset({"http", "https"})
# URLs that are the content itself (or nothing): no link to check or to report.
INLINE_SCHEMES = frozenset({"data", "about", "blob"})
MAX_HREF_CHARS = 2048  # of an href kept as written (a browser rejects it, or another scheme)
MAX_FRAGMENT_CHARS = 256
MAX_FRAGMENTS_PER_LINK = 64  # distinct #targets kept for one URL of one page (or the page)
INVISIBLE_TAGS = ["script", "style", "noscript", "template"]


@dataclass(frozen=True)
class Page:
    """One parsed HTML body with what every extractor needs to know about it."""

    tree: LexborHTMLParser
    url: str  # where the body was fetched from
    base: str  # what relative hrefs resolve against (<base href> or `url`)
    content_type: str  # media type as served, or "text/html" when sniffed
    size_bytes: int
    problems: tuple[str, ...] = ()  # found while decoding, before any extractor ran
    # Link collection stops once it has more than this many (None: no limit): see page_links.
    max_links: int | None = None
    has_css_urls: bool = True  # the text has a CSS `url(` or `@import`: style="" is read


def load_page(body: bytes, url: str, content_type: str, max_links: int | None = None) -> Page:
    """Decode and parse a body believed to be HTML."""
    text, problems = decode_html(body)
    tree, depth_problems = parse_html(text)
    problems += depth_problems
    css = any(hint in text for hint in _CSS_HINTS)
    return Page(tree, url, base_url(tree, url), content_type, len(body), problems, max_links, css)


def decode_html(body: bytes) -> tuple[str, tuple[str, ...]]:
    """Decode an HTML body: BOM, then a declared charset, then UTF-8, then windows-1252."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body.decode(codec, errors="replace"), ()
    declared = _declared_charset(body[:1024])
    if declared is not None:
        text = body.decode(declared, errors="replace")
        problems = () if "\ufffd" not in text else (f"bytes invalid in declared {declared}",)
        return text, problems
    try:
        return body.decode("utf-8"), ()
    except UnicodeDecodeError:
        # What browsers fall back to for undeclared legacy pages.
        return body.decode("cp1252", errors="replace"), ("not UTF-8; decoded as windows-1252",)


def _declared_charset(head: bytes) -> str | None:
    match = _META_CHARSET.search(head)
    if match is None:
        return None
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
    except (LookupError, UnicodeDecodeError):
        return None
    # Per the HTML standard a page cannot declare itself UTF-16 from inside an 8-bit stream.
    return "utf-8" if name.startswith("utf-16") else name


def parse_html(text: str) -> tuple[LexborHTMLParser, tuple[str, ...]]:
    """Parse decoded HTML into a tree (lexbor never rejects input), bounded in depth."""
    text, problems = _bound_depth(text)
    return LexborHTMLParser(text.replace("\x00", "\ufffd")), problems


def _bound_depth(text: str) -> tuple[str, tuple[str, ...]]:
    """Cut the document where unclosed elements nest deeper than MAX_DEPTH.

    lexbor's tree building is quadratic in nesting depth (50,000 open <div>s: six seconds), so a
    hostile page could stall a run; real pages nest a few dozen deep. Elements that close
    themselves (void elements, <li>, <p>, table parts) are not counted. An end tag closes only
    an element that is open (and those inside it), as in the tree builder: a stray `</x>` after
    each `<div>` must not hide the nesting.
    """
    if text.count("<") <= MAX_DEPTH:
        return text, ()  # too few tags to nest that deep: no need to walk them
    open_names: list[str] = []
    open_count: Counter[str] = Counter()
    for match in _TAG.finditer(text):
        name = match.group(2).lower()
        if name in _SELF_CLOSING:
            continue
        if not match.group(1):
            open_names.append(name)
            open_count[name] += 1
            if len(open_names) > MAX_DEPTH:
                cut = match.start()
                return text[:cut], (
                    f"HTML nests deeper than {MAX_DEPTH} elements; read to char {cut}",
                )
        elif open_count[name]:
            while (closed := open_names.pop()) != name:
                open_count[closed] -= 1
            open_count[name] -= 1
    return text, ()


def clean_text(text: str | None) -> str:
    """Collapse whitespace runs to one space and trim."""
    return _SPACES.sub(" ", text or "").strip()


def node_text(node: LexborNode | None) -> str:
    """The whitespace-normalised text of a node ('' for a missing node)."""
    if node is None:
        return ""
    return clean_text(node.text(separator=" "))


def first_text(tree: LexborHTMLParser | LexborNode, *selectors: str) -> str | None:
    """Text of the first non-empty match among the selectors, tried in order."""
    for selector in selectors:
        for node in tree.css(selector):
            text = node_text(node)
            if text:
                return text
    return None


def attr(node: LexborNode | None, name: str) -> str | None:
    """An attribute's value, None when missing or empty."""
    if node is None:
        return None
    value = node.attributes.get(name)
    return value if value else None


def fold_text(text: str) -> str:
    """Normal form for case- and typography-insensitive comparison of visible text."""
    folded = unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHY).casefold()
    return clean_text(folded)


def visible_text(tree: LexborHTMLParser) -> str:
    """The page's text without scripts, styles and templates; strips those from `tree`."""
    tree.strip_tags(INVISIBLE_TAGS, recursive=True)
    root = tree.body or tree.root
    return node_text(root)


def unique(values: Iterable[str]) -> tuple[str, ...]:
    """Non-empty values in first-seen order, without repeats."""
    return tuple(dict.fromkeys(value for value in values if value))


def base_url(tree: LexborHTMLParser, page_url: str) -> str:
    """The URL hrefs resolve against: the first <base href>, itself resolved, else the page."""
    href = attr(tree.css_first("base[href]"), "href")
    if href is None:
        return page_url
    return resolve_url(page_url, href) or page_url


def resolve_url(base: str, href: str | None) -> str | None:
    """Absolute http(s) URL as a browser resolves it (WHATWG), without user info or fragment;
    None for anything else or what a browser rejects."""
    resolved = resolve_href(base, href)
    return resolved[0] if resolved is not None and resolved[1] else None


def resolve_href(base: str, href: str | None) -> tuple[str, bool] | None:
    """An href as a browser reads it (issue 14): `(absolute http(s) URL, True)`, without user
    info or fragment; `(the URL, False)` for another scheme (`mailto:`, `file:`), or `(the href
    as written, False)` for one a browser rejects (`http://`, `//////`); None for no link at all
    (empty, a fragment of this page, inline content such as `data:`). Credentials are redacted."""
    if href is None:
        return None
    cleaned = _URL_NOISE.sub("", href).strip()
    if not cleaned or cleaned.startswith("#"):
        return None
    try:
        absolute = parse_url(cleaned, base)
    except InvalidURLError:
        return redact_url(cleaned)[:MAX_HREF_CHARS], False
    if absolute.is_web:
        return absolute.request_url, True
    if absolute.scheme in INLINE_SCHEMES:
        return None
    return absolute.href[:MAX_HREF_CHARS], False


def canonical_url(tree: LexborHTMLParser, base: str) -> str | None:
    """The page's own statement of its URL: <link rel=canonical>, else og:url."""
    href = attr(tree.css_first('link[rel="canonical"]'), "href")
    if href is None:
        href = attr(tree.css_first('meta[property="og:url"]'), "content")
    return resolve_url(base, href)


def meta_content(tree: LexborHTMLParser, selector: str) -> str | None:
    """Whitespace-normalised content of the first matching <meta>."""
    return clean_text(attr(tree.css_first(selector), "content")) or None


def anchor_text(node: LexborNode) -> str:
    """What a reader sees for a link: its text, else its aria-label, else an image's alt."""
    text = node_text(node)
    if text:
        return text
    label = clean_text(attr(node, "aria-label") or attr(node, "title"))
    if label:
        return label
    return clean_text(attr(node.css_first("img[alt]"), "alt"))


def collect_links(
    found: Iterable[tuple[str | None, str, str, ElementKind, bool]],
    base: str,
    limit: int | None = None,
) -> tuple[Link, ...]:
    """Resolve (href, text, element, kind, nofollow) tuples; keep http(s) only, first
    occurrence (and its text) wins.

    With `limit`, stops at `limit + 1` links: one more than the cap tells the caller the page
    had more, without resolving (or building records for) the rest.
    """
    return collect_all(found, base, limit)[0]


def collect_all(
    found: Iterable[tuple[str | None, str, str, ElementKind, bool]],
    base: str,
    limit: int | None = None,
) -> tuple[tuple[Link, ...], tuple[Link, ...]]:
    """`collect_links`, and the links no request can follow (another scheme, or a URL a
    browser rejects: see resolve_href), at most `limit` of them, first occurrence wins."""
    links = LinkSet(limit)
    for href, text, element, kind, nofollow in found:
        resolved = resolve_href(base, href)
        if resolved is None or href is None:
            if href:
                links.add_own(href)
            continue
        url, fetchable = resolved
        if links.known(url, fetchable, href):
            continue
        link = Link(url=url, text=text, element=element, kind=kind, nofollow=nofollow)
        if not links.add(link, fetchable, href):
            break
    return links.result()


class LinkSet:
    """One page's links as they are found: a URL's first occurrence (and its text) wins, the
    fragments it is linked with add up (`#id` targets, issue 14); http(s) links stop one past
    `limit`, the others are kept up to `limit`."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.fetchable: dict[str, Link] = {}
        self.unfetchable: dict[str, Link] = {}
        self.fragments: dict[str, dict[str, None]] = {}
        self.own: dict[str, None] = {}  # the ids `href="#id"` links name on the page itself

    def known(self, url: str, fetchable: bool, href: str) -> bool:
        """Whether `url` was found before on the page (`href`'s fragment is noted if so)."""
        if url not in (self.fetchable if fetchable else self.unfetchable):
            return False
        if fetchable and "#" in href:
            self.add_fragment(url, href)
        return True

    def add(self, link: Link, fetchable: bool, href: str) -> bool:
        """Add a link whose URL is new on the page; False once the page is full."""
        if fetchable:
            self.fetchable[link.url] = link
            if "#" in href:
                self.add_fragment(link.url, href)
            return self.limit is None or len(self.fetchable) <= self.limit
        if self.limit is None or len(self.unfetchable) < self.limit:
            self.unfetchable[link.url] = link
        return True

    def add_own(self, href: str) -> None:
        """Note an href that is only a fragment (`#id`): a link within the page itself."""
        if href.lstrip().startswith("#") and len(self.own) < MAX_FRAGMENTS_PER_LINK:
            fragment = link_fragment(href)
            if fragment:
                self.own[fragment] = None

    def add_fragment(self, url: str, href: str) -> None:
        fragment = link_fragment(href)
        if fragment:
            self.fragments.setdefault(url, {})[fragment] = None

    def result(self) -> tuple[tuple[Link, ...], tuple[Link, ...]]:
        links = self.fetchable
        for url, fragments in self.fragments.items():
            kept = tuple(fragments)[:MAX_FRAGMENTS_PER_LINK]
            links[url] = links[url].model_copy(update={"fragments": kept})
        return tuple(links.values()), tuple(self.unfetchable.values())


def link_fragment(href: str) -> str:
    """The element id an href's fragment names (percent-decoded); '' for none, and for a text
    fragment (`#:~:text=...`), which names words, not an element."""
    cleaned = _URL_NOISE.sub("", href).strip()  # as a browser cleans a URL before parsing it
    fragment = cleaned.split("#", 1)[1].split(":~:", 1)[0] if "#" in cleaned else ""
    return unquote(fragment)[:MAX_FRAGMENT_CHARS]


def same_page(left: str | None, right: str | None) -> bool:
    """Whether two absolute URLs name the same page (ignoring a trailing slash or index.htm)."""
    if left is None or right is None:
        return False
    return _page_key(left) == _page_key(right)


def _page_key(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    path = re.sub(r"/(index\.html?)?$", "", parts.path)
    return parts.netloc.lower(), path
