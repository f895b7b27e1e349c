"""Tests for the report renderers: contract shape, golden files, hostile input, determinism.

Golden files live in tests/fixtures/golden/report/; regenerate them with OCWWATCH_REGEN_GOLDEN=1
and review the diff by eye.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from jinja2 import Environment

from ocwwatch.models import (
    Against,
    Change,
    ChangeKind,
    Counts,
    Hop,
    LinkCheck,
    LinkState,
    Metadata,
    Observation,
    Outcome,
    PageKind,
    PromiseCheck,
    Report,
    Run,
    Suggestion,
)
from ocwwatch.report import (
    FILE_SUFFIX,
    IN_PIECES,
    RENDERERS,
    FeedEntry,
    feed_entry,
    json_report,
    render_feed,
    render_html,
    render_index,
    render_json,
    render_markdown,
    report_filename,
    summarize_report,
)
from ocwwatch.report import html as html_module
from ocwwatch.report.html import template_environment
from ocwwatch.report.markdown import escape_markdown
from ocwwatch.report.pieces import PIECE_CHARS, batched

GOLDEN = Path(__file__).parent / "fixtures" / "golden" / "report"
OCW = "https://ocw.mit.edu"
AT = datetime(2024, 5, 1, 6, 17, 0, tzinfo=UTC)
FINISHED = datetime(2024, 5, 1, 6, 17, 42, tzinfo=UTC)
FEED_URL = "https://lists.example.org/ocwwatch/feed.atom"
REPORTS_URL = "https://lists.example.org/ocwwatch/reports"


# --- sample reports ------------------------------------------------------------------------


def moved_course() -> Observation:
    old = f"{OCW}/courses/mathematics/18-01sc-single-variable-calculus-fall-2010/"
    new = f"{OCW}/courses/18-01sc-single-variable-calculus-fall-2010/"
    return Observation(
        id="18.01sc",
        url=old,
        final_url=new,
        http_status=200,
        redirects=(Hop(url=old, status=301),),
        redirect_kind="permanent",
        outcome=Outcome.MOVED,
        metadata=Metadata(
            page_kind=PageKind.OCW_COURSE,
            title="Single Variable Calculus",
            course_number="18.01SC",
            term="Fall 2010",
            level=("Undergraduate",),
            instructors=("Prof. David Jerison",),
            departments=("Mathematics",),
            topics=("Calculus",),
            units=("Unit 1: Differentiation", "Unit 2: Applications of Differentiation"),
            resource_types=("Lecture Videos", "Problem Sets with Solutions"),
            content_type="text/html",
        ),
        promises=(PromiseCheck(text="Lecture videos with notes", holds=True),),
        suggestion=Suggestion(url=new, reason="permanent redirect (301) to the 2022 course URL"),
        observed_at=AT,
    )


def temporarily_moved_course() -> Observation:
    old = f"{OCW}/resources/res-18-005-highlights-of-calculus-spring-2010/"
    middle = f"{OCW}/courses/res-18-005-highlights-of-calculus-spring-2010"
    new = f"{middle}/"
    return Observation(
        id="highlights",
        url=old,
        final_url=new,
        http_status=200,
        redirects=(Hop(url=old, status=301), Hop(url=middle, status=307)),
        redirect_kind="temporary",
        outcome=Outcome.MOVED,
        metadata=Metadata(page_kind=PageKind.OCW_COURSE, title="Highlights of Calculus"),
        suggestion=Suggestion(url=new, reason="redirect chain (301, 307) ends here with 200"),
        observed_at=AT,
    )


def dead_pdf() -> Observation:
    old = f"{OCW}/ans7870/resources/Strang/Edited/Calculus/Calculus.pdf"
    landing = f"{OCW}/courses/res-18-001-calculus-fall-2023/pages/textbook/"
    pdf = f"{OCW}/courses/res-18-001-calculus-fall-2023/mitres_18_001_f17_full_book.pdf"
    return Observation(
        id="strang-calculus-pdf",
        url=old,
        final_url=landing,
        http_status=200,
        redirects=(Hop(url=old, status=301),),
        redirect_kind="permanent",
        outcome=Outcome.DEAD,
        metadata=Metadata(
            page_kind=PageKind.OCW_PAGE,
            title="Textbook | Calculus Online Textbook",
            content_type="text/html",
        ),
        changes=(
            Change(
                field="content_type",
                kind=ChangeKind.CHANGED,
                before="application/pdf",
                after="text/html",
                against=Against.BASELINE,
            ),
        ),
        suggestion=Suggestion(url=pdf, reason="the PDF link now lands on an HTML page"),
        observed_at=AT,
    )


def course_changes() -> tuple[Change, ...]:
    return (
        Change(
            field="units",
            kind=ChangeKind.CHANGED,
            before="Unit IV: Fourier Series and Laplace Transform",
            after="Unit IV: Fourier Series",
            against=Against.BASELINE,
        ),
        Change(
            field="resource_types",
            kind=ChangeKind.REMOVED,
            before="Simulations",
            against=Against.BASELINE,
        ),
        Change(
            field="units",
            kind=ChangeKind.CHANGED,
            before="Unit IV: Fourier Series and Laplace",
            after="Unit IV: Fourier Series",
            against=Against.PREVIOUS,
        ),
    )


def changed_course() -> Observation:
    url = f"{OCW}/courses/18-03sc-differential-equations-fall-2011/"
    return Observation(
        id="18.03sc",
        url=url,
        final_url=url,
        http_status=200,
        outcome=Outcome.CHANGED,
        metadata=Metadata(
            page_kind=PageKind.OCW_COURSE,
            title="Differential Equations",
            course_number="18.03SC",
            term="Fall 2011",
            instructors=("Prof. Arthur Mattuck", "Prof. Haynes Miller"),
            units=("Unit I: First Order Differential Equations", "Unit IV: Fourier Series"),
            resource_types=("Lecture Videos", "Problem Sets with Solutions"),
        ),
        changes=course_changes(),
        promises=(
            PromiseCheck(text="Problem sets with solutions", holds=True),
            PromiseCheck(
                text="Interactive Java Applets", holds=False, missing=("Simulations", "Mathlets")
            ),
        ),
        observed_at=AT,
    )


def ok_book() -> Observation:
    url = "https://www.gutenberg.org/ebooks/33283"
    return Observation(
        id="calculus-made-easy",
        url=url,
        final_url=url,
        http_status=200,
        outcome=Outcome.OK,
        metadata=Metadata(page_kind=PageKind.HTML, title="Calculus Made Easy by Thompson"),
        observed_at=AT,
    )


def sample_links() -> tuple[LinkCheck, ...]:
    course = f"{OCW}/courses/18-01sc-single-variable-calculus-fall-2010/"
    return (
        LinkCheck(
            url=f"{course}pages/syllabus/", found_on=(course,), http_status=200, state=LinkState.OK
        ),
        LinkCheck(
            url=f"{course}resources/mit18_01scf10_ses1a/",
            found_on=(course, f"{course}pages/unit-1/"),
            http_status=404,
            state=LinkState.DEAD,
            first_failed_at=datetime(2024, 4, 30, 6, 17, tzinfo=UTC),
            failed_runs=2,
        ),
        LinkCheck(
            url=f"{OCW}/ans7870/resources/Strang/Edited/Calculus/Calculus.pdf",
            found_on=(f"{OCW}/courses/res-18-001-calculus-fall-2023/",),
            http_status=301,
            state=LinkState.REDIRECTED,
            final_url=f"{OCW}/courses/res-18-001-calculus-fall-2023/pages/textbook/",
            suggestion=Suggestion(
                url=f"{OCW}/courses/res-18-001-calculus-fall-2023/pages/textbook/",
                reason="permanent redirect (301)",
            ),
        ),
    )


def sample_run(run_id: int = 7, **changes: object) -> Run:
    fields: dict[str, object] = {
        "id": run_id,
        "started_at": AT,
        "finished_at": FINISHED,
        "counts": Counts(resources=5, links=3, dead=2, moved=2, changed=1),
    }
    fields.update(changes)
    return Run.model_validate(fields)


def sample_report() -> Report:
    resources = (moved_course(), dead_pdf(), changed_course(), temporarily_moved_course())
    return Report(run=sample_run(), resources=(*resources, ok_book()), links=sample_links())


def offline_report() -> Report:
    unanswered = Observation(
        id="18.01sc",
        url=f"{OCW}/courses/mathematics/18-01sc-single-variable-calculus-fall-2010/",
        outcome=Outcome.UNKNOWN,
        metadata=Metadata(page_kind=PageKind.OTHER),
        error="connect: network is unreachable",
        observed_at=AT,
    )
    run = sample_run(8, offline=True, counts=Counts(resources=1))
    return Report(run=run, resources=(unanswered,))


HOSTILE_TITLE = (
    "<script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(2)>"
    "\n# Fake heading\n\x1b[31mred\x1b[0m `tick` *bold* &#106;"
)
HOSTILE_URL = "javascript:alert(document.cookie)"


def hostile_report() -> Report:
    item = Observation(
        id="evil`id",
        url=HOSTILE_URL,
        final_url="https://example.org/a b<script>",
        http_status=200,
        outcome=Outcome.DEAD,
        metadata=Metadata(page_kind=PageKind.HTML, title=HOSTILE_TITLE, units=(HOSTILE_TITLE,)),
        changes=(
            Change(
                field="title",
                kind=ChangeKind.CHANGED,
                before="Calculus",
                after=HOSTILE_TITLE,
                against=Against.PREVIOUS,
            ),
        ),
        suggestion=Suggestion(url=HOSTILE_URL, reason=HOSTILE_TITLE),
        observed_at=AT,
    )
    link = LinkCheck(url=HOSTILE_URL, found_on=("javascript:void(0)",), state=LinkState.DEAD)
    return Report(run=sample_run(9), resources=(item,), links=(link,))


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("OCWWATCH_REGEN_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
    assert path.read_text(encoding="utf-8") == text


def sample_feed() -> str:
    quiet = Report(run=sample_run(6, counts=Counts(resources=5)))
    offline = offline_report()
    reports = (quiet, sample_report(), offline)
    entries = [feed_entry(report, report_filename(report.run, "html")) for report in reports]
    day_before = datetime(2024, 4, 30, 6, 17, tzinfo=UTC)
    earlier = sample_run(5, started_at=day_before, finished_at=day_before, counts=Counts(moved=1))
    entries.append(FeedEntry(run=earlier, summary="Moved: 18.01sc.", report_href="run-5.html"))
    return render_feed(entries, feed_url=FEED_URL, reports_base_url=REPORTS_URL, updated=FINISHED)


def sample_index() -> str:
    runs = [
        sample_run(6, started_at=datetime(2024, 4, 30, 6, 17, tzinfo=UTC), counts=Counts()),
        sample_run(),
        offline_report().run,
    ]
    summaries = {6: "Nothing to report.", 7: summarize_report(sample_report())}
    return render_index(
        runs, report_href=lambda run: report_filename(run, "html"), summaries=summaries
    )


# --- golden files and determinism ------------------------------------------------------------

GOLDEN_CASES: dict[str, Callable[[], str]] = {
    "report.md": lambda: render_markdown(sample_report()),
    "report.json": lambda: render_json(sample_report()),
    "report.html": lambda: render_html(sample_report()),
    "offline.md": lambda: render_markdown(offline_report()),
    "offline.html": lambda: render_html(offline_report()),
    "feed.atom": sample_feed,
    "index.html": sample_index,
}


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_output_matches_golden_file(name: str) -> None:
    """Each renderer's output for the sample runs equals its reviewed golden file."""
    assert_golden(name, GOLDEN_CASES[name]())


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_rendering_twice_gives_identical_output(name: str) -> None:
    """Rendering the same input twice gives byte-identical output."""
    assert GOLDEN_CASES[name]() == GOLDEN_CASES[name]()


