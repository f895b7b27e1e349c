"""Which findings fail a run (`check --fail-on`, issue 13): CI decides what breaks its build.

Links found by `--deep` count as the resource outcome they amount to (`LINK_AS_OUTCOME`).
"""

from __future__ import annotations

from collections.abc import Collection

from ocwwatch.models import LINK_AS_OUTCOME, Outcome, Report

FAIL_ON_CHOICES: tuple[str, ...] = tuple(o.value for o in Outcome if o is not Outcome.OK)


def failing(report: Report, fail_on: Collection[str]) -> list[str]:
    """The resources (by id) and links (by URL) whose outcome is one of `fail_on`."""
    found = [o.id for o in report.resources if o.outcome.value in fail_on]
    found += [
        link.url
        for link in report.links
        if link.state in LINK_AS_OUTCOME and LINK_AS_OUTCOME[link.state].value in fail_on
    ]
    return found
