"""The index page: every run, newest first, with its counts and a link to its report.

It renders through the package's autoescaped Jinja2 environment (see `html`). It must not decide
where reports live: the caller maps each run to its report's href.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ocwwatch.models import Run
from ocwwatch.report.html import FEED_FILE, template_environment

ReportHref = Callable[[Run], str] | Mapping[int, str]


def render_index(
    runs: Sequence[Run],
    *,
    report_href: ReportHref,
    replay: bool = False,
    summaries: Mapping[int, str] | None = None,
) -> str:
    """An HTML page listing `runs` newest first; `report_href` maps a run (or its id) to a link.

    A run missing from a mapping is listed without a link. The index of replay runs says so and
    offers no feed (they have none); a live index points feed readers at `feed.xml` beside it.
    `summaries` (by run id) say what each run found, resources and links apart (issue 16).
    """
    ordered = sorted(runs, key=lambda run: (run.started_at, run.id), reverse=True)
    found = summaries or {}
    rows = [(run, _href(run, report_href), found.get(run.id)) for run in ordered]
    template = template_environment().get_template("index.html")
    return template.render(rows=rows, replay=replay, feed_href=None if replay else FEED_FILE)


def _href(run: Run, report_href: ReportHref) -> str | None:
    if isinstance(report_href, Mapping):
        return report_href.get(run.id)
    return report_href(run)