def test_renderers_cover_each_file_suffix() -> None:
    """RENDERERS and FILE_SUFFIX name the same four formats, each producing a string."""
    assert set(RENDERERS) == set(FILE_SUFFIX) == {"markdown", "json", "html", "sarif"}
    assert FILE_SUFFIX == {"markdown": "md", "json": "json", "html": "html", "sarif": "sarif"}
    assert all(isinstance(render(sample_report()), str) for render in RENDERERS.values())


def test_report_filename_names_run_and_suffix() -> None:
    """A run's report file is named after its id with the format's suffix."""
    assert report_filename(sample_run(), "markdown") == "run-7.md"


# --- JSON contract ---------------------------------------------------------------------------

# "notes" is added to the contract's keys (item 6 of "Safe by default"), after them.
RUN_KEYS = ["id", "started_at", "finished_at", "offline", "counts", "notes", "replay"]
COUNT_KEYS = ["resources", "links", "dead", "moved", "changed", "replaced"]
RESOURCE_KEYS = {
    "id",
    "url",
    "name",
    "location",
    "final_url",
    "http_status",
    "redirects",
    "redirect_kind",
    "outcome",
    "metadata",
    "changes",
    "promises",
    "suggestion",
    "error",
}
METADATA_KEYS = {
    "title",
    "course_number",
    "term",
    "level",
    "instructors",
    "departments",
    "topics",
    "units",
    "resource_types",
    "content_type",
    "size_bytes",
    "sha256",
    "pages",
    "page_kind",
    "nav",
    "parent_url",
    "file_url",
    "canonical_url",
}
LINK_KEYS = [
    "url",
    "found_on",
    "found_on_count",  # ours: found_on can be cut short (a deep run's working links)
    "http_status",
    "state",
    "final_url",
    "first_failed_at",
    "failed_runs",
    "suggestion",
    "what",  # ours (issue 14): "image", "stylesheet"... in a reader's words
    "found_as",  # ours (issue 14): the elements it was found in
]


