"""Verdicts: a resource's outcome and a link's state, from what was fetched and what changed.

Pure functions; the vocabulary is DESIGN.md's ("Link states", the JSON `outcome`). A status
code alone never decides: a PDF that lands on HTML and a "not found" page served 200 are dead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ocwwatch.models import (
    Change,
    FailureKind,
    FetchResult,
    LinkCheck,
    LinkState,
    Metadata,
    Outcome,
    PageKind,
    ResourceKind,
    Suggestion,
)

PERMANENT = frozenset({301, 308})
DEAD_STATUSES = frozenset({404, 410})
BLOCKED_STATUSES = frozenset({401, 403, 429})
# Failures that say nothing about the link itself: the network, not the page.
TRANSIENT_FAILURES = frozenset(
    {FailureKind.TIMEOUT, FailureKind.CONNECT, FailureKind.RESET, FailureKind.NO_RECORDING}
)
UNREACHABLE_FAILURES = TRANSIENT_FAILURES | {FailureKind.DNS}
ENDLESS_REDIRECTS = frozenset({FailureKind.REDIRECT_LOOP, FailureKind.TOO_MANY_REDIRECTS})
# Failures after which the status on record is a redirect's, not the resource's answer.
NOT_FETCHED = frozenset({FailureKind.BAD_REDIRECT})
# What extract/pdf.py records when a PDF body cannot be what the list promises: not the
# parser's many warnings about real-world PDFs, only a missing header, a cut file, a failed parse.
DAMAGED_PDF = ("not a PDF", "PDF is truncated", "PDF is unreadable")
# 304 means "what you read last time is still true": judged like the 200 it stands for.
ANSWERED = frozenset({200, 304})
# 206 is the start of a body, the answer to a ranged GET (the deep check's file checks): a link
# that answers it is judged like one that answers 200, its "not found" page and all.
ANSWERED_OR_PARTIAL = ANSWERED | {206}


def redirect_kind(result: FetchResult) -> str | None:
    """ "permanent" when every hop was 301/308, "temporary" when any hop was not, else None."""
    if not result.redirects:
        return None
    return "permanent" if all(h.status in PERMANENT for h in result.redirects) else "temporary"


def describe_move(result: FetchResult) -> str:
    """A human sentence for a redirect chain, e.g. "permanent redirect (301)"."""
    statuses = ", ".join(str(hop.status) for hop in result.redirects)
    kind = redirect_kind(result) or "no"
    hops = "hop" if len(result.redirects) == 1 else "hops"
    return f"{kind} redirect ({statuses}; {len(result.redirects)} {hops})"


def is_dead(result: FetchResult, metadata: Metadata, kind: ResourceKind) -> str | None:
    """Why the resource is dead, or None. Takes the page's content into account."""
    if result.failure is FailureKind.DNS:
        return f"the host name does not resolve ({result.failure_detail or 'DNS failure'})"
    if result.failure in ENDLESS_REDIRECTS:
        return f"the redirects never end ({result.failure.value})"
    if result.status in DEAD_STATUSES:
        return f"the server answers {result.status} (not found)"
    if result.status in ANSWERED and metadata.page_kind is PageKind.NOT_FOUND:
        return "the page is a 'not found' page served with status 200 (soft 404)"
    answered = result.status in ANSWERED
    if kind is ResourceKind.PDF and answered and metadata.page_kind is not PageKind.PDF:
        landed = metadata.content_type or result.content_type or "an unknown type"
        return f"the PDF link now lands on {landed}, not a PDF"
    return None


def judge_resource(
    result: FetchResult, metadata: Metadata, kind: ResourceKind, changes: Sequence[Change]
) -> tuple[Outcome, str | None]:
    """The most severe outcome that applies, and the sentence that explains it."""
    dead = is_dead(result, metadata, kind)
    if dead:
        return Outcome.DEAD, dead
    if result.failure is not None and (result.status is None or result.failure in NOT_FETCHED):
        detail = result.failure_detail or result.failure.value
        if result.failure in UNREACHABLE_FAILURES:
            return Outcome.UNKNOWN, f"no answer: {detail}"
        return Outcome.ERROR, f"{result.failure.value}: {detail}"
    if result.status is not None and result.status not in ANSWERED:
        return Outcome.UNKNOWN, f"the server answers {result.status}"
    unread = unreadable_body(result, metadata, kind)
    if result.redirects and result.final_url != result.url:
        return Outcome.MOVED, unread
    if unread:
        # Changes measured on a body that was not read whole are not evidence of anything.
        return Outcome.UNKNOWN, unread
    if changes:
        return Outcome.CHANGED, None
    return Outcome.OK, None


