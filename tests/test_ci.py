"""Running ocwwatch in CI (issue 13): `--fail-on` chooses what fails the build, GitHub Actions
gets annotations on the document's lines and the report in its job summary."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.cli import check_list

from ocwwatch import cli
from ocwwatch.judge import FAIL_ON_CHOICES, failing
from ocwwatch.models import (
    LinkCheck,
    LinkState,
    Location,
    Metadata,
    Observation,
    Outcome,
    PageKind,
    Report,
    Run,
)
from ocwwatch.report.github import workflow_commands

CALCULUS = Path(__file__).parent / "fixtures" / "lists" / "calculus-for-deep-learning.md"


@pytest.fixture
def document(tmp_path: Path) -> Path:
    shutil.copy(CALCULUS, tmp_path / "calculus.md")
    return tmp_path / "calculus.md"


@pytest.mark.parametrize(
    ("fail_on", "code"),
    [
        (None, 1),  # the default: moved entries are findings
        ("moved", 1),
        ("dead", 1),  # the old PDF path is dead (its successor is the fix)
        ("changed", 0),  # nothing changed: moves and a death only
        ("changed,unknown", 0),
        ("none", 0),
    ],
)
def test_fail_on_chooses_which_outcomes_exit_1(
    capsys: pytest.CaptureFixture[str], config: Path, document: Path, fail_on: str | None, code: int
) -> None:
    options = ["--fail-on", fail_on] if fail_on else []
    got, _ = check_list(capsys, config, document, *options)
    assert got == code


def test_an_unknown_outcome_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """A typo must not turn into a build that never fails."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["check", "--config", str(config), "--fail-on", "dead,moveed"])
    assert exit_info.value.code == 2
    assert "unknown outcome moveed" in capsys.readouterr().err


def test_the_cli_offers_the_judges_outcomes() -> None:
    assert cli.FAIL_ON_CHOICES == FAIL_ON_CHOICES


def test_under_github_actions_findings_are_annotations_and_the_summary_has_the_report(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    document: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, out = check_list(capsys, config, document)
    assert code == 1
    commands = [line for line in out.splitlines() if line.startswith("::")]
    moved = next(c for c in commands if "single-variable-calculus-18-01sc" in c)
    file = str(document).replace(":", "%3A").replace(",", "%2C")
    assert moved.startswith(
        f"::warning title=single-variable-calculus-18-01sc%3A moved,file={file},line=10,col=41::"
        "Single Variable Calculus (18.01SC): replace https://ocw.mit.edu/courses/mathematics/"
    )
    (dead,) = [c for c in commands if c.startswith("::error ")]
    assert "title=a-full-pdf-of-the-book%3A dead" in dead
    assert len(commands) == 6  # five moves and the dead PDF; the ok entry is not annotated
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n# ")  # appended, not replaced
    assert "## Moved" in text


def test_outside_github_actions_there_are_no_workflow_commands(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    document: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    _, out = check_list(capsys, config, document)
    assert "::warning" not in out


def test_workflow_command_values_are_escaped() -> None:
    """A name or path holding `%`, `:`, `,` or a line break cannot end the command early or
    forge a second one."""
    at = datetime(2026, 12, 5, tzinfo=UTC)
    item = Observation(
        id="x",
        url="https://example.org/",
        name="100% sure\n::error::forged",
        location=Location(file="lists/a,b:c.md", line=3, column=7),
        outcome=Outcome.DEAD,
        metadata=Metadata(page_kind=PageKind.OTHER),
        observed_at=at,
    )
    report = Report(run=Run(id=1, started_at=at), resources=(item,))
    (line,) = workflow_commands(report).splitlines()
    title, message = (
        "title=x%3A dead,file=lists/a%2Cb%3Ac.md,line=3,col=7",
        "100%25 sure ::error::forged",
    )
    assert line == f"::error {title}::{message}"


def test_the_action_uses_only_options_the_cli_has() -> None:
    """action.yml's script is not run here (it needs a runner); its options are checked against
    the parser, so a renamed option cannot leave the Action broken."""
    script = (Path(__file__).parent.parent / "action.yml").read_text(encoding="utf-8")
    used = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", script))
    parser = cli.build_parser()
    known: set[str] = set()
    for command in ("check", "report"):
        sub = parser._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr,index]
        known |= {flag for action in sub._actions for flag in action.option_strings}
    assert used <= known, used - known
    assert {"--list", "--fail-on", "--db", "--format"} <= used


@pytest.mark.parametrize(
    ("state", "fails_on"),
    [
        (LinkState.INVALID, "dead"),
        (LinkState.SOFT404, "dead"),
        (LinkState.REDIRECTED, "moved"),
        (LinkState.MISSING_FRAGMENT, "changed"),
        (LinkState.BLOCKED, "unknown"),
    ],
)
def test_a_deep_link_fails_the_run_as_the_outcome_it_amounts_to(
    state: LinkState, fails_on: str
) -> None:
    link = LinkCheck(url="https://example.org/x", state=state)
    report = Report(run=Run(id=1, started_at=datetime(2026, 12, 5, tzinfo=UTC)), links=(link,))
    assert failing(report, {fails_on}) == ["https://example.org/x"]
    assert failing(report, set(FAIL_ON_CHOICES) - {fails_on}) == []
