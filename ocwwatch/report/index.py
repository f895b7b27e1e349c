"""The index page: every run, newest first, with its counts and a link to its report.

It renders through the package's autoescaped Jinja2 environment (see `html`). It must not decide
where reports live: the caller maps each run to its report's href.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ocwwatch.models import Run
from ocwwatch.report.html import template_environment

ReportHref = Callable[[Run], str] | Mapping[int, str]


def render_index(runs: Sequence[Run], *, report_href: ReportHref) -> str:
    """An HTML page listing `runs` newest first; `report_href` maps a run (or its id) to a link.

    A run missing from a mapping is listed without a link.
    """
    ordered = sorted(runs, key=lambda run: (run.started_at, run.id), reverse=True)
    rows = [(run, _href(run, report_href)) for run in ordered]
    return template_environment().get_template("index.html").render(rows=rows)


def _href(run: Run, report_href: ReportHref) -> str | None:
    if isinstance(report_href, Mapping):
        return report_href.get(run.id)
    return report_href(run)
