"""Verdicts: a resource's outcome, a link's state and streak, what counts as a finding.

The one judge of every kind of run (issue 10): the plain check and the deep crawl ask it alike.
Pure functions; the vocabulary is DESIGN.md's ("Link states", the JSON `outcome`).
"""

from ocwwatch.judge.findings import FAIL_ON_CHOICES, News, failing, finding_lines, news_since
from ocwwatch.judge.link import (
    bot_challenge,
    crawl_state,
    failure_streak,
    is_home_redirect,
    is_link_finding,
    judge_link,
    lands_off_pdf,
    link_state,
    restate,
)
from ocwwatch.judge.resource import (
    describe_move,
    is_dead,
    judge_resource,
    redirect_kind,
    suggest_move,
    unreadable_body,
)
from ocwwatch.judge.states import ANSWERED, ANSWERED_OR_PARTIAL, FAILING, UNREACHABLE_FAILURES

__all__ = [
    "ANSWERED",
    "ANSWERED_OR_PARTIAL",
    "FAILING",
    "FAIL_ON_CHOICES",
    "UNREACHABLE_FAILURES",
    "News",
    "bot_challenge",
    "crawl_state",
    "describe_move",
    "failing",
    "failure_streak",
    "finding_lines",
    "is_dead",
    "is_home_redirect",
    "is_link_finding",
    "judge_link",
    "judge_resource",
    "lands_off_pdf",
    "link_state",
    "news_since",
    "redirect_kind",
    "restate",
    "suggest_move",
    "unreadable_body",
]