def unreadable_body(result: FetchResult, metadata: Metadata, kind: ResourceKind) -> str | None:
    """Why an answered resource's body cannot be judged (cut off, empty, a damaged PDF), or None."""
    if result.failure is not None:
        detail = result.failure_detail or result.failure.value
        if result.failure is FailureKind.TOO_LARGE:
            return f"the body is larger than the cap and was not read whole ({detail})"
        return f"the answer broke off ({result.failure.value}: {detail})"
    if result.status == 200 and metadata.size_bytes == 0:
        return "the server answered 200 with an empty body"
    if kind is ResourceKind.PDF and metadata.page_kind is PageKind.PDF:
        damage = [p for p in metadata.problems if p.startswith(DAMAGED_PDF)]
        if damage:
            return f"the PDF cannot be read: {'; '.join(damage)}"
    return None


def suggest_move(result: FetchResult) -> Suggestion | None:
    """The URL to write instead, when a redirect chain ends in a 200 elsewhere."""
    if not result.redirects or result.status not in ANSWERED or result.final_url == result.url:
        return None
    reason = describe_move(result)
    if redirect_kind(result) == "temporary":
        reason += "; OCW answers some permanent moves with 307, so check before you update"
    return Suggestion(url=result.final_url, reason=reason)


def judge_link(
    result: FetchResult,
    metadata: Metadata,
    found_on: Sequence[str],
    previous: LinkCheck | None,
    now: datetime,
) -> LinkCheck:
    """A link's state in this run, carrying its run of failures from the previous check."""
    state, detail = link_state(result, metadata)
    failing = state not in {LinkState.OK, LinkState.REDIRECTED, LinkState.SKIPPED}
    was_failing = previous is not None and previous.failed_runs > 0
    first_failed = None
    if failing:
        first_failed = previous.first_failed_at if was_failing and previous else now
    failed_runs = ((previous.failed_runs if previous else 0) + 1) if failing else 0
    suggestion = None
    if state is LinkState.REDIRECTED and redirect_kind(result) == "permanent":
        suggestion = Suggestion(url=result.final_url, reason=describe_move(result))
    return LinkCheck(
        url=result.url,
        found_on=tuple(found_on),
        http_status=result.status,
        state=state,
        final_url=result.final_url,
        first_failed_at=first_failed,
        failed_runs=failed_runs,
        suggestion=suggestion,
        detail=detail,
    )


def link_state(result: FetchResult, metadata: Metadata) -> tuple[LinkState, str | None]:
    """DESIGN.md's link states, with the reason for anything but ok."""
    if (
        result.failure is FailureKind.DNS
        or result.failure in ENDLESS_REDIRECTS
        or result.status in DEAD_STATUSES
    ):
        return LinkState.DEAD, result.failure_detail or f"status {result.status}"
    if result.status in ANSWERED_OR_PARTIAL and metadata.page_kind is PageKind.NOT_FOUND:
        served = 206 if result.status == 206 else 200  # a 304 stands for the 200 read before
        return LinkState.SOFT404, f"a 'not found' page served with status {served}"
    if result.status in BLOCKED_STATUSES:
        return LinkState.BLOCKED, f"status {result.status}"
    if result.failure is not None:  # no answer, or one that broke off or overflowed the cap
        return LinkState.UNKNOWN, result.failure_detail or result.failure.value
    if result.status is not None and result.status >= 500:
        return LinkState.UNKNOWN, f"status {result.status}"
    if result.redirects and result.final_url != result.url:
        return LinkState.REDIRECTED, describe_move(result)
    return LinkState.OK, None


def is_link_finding(check: LinkCheck, failures_before_finding: int) -> bool:
    """Dead links are findings at once; blocked and unknown ones only after several runs."""
    if check.state in {LinkState.DEAD, LinkState.SOFT404}:
        return True
    if check.state in {LinkState.BLOCKED, LinkState.UNKNOWN}:
        return check.failed_runs >= failures_before_finding
    return False
