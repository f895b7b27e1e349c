"""Frozen records passed between the pipeline stages, and the outcome vocabularies.

Every stage takes and returns these values; none of them does I/O. Field names are the JSON
report's keys (DESIGN.md, "Contracts"), so renderers can dump them without renaming.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler
from pydantic_core import core_schema


class Record(BaseModel):
    """Base of every record: immutable, and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# --- vocabularies --------------------------------------------------------------------------


class ResourceKind(StrEnum):
    """What a curated entry points at, which decides how it is judged."""

    OCW_COURSE = "ocw-course"
    PDF = "pdf"
    PAGE = "page"
    # Any other site (issue 14): checked like a page, and crawled by --deep within its folder
    # like a course site, so one checker serves a list's non-OCW entries too.
    SITE = "site"


class Outcome(StrEnum):
    """A resource's verdict for one run; `SEVERITY` orders them, most severe first."""

    DEAD = "dead"
    # The address now leads to another course (another number or term): never applied by a
    # plain `baseline accept`, since it would swap one course for another in the list.
    REPLACED = "replaced"
    MOVED = "moved"
    CHANGED = "changed"
    UNKNOWN = "unknown"
    ERROR = "error"
    OK = "ok"


SEVERITY: tuple[Outcome, ...] = tuple(Outcome)


class LinkState(StrEnum):
    """A link's verdict (DESIGN.md, "Link states")."""

    OK = "ok"
    REDIRECTED = "redirected"
    DEAD = "dead"
    SOFT404 = "soft404"
    BLOCKED = "blocked"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"
    INVALID = "invalid"  # an href a browser's URL parser rejects (issue 14): broken as written
    # A `page#id` link whose page has no such id (issue 14, `[deep] check_fragments`): the page
    # works, the reader lands at its top instead of the section meant.
    MISSING_FRAGMENT = "missing-fragment"


# What a found link's state amounts to as a resource outcome, where it is a finding: a dead or
# soft-404 link is `dead`, a redirected one `moved`, a blocked or unanswered one `unknown`
# (`check --fail-on`, GitHub annotations).
LINK_AS_OUTCOME: dict[LinkState, Outcome] = {
    LinkState.DEAD: Outcome.DEAD,
    LinkState.SOFT404: Outcome.DEAD,
    LinkState.INVALID: Outcome.DEAD,  # broken for every reader
    LinkState.MISSING_FRAGMENT: Outcome.CHANGED,  # the page works, the section is gone
    LinkState.REDIRECTED: Outcome.MOVED,
    LinkState.BLOCKED: Outcome.UNKNOWN,
    LinkState.UNKNOWN: Outcome.UNKNOWN,
}


class LinkKind(StrEnum):
    """How the deep check treats a link it found (issue 4)."""

    PAGE = "page"  # inside a crawled course site: read for more links
    FILE = "file"  # a file (PDF, video, archive...): HEAD, then GET where HEAD fails
    EXTERNAL = "external"  # anything outside the crawled sites: checked once, never crawled
    EMBED = "embed"  # an embedded video player (YouTube)


class ElementKind(StrEnum):
    """What a reader's browser does with a found URL, by the element and attribute that hold it
    (issue 14): the names `[deep] link_kinds` selects and reports show."""

    LINK = "link"  # a[href], area[href]: followed when clicked
    IMAGE = "image"  # img src/srcset, picture source srcset, video poster
    FRAME = "frame"  # iframe[src], frame[src]: loaded into the page
    MEDIA = "media"  # video/audio/source src, track src
    OBJECT = "object"  # object[data], embed[src]
    STYLESHEET = "stylesheet"  # link rel=stylesheet, CSS @import
    ICON = "icon"  # link rel=icon (and its apple-touch and mask variants)
    SCRIPT = "script"  # script[src]
    REFRESH = "refresh"  # <meta http-equiv=refresh content="0; url=...">
    CSS = "css"  # url(...) in a <style> element or a style="" attribute


# How reports name a found link, in a reader's words (issue 14: a broken image must not read
# like a broken link): by what its element is for, or, where the element says more (a <video>
# plays a video, an <audio> a sound), by the element. The one place these words are chosen.
READER_NOUNS: dict[ElementKind, str] = {
    ElementKind.LINK: "link",
    ElementKind.IMAGE: "image",
    ElementKind.FRAME: "embedded frame",
    ElementKind.MEDIA: "video or audio",
    ElementKind.OBJECT: "embedded object",
    ElementKind.STYLESHEET: "stylesheet",
    ElementKind.ICON: "icon",
    ElementKind.SCRIPT: "script",
    ElementKind.REFRESH: "refresh redirect",
    ElementKind.CSS: "file a style loads",
}
_ELEMENT_NOUNS: dict[str, str] = {
    "video[src]": "video",
    "audio[src]": "audio",
    "track[src]": "subtitle track",
}


