"""A page's links as a reader's browser sees them: every URL-bearing attribute it follows or
loads (HTML standard), `srcset` candidates, `<meta http-equiv=refresh>` targets and CSS `url()`
and `@import`, each with the element and attribute it was found in (issue 14).

Pure functions over a parsed Page; resolving is dom.py's (the WHATWG parser). No I/O, no raising.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from itertools import islice
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ocwwatch.extract.dom import (
    WEB_SCHEMES,
    LinkSet,
    Page,
    anchor_text,
    attr,
    clean_text,
    collect_all,
    resolve_href,
)
from ocwwatch.models import ElementKind, Link

Kind = ElementKind
# The attributes of the HTML standard whose URL a browser follows (a, area) or loads, by tag.
URL_ATTRIBUTES: dict[str, tuple[tuple[str, ElementKind], ...]] = {
    "a": (("href", Kind.LINK),),
    "area": (("href", Kind.LINK),),
    "img": (("src", Kind.IMAGE), ("srcset", Kind.IMAGE)),
    "iframe": (("src", Kind.FRAME),),
    "frame": (("src", Kind.FRAME),),
    "video": (("src", Kind.MEDIA), ("poster", Kind.IMAGE)),
    "audio": (("src", Kind.MEDIA),),
    "source": (("src", Kind.MEDIA), ("srcset", Kind.IMAGE)),
    "track": (("src", Kind.MEDIA),),
    "object": (("data", Kind.OBJECT),),
    "embed": (("src", Kind.OBJECT),),
    "script": (("src", Kind.SCRIPT),),
    # SVG's <image> (an HTML <image> is parsed as <img>): href, or the older xlink:href
    "image": (("href", Kind.IMAGE), ("xlink:href", Kind.IMAGE)),
}
# <link rel> values whose href the browser loads. Never preconnect, dns-prefetch, prefetch:
# hints about hosts or later pages, not resources a reader sees.
LINK_RELS: dict[str, ElementKind] = {
    "stylesheet": Kind.STYLESHEET,
    "icon": Kind.ICON,
    "apple-touch-icon": Kind.ICON,
    "apple-touch-icon-precomposed": Kind.ICON,
    "mask-icon": Kind.ICON,
}
# Kinds a reader follows by clicking (the rest the browser loads with the page).
FOLLOWED = frozenset({Kind.LINK, Kind.REFRESH})
STYLE_ELEMENT = "style"
STYLE_ATTRIBUTE = "[style]"
# CSS `url(...)` (quoted or not) and `@import "..."`: what a browser fetches from a style sheet.
_CSS_URL = re.compile(
    r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)\s"']*))\s*\)|@import\s+(?:"([^"]*)"|'([^']*)')""",
    re.I,
)
# The refresh pragma's "N; url=target" (HTML standard, "shared declarative refresh steps").
_REFRESH = re.compile(r"""^\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?(["']?)(.*)$""", re.I | re.S)
_SPACE = " \t\n\r\f"
MAX_TARGETS = 20_000  # ids kept of one page, for `#id` links (check_fragments)
# The elements the walk reads, and the selector of style="" attributes that hold a URL.
_WALKED = frozenset({*URL_ATTRIBUTES, "link", "meta", "input", STYLE_ELEMENT})
_STYLED = '[style*="url(" i]'
# Hrefs whose resolution depends on the base's scheme and host only, not its path: root-relative
# paths and absolute http(s) URLs with a host (pages of one site share most of these).
_ORIGIN_ONLY = re.compile(r"/(?!/)|https?://[^/?#]")
_URL_NOISE = re.compile(r"[\t\n\r]")

# A page's links: those a request can follow, and the rest (another scheme, or invalid).
PageLinks = tuple[tuple[Link, ...], tuple[Link, ...]]
# One URL found: the text as written, the element whose text a reader sees for it (None: no
# text; read only when the URL is new on the page), where it was, and whether it is marked
# rel=nofollow (the crawl checks it but does not follow it).
Found = tuple[str, LexborNode | None, str, ElementKind, bool]


def srcset_urls(srcset: str) -> list[str]:
    """The URLs of a `srcset` (HTML standard, "parse a srcset attribute"): each candidate's URL
    runs to the first whitespace; a comma ends a candidate outside its descriptors' brackets."""
    urls: list[str] = []
    position, end = 0, len(srcset)
    while position < end:
        while position < end and (srcset[position] in _SPACE or srcset[position] == ","):
            position += 1
        start = position
        while position < end and srcset[position] not in _SPACE:
            position += 1
        url = srcset[start:position]
        if url.endswith(","):
            url = url.rstrip(",")
        else:  # skip the descriptors, up to a comma outside parentheses
            depth = 0
            while position < end and (srcset[position] != "," or depth):
                depth += {"(": 1, ")": -1}.get(srcset[position], 0)
                position += 1
        if url:
            urls.append(url)
    return urls


