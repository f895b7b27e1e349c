"""GitHub Actions workflow commands (issue 13): one annotation per finding, on the document
list's line where the entry stands, so a pull request shows it beside the link.

Pure: a Report in, the lines out; `cli` prints them when `GITHUB_ACTIONS=true`. Values are
escaped as the runner's command parser expects (`%`, CR, LF; and `:` `,` in properties).
"""

from __future__ import annotations

from ocwwatch.models import LINK_AS_OUTCOME, Observation, Outcome, Report
from ocwwatch.report.digest import describe_link
from ocwwatch.text import one_line
from ocwwatch.urls import redact_secrets

LEVELS: dict[Outcome, str] = {
    Outcome.DEAD: "error",
    Outcome.REPLACED: "error",
    Outcome.MOVED: "warning",
    Outcome.CHANGED: "warning",
    Outcome.UNKNOWN: "notice",
    Outcome.ERROR: "notice",
}
# GitHub shows at most ten annotations of each level per step; a deep run can find thousands.
MAX_ANNOTATIONS = 50


def workflow_commands(report: Report) -> str:
    """The workflow commands for the run's findings, most severe first, then a count of the
    ones left out."""
    lines = [_resource(item) for item in report.resources if item.outcome in LEVELS]
    for link in report.links.where(LINK_AS_OUTCOME):
        outcome = LINK_AS_OUTCOME[link.state]
        title = f"{link.noun} {link.state.value}"
        lines.append(_command(LEVELS[outcome], {"title": title}, one_line(describe_link(link))))
    if len(lines) > MAX_ANNOTATIONS:
        left = len(lines) - MAX_ANNOTATIONS
        lines = lines[:MAX_ANNOTATIONS]
        lines.append(_command("notice", {}, f"{left} more findings: see the report"))
    return redact_secrets("".join(line + "\n" for line in lines))


def _resource(item: Observation) -> str:
    properties = {"title": f"{item.id}: {item.outcome.value}"}
    if item.location is not None:
        properties |= {
            "file": item.location.file,
            "line": str(item.location.line),
            "col": str(item.location.column),
        }
    message = one_line(item.name or item.url)
    if item.suggestion is not None:
        message += f": replace {item.url} with {item.suggestion.url} ({item.suggestion.reason})"
    elif item.error:
        message += f": {item.error}"
    return _command(LEVELS[item.outcome], properties, one_line(message))


def _command(level: str, properties: dict[str, str], message: str) -> str:
    """A command line, secrets hidden before the runner's escapes (which they would not be
    read through)."""
    listed = ",".join(
        f"{key}={_escape_property(redact_secrets(value))}" for key, value in properties.items()
    )
    return f"::{level}{' ' + listed if listed else ''}::{_escape_data(redact_secrets(message))}"


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")