def reader_noun(element: str, kind: ElementKind) -> str:
    """What a reader calls a link held by `element` (`img[src]`) for `kind`: "image"."""
    return _ELEMENT_NOUNS.get(element) or READER_NOUNS[kind]


class ChangeKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


class Against(StrEnum):
    """What a change is measured against: the curated list, or the previous run."""

    BASELINE = "baseline"
    PREVIOUS = "previous"


class PageKind(StrEnum):
    """The page shape an extractor recognised."""

    OCW_COURSE = "ocw-course"  # course home of today's OCW theme (course-v2)
    OCW_PAGE = "ocw-page"  # a content page inside a course site
    OCW_RESOURCE = "ocw-resource"  # a resource page: one file or video with its metadata
    OCW_LEGACY = "ocw-legacy"  # the pre-2022 (Plone) course page
    NOT_FOUND = "not-found"  # OCW's "page not found" page, whatever the status
    PDF = "pdf"
    HTML = "html"  # any other HTML page
    OTHER = "other"  # anything else (plain text, images, unknown types)


class FailureKind(StrEnum):
    """Why a fetch produced no usable final response."""

    TIMEOUT = "timeout"
    CONNECT = "connect"  # refused, reset before any response, TLS failure
    DNS = "dns"  # the name does not resolve
    DNS_TEMPORARY = "dns-temporary"  # the resolver could not answer now (EAI_AGAIN)
    RESET = "reset"  # the connection broke mid-response
    REDIRECT_LOOP = "redirect-loop"
    TOO_MANY_REDIRECTS = "too-many-redirects"
    BAD_REDIRECT = "bad-redirect"  # missing Location, or a non-http(s) target
    TOO_LARGE = "too-large"  # body over the cap (the body kept is truncated)
    PROTOCOL = "protocol"  # malformed HTTP, undecodable content-encoding
    BLOCKED_ADDRESS = "blocked-address"  # refused by the fetcher's own safety rules
    NO_RECORDING = "no-recording"  # replay: the scenario has no response for this URL


# --- fetch ---------------------------------------------------------------------------------


HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})  # media types read as web pages
PERMANENT_REDIRECTS = frozenset({301, 308})


def redirect_kind_of(hops: Sequence[Hop]) -> str | None:
    """ "permanent" when every hop was 301/308, "temporary" when any hop was not, else None."""
    if not hops:
        return None
    return "permanent" if all(h.status in PERMANENT_REDIRECTS for h in hops) else "temporary"


class Hop(Record):
    """One redirect answered on the way: the URL asked for and the status it answered."""

    url: str
    status: int


class Validators(Record):
    """What a server said it would accept for a conditional request to one URL."""

    etag: str | None = None
    last_modified: str | None = None


class FetchResult(Record):
    """Everything one fetch learned, redirect chain included. Failures are values too."""

    url: str  # the URL asked for
    final_url: str  # where the redirect chain ended (== url when there was none)
    status: int | None  # final status; None when no response arrived
    redirects: tuple[Hop, ...] = ()
    # Final response, lower-case names. A factory: a `{}` default is deep-copied per instance.
    headers: dict[str, str] = Field(default_factory=dict)
    body: bytes = b""
    content_type: str | None = None  # media type only, lower case, no parameters
    not_modified: bool = False  # the server answered 304 to our validators
    truncated: bool = False  # body hit the size cap
    failure: FailureKind | None = None
    failure_detail: str | None = None
    attempts: int = 1
    elapsed_seconds: float = 0.0
    fetched_at: datetime

    @property
    def validators(self) -> Validators:
        return Validators(
            etag=self.headers.get("etag"), last_modified=self.headers.get("last-modified")
        )


# --- extract -------------------------------------------------------------------------------