def refresh_url(content: str) -> str | None:
    """The target of `<meta http-equiv=refresh content=...>`, or None when it only reloads."""
    match = _REFRESH.match(content)
    if match is None:
        return None
    quote, target = match.groups()
    if quote and quote in target:
        target = target[: target.index(quote)]
    target = target.strip()
    return target or None


def css_urls(css: str) -> list[str]:
    """Every `url(...)` and `@import "..."` target of a style sheet, in order."""
    return [
        next(group for group in match.groups() if group is not None)
        for match in _CSS_URL.finditer(css)
    ]


def _nofollow(attributes: dict[str, str | None]) -> bool:
    rel = attributes.get("rel")
    return rel is not None and "nofollow" in rel.lower().split()


def link_text(node: LexborNode | None, kind: ElementKind) -> str:
    """What a reader sees for a found URL: a link's text (an area's alt text), a loaded
    resource's alt text or title; '' for none."""
    if node is None:
        return ""
    if kind is Kind.LINK:
        return anchor_text(node) or clean_text(attr(node, "alt"))
    return clean_text(attr(node, "alt") or attr(node, "title"))


def robots_nofollow(tree: LexborHTMLParser) -> bool:
    """Whether `<meta name=robots content="nofollow">` (or `none`) asks crawlers to follow
    none of the page's links."""
    for node in tree.css("meta[name]"):
        if (node.attributes.get("name") or "").strip().lower() != "robots":
            continue
        words = re.split(r"[\s,]+", (node.attributes.get("content") or "").lower())
        if "nofollow" in words or "none" in words:
            return True
    return False


def _found_in(node: LexborNode, tag: str) -> Iterator[Found]:
    """The URLs one element (not an `<a>`) holds, with their element and kind."""
    attributes = node.attributes
    for name, kind in URL_ATTRIBUTES.get(tag, ()):
        value = attributes.get(name)
        if not value:
            continue
        element = f"{tag}[{name}]"
        if name == "srcset":
            for url in srcset_urls(value):
                yield url, None, element, kind, False
        else:
            yield value, node, element, kind, kind is Kind.LINK and _nofollow(attributes)
    if tag == STYLE_ELEMENT:
        for url in css_urls(node.text(deep=True)):
            yield url, None, STYLE_ELEMENT, Kind.CSS, False
    elif tag in _BY_ATTRIBUTES:
        yield from _BY_ATTRIBUTES[tag](attributes)


def _image_input(attributes: dict[str, str | None]) -> Iterator[Found]:
    """`<input type=image src>`: a button drawn by an image the browser loads."""
    src = attributes.get("src")
    if src and (attributes.get("type") or "").strip().lower() == "image":
        yield src, None, "input[src]", Kind.IMAGE, False


def _link_element(attributes: dict[str, str | None]) -> Iterator[Found]:
    href = attributes.get("href")
    rels = (attributes.get("rel") or "").lower().split()
    kind = next((LINK_RELS[rel] for rel in rels if rel in LINK_RELS), None)
    if href and kind is not None:
        yield href, None, "link[href]", kind, False


def _refresh(attributes: dict[str, str | None]) -> Iterator[Found]:
    if (attributes.get("http-equiv") or "").strip().lower() != "refresh":
        return
    target = refresh_url(attributes.get("content") or "")
    if target is not None:
        yield target, None, "meta[content]", Kind.REFRESH, False


# Elements whose URL depends on another of their attributes (rel, http-equiv, type).
_BY_ATTRIBUTES: dict[str, Callable[[dict[str, str | None]], Iterator[Found]]] = {
    "link": _link_element,
    "meta": _refresh,
    "input": _image_input,
}