def test_json_run_has_exactly_the_contract_keys() -> None:
    """The JSON run object has the contract's keys and counts, in the contract's order."""
    document = json.loads(render_json(sample_report()))
    assert list(document) == ["schema_version", "ocwwatch_version", "run", "resources", "links"]
    assert list(document["run"]) == RUN_KEYS
    assert list(document["run"]["counts"]) == COUNT_KEYS


def test_json_resources_have_exactly_the_contract_keys() -> None:
    """Each JSON resource has the contract keys; its metadata carries the page kind, nav tree,
    parent and file URLs (issue 12)."""
    for resource in json.loads(render_json(sample_report()))["resources"]:
        assert set(resource) == RESOURCE_KEYS
        assert set(resource["metadata"]) == METADATA_KEYS
        assert all(set(hop) == {"url", "status"} for hop in resource["redirects"])
        assert all(
            set(change) == {"field", "kind", "before", "after", "against"}
            for change in resource["changes"]
        )
        assert resource["suggestion"] is None or set(resource["suggestion"]) == {"url", "reason"}


def test_json_links_have_exactly_the_contract_keys() -> None:
    """Each JSON link has exactly the contract's keys, in the contract's order."""
    links = json.loads(render_json(sample_report()))["links"]
    assert [list(link) for link in links] == [LINK_KEYS] * 3


def test_json_timestamps_are_utc_with_z() -> None:
    """Timestamps are ISO-8601 UTC ending in Z, whatever zone the datetime carried."""
    run = sample_run(started_at=datetime.fromisoformat("2024-05-01T08:17:00+02:00"))
    document = json.loads(render_json(Report(run=run, links=sample_links())))
    assert document["run"]["started_at"] == "2024-05-01T06:17:00Z"
    assert document["run"]["finished_at"] == "2024-05-01T06:17:42Z"
    assert document["links"][1]["first_failed_at"] == "2024-04-30T06:17:00Z"


