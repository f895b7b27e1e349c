"""What a report leads with, the same in Markdown and HTML (issue 16): resources and links
counted apart, so each count matches its section; the next steps; readable times; and a
found link in a reader's words (issue 14), for the one-line formats too (SARIF, annotations).

Pure: it reads a Report and returns values; the renderers lay them out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from ocwwatch.models import SEVERITY, LinkCheck, LinkState, Observation, Outcome, Report, Run

# Link states that need the maintainer, in report order; `dead` stands for soft 404s too.
LINK_GROUPS: tuple[tuple[str, frozenset[LinkState]], ...] = (
    ("dead", frozenset({LinkState.DEAD, LinkState.SOFT404})),
    ("redirected", frozenset({LinkState.REDIRECTED})),
    ("blocked", frozenset({LinkState.BLOCKED})),
    ("unknown", frozenset({LinkState.UNKNOWN})),
)
# What `baseline accept` writes: a new URL, new metadata, promises that stopped holding.
ACCEPTED_BY_DEFAULT = frozenset({Outcome.DEAD, Outcome.MOVED, Outcome.CHANGED})


@dataclass(frozen=True)
class Step:
    """One thing to do next: what, and the command that does it (None: by hand)."""

    text: str
    command: str | None = None


def resource_counts(report: Report) -> list[tuple[str, int]]:
    """(`dead`, 1), (`moved`, 4)…: each outcome the resources had, most severe first."""
    seen = Counter(item.outcome for item in report.resources)
    return [(outcome.value, seen[outcome]) for outcome in SEVERITY if seen[outcome]]


def link_counts(report: Report) -> list[tuple[str, int]]:
    """(`dead`, 2), (`ok or skipped`, 40)…: the links by what they need, the sections' order."""
    seen = Counter(link.state for link in report.links.where(FINDING_STATES))
    counts = [(name, sum(seen[state] for state in states)) for name, states in LINK_GROUPS]
    rest = len(report.links) - sum(seen.values())
    return [(name, count) for name, count in counts if count] + (
        [("ok or skipped", rest)] if rest else []
    )


FINDING_STATES = frozenset().union(*(states for _, states in LINK_GROUPS))


def describe_link(link: LinkCheck) -> str:
    """A found link in a reader's words, for one-line messages: "image https://x/a.png on
    page https://x/p" (its first page; a link found on no page, the listed one, has none)."""
    where = f" on page {link.found_on[0]}" if link.found_on else ""
    return f"{link.noun} {link.url}{where}"


def describe_counts(total: int, noun: str, counts: list[tuple[str, int]]) -> str:
    """`5 resources: 1 dead, 2 moved` (or `3 links` when there is nothing to break down)."""
    head = f"{total} {noun}" if total == 1 else f"{total} {noun}s"
    return f"{head}: {', '.join(f'{count} {name}' for name, count in counts)}" if counts else head


def next_steps(report: Report) -> list[Step]:
    """What the maintainer does next, in order; empty when there is nothing to do."""
    if report.run.offline:
        return []
    resources = sorted(report.resources, key=lambda item: item.id)
    accepted = [item.id for item in resources if _takes(item)]
    replaced = [item.id for item in resources if item.outcome is Outcome.REPLACED]
    by_hand = [
        item.id for item in resources if item.outcome is Outcome.DEAD and item.suggestion is None
    ]
    steps: list[Step] = []
    if report.run.replay is not None and (accepted or replaced):
        steps.append(
            Step(
                "This run replayed a recording, which baseline accept never takes; "
                "check the live sites first",
                "ocwwatch check",
            )
        )
    elif accepted:
        steps.append(
            Step(f"Write the fixes of {_ids(accepted)} into the list", "ocwwatch baseline accept")
        )
        if len(accepted) > 1:
            steps.append(
                Step("or only some of them, by id", f"ocwwatch baseline accept {accepted[0]}")
            )
    if replaced and report.run.replay is None:
        steps.append(
            Step(
                f"{_ids(replaced)} now lead to another course; once you agree",
                f"ocwwatch baseline accept {' '.join(replaced)}",
            )
        )
    if by_hand:
        steps.append(
            Step(
                f"{_ids(by_hand)} died with no fix found: find the new address by "
                "hand and edit the list"
            )
        )
    dead_links = sum(1 for _link in report.links.where(LINK_GROUPS[0][1]))
    if dead_links:
        what = "link is" if dead_links == 1 else "links are"
        steps.append(
            Step(
                f"{dead_links} dead {what} on the sites' own pages, not in the list: "
                "tell the site (each link names the pages it is on)"
            )
        )
    return steps


def _takes(item: Observation) -> bool:
    """Whether a plain `baseline accept` changes this entry: a dead one only by its fix (its
    page's metadata is the wrong page's), a moved or changed one by its fix or its drift."""
    if item.outcome is Outcome.DEAD:
        return item.suggestion is not None
    changes = item.suggestion is not None or bool(item.changes)
    return item.outcome in ACCEPTED_BY_DEFAULT and changes


def _ids(ids: list[str]) -> str:
    shown = ", ".join(ids[:4])
    return shown if len(ids) <= 4 else f"{shown} and {len(ids) - 4} more"


def group_by_page(links: list[LinkCheck]) -> list[tuple[str, list[LinkCheck]]]:
    """Links that need attention grouped by the first page they were found on (a course
    site's page), pages in order of their first link; a link found nowhere under ``."""
    groups: dict[str, list[LinkCheck]] = {}
    for link in links:
        groups.setdefault(link.found_on[0] if link.found_on else "", []).append(link)
    return list(groups.items())


def human_time(moment: datetime | None) -> str:
    """`2024-05-01 06:17 UTC`: to the minute, the zone said; empty for None."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def run_times(run: Run) -> str:
    """`Started 2024-05-01 06:17 UTC, took 42 s.` (or `not finished`)."""
    started = human_time(run.started_at)
    if run.finished_at is None:
        return f"Started {started}, not finished."
    took = human_duration((run.finished_at - run.started_at).total_seconds())
    return f"Started {started}, took {took}."


def human_duration(seconds: float) -> str:
    """`0.4 s`, `42 s`, `2 min 05 s`, `1 h 03 min`."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