class Link(Record):
    """A link found on a page, resolved to an absolute URL (fragment removed)."""

    url: str
    text: str = ""
    element: str = "a[href]"  # the tag and attribute it was found in (`img[srcset]`, ...)
    kind: ElementKind = ElementKind.LINK
    # rel=nofollow, or the page's robots meta says nofollow: checked, never crawled from.
    nofollow: bool = False
    fragments: tuple[str, ...] = ()  # the `#id`s the page links this URL with (issue 14)

    def to_row(self) -> list[str | bool | list[str]]:
        """The compact JSON form page readers send and remembered pages keep."""
        row: list[str | bool | list[str]] = [self.url, self.text, self.element, self.kind.value]
        return [*row, self.nofollow, list(self.fragments)]

    @staticmethod
    def from_row(row: Sequence[object]) -> Link:
        """A link from `to_row`'s form; `[url, text]`, as stored before links had elements
        (issue 14), is an `<a href>`."""
        url, text = str(row[0]), str(row[1])
        if len(row) < 5:
            return _shared_link((url, text, "a[href]", "link", False, ()))
        fragments = row[5] if len(row) > 5 and isinstance(row[5], list) else []
        found = (str(row[2]), str(row[3]), bool(row[4]), tuple(str(f) for f in fragments))
        return _shared_link((url, text, *found))


@lru_cache(maxsize=1 << 13)
def _shared_link(row: tuple[str, str, str, str, bool, tuple[str, ...]]) -> Link:
    """One record for each link remembered pages repeat (a site's menu is on every page): a
    304 run rebuilds thousands of them. Links are frozen, so one can stand for all."""
    url, text, element, kind, nofollow, fragments = row
    return Link(
        url=url,
        text=text,
        element=element,
        kind=ElementKind(kind),
        nofollow=nofollow,
        fragments=fragments,
    )


class NavItem(Record):
    """One entry of a course's navigation menu, with its children in page order."""

    title: str
    url: str | None = None
    children: tuple[NavItem, ...] = ()


class Metadata(Record):
    """What a page or file says about itself. Absent fields are None or empty, never invented."""

    page_kind: PageKind
    title: str | None = None
    course_number: str | None = None
    term: str | None = None
    level: tuple[str, ...] = ()
    instructors: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    units: tuple[str, ...] = ()  # the navigation's top-level titles, in order, de-duplicated
    resource_types: tuple[str, ...] = ()  # OCW "learning resource types"
    nav: tuple[NavItem, ...] = ()
    canonical_url: str | None = None
    parent_url: str | None = None  # a content page's parent (breadcrumb / course home)
    file_url: str | None = None  # a resource page's download link
    content_type: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    pages: int | None = None  # PDF page count
    problems: tuple[str, ...] = ()  # what could not be read, e.g. "PDF is truncated"
    # A plain web page's main text (issue 12: a `page` resource is watched like a page): its
    # hash, and its first MAX_MAIN_TEXT characters for a short diff next run.
    text_sha256: str | None = None
    main_text: str | None = None


class Extraction(Record):
    """An extractor's whole answer for one body: its metadata and its links, in page order."""

    metadata: Metadata
    links: tuple[Link, ...] = ()
    # Links no request can follow (issue 14): another scheme (`mailto:`, `file:`), or an href a
    # browser rejects (`http://`, kept as written). The deep check reports them; nothing fetches.
    unfetchable: tuple[Link, ...] = ()
    # What a link's `#fragment` can name on this page: its ids and `<a name>`s (issue 14), and
    # the ids its own `href="#id"` links name. Read by the crawl's reader (extract_links) only.
    targets: tuple[str, ...] = ()
    own_fragments: tuple[str, ...] = ()

    @property
    def crawl_links(self) -> tuple[Link, ...]:
        """Every link the deep check reports: the fetchable ones, then the rest."""
        return self.links + self.unfetchable if self.unfetchable else self.links


# --- the curated list ----------------------------------------------------------------------


class Promise(Record):
    """Something the list says a resource offers, with how to tell that it still does.

    It holds when every listed resource type is among the page's learning resource types and
    every phrase occurs in the text of `page` (a path relative to the resource's final URL, or
    the resource page itself).
    """

    text: str
    resource_types: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    page: str | None = None
    holds: bool = True  # what the baseline expects; `baseline accept` records reality here


class Expected(Record):
    """What the curated list promises about one resource (all optional)."""

    title: str | None = None
    course_number: str | None = None
    term: str | None = None
    instructors: tuple[str, ...] | None = None
    units: tuple[str, ...] | None = None
    resource_types: tuple[str, ...] | None = None
    content_type: str | None = None
    min_bytes: int | None = None
    sha256: str | None = None
    pages: int | None = None
    promises: tuple[Promise, ...] = ()


