"""The deep check's stored probes, turned back into what the judge reads.

Adapts crawl records (FoundLink) to judge's inputs; every verdict itself is judge's.
"""

from __future__ import annotations

from datetime import datetime

from ocwwatch.judge import judge_link, restate
from ocwwatch.models import FetchResult, FoundLink, LinkCheck, Metadata, PageKind


def result_of(found: FoundLink, now: datetime) -> FetchResult:
    """The fetch a stored probe stands for (no headers, no body)."""
    probe = found.probe
    return FetchResult(
        url=found.entry.url,
        final_url=probe.final_url or found.entry.url,
        status=probe.status,
        redirects=probe.redirects,
        content_type=probe.content_type,
        not_modified=probe.status == 304,
        failure=probe.failure,
        failure_detail=probe.failure_detail,
        fetched_at=probe.fetched_at or now,
    )


def judge_found(
    found: FoundLink, found_on: tuple[str, ...], previous: LinkCheck | None, now: datetime
) -> LinkCheck:
    """A found link's LinkCheck: judge's verdict, the crawl's own where it made one, the streak."""
    probe = found.probe
    metadata = Metadata(
        page_kind=probe.page_kind or PageKind.OTHER, content_type=probe.content_type
    )
    check = judge_link(result_of(found, now), metadata, found_on, previous, now)
    if probe.state is not None and (probe.state, probe.detail) != (check.state, check.detail):
        check = restate(check, probe.state, probe.detail, previous, now)
    return check.model_copy(update={"kind": found.entry.kind, "redirects": probe.redirects})
