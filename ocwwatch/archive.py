"""Archive lookups, a stage of their own (issue 4, item 5; issue 10): a dead link that no
redirect explains gets the Wayback Machine snapshot closest to when it started failing.

Asks archive.org's availability API through the crawl's Fetcher, under its own timeout and a
per-run budget, and keeps the answers in the store. A lookup that goes wrong means no suggestion
this time: it never fails the run, and it is not cached.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import urlencode

from pydantic import BaseModel, Field, ValidationError

from ocwwatch.clock import Clock
from ocwwatch.fetch import Fetcher
from ocwwatch.models import LinkCheck, LinkKind, LinkState, Snapshot, Suggestion, WaybackLookup
from ocwwatch.validation import describe_validation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArchiveOptions:
    """Where to ask and how much: the settings' [deep] wayback_* values."""

    endpoint: str = "https://archive.org/wayback/available"
    timeout_seconds: float = 10.0  # per lookup, retries and waiting included
    max_lookups: int = 200  # per run; cached answers do not count
    miss_retry_days: int = 30  # when to ask again about a URL that had no snapshot


class LookupCache(Protocol):
    """What the stage keeps between runs (the pipeline's Store satisfies it)."""

    def load_wayback_lookups(self, urls: Iterable[str]) -> dict[str, WaybackLookup]: ...

    def save_wayback_lookups(self, lookups: Sequence[WaybackLookup]) -> None: ...

    def set_link_suggestions(self, run_id: int, suggestions: Mapping[str, Suggestion]) -> None: ...


Progress = Callable[[str], None]

SUGGESTED_STATES = frozenset({LinkState.DEAD, LinkState.SOFT404})
# After this many failed lookups a run asks no more: an archive.org that is down or slow then
# costs a few timeouts, not one per dead link.
FAILURES_BEFORE_GIVING_UP = 3


# The answer's shape, from https://archive.org/help/wayback_api.php: {"archived_snapshots":
# {"closest": {"available": true, "url": "...", "timestamp": "YYYYMMDDhhmmss", "status": "200"}}},
# and {"archived_snapshots": {}} when there is no snapshot. Other keys are ignored.
class _Closest(BaseModel):
    available: bool
    url: str = Field(pattern=r"^(?i)https?://[^/?#]+")  # reports link it: http(s) only
    timestamp: str = Field(pattern=r"^[0-9]{14}$")
    status: str


class _Snapshots(BaseModel):
    closest: _Closest | None = None


class _Availability(BaseModel):
    archived_snapshots: _Snapshots


def needs_snapshot(check: LinkCheck) -> bool:
    """A dead link that no permanent redirect already suggests a replacement for.

    A video embed is left out: a snapshot of YouTube's player does not play the removed video.
    """
    if check.kind is LinkKind.EMBED:
        return False
    return check.state in SUGGESTED_STATES and check.suggestion is None


def lookup_url(endpoint: str, url: str, when: datetime) -> str:
    """The availability query for the snapshot of `url` closest to the day of `when`."""
    day = when.astimezone(UTC).strftime("%Y%m%d")
    return f"{endpoint}?{urlencode({'url': url, 'timestamp': day})}"


def read_availability(body: bytes) -> Snapshot | None:
    """The snapshot an availability answer offers, if it is available and was archived with
    a 2xx status; None when there is none. ValueError when the body is no such answer."""
    try:
        closest = _Availability.model_validate_json(body).archived_snapshots.closest
    except ValidationError as exc:
        first = describe_validation("not an availability answer", exc)[0]
        raise ValueError(first) from None
    if closest is None or not closest.available or not is_success(closest.status):
        return None
    try:
        taken_at = datetime.strptime(closest.timestamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        detail = f"timestamp {closest.timestamp!r} is not a time"
        raise ValueError(f"not an availability answer: {detail}") from None
    return Snapshot(url=closest.url, taken_at=taken_at)


def is_success(status: str) -> bool:
    return status.isdigit() and 200 <= int(status) < 300


def suggestion_of(snapshot: Snapshot) -> Suggestion:
    reason = (
        f"the Wayback Machine's snapshot of {snapshot.taken_at:%Y-%m-%d},"
        " the closest it has to when the link started failing"
    )
    return Suggestion(url=snapshot.url, reason=reason)


async def look_up(
    fetcher: Fetcher, check: LinkCheck, options: ArchiveOptions, now: datetime
) -> WaybackLookup | None:
    """Ask archive.org for the snapshot of `check.url` closest to its first failure; None
    when the lookup failed (a timeout, an error status, an answer that does not read)."""
    query = lookup_url(options.endpoint, check.url, check.first_failed_at or now)
    try:
        async with asyncio.timeout(options.timeout_seconds):
            result = await fetcher.fetch(query)
    except TimeoutError:
        timeout = options.timeout_seconds
        log.info("Wayback lookup of %s failed: no answer within %g s", check.url, timeout)
        return None
    if result.failure is not None or result.status != 200:
        why = result.failure_detail or result.failure or f"status {result.status}"
        log.info("Wayback lookup of %s failed: %s", check.url, why)
        return None
    try:
        snapshot = read_availability(result.body)
    except ValueError as exc:
        log.info("Wayback lookup of %s failed: %s", check.url, exc)
        return None
    return WaybackLookup(url=check.url, looked_up_at=now, snapshot=snapshot)


async def look_up_all(
    fetcher: Fetcher, checks: Sequence[LinkCheck], options: ArchiveOptions, now: datetime
) -> list[WaybackLookup]:
    """The lookups of `checks` that got an answer, until too many failed.

    Only as many run at once as archive.org's host gate lets through, so that no lookup's
    timeout runs out while it waits for its turn.
    """
    waiting = deque(checks)
    answered: list[WaybackLookup] = []
    failures = 0

    async def work() -> None:
        nonlocal failures
        while waiting and failures < FAILURES_BEFORE_GIVING_UP:
            lookup = await look_up(fetcher, waiting.popleft(), options, now)
            if lookup is None:
                failures += 1
            else:
                answered.append(lookup)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(len(checks), fetcher.policy.per_host_concurrency)):
            group.create_task(work())
    if waiting:
        log.info(
            "%d Wayback lookups failed: none for the %d other dead links this run",
            failures,
            len(waiting),
        )
    return answered