def test_json_carries_hostile_text_verbatim() -> None:
    """JSON is data, not display: hostile text round-trips unchanged, escape bytes included."""
    document = json.loads(render_json(hostile_report()))
    assert document["resources"][0]["metadata"]["title"] == HOSTILE_TITLE


# --- Markdown --------------------------------------------------------------------------------


def test_markdown_summary_line_has_counts() -> None:
    """The summary counts resources and links apart (issue 16: "3 dead" over a "Dead (2)"
    section mixed them), and each count is the size of its section."""
    text = render_markdown(sample_report())
    assert (
        "**Summary:** 5 resources: 1 dead, 2 moved, 1 changed, 1 ok. "
        "3 links: 1 dead, 1 redirected, 1 ok or skipped." in text
    )
    sections = dict(re.findall(r"^## (\w+)[^(\n]*\((\d+)\)$", text, flags=re.MULTILINE))
    assert sections == {"Dead": "1", "Moved": "2", "Changed": "1", "OK": "1", "Links": "2"}


def test_the_report_says_what_to_do_next() -> None:
    """With fixes, the report names `ocwwatch baseline accept` (all, or some by id) and says
    dead links are the sites' to fix; a replay says accept does not take it."""
    text = render_markdown(sample_report())
    assert (
        "- Write the fixes of 18.01sc, 18.03sc, highlights, strang-calculus-pdf into the list:"
        " `ocwwatch baseline accept`" in text
    )
    assert "- or only some of them, by id: `ocwwatch baseline accept 18.01sc`" in text
    assert "1 dead link is on the sites' own pages, not in the list" in text
    report = sample_report()
    replayed = report.model_copy(update={"run": report.run.model_copy(update={"replay": "x"})})
    text = render_markdown(replayed)
    assert "baseline accept never takes; check the live sites first: `ocwwatch check`" in text
    assert "Write the fixes" not in text
    page = render_html(sample_report())
    assert "<code>ocwwatch baseline accept</code>" in page


def test_markdown_sections_run_from_most_severe() -> None:
    """Sections appear dead, moved, changed, then ok."""
    headings = re.findall(r"^## (\w+)", render_markdown(sample_report()), flags=re.MULTILINE)
    assert headings == ["Dead", "Moved", "Changed", "OK", "Links"]


def test_markdown_moved_resource_says_what_to_replace() -> None:
    """A moved course gets a fix that replaces the listed URL with the final one."""
    text = render_markdown(sample_report())
    old = "<https://ocw.mit.edu/courses/mathematics/18-01sc-single-variable-calculus-fall-2010/>"
    new = "<https://ocw.mit.edu/courses/18-01sc-single-variable-calculus-fall-2010/>"
    assert f"- **Fix:** replace {old} with {new}" in text


def test_markdown_redirect_chain_has_statuses_and_kind() -> None:
    """The redirect chain lists each hop's status and says permanent or temporary."""
    text = render_markdown(sample_report())
    assert "- Redirects (permanent):" in text
    assert "- Redirects (temporary):" in text
    assert "answered 307" in text
    # The chain's end is named; a plain 200 (or 304) there is not (issue 16).
    assert (
        "3. ended at <https://ocw.mit.edu/courses/res-18-005-highlights-of-calculus-spring-2010/>\n"
        in text
    )
    assert "with HTTP 200" not in text


def test_markdown_groups_changes_by_what_they_are_against() -> None:
    """Changes are grouped as drift from the curated list and changes since the last run."""
    section = render_markdown(sample_report()).split("### `18.03sc`")[1].split("###")[0]
    drift, recent = section.split("- Drift from the curated list:")[1].split("- Since the last")
    assert "`resource_types` removed “Simulations”" in drift
    assert "“Unit IV: Fourier Series and Laplace Transform”" in drift
    assert "“Unit IV: Fourier Series and Laplace” to “Unit IV: Fourier Series”" in recent


def accepted_promise_report() -> Report:
    """An OK course whose list already says its applets promise is broken (`holds = false`,
    accepted): the promise does not hold and no change names it."""
    course = changed_course().model_copy(
        update={
            "outcome": Outcome.OK,
            "changes": (),
            "promises": (PromiseCheck(text="Interactive Java Applets", holds=False),),
        }
    )
    return Report(run=sample_run(), resources=(course,))


def broken_promise_report() -> Report:
    """The sample with its applets promise broken as the pipeline reports it: the baseline
    expects it to hold, so a change names it."""
    report = sample_report()
    broken = Change(
        field="promises",
        kind=ChangeKind.REMOVED,
        before="Interactive Java Applets",
        against=Against.BASELINE,
    )
    resources = tuple(
        item.model_copy(update={"changes": (*item.changes, broken)})
        if item.id == "18.03sc"
        else item
        for item in report.resources
    )
    return report.model_copy(update={"resources": resources})