# The Expected fields compared with what a page shows, one value or a list of them: diff checks
# them against the baseline, `baseline accept` writes them back (one definition for both).
BASELINE_SCALARS = ("title", "course_number", "term", "content_type", "sha256", "pages")
BASELINE_LISTS = ("instructors", "units", "resource_types")


class Location(Record):
    """Where an entry stands in a document list (1-based line and column of its URL)."""

    file: str
    line: int
    column: int
    length: int | None = None  # characters the URL takes there (`&amp;`, `\&`), when known

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Resource(Record):
    """One entry of the curated list."""

    id: str
    url: str
    kind: ResourceKind
    name: str | None = None  # how the list names it, for reports
    expected: Expected = Expected()
    location: Location | None = None  # where it stands, when the list is a document


# --- diff and judgement --------------------------------------------------------------------


class Change(Record):
    """One difference in one field, against the baseline or the previous run."""

    field: str
    kind: ChangeKind
    before: str | None = None
    after: str | None = None
    against: Against


class Suggestion(Record):
    """What the list should say instead, and why."""

    url: str
    reason: str
    # What the suggested page showed, when it was read to verify it (a successor found by
    # search): `baseline accept` takes the list's identity fields from it.
    metadata: Metadata | None = None


class PromiseCheck(Record):
    """Whether one of the list's promises holds in this run."""

    text: str
    holds: bool
    missing: tuple[str, ...] = ()  # resource types or phrases not found


class Observation(Record):
    """One resource as one run saw it: the JSON report's `resources[]` entry."""

    id: str
    url: str
    name: str | None = None  # how the list names it (the heading of a dead entry)
    location: Location | None = None  # where the list has it, when the list is a document
    final_url: str | None = None
    http_status: int | None = None
    redirects: tuple[Hop, ...] = ()
    redirect_kind: str | None = None  # "permanent" or "temporary" when the chain moved
    outcome: Outcome
    metadata: Metadata
    promises: tuple[PromiseCheck, ...] = ()
    changes: tuple[Change, ...] = ()
    suggestion: Suggestion | None = None
    error: str | None = None
    not_modified: bool = False
    observed_at: datetime


class Anchor(Record):
    """One place a link was found: the page, the link's text there, and the element and
    attribute that held it (issue 14: an `img[src]` is an image to fix, not a link)."""

    page: str
    text: str = ""
    element: str = "a[href]"


class FoundAs(Record):
    """An element and attribute a link was found in, and what it is for there (issue 14)."""

    element: str = "a[href]"
    kind: ElementKind = ElementKind.LINK

    @property
    def noun(self) -> str:
        return reader_noun(self.element, self.kind)


class LinkCheck(Record):
    """One link as one run saw it: the JSON report's `links[]` entry."""

    url: str
    found_on: tuple[str, ...] = ()  # the pages it was found on (the first ones: see below)
    http_status: int | None = None
    state: LinkState
    final_url: str | None = None
    first_failed_at: datetime | None = None
    failed_runs: int = 0
    suggestion: Suggestion | None = None
    detail: str | None = None
    # Filled in by the deep check (issue 4); the plain check leaves them empty.
    kind: LinkKind | None = None
    redirects: tuple[Hop, ...] = ()
    anchors: tuple[Anchor, ...] = ()  # every page it was found on, with its text there
    # How many pages it was found on, when `found_on` holds only the first of them (a deep
    # run's report: a site's menu link is on every page); None when `found_on` is complete.
    found_on_count: int | None = None
    # The distinct elements it was found in, in the order found (issue 14); empty for a link
    # the plain check followed, or one stored before elements were kept: an `<a href>`.
    found_as: tuple[FoundAs, ...] = ()

    @property
    def pages_found_on(self) -> int:
        return len(self.found_on) if self.found_on_count is None else self.found_on_count

    @property
    def nouns(self) -> tuple[str, ...]:
        """What a reader calls it, one word per distinct use: ("image",), ("image", "link")."""
        return tuple(dict.fromkeys(found.noun for found in self.found_as)) or ("link",)

    @property
    def noun(self) -> str:
        """`nouns` as reports write them: "image", "image and link", "icon, image and link"."""
        *rest, last = self.nouns
        return f"{', '.join(rest)} and {last}" if rest else last


# --- the deep check's frontier (issue 4) ---------------------------------------------------


