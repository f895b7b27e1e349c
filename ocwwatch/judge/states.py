"""The vocabulary every verdict shares: which statuses and failures mean what.

Constants only; resource.py and link.py decide with them (DESIGN.md, "Link states").
"""

from __future__ import annotations

from ocwwatch.models import FailureKind, LinkState

PERMANENT = frozenset({301, 308})
# Failures that say nothing about the link itself: the network, not the page.
TRANSIENT_FAILURES = frozenset(
    {
        FailureKind.TIMEOUT,
        FailureKind.CONNECT,
        FailureKind.RESET,
        FailureKind.NO_RECORDING,
        FailureKind.DNS_TEMPORARY,  # a flaky resolver says nothing of the name (issue 11)
    }
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
# A link in one of these states has failed this run: its streak grows.
FAILING = frozenset(
    {
        LinkState.DEAD,
        LinkState.SOFT404,
        LinkState.INVALID,
        LinkState.MISSING_FRAGMENT,
        LinkState.BLOCKED,
        LinkState.UNKNOWN,
    }
)
