"""The Markdown report for the list's maintainer, and the plain-text hygiene every renderer shares.

It turns a Report into what to fix, most severe first, with page-supplied text made inert
(Markdown, HTML, backticks, newlines and terminal escapes). It must not judge anything itself
or touch files, the clock or stdout.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ocwwatch.models import (
    SEVERITY,
    Against,
    Change,
    ChangeKind,
    LinkCheck,
    LinkState,
    Observation,
    Outcome,
    Report,
    Run,
    redirect_kind_of,
)
from ocwwatch.report.json_report import format_timestamp
from ocwwatch.text import one_line

# Inline metacharacters. Block syntax (lists, setext headings, tables) cannot arise because
# escaped text never holds a line break and always follows other text on its line; "(" and "!"
# stay bare because with "[" and "]" escaped they can no longer make a link or an image.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#~&$])")
_AUTOLINK_SAFE = re.compile(r"https?://[^\s<>`\x00-\x1f\x7f-\x9f]+", re.IGNORECASE)

_SECTION_TITLES: dict[Outcome, tuple[str, str]] = {
    Outcome.DEAD: ("Dead", "These no longer lead to what the list promises."),
    Outcome.REPLACED: (
        "Replaced",
        "These now lead to another course (another number or term): the list names one course"
        " and gets another. `baseline accept --replaced` (or naming the id) takes it.",
    ),
    Outcome.MOVED: ("Moved", "These answer from a new address: update the list."),
    Outcome.CHANGED: ("Changed", "These are where the list says, but what they offer changed."),
    Outcome.UNKNOWN: ("Unknown", "These could not be judged this time; nothing is concluded."),
    Outcome.ERROR: ("Error", "Checking these failed; nothing is concluded."),
}
# Link states worth a maintainer's attention, most severe first; the rest are only counted.
LINK_FINDINGS: tuple[LinkState, ...] = (
    LinkState.DEAD,
    LinkState.SOFT404,
    LinkState.INVALID,
    LinkState.MISSING_FRAGMENT,
    LinkState.REDIRECTED,
    LinkState.BLOCKED,
    LinkState.UNKNOWN,
)
_MAX_FOUND_ON = 5


def clean_text(value: object) -> str:
    """One line of plain text (text.py's rule, the same for every output)."""
    return one_line(value)


def escape_markdown(value: object) -> str:
    """Inline Markdown that shows `value` literally: cleaned, every metacharacter escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", clean_text(value))


def code_span(value: object) -> str:
    """A code span holding `value` literally, fenced by more backticks than it contains."""
    text = clean_text(value)
    if not text:
        return "(empty)"
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text[0] == "`" or text[-1] == "`" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def format_url(url: str | None) -> str:
    """An http(s) URL as an autolink; anything else (javascript:, spaces, brackets) as code."""
    if url is None:
        return "(none)"
    text = clean_text(url)
    if _AUTOLINK_SAFE.fullmatch(text):
        return f"<{text}>"
    return code_span(text)


def redirect_kind(item: Observation) -> str | None:
    """The chain's kind, "permanent" or "temporary": as recorded, else as the statuses say."""
    return item.redirect_kind or redirect_kind_of(item.redirects)


def render_markdown(report: Report) -> str:
    """The maintainer's report: summary, then one section per outcome, most severe first."""
    lines = [f"# ocwwatch report: run {report.run.id}", "", *_run_lines(report.run), ""]
    if report.run.offline:
        lines += _offline_lines(report)
    else:
        lines += _summary_lines(report)
        for outcome in SEVERITY:
            lines += _outcome_section(outcome, report.resources)
        lines += _links_section(report.links)
    return "\n".join(lines).rstrip("\n") + "\n"


def _run_lines(run: Run) -> list[str]:
    started = format_timestamp(run.started_at)
    finished = format_timestamp(run.finished_at) or "not finished"
    lines = [f"Started {started}, finished {finished}."]
    if run.notes:  # the maintainer must see that the run did not check everything
        lines += ["", "Notes:", *(f"- {escape_markdown(note)}" for note in run.notes)]
    return lines


def _summary_lines(report: Report) -> list[str]:
    counts = report.run.counts
    checked = f"{_plural(counts.resources, 'resource')} and {_plural(counts.links, 'link')}"
    found = [f"{counts.dead} dead", f"{counts.moved} moved", f"{counts.changed} changed"]
    if counts.replaced:
        found.insert(1, f"{counts.replaced} replaced")
    unsure = sum(item.outcome in {Outcome.UNKNOWN, Outcome.ERROR} for item in report.resources)
    quiet = "nothing to report" if unsure else "all fine"
    verdict = ", ".join(found) if counts.findings else quiet
    if unsure:
        verdict += f"; {unsure} could not be judged this time"
    return [f"**Summary:** {checked} checked: {verdict}.", ""]


def _offline_lines(report: Report) -> list[str]:
    lines = [
        "> **Offline run: nothing was judged.** No host answered, so this run says nothing",
        "> about whether the links work. The next run will check again.",
        "",
    ]
    if report.resources:
        lines += ["## Not checked", ""]
        lines += [_not_checked_line(item) for item in report.resources]
        lines.append("")
    return lines


def _not_checked_line(item: Observation) -> str:
    line = f"- {code_span(item.id)} {format_url(item.url)}"
    return f"{line}: {escape_markdown(item.error)}" if item.error else line


def _outcome_section(outcome: Outcome, observations: Sequence[Observation]) -> list[str]:
    chosen = sorted((item for item in observations if item.outcome is outcome), key=_by_id)
    if not chosen:
        return []
    if outcome is Outcome.OK:
        lines = [f"## OK ({len(chosen)})", ""]
        lines += [f"- {code_span(item.id)} {format_url(item.url)}" for item in chosen]
        return [*lines, ""]
    title, meaning = _SECTION_TITLES[outcome]
    lines = [f"## {title} ({len(chosen)})", "", meaning, ""]
    for item in chosen:
        lines += _resource_lines(item)
    return lines


def _by_id(observation: Observation) -> str:
    return observation.id


def _resource_lines(item: Observation) -> list[str]:
    heading = f"### {code_span(item.id)}"
    # A dead entry is headed by what the list calls it, not by its "not found" page's title.
    title = item.name if item.outcome is Outcome.DEAD else item.metadata.title or item.name
    if title:
        heading += f": {escape_markdown(title)}"
    lines = [heading, ""]
    if item.suggestion is not None:
        fix = f"replace {format_url(item.url)} with {format_url(item.suggestion.url)}"
        lines.append(f"- **Fix:** {fix} ({escape_markdown(item.suggestion.reason)})")
    lines += _location_lines(item)
    lines += _change_lines("Drift from the curated list", item.changes, Against.BASELINE)
    lines += _change_lines("Since the last run", item.changes, Against.PREVIOUS)
    lines += _promise_lines(item)
    return [*lines, *_metadata_lines(item), ""]


def _location_lines(item: Observation) -> list[str]:
    lines = [f"- Listed URL: {format_url(item.url)}"]
    if item.location is not None:  # the list is a document: where to edit it
        lines.append(f"- In the list: {code_span(str(item.location))}")
    if item.final_url is not None and item.final_url != item.url:
        lines.append(f"- Final URL: {format_url(item.final_url)}")
    lines.append(f"- Status: {_status(item.http_status)}")
    lines += _redirect_lines(item)
    if item.error:
        lines.append(f"- Why: {escape_markdown(item.error)}")
    return lines


def _promise_lines(item: Observation) -> list[str]:
    broken = [promise for promise in item.promises if not promise.holds]
    if not broken:
        return []
    lines = ["- Promises that no longer hold:"]
    for promise in broken:
        line = f"  - {escape_markdown(promise.text)}"
        if promise.missing:
            line += f" (missing: {', '.join(escape_markdown(part) for part in promise.missing)})"
        lines.append(line)
    return lines


def _redirect_lines(item: Observation) -> list[str]:
    if not item.redirects:
        return []
    lines = [f"- Redirects ({escape_markdown(redirect_kind(item))}):"]
    for number, hop in enumerate(item.redirects, start=1):
        lines.append(f"  {number}. {format_url(hop.url)} answered {hop.status}")
    end = f"ended at {format_url(item.final_url)} with {_status(item.http_status)}"
    return [*lines, f"  {len(item.redirects) + 1}. {end}"]


def _change_lines(label: str, changes: Iterable[Change], against: Against) -> list[str]:
    chosen = [change for change in changes if change.against is against]
    if not chosen:
        return []
    return [f"- {label}:", *(f"  - {_describe_change(change)}" for change in chosen)]


def _describe_change(change: Change) -> str:
    field = code_span(change.field)
    if change.kind is ChangeKind.ADDED:
        return f"{field} added {_quoted(change.after)}"
    if change.kind is ChangeKind.REMOVED:
        return f"{field} removed {_quoted(change.before)}"
    return f"{field} changed from {_quoted(change.before)} to {_quoted(change.after)}"


def _quoted(value: str | None) -> str:
    return "nothing" if value is None else f"“{escape_markdown(value)}”"


def _metadata_lines(item: Observation) -> list[str]:
    metadata = item.metadata
    pairs = [
        ("Course number", metadata.course_number),
        ("Term", metadata.term),
        ("Instructors", "; ".join(metadata.instructors)),
        ("Units", "; ".join(metadata.units)),
        ("Pages", metadata.pages),
        ("Size", None if metadata.size_bytes is None else f"{metadata.size_bytes:,} bytes"),
    ]
    return [f"- {name}: {escape_markdown(value)}" for name, value in pairs if value]


def _links_section(links: Sequence[LinkCheck]) -> list[str]:
    if not links:
        return []
    lines = ["## Links", ""]
    for state in LINK_FINDINGS:
        for link in sorted((item for item in links if item.state is state), key=_by_url):
            lines += _link_lines(link)
    rest = sum(1 for link in links if link.state not in LINK_FINDINGS)
    if rest:
        lines += ["", f"{_plural(rest, 'other link')}: ok or skipped."]
    return [*lines, ""]


def _by_url(link: LinkCheck) -> str:
    return link.url


def _link_lines(link: LinkCheck) -> list[str]:
    lines = [f"- **{link.state.value}** ({_status(link.http_status)}) {format_url(link.url)}"]
    if link.suggestion is not None:
        fix = f"replace with {format_url(link.suggestion.url)}"
        lines.append(f"  - **Fix:** {fix} ({escape_markdown(link.suggestion.reason)})")
    if link.final_url is not None and link.final_url != link.url:
        lines.append(f"  - Final URL: {format_url(link.final_url)}")
    if link.found_on:
        shown = ", ".join(format_url(page) for page in link.found_on[:_MAX_FOUND_ON])
        more = link.pages_found_on - min(len(link.found_on), _MAX_FOUND_ON)
        lines.append(f"  - Found on: {shown}" + (f" and {more} more" if more > 0 else ""))
    if link.first_failed_at is not None:
        since = format_timestamp(link.first_failed_at)
        lines.append(f"  - Failing since {since} ({_plural(link.failed_runs, 'run')})")
    if link.detail:
        lines.append(f"  - Detail: {escape_markdown(link.detail)}")
    return lines


def _status(status: int | None) -> str:
    return "no response" if status is None else f"HTTP {status}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
