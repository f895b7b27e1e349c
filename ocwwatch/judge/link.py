"""A link's state, its failure streak, and the verdicts only a crawl can make (bot walls,
redirects to a site's home page, a PDF link that lands on HTML).

Pure functions of what was fetched and of the link's previous check.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit

from ocwwatch.judge.resource import describe_move, redirect_kind
from ocwwatch.judge.states import (
    ANSWERED_OR_PARTIAL,
    ENDLESS_REDIRECTS,
    FAILING,
)
from ocwwatch.judge.statuses import judge_status
from ocwwatch.models import (
    HTML_TYPES,
    FailureKind,
    FetchResult,
    LinkCheck,
    LinkKind,
    LinkState,
    Metadata,
    PageKind,
    Suggestion,
)

HOME_PATHS = frozenset({"", "/", "/index.html", "/index.htm"})
# A home page's other names: index documents of any server, and a language's root (`en`,
# `pt-BR`, `zh_Hant`): a redirect from one of these to `/` is no soft 404.
INDEX_DOCUMENT = re.compile(r"^(?:index|default|home)\.[a-z0-9]{1,5}$", re.I)
LANGUAGE_ROOT = re.compile(r"^[a-z]{2}(?:[-_](?:[a-z]{2}|[a-z]{4}))?$", re.I)
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


def failure_streak(
    failing: bool, previous: LinkCheck | None, now: datetime
) -> tuple[datetime | None, int]:
    """When the link's current run of failures began, and how many runs it has lasted."""
    if not failing:
        return None, 0
    was_failing = previous is not None and previous.failed_runs > 0
    first_failed = previous.first_failed_at if was_failing and previous else now
    return first_failed, (previous.failed_runs if previous else 0) + 1


def judge_link(
    result: FetchResult,
    metadata: Metadata,
    found_on: Sequence[str],
    previous: LinkCheck | None,
    now: datetime,
) -> LinkCheck:
    """A link's state in this run, carrying its run of failures from the previous check."""
    state, detail = link_state(result, metadata)
    first_failed, failed_runs = failure_streak(state in FAILING, previous, now)
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
    """DESIGN.md's link states, with the reason for anything but ok; the status decides by the
    matrix resources share (judge/statuses.py), for a request without Range."""
    verdict = None
    if result.status is not None:
        verdict = judge_status(result.status, conditional=result.not_modified)
    if (
        result.failure is FailureKind.DNS
        or result.failure in ENDLESS_REDIRECTS
        or (verdict is not None and verdict.link is LinkState.DEAD)
    ):
        return LinkState.DEAD, result.failure_detail or f"status {result.status}"
    if result.status in ANSWERED_OR_PARTIAL and metadata.page_kind is PageKind.NOT_FOUND:
        served = 206 if result.status == 206 else 200  # a 304 stands for the 200 read before
        return LinkState.SOFT404, f"a 'not found' page served with status {served}"
    if verdict is not None and verdict.link is LinkState.BLOCKED:
        return verdict.link, f"status {verdict.reason}"
    if result.failure is not None:  # no answer, or one that broke off or overflowed the cap
        return LinkState.UNKNOWN, result.failure_detail or result.failure.value
    if verdict is not None and verdict.link is not LinkState.OK:
        return verdict.link, f"status {verdict.reason}"
    if result.redirects and result.final_url != result.url:
        return LinkState.REDIRECTED, describe_move(result)
    return LinkState.OK, None


def is_link_finding(check: LinkCheck, failures_before_finding: int) -> bool:
    """Dead, invalid and missing-fragment links are findings at once; blocked and unknown ones
    only after several runs."""
    if check.state in {
        LinkState.DEAD,
        LinkState.SOFT404,
        LinkState.INVALID,
        LinkState.MISSING_FRAGMENT,
    }:
        return True
    if check.state in {LinkState.BLOCKED, LinkState.UNKNOWN}:
        return check.failed_runs >= failures_before_finding
    return False


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
    result: FetchResult, metadata: Metadata, kind: LinkKind, *, ranged: bool = False
) -> tuple[LinkState, str] | None:
    """A state the crawl decides itself, overriding `judge.link_state`; None to defer to it.

    `ranged`: the request asked for a byte range (a file check's GET). The stored probe keeps
    the status but not how it was asked for, so a 304 to a request without validators and a
    416 to a ranged one are decided here, by the same matrix."""
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
    if (status == 304 and not result.not_modified) or (status == 416 and ranged):
        verdict = judge_status(status, conditional=result.not_modified, ranged=ranged)
        return verdict.link, f"status {verdict.reason or status}"
    return None


def lands_off_pdf(result: FetchResult, metadata: Metadata, kind: LinkKind) -> bool:
    """A .pdf link whose answer is a web page (DESIGN.md: dead, whatever its status)."""
    if kind is not LinkKind.FILE or result.status not in ANSWERED_OR_PARTIAL:
        return False
    if not urlsplit(result.url).path.lower().endswith(".pdf"):
        return False
    if metadata.page_kind in {PageKind.PDF, PageKind.NOT_FOUND}:
        return False  # a PDF, or a soft 404 that judge already calls so
    return result.content_type in HTML_TYPES


def is_home_redirect(url: str, final_url: str | None, redirected: bool) -> bool:
    """A redirect from a deeper URL to a site's home page: how many sites say "not found".

    Not from the home under another name (`/index.php`, `/default.aspx`) or a language's root
    (`/en/`, `/pt-br/index.html`): sending those to `/` is the site's ordinary way (issue 14).
    """
    if not redirected or final_url is None:
        return False
    try:
        start, end = urlsplit(url), urlsplit(final_url)
    except ValueError:
        return False
    if end.path not in HOME_PATHS or end.query:
        return False
    return start.path not in HOME_PATHS and not is_home_alias(start.path)


def is_home_alias(path: str) -> bool:
    """A path that names a site's home: an index document, in the root or a language's root."""
    segments = [segment for segment in path.split("/") if segment]
    if segments and INDEX_DOCUMENT.match(segments[-1]):
        segments.pop()
    return not segments or (len(segments) == 1 and LANGUAGE_ROOT.match(segments[0]) is not None)


def restate(
    check: LinkCheck,
    state: LinkState,
    detail: str | None,
    previous: LinkCheck | None,
    now: datetime,
) -> LinkCheck:
    """`check` with another state, its failure streak counted as judge.judge_link counts it."""
    first_failed, failed_runs = failure_streak(state in FAILING, previous, now)
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