def fresh_lookups(
    store: LookupCache, urls: Iterable[str], now: datetime, miss_retry_days: int
) -> dict[str, WaybackLookup]:
    """Cached lookups to reuse: every hit (a snapshot stays), and misses not yet due again."""
    due = now - timedelta(days=miss_retry_days)
    cached = store.load_wayback_lookups(urls)
    return {
        url: lookup
        for url, lookup in cached.items()
        if lookup.snapshot is not None or lookup.looked_up_at > due
    }


def add_suggestions(
    checks: Sequence[LinkCheck], suggestions: Mapping[str, Suggestion]
) -> list[LinkCheck]:
    return [
        check.model_copy(update={"suggestion": suggestions[check.url]})
        if check.url in suggestions
        else check
        for check in checks
    ]


async def suggest_snapshots(
    store: LookupCache,
    fetcher: Fetcher,
    run_id: int,
    checks: Sequence[LinkCheck],
    *,
    options: ArchiveOptions,
    now: Clock,
    progress: Progress,
) -> list[LinkCheck]:
    """`checks`, each dead link without a suggestion given its Wayback snapshot where there is
    one; the suggestions are stored with this run's link checks as well.

    Only links whose host is public are named to archive.org (issue 9, item 4): an intranet
    list's URLs never leave the machine, and the lookup cache holds none of them.
    """
    wanted = {
        check.url: check
        for check in checks
        if needs_snapshot(check) and await fetcher.guard.is_public(check.url)
    }
    if not wanted:
        return list(checks)
    started = now()
    known = fresh_lookups(store, wanted, started, options.miss_retry_days)
    unknown = [check for url, check in wanted.items() if url not in known]
    if len(unknown) > options.max_lookups:
        log.info(
            "%d dead links to look up in the Wayback Machine; %d this run (wayback_max_lookups)",
            len(unknown),
            options.max_lookups,
        )
        unknown = unknown[: options.max_lookups]
    if unknown:
        progress(f"deep: asking the Wayback Machine about {len(unknown)} dead links")
    asked = await look_up_all(fetcher, unknown, options, started)
    store.save_wayback_lookups(asked)
    suggestions = {
        lookup.url: suggestion_of(lookup.snapshot)
        for lookup in [*known.values(), *asked]
        if lookup.snapshot is not None
    }
    store.set_link_suggestions(run_id, suggestions)
    return add_suggestions(checks, suggestions)


async def archived_copy(
    store: LookupCache, fetcher: Fetcher, url: str, *, options: ArchiveOptions, now: datetime
) -> Suggestion | None:
    """The last resort for a dead listed resource that has no successor (issue 12): its
    Wayback snapshot closest to now, if archive.org has one. Cached like a link's lookup; asked
    only for a public URL."""
    if not await fetcher.guard.is_public(url):
        return None
    lookup = fresh_lookups(store, [url], now, options.miss_retry_days).get(url)
    if lookup is None:
        lookup = await look_up(fetcher, LinkCheck(url=url, state=LinkState.DEAD), options, now)
        if lookup is None:
            return None
        store.save_wayback_lookups([lookup])
    if lookup.snapshot is None:
        return None
    reason = (
        "no successor found; the Wayback Machine's snapshot of "
        f"{lookup.snapshot.taken_at:%Y-%m-%d}, the latest copy of what the list linked"
    )
    return Suggestion(url=lookup.snapshot.url, reason=reason)
