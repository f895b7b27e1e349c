"""What the deep check may fetch and how: the course sites' prefixes, each link's kind, the one
URL key that stops a URL being fetched twice in a run, and the safety rules for found links.

Pure functions of URLs and settings; nothing here resolves names or opens sockets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from ocwwatch.fetch import normalise_url
from ocwwatch.models import ElementKind, LinkKind, LinkState
from ocwwatch.urls import WEB_SCHEMES, InvalidURLError, parse_url

# A last path segment with one of these suffixes is still a page; any other suffix is a file.
PAGE_SUFFIXES = frozenset({"html", "htm", "shtml", "xhtml", "php", "asp", "aspx", "jsp"})
# Suffixes that name a file's type: such a link is never read as a page, whatever it answers.
_FILE_TYPES = (
    "pdf ps eps djvu epub mobi doc docx odt rtf txt tex md csv tsv json xml yaml yml",
    "ppt pptx odp key xls xlsx ods",
    "zip gz tgz bz2 xz 7z rar tar jar dmg exe iso msi apk",
    "png jpg jpeg gif svg webp avif bmp tif tiff ico",
    "mp3 mp4 m4a m4v mov avi mkv webm ogg ogv oga wav flac srt vtt sbv",
    "css js mjs map woff woff2 ttf otf eot swf",
    "nb m py ipynb r mat sas dta sav cdf ggb jnlp",
)
FILE_SUFFIXES = frozenset(suffix for group in _FILE_TYPES for suffix in group.split())
# Elements whose URL a reader follows or sees as a page: only these are crawled as pages.
PAGE_ELEMENTS = frozenset({ElementKind.LINK, ElementKind.REFRESH, ElementKind.FRAME})
FILE_LINK = (
    "a file: link names a file on the reader's own computer: broken for every reader of a web page"
)
# Embedded players that answer 200 whatever became of the video (issue 4, item 1).
EMBED_PREFIXES = (
    "https://www.youtube.com/embed/",
    "https://www.youtube-nocookie.com/embed/",
    "https://youtube.com/embed/",
)
# A site's chrome links repeat on every page: parsing each spelling once saves most of the
# crawl's URL work. Bounded, so memory does not grow with the number of links.
CACHED_URLS = 8192


@lru_cache(maxsize=CACHED_URLS)
def url_key(url: str) -> str:
    """The normal form runs compare URLs by (fetch's); an unparsable URL is its own key."""
    try:
        return normalise_url(url)
    except ValueError:
        return url


def host_of(url: str) -> str:
    """Lower-case host without port or brackets; '' when there is none."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def site_prefix(final_url: str) -> str:
    """The URL prefix a course site lives under: its home's folder, as a browser resolves `./`
    from the home (issue 14): `/course/` for `/course/` and `/course/index.html`, and
    `/pageBase/` for an extensionless `/pageBase/index` (whose siblings are the site's pages)."""
    key = url_key(final_url)
    try:
        return parse_url("./", key).request_url
    except InvalidURLError:
        return key


def may_be_page(url: str) -> bool:
    """Whether a link with a file's name may still be a page, if its answer says HTML: its
    suffix is none a file type is known by (`/v1.2`, `/guide.v2`; not `/notes.pdf`)."""
    try:
        last = urlsplit(url).path.rsplit("/", 1)[-1]
    except ValueError:
        return False
    return "." in last and last.rsplit(".", 1)[-1].lower() not in FILE_SUFFIXES


@lru_cache(maxsize=CACHED_URLS)
def is_file_path(url: str) -> bool:
    """True when the last path segment has a suffix that is not a web page's."""
    try:
        last = urlsplit(url).path.rsplit("/", 1)[-1]
    except ValueError:
        return False
    if "." not in last:
        return False
    return last.rsplit(".", 1)[-1].lower() not in PAGE_SUFFIXES


@dataclass(frozen=True)
class Site:
    """One watched course site: where it lives and how many pages of it may be read."""

    resource_id: str
    home: str  # the course home's final URL
    prefix: str  # every page whose key starts with this belongs to the site
    max_pages: int

    def contains(self, key: str) -> bool:
        return key.startswith(self.prefix) or key == self.prefix.rstrip("/")


class Scope:
    """The sites of one deep run, and the rules every found link is held to."""

    def __init__(self, sites: Iterable[Site]) -> None:
        # Longest prefix first, so a site nested in another keeps its own pages.
        self.sites = tuple(sorted(sites, key=lambda site: len(site.prefix), reverse=True))
        self.watched_hosts = frozenset(host_of(site.home) for site in self.sites)

    def site_of(self, key: str) -> Site | None:
        return next((site for site in self.sites if site.contains(key)), None)

    def site_by_id(self, resource_id: str | None) -> Site | None:
        return next((site for site in self.sites if site.resource_id == resource_id), None)

    def classify(
        self, url: str, key: str, element: ElementKind = ElementKind.LINK
    ) -> tuple[LinkKind, str | None]:
        """How to check a found link, and the site it belongs to (None outside every site).

        What a page loads (an image, a stylesheet, a script...) is a file whatever its name;
        only what a reader follows or is shown as a page (a link, a frame) can be a page.
        """
        site = self.site_of(key)
        if url.startswith(EMBED_PREFIXES):
            kind = LinkKind.EMBED
        elif element not in PAGE_ELEMENTS or is_file_path(key):
            kind = LinkKind.FILE
        elif site is not None:
            kind = LinkKind.PAGE
        else:
            kind = LinkKind.EXTERNAL
        return kind, site.resource_id if site is not None else None

    def is_watched_host(self, url: str) -> bool:
        """A host that serves a watched site: its pages say "not found" in their body."""
        return host_of(url) in self.watched_hosts

    def refusal(self, url: str) -> tuple[LinkState, str] | None:
        """The state of a found link that must not be fetched at all, and why; None to fetch it
        (issue 4, item 6; issue 14).

        An href a browser rejects is `invalid`; another scheme is `skipped` with its scheme,
        except `file:`, which names a file on the reader's own computer: on a web page that is
        a broken link for every reader. Which addresses may be reached is the fetcher's address
        guard's to say, for every request alike (fetch/guard.py); its refusals come back as
        `skipped` with the reason.
        """
        try:
            parsed = parse_url(url)
        except InvalidURLError as exc:
            return LinkState.INVALID, f"a browser rejects this href ({exc})"
        if parsed.scheme == "file":
            return LinkState.DEAD, FILE_LINK
        if parsed.scheme not in WEB_SCHEMES:
            return LinkState.SKIPPED, f"a {parsed.scheme}: link (only http(s) links are fetched)"
        if not parsed.host:
            return LinkState.INVALID, "the URL has no host"
        return None
