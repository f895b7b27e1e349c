"""How the deep check checks one link: pages by (conditional) GET and read for links, files by
HEAD with a ranged GET where HEAD is refused or cannot be believed, other sites' pages by HEAD.

Each check returns a `Visit` value; nothing here writes to the store or decides the crawl order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from ocwwatch.crawl.frontier import Frontier
from ocwwatch.crawl.oembed import oembed_state, oembed_url, video_id
from ocwwatch.crawl.readers import PageReaders
from ocwwatch.crawl.scope import Scope, url_key
from ocwwatch.extract import MAX_LINKS_PER_PAGE, extract_links, links_were_cut
from ocwwatch.fetch import Fetcher
from ocwwatch.judge import ANSWERED, crawl_state
from ocwwatch.models import (
    HTML_TYPES,
    CrawledPage,
    Extraction,
    FetchResult,
    FrontierEntry,
    Link,
    LinkKind,
    LinkProbe,
    LinkState,
    Metadata,
    PageKind,
)

log = logging.getLogger(__name__)

REFUSED_HEAD = frozenset({405, 501})
# Statuses whose body is the link's own (206: the start of it, answering a ranged GET).
READABLE = frozenset({200, 206})
# How much of a file the GET behind a doubtful HEAD asks for and reads: enough for its type and
# for a web page in its place (OCW's "not found" page is a few KiB), never a whole video.
FILE_START_BYTES = 64 * 1024
FILE_START_RANGE = MappingProxyType({"range": f"bytes=0-{FILE_START_BYTES - 1}"})


@dataclass
class Visit:
    """What checking one frontier entry found: its probe, and the page's links if it was read."""

    entry: FrontierEntry
    probe: LinkProbe
    final: tuple[FrontierEntry, LinkProbe] | None = None  # a redirect's target, checked too
    links: tuple[Link, ...] = ()
    found_on: str | None = None  # the page the links were read from
    read: bool = False  # the (final) page's links were read, whether or not it had any
    links_cut: bool = False  # the page had more links than the crawl's max_links_per_page
    page: CrawledPage | None = None  # remembered for the next run's conditional request
    targets: tuple[str, ...] = ()  # what fragments can name on the page read (its ids)
    own_fragments: tuple[str, ...] = ()  # the ids its own `href="#id"` links name


def skipped(
    entry: FrontierEntry, reason: str, now: datetime, state: LinkState = LinkState.SKIPPED
) -> Visit:
    """A link judged without a request: skipped, or one no request could follow (issue 14)."""
    probe = LinkProbe(key=entry.key, state=state, detail=reason, fetched_at=now)
    return Visit(entry=entry, probe=probe)


def shared_failure(entry: FrontierEntry, robots: FetchResult) -> Visit:
    """The host did not answer for its robots.txt: the link shares that failure, unfetched."""
    detail = f"the host did not answer for robots.txt: {robots.failure_detail or robots.failure}"
    probe = LinkProbe(
        key=entry.key,
        final_url=entry.url,
        failure=robots.failure,
        failure_detail=detail,
        fetched_at=robots.fetched_at,
    )
    return Visit(entry=entry, probe=probe)


def page_metadata(
    result: FetchResult, max_links: int = MAX_LINKS_PER_PAGE, *, fragments: bool = False
) -> Extraction:
    """Read a body only where it can say something: HTML (not found? links? with `fragments`,
    its ids) or by type."""
    if result.status not in READABLE or not result.body:
        return Extraction(metadata=Metadata(page_kind=PageKind.OTHER))
    if result.content_type in HTML_TYPES or result.content_type is None:
        return extract_links(
            result.body,
            result.final_url,
            result.content_type,
            max_links=max_links,
            fragments=fragments,
        )
    kind = PageKind.PDF if result.content_type == "application/pdf" else PageKind.OTHER
    return Extraction(metadata=Metadata(page_kind=kind, content_type=result.content_type))


def probe_of(
    entry: FrontierEntry,
    result: FetchResult,
    metadata: Metadata,
    method: str,
    *,
    ranged: bool = False,
) -> LinkProbe:
    """The stored form of a fetch, with the crawl's own verdict where it has one (`ranged`:
    the request asked for a byte range)."""
    decided = crawl_state(result, metadata, entry.kind, ranged=ranged)
    return LinkProbe(
        key=entry.key,
        final_url=result.final_url,
        status=result.status,
        redirects=result.redirects,
        content_type=result.content_type,
        page_kind=metadata.page_kind,
        failure=result.failure,
        failure_detail=result.failure_detail,
        state=decided[0] if decided else None,
        detail=decided[1] if decided else None,
        method=method,
        fetched_at=result.fetched_at,
    )


