"""A listed resource's outcome, and the fix to apply when it moved.

Pure functions of what was fetched and what changed. A status code alone never decides: a PDF
that lands on HTML and a "not found" page served 200 are dead.
"""

from __future__ import annotations

from collections.abc import Sequence

from ocwwatch.judge.states import (
    ANSWERED,
    DAMAGED_PDF,
    ENDLESS_REDIRECTS,
    NOT_FETCHED,
    UNREACHABLE_FAILURES,
)
from ocwwatch.judge.statuses import DEAD, judge_status
from ocwwatch.models import (
    Against,
    Change,
    ChangeKind,
    FailureKind,
    FetchResult,
    Metadata,
    Outcome,
    PageKind,
    ResourceKind,
    Suggestion,
    redirect_kind_of,
)


def redirect_kind(result: FetchResult) -> str | None:
    """ "permanent" when every hop was 301/308, "temporary" when any hop was not, else None."""
    return redirect_kind_of(result.redirects)


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
    if result.status in DEAD:
        return f"the server answers {result.status} (not found)"
    answered = result.status in ANSWERED and (result.status != 304 or result.not_modified)
    if answered and metadata.page_kind is PageKind.NOT_FOUND:
        return "the page is a 'not found' page served with status 200 (soft 404)"
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
    if result.status is not None:
        verdict = judge_status(result.status, conditional=result.not_modified)
        if verdict.resource is not Outcome.OK:
            return verdict.resource, f"the server answers {verdict.reason}"
    unread = unreadable_body(result, metadata, kind)
    moved = bool(result.redirects) and result.final_url != result.url
    replaced = describe_replacement(changes)
    if replaced and moved:
        return Outcome.REPLACED, replaced
    if moved:
        return Outcome.MOVED, unread
    if unread:
        # Changes measured on a body that was not read whole are not evidence of anything.
        return Outcome.UNKNOWN, unread
    if changes:
        return Outcome.CHANGED, None
    return Outcome.OK, None


IDENTITY_FIELDS = ("course_number", "term")  # what makes a course that course, not another


def describe_replacement(changes: Sequence[Change]) -> str | None:
    """Why the resource is now another course (its number or term differs from the list's),
    or None. Only drift from the baseline counts: the list says which course it meant."""
    differ = [
        f"{c.field} {c.before!r} -> {c.after!r}"
        for c in changes
        if c.field in IDENTITY_FIELDS
        and c.against is Against.BASELINE
        and c.kind is ChangeKind.CHANGED
    ]
    if not differ:
        return None
    return "the address now leads to another course (" + "; ".join(differ) + ")"


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