class FrontierEntry(Record):
    """A link waiting in the crawl frontier: where it is, how to check it, who found it first."""

    url: str
    key: str  # the normalised URL: one entry per key per run
    kind: LinkKind
    resource_id: str | None = None  # the course site whose crawl found it first
    depth: int = 0  # clicks from the course home
    seq: int = 0  # position in the frontier (set by the store)


class LinkProbe(Record):
    """What checking one frontier entry found, without the body: the frontier row's result."""

    key: str
    final_url: str | None = None
    status: int | None = None
    redirects: tuple[Hop, ...] = ()
    content_type: str | None = None
    page_kind: PageKind | None = None
    failure: FailureKind | None = None
    failure_detail: str | None = None
    state: LinkState | None = None  # decided by the crawl itself (robots, a bot challenge...)
    detail: str | None = None
    method: str | None = None  # the request that decided: GET, HEAD
    fetched_at: datetime | None = None


class FoundLink(Record):
    """A checked frontier entry that some page links to: what the crawl judges.

    Where it was found stays in the store, which copies the pages and anchor texts into the
    stored link check; a site's menu links are found on every page, thousands of times.
    """

    entry: FrontierEntry
    probe: LinkProbe


class CrawledPage(Record):
    """A page's last crawl: its validators and the links read from it, for the next 304."""

    url: str  # the normalised URL asked for
    final_url: str
    validators: Validators
    page_kind: PageKind
    links: tuple[Link, ...] = ()
    targets: tuple[str, ...] = ()  # what fragments can name on it (Extraction.targets)
    own_fragments: tuple[str, ...] = ()  # the ids its `href="#id"` links name


class Counts(Record):
    resources: int = 0
    links: int = 0
    dead: int = 0
    moved: int = 0
    changed: int = 0
    replaced: int = 0

    @property
    def findings(self) -> int:
        """What the maintainer has to act on: dead, replaced, moved and changed."""
        return self.dead + self.replaced + self.moved + self.changed


class Run(Record):
    """One check: when it ran and what it counted."""

    id: int
    started_at: datetime
    finished_at: datetime | None = None
    offline: bool = False
    counts: Counts = Counts()
    # What cut the run short of checking everything (a deep crawl's link caps). In the run's
    # reports only: the store keeps the rendered reports, not the notes.
    notes: tuple[str, ...] = ()
    # The recorded scenario that answered this run (`check --replay`), None for a live run.
    # Replay runs live in a database and reports folder of their own (issue 16).
    replay: str | None = None

    @property
    def has_findings(self) -> bool:
        """Whether the run found something to act on (an offline run proves nothing)."""
        return not self.offline and self.counts.findings > 0


class CrawlProgress(Record):
    """How far a running deep check has got, as its frontier says (for progress lines)."""

    found: int = 0  # distinct links queued so far
    checked: int = 0
    pages: int = 0  # pages read for further links
    dead: int = 0  # answered 404/410 or judged dead by the crawl, so far


# A link that works as asked (issue 15): what a deep run does not hold in memory, only counts.
WORKING_LINKS = frozenset({LinkState.OK, LinkState.SKIPPED})


class KeptChecks(Protocol):
    """Where a deep run's link checks are kept (store/crawl.py): each call asks the store on
    a read-only connection of its own, so that a report can go over them after the store that
    wrote them has closed, and nothing holds them all (issue 15)."""

    def all(self, *, anchors: bool = True) -> Iterator[LinkCheck]:
        """Every check, in the order saved, read back a batch at a time; without `anchors`,
        each with none (a pass that lists links reads a third less, and parses less)."""
        ...

    def first_by_url(self, count: int, states: frozenset[LinkState]) -> list[LinkCheck]:
        """Up to `count` checks in one of `states`, by URL, sorted by the store."""
        ...

    def states_of(self, urls: frozenset[str]) -> dict[str, LinkState]:
        """The state of each of `urls` that was checked."""
        ...


def _url_of(check: LinkCheck) -> str:
    return check.url