def landing_of(
    entry: FrontierEntry,
    result: FetchResult,
    metadata: Metadata,
    scope: Scope,
    method: str,
    *,
    ranged: bool = False,
) -> tuple[FrontierEntry, LinkProbe] | None:
    """Where a redirect ended, as its own checked entry, so that it is not fetched again."""
    key = url_key(result.final_url)
    if not result.redirects or key == entry.key or result.status is None or result.failure:
        return None
    kind, site = scope.classify(result.final_url, key)
    landing = FrontierEntry(
        url=result.final_url,
        key=key,
        kind=kind,
        resource_id=site or entry.resource_id,
        depth=entry.depth,
    )
    direct = result.model_copy(update={"url": result.final_url, "redirects": ()})
    return landing, probe_of(landing, direct, metadata, method, ranged=ranged)


def followed_as_told(result: FetchResult, extraction: Extraction) -> Extraction:
    """The page's links, all marked nofollow when its answer's `X-Robots-Tag` header says
    `nofollow` (or `none`) to every crawler (issue 14: as its robots meta would)."""
    if not header_nofollow(result.headers.get("x-robots-tag", "")):
        return extraction
    nofollow = {"nofollow": True}
    links = tuple(link.model_copy(update=nofollow) for link in extraction.links)
    return extraction.model_copy(update={"links": links})


def header_nofollow(value: str) -> bool:
    """Whether an `X-Robots-Tag` value says nofollow to every crawler: directives after a
    `name:` prefix are that crawler's only (`googlebot: nofollow`), until the next prefix."""
    agent = None
    for part in value.lower().split(","):
        name, colon, rest = part.partition(":")
        directive = part
        if colon and name.strip() != "unavailable_after":  # that one's value is a date
            agent, directive = name.strip(), rest
        if agent is None and directive.strip() in {"nofollow", "none"}:
            return True
    return False


def is_html_answer(result: FetchResult) -> bool:
    """A successful answer that says it is a web page."""
    return result.failure is None and result.status == 200 and result.content_type in HTML_TYPES


def trusts_head(head: FetchResult, entry: FrontierEntry) -> bool:
    """Whether a HEAD answer can stand for the link, or a GET must confirm it (issue 4)."""
    if head.status is None or head.failure is not None:
        return True  # no answer, or a broken redirect chain: a GET would meet the same
    if head.status in REFUSED_HEAD:
        return False
    if head.status >= 400 and head.status != 429:
        return False  # servers that mishandle HEAD answer 403, 404 or 500 to it
    # A file that answers with a web page needs its body read: a soft 404 or a landing page.
    return not (entry.kind is LinkKind.FILE and head.content_type in HTML_TYPES)


