"""A Markdown document as the list (issue 13): its links outside code are the entries, with
their place in the document, and `baseline accept` rewrites exactly the fixed URLs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.cli import TODAY, live_site, run

from ocwwatch.lists import find_links, load_document_list, rewrite_document
from ocwwatch.models import ResourceKind

LISTS = Path(__file__).parent / "fixtures" / "lists"
AWESOME = LISTS / "awesome-calculus.md"
CALCULUS = LISTS / "calculus-for-deep-learning.md"
OLD_1801 = "https://ocw.mit.edu/courses/mathematics/18-01sc-single-variable-calculus-fall-2010/"
NEW_1801 = "https://ocw.mit.edu/courses/18-01sc-single-variable-calculus-fall-2010/"
HIGHLIGHTS = "https://ocw.mit.edu/resources/res-18-005-highlights-of-calculus-spring-2010/"


def test_links_outside_code_are_the_entries_with_their_place() -> None:
    """Inline, reference-style and autolinks count, in a table too; code spans and code
    blocks (fenced and indented) do not; each entry points at its URL's line and column."""
    resources = load_document_list(AWESOME)
    where = {r.url: (r.location.line, r.location.column) for r in resources if r.location}
    assert where == {
        "https://www.gutenberg.org/ebooks/33283": (19, 8),  # the reference definition
        HIGHLIGHTS: (3, 58),  # the autolink; the code block and code span copies are not
        OLD_1801: (7, 40),  # in the table; the fenced copy is not
    }
    kinds = {r.url: r.kind for r in resources}
    assert kinds[OLD_1801] is ResourceKind.OCW_COURSE
    assert kinds["https://www.gutenberg.org/ebooks/33283"] is ResourceKind.PAGE
    assert next(r.name for r in resources) == "Calculus Made Easy"


def test_a_pdf_link_is_a_pdf_entry() -> None:
    """An entry's kind is inferred from its URL: the full-book link is a PDF."""
    kinds = {r.id: r.kind for r in load_document_list(CALCULUS)}
    assert kinds["a-full-pdf-of-the-book"] is ResourceKind.PDF
    assert kinds["single-variable-calculus-18-01sc"] is ResourceKind.OCW_COURSE


def test_a_rewrite_changes_exactly_the_fixed_urls() -> None:
    """Every other byte stays: line endings (CRLF), titles, code blocks and code spans."""
    text = AWESOME.read_bytes().decode("utf-8")
    ids = {r.url: r.id for r in load_document_list(AWESOME)}
    fixes = {ids[OLD_1801]: (OLD_1801, NEW_1801)}
    rewrite = rewrite_document(AWESOME, text, fixes)
    at = text.index(OLD_1801 + ' "OCW Scholar"')
    assert rewrite.text == text[:at] + NEW_1801 + text[at + len(OLD_1801) :]
    assert rewrite.text.count(OLD_1801) == 1  # the fenced copy is untouched
    assert "\r\n" in rewrite.text
    assert "\n" not in rewrite.text.replace("\r\n", "")
    assert rewrite.diff.startswith("--- a/awesome-calculus.md")


def test_an_entry_edited_since_the_check_is_not_overwritten() -> None:
    """A fix applies only where the document still has the URL that was checked."""
    text = AWESOME.read_text(encoding="utf-8").replace(OLD_1801, "https://example.org/")
    ids = {r.url: r.id for r in load_document_list(AWESOME)}
    rewrite = rewrite_document(AWESOME, text, {ids[OLD_1801]: (OLD_1801, NEW_1801)})
    assert rewrite.text == text
    assert rewrite.skipped == [
        f"{ids[OLD_1801]}: the document no longer has {OLD_1801}; not changed"
    ]


def test_the_markdown_list_is_checked_fixed_in_place_and_then_clean(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    tmp_path: Path,
) -> None:
    """check --list reports each move with its line; accept rewrites exactly those URLs (the
    diff first); the next run reports no move."""
    document = tmp_path / "calculus.md"
    shutil.copy(CALCULUS, document)
    with live_site(config, TODAY, document) as site:
        before = document.read_text(encoding="utf-8")
        old, new = site.local(OLD_1801), site.local(NEW_1801)
        code, out, _ = run(capsys, "check", "--config", config, "--list", document)
        assert code == 1
        assert f"- In the list: `{document}:10:41`" in out
        code, out, _ = run(capsys, "baseline", "accept", "--config", config, "--list", document)
        assert code == 0, out
        assert "-1. [Single Variable Calculus (18.01SC)](" + old in out  # the diff, printed
        after = document.read_text(encoding="utf-8")
        assert after.count(new) == 1
        assert old not in after
        assert len(after.splitlines()) == len(before.splitlines())
        changed = [a == b for a, b in zip(before.splitlines(), after.splitlines(), strict=True)]
        assert changed.count(False) == len(find_links(before)) - 1  # all but Gutenberg's line
        code, out, _ = run(
            capsys, "check", "--config", config, "--list", document, "--format", "json"
        )
    report = json.loads(out)
    assert [r["outcome"] for r in report["resources"] if r["outcome"] != "ok"] == []
    assert code == 0