def test_an_accepted_broken_promise_is_not_shown_as_broken() -> None:
    """A promise the list already accepts as broken is no finding: neither the Markdown nor
    the HTML report says it "no longer holds" (issue 16)."""
    report = accepted_promise_report()
    assert "Promises that no longer hold" not in render_markdown(report)
    assert "Promises that no longer hold" not in render_html(report)


def test_markdown_lists_broken_promises_only() -> None:
    """Promises that no longer hold are listed with what is missing; kept ones are not."""
    text = render_markdown(broken_promise_report())
    assert "  - Interactive Java Applets (missing: Simulations, Mathlets)" in text
    assert "Problem sets with solutions" not in text


def test_markdown_escapes_only_what_would_be_syntax() -> None:
    """Text reads as written on a terminal (issue 16): `>=`, `[Errno 111]`, `a_b` and `{}`
    carry no backslash; what would be syntax still does (a link, a list or heading start)."""
    assert escape_markdown("size >= 100000") == "size >= 100000"
    assert escape_markdown("[Errno 111] Connection refused") == "[Errno 111] Connection refused"
    assert escape_markdown("mit18_01scf10 {x} #3 & co") == "mit18_01scf10 {x} #3 & co"
    assert escape_markdown("[t](javascript:x) &amp; _em_") == r"[t\](javascript:x) \&amp; \_em\_"
    assert escape_markdown("# not a heading") == r"\# not a heading"
    assert escape_markdown("1. not a list") == r"1\. not a list"


def test_markdown_offline_run_says_nothing_was_judged() -> None:
    """An offline run says plainly that nothing was judged and has no outcome sections."""
    text = render_markdown(offline_report())
    assert "nothing was judged" in text
    assert "## Unknown" not in text
    assert "**Summary:**" not in text


def test_markdown_hostile_link_syntax_is_escaped() -> None:
    """A title carrying a Markdown link or an HTML tag renders as literal text."""
    text = render_markdown(hostile_report()).replace("`https://example.org/a b<script>`", "")
    assert "[x](javascript" not in text
    assert r"[x\](javascript:alert(1))" in text
    assert not re.search(r"(?<!\\)<(img|script)", text)
    assert r"\<img src=x onerror=alert(2)>" in text


def test_markdown_hostile_newline_cannot_start_a_heading() -> None:
    """A newline in page text cannot inject a heading or any new line."""
    text = render_markdown(hostile_report())
    assert not re.search(r"^#+ Fake", text, flags=re.MULTILINE)
    assert " # Fake heading" in text  # mid-line, where `#` is only text


def test_markdown_strips_terminal_escapes() -> None:
    """Terminal escape sequences are removed whole, leaving no control bytes behind."""
    text = render_markdown(hostile_report())
    assert "\x1b" not in text
    assert "[31m" not in text
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text)


def test_markdown_non_web_url_is_a_code_span_not_a_link() -> None:
    """A javascript: URL is shown as code, never as an autolink; odd http URLs too."""
    text = render_markdown(hostile_report())
    assert "<javascript:" not in text
    assert "`javascript:alert(document.cookie)`" in text
    assert "`https://example.org/a b<script>`" in text


def test_markdown_backticks_cannot_close_a_code_span() -> None:
    """An id containing a backtick is fenced with a longer run of backticks."""
    assert "### ``evil`id``" in render_markdown(hostile_report())


# --- HTML ------------------------------------------------------------------------------------


def test_html_environment_autoescapes() -> None:
    """The Jinja2 environment has autoescaping switched on."""
    environment = template_environment()
    assert environment.autoescape is True


def test_html_hostile_title_is_escaped() -> None:
    """A title carrying a script tag renders as escaped text."""
    page = render_html(hostile_report())
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img" not in page


def test_html_javascript_url_is_not_a_link() -> None:
    """Only http(s) URLs become href attributes; a javascript: URL is plain text."""
    page = render_html(hostile_report())
    assert "javascript:" in page
    # Besides the report's own links to the index and the feed beside it.
    assert not re.search(r"href=\"(?!https?://|index\.html\"|feed\.xml\")", page)


def test_html_is_self_contained() -> None:
    """The page loads nothing: no scripts, no stylesheets, no images (the only <link> is the
    feed's autodiscovery, which a browser does not fetch)."""
    page = render_html(sample_report())
    assert not re.search(r"<(script|img|iframe)\b", page)
    assert re.findall(r"<link [^>]*>", page) == [
        '<link rel="alternate" type="application/atom+xml" title="ocwwatch: runs with findings"'
        ' href="feed.xml">'
    ]
    assert "<style>" in page


def test_html_shows_fix_badges_and_promises() -> None:
    """The resource table carries outcome badges, the fix and broken promises."""
    page = render_html(broken_promise_report())
    assert '<span class="badge badge-dead">dead</span>' in page
    assert "Replace <a href=" in page
    assert "mitres_18_001_f17_full_book.pdf" in page
    assert "Interactive Java Applets" in page


def test_html_offline_run_says_nothing_was_judged() -> None:
    """An offline run's page says plainly that nothing was judged."""
    assert "nothing was judged" in render_html(offline_report())


# --- feed and index --------------------------------------------------------------------------


def test_feed_parses_as_atom() -> None:
    """The feed is well-formed Atom 1.0 according to feedparser."""
    parsed = feedparser.parse(sample_feed())
    assert not parsed.bozo
    assert parsed.version == "atom10"