class Prober:
    """Checks frontier entries with one Fetcher; remembers nothing between entries."""

    def __init__(
        self,
        fetcher: Fetcher,
        store: Frontier,
        scope: Scope,
        max_links: int = MAX_LINKS_PER_PAGE,
        *,
        fragments: bool = False,
    ) -> None:
        self.fetcher = fetcher
        self.store = store
        self.scope = scope
        self.max_links = max_links  # links read from one page
        self.fragments = fragments  # pages are read for their ids too (check_fragments)
        self.readers: PageReaders | None = None  # set while a crawl has page readers

    async def read_page(self, result: FetchResult) -> Extraction:
        """`page_metadata`, by the crawl's page-reading processes when it has them."""
        readers = self.readers
        if readers is None or result.status != 200 or result.content_type not in HTML_TYPES:
            return page_metadata(result, self.max_links, fragments=self.fragments)
        return await readers.read(result.body, result.final_url, result.content_type)

    async def check_page(self, entry: FrontierEntry, *, read_links: bool) -> Visit:
        """GET, conditional when the page was read before; its links when `read_links`."""
        cached = self.store.load_crawled_page(entry.key) if read_links else None
        validators = {cached.final_url: cached.validators} if cached else {}
        result = await self.fetcher.fetch(entry.url, validators=validators)
        if result.not_modified and cached is not None:
            extraction = Extraction(
                metadata=Metadata(page_kind=cached.page_kind),
                links=cached.links,
                targets=cached.targets,
                own_fragments=cached.own_fragments,
            )
        else:
            extraction = followed_as_told(result, await self.read_page(result))
        # A "not found" page's links are the site's chrome, not the course's: never followed.
        readable = extraction.metadata.page_kind is not PageKind.NOT_FOUND
        in_site = readable and self.scope.site_of(url_key(result.final_url)) is not None
        read = read_links and in_site
        visit = Visit(
            entry=entry,
            probe=probe_of(entry, result, extraction.metadata, "GET"),
            final=landing_of(entry, result, extraction.metadata, self.scope, "GET"),
            links=extraction.crawl_links if read else (),
            found_on=result.final_url,
            read=read,
            links_cut=read and links_were_cut(extraction.metadata),
            targets=extraction.targets if read else (),
            own_fragments=extraction.own_fragments if read else (),
        )
        if read and not result.not_modified:
            visit.page = remembered(entry, result, extraction)
        return visit

    async def check_file(
        self,
        entry: FrontierEntry,
        as_page: Callable[[], bool] | None = None,
        *,
        head_first: bool = True,
    ) -> Visit:
        """HEAD; a ranged GET where HEAD is refused (405, 501) or cannot be believed.

        With `as_page`, a file's name that a page may have (`/v1.2`): when HEAD says HTML and
        `as_page()` grants a page of the site's budget, it is checked and read as a page (issue
        14: the answer decides, not the name). Without `head_first` (the last run's HEAD was not
        believed) the ranged GET is the only request, unless the answer may make it a page."""
        if not head_first and as_page is None:
            return await self.check_by_get(entry)
        head = await self.fetcher.fetch(entry.url, method="HEAD")
        if as_page is not None and is_html_answer(head) and as_page():
            return await self.check_page(entry, read_links=True)
        if trusts_head(head, entry):
            kind = PageKind.PDF if head.content_type == "application/pdf" else PageKind.OTHER
            metadata = Metadata(page_kind=kind, content_type=head.content_type)
            return self.visit_of(entry, head, metadata, "HEAD")
        return await self.check_by_get(entry)

    async def check_by_get(self, entry: FrontierEntry) -> Visit:
        result = await self.fetch_start(entry.url)
        return self.visit_of(entry, result, page_metadata(result).metadata, "GET", ranged=True)

    async def check_external(self, entry: FrontierEntry) -> Visit:
        """A watched host's page by GET (its 404 page comes with 200), a YouTube embed through
        oEmbed, anything else by HEAD."""
        video = video_id(entry.url) if entry.kind is LinkKind.EMBED else None
        if video is not None:
            return await self.check_video(entry, video)
        if entry.kind is LinkKind.EXTERNAL and self.scope.is_watched_host(entry.url):
            result = await self.fetcher.fetch(entry.url)
            return self.visit_of(entry, result, page_metadata(result).metadata, "GET")
        return await self.check_file(entry)

    async def check_video(self, entry: FrontierEntry, video: str) -> Visit:
        """Ask oEmbed about the video; the embed URL itself would answer 200 regardless."""
        result = await self.fetcher.fetch(oembed_url(video))
        decided = oembed_state(result.status)
        asked = result.model_copy(update={"final_url": entry.url, "redirects": ()})
        probe = probe_of(entry, asked, Metadata(page_kind=PageKind.OTHER), "GET oEmbed")
        state, detail = decided if decided else (None, None)
        probe = probe.model_copy(update={"state": state, "detail": detail})
        return Visit(entry=entry, probe=probe)

    async def fetch_start(self, url: str) -> FetchResult:
        """The GET behind a doubtful HEAD: the file's first 64 KiB, by a ranged GET.

        A server that honours the range answers 206 (416 for an empty file); one that ignores it
        answers 200 with the whole file, of which no more than the range is read, so a large
        video is not downloaded either way. 64 KiB rather than `bytes=0-0`: a file link that
        now answers with a web page must be read far enough to tell OCW's "not found" page, and
        a server that honours ranges would cut that page to one byte too.
        """
        return await self.fetcher.fetch(url, headers=FILE_START_RANGE, first_bytes=FILE_START_BYTES)

    def visit_of(
        self,
        entry: FrontierEntry,
        result: FetchResult,
        metadata: Metadata,
        method: str,
        *,
        ranged: bool = False,
    ) -> Visit:
        return Visit(
            entry=entry,
            probe=probe_of(entry, result, metadata, method, ranged=ranged),
            final=landing_of(entry, result, metadata, self.scope, method, ranged=ranged),
        )


def remembered(
    entry: FrontierEntry, result: FetchResult, extraction: Extraction
) -> CrawledPage | None:
    """What to keep of a page read now so that a 304 next run can stand for it."""
    validators = result.validators
    if result.status not in ANSWERED or not (validators.etag or validators.last_modified):
        return None
    return CrawledPage(
        url=entry.key,
        final_url=result.final_url,
        validators=validators,
        page_kind=extraction.metadata.page_kind,
        links=extraction.crawl_links,
        targets=extraction.targets,
        own_fragments=extraction.own_fragments,
    )
