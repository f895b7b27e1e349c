"""The status matrix (issue 14): what one final HTTP status says about a link and about a listed
resource, one table for both, every status of RFC 9110 plus 429 and the non-standard ones
checkers meet (999). The README's "Statuses" table is this one, in words.

Pure: a status and how it was asked for in, a verdict out. The body (a "not found" page, a PDF
that is HTML) and failures (no answer, a cut body) are link.py's and resource.py's to weigh.
"""

from __future__ import annotations

from typing import NamedTuple

from ocwwatch.models import LinkState, Outcome

DEAD = frozenset({404, 410})
# Refusals that say who is asking, not whether the page exists: never dead, a finding only after
# several runs. 407: a proxy wants credentials; 451: unavailable for legal reasons; 999: what
# LinkedIn and others answer anything that looks like a crawler.
BLOCKED = frozenset({401, 403, 407, 429, 451, 999})
# Redirects the fetcher follows hop by hop: a chain that ends on one had no usable Location.
FOLLOWED = frozenset({301, 302, 303, 307, 308})
# 305 Use Proxy is deprecated (RFC 9110, 15.4.6) and 306 unused: no browser follows either.
UNUSED_REDIRECTS = frozenset({305, 306})


class StatusVerdict(NamedTuple):
    """A final status's verdict: the link's state and the resource's outcome (OK: the status
    is no objection; the body and the rest are judged next), with the reason for anything else,
    which starts with the status ("status {reason}", "the server answers {reason}")."""

    link: LinkState
    resource: Outcome
    reason: str | None = None


def _fine(reason: str | None = None) -> StatusVerdict:
    return StatusVerdict(LinkState.OK, Outcome.OK, reason)


def _unknown(reason: str) -> StatusVerdict:
    return StatusVerdict(LinkState.UNKNOWN, Outcome.UNKNOWN, reason)


def judge_status(status: int, *, conditional: bool = False, ranged: bool = False) -> StatusVerdict:
    """The verdict on one final status. `conditional`: the request carried validators and the
    server honoured them (a 304 stands for the 200 read before); `ranged`: it asked for a
    byte range (only the deep check's file checks do, and 416 then means an empty file).

    A status a client does not recognise counts as the first of its class (RFC 9110, 15: 299
    as 200, 499 as 400); anything outside 100-599 but 999 is no HTTP status at all.
    """
    if status == 304:
        if conditional:
            return _fine()
        return _unknown("304 to a request that was not conditional: nothing was read")
    if status == 416:
        if ranged:
            return _fine("416 to a ranged request: the file is empty")
        return _unknown("416 (range not satisfiable) to a request without Range")
    return _FIXED.get(status) or _by_class(status)


_FIXED: dict[int, StatusVerdict] = {
    **{code: StatusVerdict(LinkState.DEAD, Outcome.DEAD, str(code)) for code in DEAD},
    **{code: StatusVerdict(LinkState.BLOCKED, Outcome.UNKNOWN, str(code)) for code in BLOCKED},
    451: StatusVerdict(LinkState.BLOCKED, Outcome.UNKNOWN, "451 (unavailable for legal reasons)"),
    **{code: _unknown(f"{code}, a redirect no browser follows") for code in UNUSED_REDIRECTS},
    **{code: _unknown(f"{code} without a usable Location") for code in FOLLOWED},
}


def _by_class(status: int) -> StatusVerdict:
    if 200 <= status < 400:
        # The whole 2xx family (206 included: the request succeeded), and 300 Multiple Choices,
        # a page of choices the reader picks from.
        return _fine()
    if 100 <= status < 200:
        return _unknown(f"{status}, an interim answer, as the final one")
    if 400 <= status < 600:
        return _unknown(str(status))
    return _unknown(f"{status}, which is no HTTP status")