class LinkChecks(Collection[LinkCheck]):
    """A run's link checks, in the order judged: held, or (a deep run's, which can be a hundred
    thousand) kept in the store and asked of it on every pass, with only the links to fix held.

    `where(states)` is the cheap pass for renderers that want some states only: when none of
    them is a working state, it goes over the held links to fix instead of the store.
    """

    __slots__ = ("_held", "_kept", "_total")

    def __init__(
        self,
        held: Iterable[LinkCheck] = (),
        *,
        kept: KeptChecks | None = None,
        total: int | None = None,
    ) -> None:
        self._held = tuple(held)
        self._kept = kept
        self._total = len(self._held) if total is None else total

    @classmethod
    def stored(cls, to_fix: Iterable[LinkCheck], kept: KeptChecks, total: int) -> LinkChecks:
        """Checks kept in the store: `to_fix` (every link not working) held, all asked of it."""
        return cls(to_fix, kept=kept, total=total)

    def __iter__(self) -> Iterator[LinkCheck]:
        return iter(self._held) if self._kept is None else self._kept.all()

    def __len__(self) -> int:
        return self._total

    def listed(self) -> Iterator[LinkCheck]:
        """Every check in order, as `iter` gives them, but read from the store without its
        anchors where they are kept there: for a pass that lists links, not the text they
        were found with (the JSON report's, issue 15)."""
        return iter(self._held) if self._kept is None else self._kept.all(anchors=False)

    def __contains__(self, item: object) -> bool:
        return any(item == check for check in self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LinkChecks | tuple | list):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to tuples, so not hashable

    def __repr__(self) -> str:
        where = "held" if self._kept is None else "stored"
        return f"LinkChecks({self._total} {where})"

    def where(self, states: Collection[LinkState]) -> Iterator[LinkCheck]:
        """The checks whose state is one of `states`, in order."""
        wanted = frozenset(states)
        source = self._held if self._kept is not None and not wanted & WORKING_LINKS else self
        return (check for check in source if check.state in wanted)

    def first_by_url(self, count: int, states: Collection[LinkState]) -> list[LinkCheck]:
        """Up to `count` checks whose state is one of `states`, by URL: asked of the store
        where they are kept there (it sorts them without reading every one back), else out of
        a pass that holds no more than `count`."""
        if self._kept is not None:
            return self._kept.first_by_url(count, frozenset(states))
        return heapq.nsmallest(count, self.where(states), key=_url_of)

    def states_of(self, urls: Collection[str]) -> dict[str, LinkState]:
        """The state this run gave each of `urls` it checked: asked of the store where the
        checks are kept there, else out of one pass."""
        wanted = frozenset(urls)
        if self._kept is not None:
            return self._kept.states_of(wanted) if wanted else {}
        return {check.url: check.state for check in self._held if check.url in wanted}

    def with_updates(self, updated: Iterable[LinkCheck]) -> LinkChecks:
        """The same checks where `updated` (links to fix, by URL) replace the held ones; the
        store, read back, must hold them already."""
        by_url = {check.url: check for check in updated}
        held = (by_url.get(check.url, check) for check in self._held)
        return LinkChecks(held, kept=self._kept, total=self._total)

    @classmethod
    def of(cls, value: object) -> LinkChecks:
        """A field value as LinkChecks: itself, or any iterable of checks (or their dicts)."""
        if isinstance(value, LinkChecks):
            return value
        if not isinstance(value, Iterable) or isinstance(value, str | bytes | dict):
            raise TypeError("link checks must be a sequence of link checks")
        return cls(LinkCheck.model_validate(item) for item in value)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.of,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda checks: [check.model_dump(mode="json") for check in checks]
            ),
        )


class Report(Record):
    """Everything a renderer needs for one run."""

    run: Run
    resources: tuple[Observation, ...] = ()
    links: LinkChecks = LinkChecks()


# --- archive lookups ---------------------------------------------------------------------

# Where a found link was seen: the link's key, the page, the anchor text there, the element,
# and what the element is for (an `ElementKind` value: `link[href]` is a stylesheet or an icon).
Source = tuple[str, str, str, str, str]
# A found link's verdict to store: its key, the check, when a request last decided it, and
# whether to keep every page it was found on (else the first few: Frontier.save_found_checks).
FoundCheck = tuple[str, LinkCheck, datetime | None, bool]


@dataclass
class CrawlStep:
    """What a crawl learned since it last wrote to the store: saved in one transaction.

    A mutable batch (a dataclass, not a record): the crawl fills it, the store empties it.
    """

    found: list[FrontierEntry] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    settled: list[tuple[FrontierEntry, LinkProbe]] = field(default_factory=list)
    pages: list[CrawledPage] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.settled) + len(self.found) // 16


class Snapshot(Record):
    """One archived copy in the Wayback Machine: where to see it, and when it was taken."""

    url: str
    taken_at: datetime


class WaybackLookup(Record):
    """What one availability lookup of a URL found: a snapshot, or None (a miss)."""

    url: str
    looked_up_at: datetime
    snapshot: Snapshot | None = None
