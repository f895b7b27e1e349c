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
    LinkChecks,
    LinkState,
    Observation,
    Outcome,
    PromiseCheck,
    Report,
    Run,
    redirect_kind_of,
)
from ocwwatch.report.digest import (
    Step,
    describe_counts,
    human_time,
    link_counts,
    next_steps,
    resource_counts,
    run_times,
)
from ocwwatch.text import one_line
from ocwwatch.urls import redact_secrets

# Only what would be read as syntax is escaped, so the report reads cleanly on a terminal too
# (issue 16: `\>=`, `\[Errno` were noise). Escaped text never holds a line break; it may start a
# list item's text, where block syntax counts.
# Inline syntax wherever it stands: code spans, emphasis, autolinks and HTML, strikethrough and
# math (GFM renderers), and the backslash itself.
_INLINE_SPECIAL = re.compile(r"([\\`*<~$])")
# `_` emphasises only at a word's edge: `mit18_01sc` stays as it is.
_UNDERSCORE = re.compile(r"(?<!\w)_|_(?!\w)")
# `]` closes a link only before `(` or `[` (or at the end, before whatever follows); with it
# escaped there, `[Errno 111]` needs nothing, as no link reference is ever defined here.
_LINK_CLOSE = re.compile(r"\](?=[(\[]|$)")
# `&` only where it would start a character reference (`&amp;`, `&#38;`).
_ENTITY = re.compile(r"&(?=#[0-9]+;|#[xX][0-9A-Fa-f]+;|[A-Za-z][A-Za-z0-9]*;)")
# At the start of a list item's text: a quote, a heading, a list or a rule (`18.01SC` is none).
_BLOCK_START = re.compile(r"^(>|#{1,6}(?=\s|$)|[-+](?=\s|$)|-(?=-))")
_ORDERED_START = re.compile(r"^([0-9]{1,9})([.)])(?=\s|$)")
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
PLAIN_ANSWERS = frozenset({200, 304})  # statuses a reader need not see


def clean_text(value: object) -> str:
    """One line of plain text (text.py's rule, the same for every output), with no secret a
    URL in it carries: hidden before any escaping, which the pattern would not read through
    (`token=\\_abc` is no longer a parameter's value)."""
    return redact_secrets(one_line(value))


def escape_markdown(value: object) -> str:
    """Inline Markdown that shows `value` literally: cleaned, and escaped where it would
    otherwise be read as syntax (and only there)."""
    text = _INLINE_SPECIAL.sub(r"\\\1", clean_text(value))
    text = _UNDERSCORE.sub(r"\\_", text)
    text = _LINK_CLOSE.sub(r"\\]", text)
    text = _ENTITY.sub(r"\\&", text)
    text = _ORDERED_START.sub(r"\1\\\2", text)
    return _BLOCK_START.sub(r"\\\1", text)


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
    """The maintainer's report: summary and next steps, then one section per outcome, most
    severe first, then the links that need attention."""
    lines = [f"# ocwwatch report: run {report.run.id}", "", *_replay_lines(report.run)]
    lines += [*_run_lines(report.run), ""]
    if report.run.offline:
        lines += _offline_lines(report)
    else:
        lines += _summary_lines(report)
        lines += _next_lines(next_steps(report))
        for outcome in SEVERITY:
            lines += _outcome_section(outcome, report.resources)
        lines += _links_section(report.links)
    return redact_secrets("\n".join(lines).rstrip("\n") + "\n")


def _next_lines(steps: Sequence[Step]) -> list[str]:
    if not steps:
        return []
    lines = ["**Next:**", ""]
    for step in steps:
        text = escape_markdown(step.text)
        lines.append(f"- {text}: {code_span(step.command)}" if step.command else f"- {text}.")
    return [*lines, ""]


def _replay_lines(run: Run) -> list[str]:
    if run.replay is None:
        return []
    return [
        f"**Replay** of the recorded scenario {code_span(run.replay)}: nothing was fetched"
        " live. Kept apart from live runs (own database and reports folder, no feed), and never"
        " taken by `ocwwatch baseline accept`.",
        "",
    ]


def _run_lines(run: Run) -> list[str]:
    lines = [run_times(run)]
    if run.notes:  # the maintainer must see that the run did not check everything
        lines += ["", "Notes:", *(f"- {escape_markdown(note)}" for note in run.notes)]
    return lines


def _summary_lines(report: Report) -> list[str]:
    """Resources and links counted apart, each as its sections count them (issue 16)."""
    resources = describe_counts(len(report.resources), "resource", resource_counts(report))
    parts = [resources]
    if report.links:
        parts.append(describe_counts(len(report.links), "link", link_counts(report)))
    unsure = sum(item.outcome in {Outcome.UNKNOWN, Outcome.ERROR} for item in report.resources)
    verdict = "" if report.run.counts.findings else " Nothing to fix: all fine."
    if unsure and not report.run.counts.findings:
        verdict = f" Nothing to fix, but {unsure} could not be judged this time."
    return [f"**Summary:** {'. '.join(parts)}.{verdict}", ""]


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
    if item.http_status not in PLAIN_ANSWERS:  # a 200 or a 304 says nothing to the reader
        lines.append(f"- Status: {_status(item.http_status)}")
    lines += _redirect_lines(item)
    if item.error:
        lines.append(f"- Why: {escape_markdown(item.error)}")
    return lines


def broken_promises(item: Observation) -> list[PromiseCheck]:
    """Promises that stopped holding in this run: not those the list already accepted as
    broken (`holds = false`, so no change names them)."""
    changed = {change.before for change in item.changes if change.field == "promises"}
    return [promise for promise in item.promises if not promise.holds and promise.text in changed]


def _promise_lines(item: Observation) -> list[str]:
    broken = broken_promises(item)
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
    end = f"ended at {format_url(item.final_url)}"
    if item.http_status not in PLAIN_ANSWERS:
        end += f" with {_status(item.http_status)}"
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


def _links_section(links: LinkChecks) -> list[str]:
    """The links that need attention, by state; none, no heading (the summary counts them)."""
    findings = list(links.where(LINK_FINDINGS))
    if not findings:
        return []
    lines = [f"## Links that need attention ({len(findings)})", ""]
    for state in LINK_FINDINGS:
        for link in sorted((item for item in findings if item.state is state), key=_by_url):
            lines += _link_lines(link)
    rest = len(links) - len(findings)
    if rest:
        lines += ["", f"{_plural(rest, 'other link')}: ok or skipped."]
    return [*lines, ""]


def _by_url(link: LinkCheck) -> str:
    return link.url


def _link_lines(link: LinkCheck) -> list[str]:
    state = f"**{link.state.value}** ({_status(link.http_status)})"
    lines = [f"- {state} {link.noun} {format_url(link.url)}"]
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
        since = human_time(link.first_failed_at)
        lines.append(f"  - Failing since {since} ({_plural(link.failed_runs, 'run')})")
    if link.detail:
        lines.append(f"  - Detail: {escape_markdown(link.detail)}")
    return lines


def _status(status: int | None) -> str:
    return "no response" if status is None else f"HTTP {status}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