def found_urls(tree: LexborHTMLParser, *, styles: bool = True) -> Iterator[Found]:
    """Every URL of the page: elements' in page order, then `style=""` attributes' (when
    `styles`) in page order. The attributes are looked up by a selector, not on each element
    of the walk: reading every element's attributes cost more than the rest of the walk."""
    root = tree.root
    if root is None:
        return
    for node in root.traverse():
        tag = node.tag or ""
        if tag == "a":  # most of a page's links: read here, without another generator
            attributes = node.attributes
            href = attributes.get("href")
            if href:
                rel = attributes.get("rel")
                nofollow = rel is not None and "nofollow" in rel.lower().split()
                yield href, node, "a[href]", Kind.LINK, nofollow
        elif tag in _WALKED:
            yield from _found_in(node, tag)
    if styles:
        for node in tree.css(_STYLED):
            for url in css_urls(node.attributes.get("style") or ""):
                yield url, None, STYLE_ATTRIBUTE, Kind.CSS, False


def page_links(page: Page) -> PageLinks:
    """Every link of the page, in page order (at most `max_links + 1`: see collect_links), and
    those no request can follow (see resolve_href)."""
    found = (
        (href, link_text(node, kind), element, kind, nofollow)
        for href, node, element, kind, nofollow in found_urls(page.tree, styles=page.has_css_urls)
    )
    return _page_nofollow(page, collect_all(found, page.base, page.max_links))


def _page_nofollow(page: Page, links: PageLinks) -> PageLinks:
    """Every link marked nofollow when the page's robots meta says so."""
    if not robots_nofollow(page.tree):
        return links
    fetchable, unfetchable = links
    return tuple(link.model_copy(update={"nofollow": True}) for link in fetchable), unfetchable


def page_links_fast(page: Page) -> tuple[tuple[Link, ...], tuple[Link, ...], tuple[str, ...]]:
    """`page_links`, resolving each distinct href once and reading an anchor's text only
    when its URL is new (the first occurrence's text wins either way); and the ids the page's
    own `href="#id"` links name."""
    resolve = _resolver(page.base)
    resolved: dict[str, tuple[str, bool] | None] = {}
    links = LinkSet(page.max_links)
    for href, node, element, kind, nofollow in found_urls(page.tree, styles=page.has_css_urls):
        if href in resolved:
            answer = resolved[href]
        else:
            answer = resolved[href] = resolve(href)
        if answer is None:
            links.add_own(href)
            continue
        url, fetchable = answer
        if links.known(url, fetchable, href):
            continue
        link = _shared_link(url, link_text(node, kind), element, kind, nofollow)
        if not links.add(link, fetchable, href):
            break
    found, unfetchable = _page_nofollow(page, links.result())
    return found, unfetchable, tuple(links.own)


# The two caches below hold what a site's pages repeat (menus, footers, style sheets): a few
# hundred entries a site. Sized so that a crawl's dozens of sites fit, not its every link:
# full at 32k and 8k entries they held 29 MB, most of a 100k-link crawl's growth (issue 15).
@lru_cache(maxsize=1 << 12)
def _shared_link(url: str, text: str, element: str, kind: ElementKind, nofollow: bool) -> Link:
    """One record for a link that a site's pages repeat (its menu, footer, style sheets and
    scripts are on every page): built and validated once, not once a page. Links are frozen."""
    return Link(url=url, text=text, element=element, kind=kind, nofollow=nofollow)


def page_targets(tree: LexborHTMLParser) -> tuple[str, ...]:
    """What a fragment of a link to this page can name: element ids and `<a name>`s, the
    first MAX_TARGETS of them (a real page has hundreds; a hostile one's million would be
    held, sent by a reader and remembered for every run)."""
    targets = dict.fromkeys(node.id for node in tree.css("[id]") if node.id)
    targets.update(dict.fromkeys(node.attributes.get("name") or "" for node in tree.css("a[name]")))
    targets.pop("", None)
    return tuple(islice(targets, MAX_TARGETS))


def _resolver(base: str) -> Callable[[str], tuple[str, bool] | None]:
    """`resolve_href` against `base`, shared between pages of one site where the base's path
    cannot matter (the answer is the same, only computed once)."""
    try:
        parts = urlsplit(base)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in WEB_SCHEMES or not parts.netloc:
        return lambda href: resolve_href(base, href)
    origin = f"{parts.scheme}://{parts.netloc}/"

    def resolve(href: str) -> tuple[str, bool] | None:
        cleaned = _URL_NOISE.sub("", href).strip()
        if _ORIGIN_ONLY.match(cleaned):
            return _resolve_shared(origin, cleaned)
        return resolve_href(base, cleaned)

    return resolve


@lru_cache(maxsize=1 << 13)
def _resolve_shared(origin: str, href: str) -> tuple[str, bool] | None:
    return resolve_href(origin, href)