def test_feed_lists_only_runs_with_findings_newest_first() -> None:
    """Only runs that found something appear (not quiet or offline ones), newest first."""
    entries = feedparser.parse(sample_feed()).entries
    assert [entry.title.split(":")[0] for entry in entries] == ["Run 7", "Run 5"]


def test_feed_entries_link_their_reports() -> None:
    """Each entry links its run's HTML report under the reports base URL."""
    entries = feedparser.parse(sample_feed()).entries
    assert [entry.link for entry in entries] == [
        f"{REPORTS_URL}/run-7.html",
        f"{REPORTS_URL}/run-5.html",
    ]


def test_feed_entry_ids_are_stable_tag_uris() -> None:
    """Entry ids are tag: URIs derived from the run, not from when the feed was built."""
    entries = feedparser.parse(sample_feed()).entries
    assert entries[0].id == "tag:lists.example.org,2024-05-01:ocwwatch/run/7"


def test_feed_summary_names_findings() -> None:
    """An entry's summary names the resources of each finding."""
    summary = feedparser.parse(sample_feed()).entries[0].summary
    assert summary.startswith("Dead: strang-calculus-pdf. Moved: 18.01sc, highlights.")


def test_feed_with_hostile_text_stays_well_formed() -> None:
    """Control characters and markup in summaries do not break the XML."""
    entry = FeedEntry(run=sample_run(), summary=HOSTILE_TITLE, report_href="run-7.html")
    feed = render_feed([entry], feed_url=FEED_URL, reports_base_url=REPORTS_URL, updated=AT)
    assert not feedparser.parse(feed).bozo


def test_index_offers_the_feed_and_a_replay_index_says_what_it_is() -> None:
    """The live index names the Atom feed for feed readers (autodiscovery) and people; the
    index of replay runs says they are replays and offers no feed (issue 16)."""
    live = render_index([sample_run()], report_href={})
    assert (
        '<link rel="alternate" type="application/atom+xml" title="ocwwatch: runs with findings"'
        ' href="feed.xml">' in live
    )
    replays = render_index([sample_run()], report_href={}, replay=True)
    assert "<h1>ocwwatch: replay runs</h1>" in replays
    assert "feed.xml" not in replays


def test_index_lists_runs_newest_first_with_links() -> None:
    """The index lists every run, newest first, each linking its report."""
    page = sample_index()
    assert re.findall(r'<a href="(run-\d+\.html)">', page) == [
        "run-8.html",
        "run-7.html",
        "run-6.html",
    ]


def test_index_does_not_link_unsafe_hrefs() -> None:
    """A javascript: href from the mapping is not linked, and unmapped runs are plain text."""
    runs = [sample_run(), sample_run(6)]
    page = render_index(runs, report_href={7: "javascript:alert(1)"})
    assert set(re.findall(r'href="([^"]*)"', page)) == {"feed.xml"}  # the feed's links only
    assert "Run 6" in page


def test_html_lists_working_links_up_to_a_cap_and_says_where_the_rest_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A deep run's tens of thousands of ok links: the page lists the first few by URL, says
    how many there are, and points at the JSON report, which lists them all."""
    monkeypatch.setattr(html_module, "MAX_OTHER_LINKS", 2)
    links = tuple(
        LinkCheck(url=f"https://ocw.mit.edu/file-{n}.pdf", state=LinkState.OK) for n in range(5)
    )
    report = Report(run=sample_run(), links=links)
    page = render_html(report)
    assert "5 links: ok or skipped" in page
    assert "file-0.pdf" in page
    assert "file-1.pdf" in page
    assert "file-2.pdf" not in page
    assert "The first 2 by URL; the JSON report lists all 5." in page
    assert len(json.loads(render_json(report))["links"]) == 5


@pytest.mark.parametrize("links", [(), sample_links()], ids=["no links", "links"])
def test_json_links_spliced_in_read_as_one_document(links: tuple[LinkCheck, ...]) -> None:
    """The links, encoded one by one, give the text one json.dumps of the document gives."""
    report = Report(run=sample_run(), resources=sample_report().resources, links=links)
    text = render_json(report)
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
    assert len(json.loads(text)["links"]) == len(links)


def test_a_string_the_fast_encoder_refuses_is_written_as_the_standard_library_writes_it() -> None:
    """A lone surrogate (no page gives one, but a model can hold it) is encoded as json.dumps
    encodes it, not dropped or turned into an error of the renderer's own."""
    odd = LinkCheck(url=f"{OCW}/\ud800/", found_on=(OCW,), state=LinkState.OK)
    text = render_json(Report(run=sample_run(), links=(odd, *sample_links())))
    assert '"url": "https://ocw.mit.edu/\ud800/"' in text
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"


def test_json_in_pieces_is_the_rendered_text() -> None:
    """The pieces a big report is written out in join to exactly render_json's text."""
    report = sample_report()
    assert "".join(IN_PIECES["json"](report)) == render_json(report)


