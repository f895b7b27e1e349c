"""Diffs against the curated baseline and the previous run, and the promises they check."""

from __future__ import annotations

from datetime import UTC, datetime

from ocwwatch.diff import check_promises, diff_baseline, diff_list, diff_previous
from ocwwatch.models import (
    Against,
    Change,
    ChangeKind,
    Expected,
    Metadata,
    Observation,
    Outcome,
    PageKind,
    Promise,
    PromiseCheck,
)

AT = datetime(2026, 11, 25, tzinfo=UTC)
UNITS = ("Syllabus", "Unit 1: Differentiation", "Final Exam")
COURSE = Metadata(
    page_kind=PageKind.OCW_COURSE,
    title="Single Variable Calculus",
    course_number="18.01SC",
    term="Fall 2010",
    units=UNITS,
    resource_types=("Lecture Videos", "Simulations"),
)


def observed(metadata: Metadata, promises: tuple[PromiseCheck, ...] = ()) -> Observation:
    return Observation(
        id="c",
        url="https://ocw.mit.edu/c/",
        final_url="https://ocw.mit.edu/c/",
        outcome=Outcome.OK,
        metadata=metadata,
        promises=promises,
        observed_at=AT,
    )


def test_baseline_checks_only_what_the_list_promises() -> None:
    """Fields the list leaves out are not compared, whatever the page says."""
    assert diff_baseline(Expected(title="Single Variable Calculus"), COURSE, ()) == []


def test_baseline_reports_a_changed_term() -> None:
    """A promised scalar that differs is one `changed` against the baseline."""
    changes = diff_baseline(Expected(term="Spring 2005"), COURSE, ())
    assert changes == [
        Change(
            field="term",
            kind=ChangeKind.CHANGED,
            before="Spring 2005",
            after="Fall 2010",
            against=Against.BASELINE,
        )
    ]


def test_renamed_unit_is_one_removal_and_one_addition() -> None:
    """A renamed unit shows as the old title removed and the new one added."""
    after = ("Syllabus", "Unit 1: Derivatives", "Final Exam")
    changes = diff_list("units", UNITS, after, Against.PREVIOUS)
    assert [(c.kind, c.before, c.after) for c in changes] == [
        (ChangeKind.REMOVED, "Unit 1: Differentiation", None),
        (ChangeKind.ADDED, None, "Unit 1: Derivatives"),
    ]


def test_reordered_units_are_one_change() -> None:
    """The same units in another order are reported once, as `changed`."""
    changes = diff_list("units", UNITS, tuple(reversed(UNITS)), Against.PREVIOUS)
    assert [c.kind for c in changes] == [ChangeKind.CHANGED]


def test_promise_holds_by_resource_types_and_phrases() -> None:
    """A promise holds only if every resource type is listed and no phrase is missing."""
    promises = (
        Promise(text="videos", resource_types=("lecture videos",)),
        Promise(text="applets", resource_types=("Java Applets",)),
        Promise(text="chapters", phrases=("Infinite Series",), page="pages/textbook/"),
    )
    checks = check_promises(promises, COURSE.resource_types, {"chapters": ("Infinite Series",)})
    assert [(c.text, c.holds, c.missing) for c in checks] == [
        ("videos", True, ()),
        ("applets", False, ("Java Applets",)),
        ("chapters", False, ("Infinite Series",)),
    ]


def test_broken_promise_is_drift_until_accepted() -> None:
    """A promise that no longer holds is a removal against the baseline, unless accepted."""
    broken = (PromiseCheck(text="applets", holds=False, missing=("Java Applets",)),)
    expected = Expected(promises=(Promise(text="applets", resource_types=("Java Applets",)),))
    (change,) = diff_baseline(expected, COURSE, broken)
    assert (change.field, change.kind, change.before) == ("promises", ChangeKind.REMOVED, "applets")
    accepted = Expected(
        promises=(Promise(text="applets", resource_types=("Java Applets",), holds=False),)
    )
    assert diff_baseline(accepted, COURSE, broken) == []


def test_pdf_smaller_than_promised_is_drift() -> None:
    """A PDF below the list's min_bytes is reported against the baseline."""
    pdf = Metadata(page_kind=PageKind.PDF, content_type="application/pdf", size_bytes=10)
    (change,) = diff_baseline(Expected(content_type="application/pdf", min_bytes=1000), pdf, ())
    assert (change.field, change.before, change.after) == ("size_bytes", ">= 1000", "10")


def test_previous_run_diff_covers_metadata_and_landing() -> None:
    """Against the previous run: a dropped resource type and a new landing URL."""
    before = observed(COURSE)
    after = observed(COURSE.model_copy(update={"resource_types": ("Lecture Videos",)}))
    after = after.model_copy(update={"final_url": "https://ocw.mit.edu/d/"})
    changes = diff_previous(before, after)
    assert {(c.field, c.kind) for c in changes} == {
        ("final_url", ChangeKind.CHANGED),
        ("resource_types", ChangeKind.REMOVED),
    }
    assert all(c.against is Against.PREVIOUS for c in changes)


def test_unchanged_observation_has_no_previous_changes() -> None:
    """The same observation twice differs in nothing."""
    assert diff_previous(observed(COURSE), observed(COURSE)) == []


def test_html_size_is_noise_but_a_pdf_identity_is_a_change() -> None:
    """A page's byte size changing is not reported; a PDF's new hash and size are."""
    html = COURSE.model_copy(update={"page_kind": PageKind.HTML, "size_bytes": 100})
    bigger = html.model_copy(update={"size_bytes": 120, "sha256": "b" * 64})
    assert diff_previous(observed(html), observed(bigger)) == []
    pdf = Metadata(page_kind=PageKind.PDF, size_bytes=100, sha256="a" * 64, pages=3)
    new_pdf = pdf.model_copy(update={"size_bytes": 120, "sha256": "b" * 64})
    changes = diff_previous(observed(pdf), observed(new_pdf))
    assert {(c.field, c.before, c.after) for c in changes} == {
        ("size_bytes", "100", "120"),
        ("sha256", "a" * 64, "b" * 64),
    }
