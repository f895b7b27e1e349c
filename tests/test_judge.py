"""Verdicts: resource outcomes, suggestions and link states from fetch results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ocwwatch.judge import is_link_finding, judge_link, judge_resource, suggest_move
from ocwwatch.models import (
    FailureKind,
    FetchResult,
    Hop,
    LinkState,
    Metadata,
    Outcome,
    PageKind,
    ResourceKind,
)

AT = datetime(2026, 11, 25, tzinfo=UTC)
OLD = "https://ocw.mit.edu/courses/mathematics/18-01sc-single-variable-calculus-fall-2010/"
NEW = "https://ocw.mit.edu/courses/18-01sc-single-variable-calculus-fall-2010/"
HTML = Metadata(page_kind=PageKind.HTML, content_type="text/html")
COURSE = Metadata(page_kind=PageKind.OCW_COURSE)


def fetched(status: int | None = 200, **update: object) -> FetchResult:
    result = FetchResult(url=OLD, final_url=OLD, status=status, fetched_at=AT)
    return result.model_copy(update=update)


MOVED_301 = fetched(final_url=NEW, redirects=(Hop(url=OLD, status=301),))


def test_redirect_to_a_200_is_a_move_with_a_suggestion() -> None:
    """A 301 chain ending in a 200 elsewhere is `moved` and suggests the new URL."""
    outcome, _ = judge_resource(MOVED_301, COURSE, ResourceKind.OCW_COURSE, [])
    suggestion = suggest_move(MOVED_301)
    assert outcome is Outcome.MOVED
    assert suggestion is not None
    assert suggestion.url == NEW
    assert "permanent redirect (301" in suggestion.reason


def test_temporary_redirect_also_suggests_but_says_so() -> None:
    """A 307 (OCW uses it for permanent moves) still suggests, and names the kind."""
    result = fetched(final_url=NEW, redirects=(Hop(url=OLD, status=307),))
    suggestion = suggest_move(result)
    assert suggestion is not None
    assert suggestion.reason.startswith("temporary redirect (307")


def test_pdf_link_landing_on_html_is_dead() -> None:
    """A PDF resource that answers 200 with HTML is dead, not ok."""
    outcome, why = judge_resource(MOVED_301, HTML, ResourceKind.PDF, [])
    assert outcome is Outcome.DEAD
    assert why is not None
    assert "not a PDF" in why


@pytest.mark.parametrize(
    ("result", "metadata", "outcome"),
    [
        (fetched(404), HTML, Outcome.DEAD),
        (fetched(410), HTML, Outcome.DEAD),
        (fetched(200), Metadata(page_kind=PageKind.NOT_FOUND), Outcome.DEAD),
        (fetched(None, failure=FailureKind.DNS), HTML, Outcome.DEAD),
        (fetched(None, failure=FailureKind.TIMEOUT), HTML, Outcome.UNKNOWN),
        (fetched(503), HTML, Outcome.UNKNOWN),
        (fetched(None, failure=FailureKind.BAD_REDIRECT), HTML, Outcome.ERROR),
        (fetched(200), COURSE, Outcome.OK),
    ],
)
def test_outcome_ladder(result: FetchResult, metadata: Metadata, outcome: Outcome) -> None:
    """Each kind of answer maps to DESIGN.md's outcome."""
    assert judge_resource(result, metadata, ResourceKind.OCW_COURSE, [])[0] is outcome


@pytest.mark.parametrize(
    ("result", "metadata", "state"),
    [
        (fetched(200), HTML, LinkState.OK),
        (MOVED_301, HTML, LinkState.REDIRECTED),
        (fetched(404), HTML, LinkState.DEAD),
        (fetched(200), Metadata(page_kind=PageKind.NOT_FOUND), LinkState.SOFT404),
        (fetched(403), HTML, LinkState.BLOCKED),
        (fetched(429), HTML, LinkState.BLOCKED),
        (fetched(None, failure=FailureKind.TIMEOUT), HTML, LinkState.UNKNOWN),
        (fetched(502), HTML, LinkState.UNKNOWN),
    ],
)
def test_link_states(result: FetchResult, metadata: Metadata, state: LinkState) -> None:
    """Each kind of answer maps to DESIGN.md's link state."""
    assert judge_link(result, metadata, ["page"], None, AT).state is state


def test_failures_are_counted_across_runs_and_reset_on_recovery() -> None:
    """A link failing three runs in a row counts 3 with its first failure; recovery resets."""
    previous = None
    for day in range(3):
        previous = judge_link(fetched(503), HTML, [], previous, AT + timedelta(days=day))
    assert previous is not None
    assert (previous.failed_runs, previous.first_failed_at) == (3, AT)
    assert is_link_finding(previous, failures_before_finding=3)
    assert not is_link_finding(previous, failures_before_finding=4)
    recovered = judge_link(fetched(200), HTML, [], previous, AT + timedelta(days=4))
    assert (recovered.failed_runs, recovered.first_failed_at) == (0, None)


def test_dead_link_is_a_finding_at_once() -> None:
    """A 404 is a finding on its first run."""
    assert is_link_finding(judge_link(fetched(404), HTML, [], None, AT), 3)
