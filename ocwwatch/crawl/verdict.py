"""The deep check's verdicts: `judge.judge_link` for the states every check shares, plus what
only a crawl sees (bot challenges, redirects to a home page, a PDF link landing on HTML).

Pure functions of recorded probes; the failure streak comes from the store's previous check.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from ocwwatch.crawl.scope import is_home_redirect
from ocwwatch.judge import ANSWERED_OR_PARTIAL, judge_link
from ocwwatch.models import (
    FailureKind,
    FetchResult,
    FoundLink,
    LinkCheck,
    LinkKind,
    LinkState,
    Metadata,
    PageKind,
)

FAILING = frozenset({LinkState.DEAD, LinkState.SOFT404, LinkState.BLOCKED, LinkState.UNKNOWN})
# Text of the interstitial pages bot walls send instead of the page (Cloudflare, Imperva,
# PerimeterX, generic captchas); looked for only in refusals, never in a 200.
CHALLENGE_MARKERS = (
    b"challenge-platform",
    b"cf-chl-",
    b"_incapsula_resource",
    b"px-captcha",
    b"captcha",
    b"are you a robot",
)
CHALLENGE_STATUSES = frozenset({403, 429, 503})
MAX_SNIFF_BYTES = 64 * 1024
# judge.link_state decides these; among them 416, which answers the ranged GET of a file check
# (probe.fetch_start) when the file is empty: it exists, so it is ok, not an unknown 4xx.
JUDGED_ELSEWHERE = frozenset({401, 403, 404, 410, 416, 429})


def bot_challenge(result: FetchResult) -> str | None:
    """Why the answer is a bot wall rather than the page, or None."""
    headers = result.headers
    if headers.get("cf-mitigated", "").lower() == "challenge":
        return "a bot challenge (cf-mitigated: challenge)"
    if headers.get("x-amzn-waf-action", "").lower() in {"challenge", "captcha"}:
        return "a bot challenge (x-amzn-waf-action)"
    if result.status == 999:
        return "status 999, which some sites send to anything that looks like a crawler"
    if result.status in CHALLENGE_STATUSES:
        head = result.body[:MAX_SNIFF_BYTES].lower()
        marker = next((m for m in CHALLENGE_MARKERS if m in head), None)
        if marker is not None:
            return f"a bot challenge page (status {result.status}, {marker.decode()!r})"
    return None


def crawl_state(
    result: FetchResult, metadata: Metadata, kind: LinkKind
) -> tuple[LinkState, str] | None:
    """A state the crawl decides itself, overriding `judge.link_state`; None to defer to it."""
    challenge = bot_challenge(result)
    if challenge is not None:
        return LinkState.BLOCKED, challenge
    if result.failure is FailureKind.BLOCKED_ADDRESS:
        return LinkState.SKIPPED, result.failure_detail or "refused by the fetcher's safety rules"
    redirected = bool(result.redirects) and result.status in ANSWERED_OR_PARTIAL
    if is_home_redirect(result.url, result.final_url, redirected):
        return LinkState.SOFT404, f"redirects to the site's home page ({result.final_url})"
    if lands_off_pdf(result, metadata, kind):
        landed = result.content_type or "an unknown type"
        return LinkState.DEAD, f"the PDF link now lands on {landed}, not a PDF"
    status = result.status
    if status == 451:
        return LinkState.BLOCKED, "status 451 (unavailable for legal reasons)"
    if status is not None and 400 <= status < 500 and status not in JUDGED_ELSEWHERE:
        return LinkState.UNKNOWN, f"status {status}"
    return None


def lands_off_pdf(result: FetchResult, metadata: Metadata, kind: LinkKind) -> bool:
    """A .pdf link whose answer is a web page (DESIGN.md: dead, whatever its status)."""
    if kind is not LinkKind.FILE or result.status not in ANSWERED_OR_PARTIAL:
        return False
    if not urlsplit(result.url).path.lower().endswith(".pdf"):
        return False
    if metadata.page_kind in {PageKind.PDF, PageKind.NOT_FOUND}:
        return False  # a PDF, or a soft 404 that judge already calls so
    return result.content_type in {"text/html", "application/xhtml+xml"}


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


def restate(
    check: LinkCheck,
    state: LinkState,
    detail: str | None,
    previous: LinkCheck | None,
    now: datetime,
) -> LinkCheck:
    """`check` with another state, its failure streak counted as judge.judge_link counts it."""
    failing = state in FAILING
    was_failing = previous is not None and previous.failed_runs > 0
    first_failed = None
    if failing:
        first_failed = previous.first_failed_at if was_failing and previous else now
    failed_runs = ((previous.failed_runs if previous else 0) + 1) if failing else 0
    keep_suggestion = state in {LinkState.OK, LinkState.REDIRECTED}
    return check.model_copy(
        update={
            "state": state,
            "detail": detail,
            "first_failed_at": first_failed,
            "failed_runs": failed_runs,
            "suggestion": check.suggestion if keep_suggestion else None,
        }
    )