@pytest.mark.parametrize("name", ["json", "html", "sarif"])
def test_big_report_is_written_in_bounded_pieces(name: str) -> None:
    """A deep run's report (here 3,000 dead links) comes in many pieces, none of them near
    the whole text (issue 15), and they join to the same text as the whole rendering, which for
    SARIF is still what json.dumps lays out."""
    links = tuple(
        LinkCheck(
            url=f"https://ocw.mit.edu/courses/gone-{n}.pdf",
            state=LinkState.DEAD,
            http_status=404,
            found_on=(f"https://ocw.mit.edu/courses/page-{n % 40}/",),
        )
        for n in range(3000)
    )
    report = Report(run=sample_run(), links=links)
    pieces = list(IN_PIECES[name](report))
    text = "".join(pieces)
    assert len(text) > 4 * PIECE_CHARS
    assert max(len(piece) for piece in pieces) < 2 * PIECE_CHARS
    assert text.count("gone-2999.pdf") >= 1
    if name == "sarif":
        assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
        assert len(json.loads(text)["runs"][0]["results"]) == 3000


def test_batched_joins_fragments_into_pieces_in_order() -> None:
    """Small fragments are joined up to the piece size; nothing is lost or reordered."""
    fragments = [f"{n:03d}," for n in range(100)]
    pieces = list(batched(fragments, size=50))
    assert "".join(pieces) == "".join(fragments)
    assert all(len(piece) >= 50 for piece in pieces[:-1])
    assert all(len(piece) < 50 + 4 for piece in pieces)
    assert list(batched([], size=50)) == []


# --- reports that lead with the work to do (issue 16) ----------------------------------------


def test_html_leads_with_the_work_and_ends_with_what_is_fine() -> None:
    """Counts of resources and links apart, then what to fix, then the dead links, and the OK
    resources last (folded): never OK rows before dead links."""
    page = render_html(sample_report())
    assert "<strong>5</strong> resources<span>1 dead · 2 moved · 1 changed · 1 ok</span>" in page
    assert "<strong>3</strong> links<span>1 dead · 1 redirected · 1 ok or skipped</span>" in page
    order = [
        page.index('<section class="next">'),
        page.index("<h2>Resources to look at (4)</h2>"),
        page.index("<h2>Links that need attention (2)</h2>"),
        page.index("<h2>OK (1)</h2>"),
        page.index('id="resource-calculus-made-easy"'),
    ]
    assert order == sorted(order)


def test_html_groups_links_that_need_attention_by_the_page_they_are_on() -> None:
    """Each page with broken links is a heading over its links, pages in order."""
    course = f"{OCW}/courses/18-01sc-single-variable-calculus-fall-2010/"
    links = tuple(
        LinkCheck(
            url=f"{course}{name}.pdf", found_on=(page,), http_status=404, state=LinkState.DEAD
        )
        for name, page in (("a", course), ("b", f"{course}pages/unit-1/"), ("c", course))
    )
    page = render_html(Report(run=sample_run(), links=links))
    headings = re.findall(r"<h3>On <a href=\"([^\"]+)\"[^>]*>[^<]*</a> \((\d+)\)</h3>", page)
    assert headings == [(course, "2"), (f"{course}pages/unit-1/", "1")]


def test_reports_leave_out_statuses_that_say_nothing() -> None:
    """A 304 (or 200) answer is transport, not news: no "HTTP: 304" row, no "Status" line."""
    course = moved_course().model_copy(update={"http_status": 304})
    report = Report(run=sample_run(), resources=(course,))
    assert "HTTP:</span> 304" not in render_html(report)
    assert "Status: HTTP 304" not in render_markdown(report)
    gone = dead_pdf().model_copy(update={"http_status": 404})
    assert "Status: HTTP 404" in render_markdown(Report(run=sample_run(), resources=(gone,)))


def test_report_pages_link_back_to_the_index_and_read_times_like_people() -> None:
    """The page links to index.html and the feed beside it; times are to the minute, in UTC,
    with no microseconds, and the run's duration is said."""
    run = sample_run(started_at=datetime(2024, 5, 1, 6, 17, 3, 123456, tzinfo=UTC))
    page = render_html(Report(run=run))
    assert '<a href="index.html">← All runs</a>' in page
    assert '<a href="feed.xml">Atom feed</a>' in page
    assert "Started 2024-05-01 06:17 UTC, took 38 s." in page
    assert "123456" not in page
    assert "Started 2024-05-01 06:17 UTC, took 38 s." in render_markdown(Report(run=run))


def test_html_works_on_a_phone_wide_screen() -> None:
    """At 390 px each table row is a card (no column cut off) and long URLs break anywhere."""
    page = render_html(sample_report())
    assert "@media (max-width: 48rem)" in page
    assert "table, thead, tbody, tr, th, td { display: block; width: 100%; }" in page
    assert "overflow-wrap: anywhere" in page


def test_markdown_has_no_empty_links_heading() -> None:
    """A run whose links are all fine has no `## Links` heading: the summary counts them."""
    report = sample_report()
    fine = tuple(link for link in report.links if link.state is LinkState.OK)
    text = render_markdown(Report(run=report.run, resources=report.resources, links=fine))
    assert "## Links" not in text
    assert "1 link: 1 ok or skipped." in text


