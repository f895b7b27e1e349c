"""Which findings fail a run (`check --fail-on`, issue 13), and which are news: what a run found
that had not been reported, and what recovered (notifications and the feed tell each once).

Links found by `--deep` count as the resource outcome they amount to (`LINK_AS_OUTCOME`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from ocwwatch.models import LINK_AS_OUTCOME, LinkState, Outcome, Report

FAIL_ON_CHOICES: tuple[str, ...] = tuple(o.value for o in Outcome if o is not Outcome.OK)


def failing(report: Report, fail_on: Collection[str]) -> list[str]:
    """The resources (by id) and links (by URL) whose outcome is one of `fail_on`."""
    found = [o.id for o in report.resources if o.outcome.value in fail_on]
    states = [state for state, outcome in LINK_AS_OUTCOME.items() if outcome.value in fail_on]
    found += [link.url for link in report.links.where(states)]
    return found


def finding_lines(report: Report) -> dict[str, str]:
    """Each finding of the run under a key that stays the same while the finding does, with a
    line that says it: `resource:<id>:<outcome>` (a change also names its fields) and
    `link:<url>:<outcome>`."""
    lines: dict[str, str] = {}
    for item in report.resources:
        if item.outcome not in NEWSWORTHY:
            continue
        key = f"resource:{item.id}:{item.outcome.value}"
        line = f"{item.id}: {item.outcome.value}"
        if item.outcome is Outcome.CHANGED:
            fields = ",".join(sorted({change.field for change in item.changes}))
            key, line = f"{key}:{fields}", f"{line} ({fields})"
        if item.suggestion is not None:
            line += f"; fix: {item.suggestion.url}"
        lines[key] = line
    newsworthy = [state for state, outcome in LINK_AS_OUTCOME.items() if outcome in NEWSWORTHY]
    for link in report.links.where(newsworthy):
        outcome = LINK_AS_OUTCOME[link.state]
        lines[f"link:{link.url}:{outcome}"] = f"link {link.url}: {link.state.value}"
    return lines


# What a maintainer is told about once, when it appears and when it goes away.
NEWSWORTHY = frozenset({Outcome.DEAD, Outcome.REPLACED, Outcome.MOVED, Outcome.CHANGED})


@dataclass(frozen=True)
class News:
    """What a run found that the runs before it had not, and what no longer holds.

    `standing` is every finding still believed: this run's, and the earlier ones whose subject
    this run could not judge (an unknown is neither a recovery nor, when it comes back, news).
    """

    standing: dict[str, str]
    new: dict[str, str]
    recovered: dict[str, str]

    @property
    def any(self) -> bool:
        return bool(self.new or self.recovered)


def news_since(report: Report, standing_before: Mapping[str, str]) -> News:
    """This run's findings against the ones standing before it.

    An earlier finding this run could not judge stays standing: its resource or link answered
    nothing this time, or (a plain run after a deep one) its link was not checked. One whose
    resource has left the list is dropped without a word: it did not recover.
    """
    now = finding_lines(report)
    resources = {o.id: o.outcome for o in report.resources}
    # The states this run gave the links of earlier findings (asked of the store in a deep run).
    asked = {
        key.split(":", 1)[1].rsplit(":", 1)[0] for key in standing_before if key[:5] == "link:"
    }
    links = report.links.states_of(asked)
    standing = dict(now)
    dropped = set()
    for key, line in standing_before.items():
        if key in now:
            continue
        kind, _, rest = key.partition(":")
        if kind == "resource":
            resource_id = rest.split(":", 1)[0]  # ids hold no colon (ID_PATTERN)
            if resource_id not in resources:
                dropped.add(key)
            elif resources[resource_id] in UNJUDGED:
                standing[key] = line
        elif links.get(rest.rsplit(":", 1)[0], LinkState.SKIPPED) in UNJUDGED_LINKS:
            standing[key] = line
    new = {key: line for key, line in now.items() if key not in standing_before}
    recovered = {
        key: line
        for key, line in standing_before.items()
        if key not in standing and key not in dropped
    }
    return News(standing, new, recovered)


UNJUDGED = frozenset({Outcome.UNKNOWN, Outcome.ERROR})
UNJUDGED_LINKS = frozenset({LinkState.UNKNOWN, LinkState.BLOCKED, LinkState.SKIPPED})