def test_a_dead_entry_without_a_fix_is_for_a_person_not_for_accept() -> None:
    """`baseline accept` takes a dead entry only by its fix, so one without a fix is named as
    work by hand and not promised to accept; a run with nothing to fix but unsure resources
    says so instead of "all fine"."""
    gone = dead_pdf().model_copy(update={"suggestion": None})
    text = render_markdown(Report(run=sample_run(), resources=(gone,)))
    assert "strang-calculus-pdf died with no fix found: find the new address by hand" in text
    assert "baseline accept" not in text.split("## Dead")[0]
    unsure = gone.model_copy(update={"outcome": Outcome.UNKNOWN, "changes": ()})
    quiet = sample_run(counts=Counts(resources=1))
    text = render_markdown(Report(run=quiet, resources=(unsure,)))
    assert "Nothing to fix, but 1 could not be judged this time." in text


@pytest.mark.parametrize("prefix", ["", "    "])
def test_json_is_laid_out_as_json_dumps_lays_it_out(prefix: str) -> None:
    """The report's encoder writes, byte for byte, what `json.dumps(indent=2)` writes (and
    then makes it inert): empty and nested containers, escapes, non-ASCII, numbers, booleans,
    null, tuples."""
    value = {
        "url": 'https://ocw.mit.edu/a "quoted"\\path\n\t\x01',
        "empty": {},
        "none": [],
        "nested": [{"a": [1, 2.5, -0.0, 1e300]}, [], {}, [[True, False, None]]],
        "non-ascii": "Gilbert Strang – Σ ∫ 😀 \u2028",
        "tuple": ("x", 3),
        "big": 10**30,
    }
    expected = json.dumps(value, indent=2, ensure_ascii=False)
    expected = prefix + expected.replace("\n", "\n" + prefix)
    escaped = re.sub("\u2028", "\\\\u2028", expected)  # inert: a line separator is escaped
    encoded = json_report.inert_json(json_report._encoded(value, prefix))
    assert encoded == escaped
    assert json.loads(encoded) == json.loads(json.dumps(value))


def fresh_environment(monkeypatch: pytest.MonkeyPatch, cache_home: Path) -> Environment:
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    return template_environment.__wrapped__()


def test_compiled_templates_are_kept_in_a_private_folder_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first environment compiles and stores the templates (in a folder only this user
    can open); the next one loads them without compiling, and renders the same."""
    first = fresh_environment(monkeypatch, tmp_path)
    macros = first.get_template("macros.html").module
    folder = tmp_path / "ocwwatch" / "templates"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert len(list(folder.iterdir())) == 1

    def no_compiling(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled although cached")

    second = fresh_environment(monkeypatch, tmp_path)
    monkeypatch.setattr(second, "compile", no_compiling)
    cached = second.get_template("macros.html").module
    assert str(cached.badge("dead")) == str(macros.badge("dead"))  # type: ignore[attr-defined]
    assert "dead" in str(cached.badge("dead"))  # type: ignore[attr-defined]


def test_a_garbled_or_unusable_template_cache_costs_a_compile_not_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_environment(monkeypatch, tmp_path).get_template("macros.html")
    folder = tmp_path / "ocwwatch" / "templates"
    for cached in folder.iterdir():
        cached.write_bytes(b"garbage" * 10)
    module = fresh_environment(monkeypatch, tmp_path).get_template("macros.html").module
    assert "dead" in str(module.badge("dead"))  # type: ignore[attr-defined]
    # Nowhere to write: the cache is quiet about it.
    stuck = html_module.QuietBytecodeCache(str(tmp_path / "no-such-folder"))
    stuck.dump_bytecode(stuck.get_bucket(template_environment(), "x", None, "{{ 1 }}"))


def test_a_template_cache_folder_others_could_write_is_not_used(tmp_path: Path) -> None:
    folder = tmp_path / "ocwwatch" / "templates"
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    assert html_module.template_cache({"XDG_CACHE_HOME": str(tmp_path)}) is None
    folder.chmod(0o700)
    assert html_module.template_cache({"XDG_CACHE_HOME": str(tmp_path)}) is not None
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "ocwwatch").mkdir(parents=True)
    (elsewhere / "ocwwatch" / "templates").symlink_to(folder)
    assert html_module.template_cache({"XDG_CACHE_HOME": str(elsewhere)}) is None
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    assert html_module.template_cache({"XDG_CACHE_HOME": str(a_file)}) is None
    assert html_module.template_cache({}) is None  # no HOME, no XDG_CACHE_HOME
    folder.parent.chmod(0o777)  # the folder above, open to all: its content could be swapped
    assert html_module.template_cache({"XDG_CACHE_HOME": str(tmp_path)}) is None
    folder.parent.chmod(0o700)
    # A relative XDG_CACHE_HOME is no cache home (XDG): HOME's is used, never one under cwd.
    relative = html_module.template_cache({"XDG_CACHE_HOME": "cache", "HOME": str(tmp_path)})
    assert relative is not None
    assert relative.directory == str(tmp_path / ".cache" / "ocwwatch" / "templates")
    assert html_module.template_cache({"XDG_CACHE_HOME": "cache", "HOME": "home"}) is None
    home = html_module.template_cache({"HOME": str(tmp_path / "home")})
    assert home is not None
    assert home.directory == str(tmp_path / "home" / ".cache" / "ocwwatch" / "templates")
