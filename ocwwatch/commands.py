"""What each command does, as functions that return text and a verdict; `cli` prints them.

Builds the objects a command needs (config, store, fetcher) in the order that keeps bad input
harmless: every file is read and validated before the database is opened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ocwwatch.clock import utc_now
from ocwwatch.config import Config, HttpSettings, accept_baseline, load_config, write_default_config
from ocwwatch.errors import ConfigError
from ocwwatch.fetch import (
    Fetcher,
    FetchPolicy,
    Scenario,
    load_scenario,
    replay_transport,
)
from ocwwatch.fetch.guard import AddressGuard
from ocwwatch.models import Observation, Run
from ocwwatch.pipeline import Outcomes, run_check
from ocwwatch.publish import publish_run
from ocwwatch.record import describe_recorded, record_scenario
from ocwwatch.store import Store
from ocwwatch.urls import InvalidURLError, parse_url

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


class Verdict(StrEnum):
    """What a command found; `cli` turns it into an exit code."""

    CLEAN = "clean"
    FINDINGS = "findings"
    OFFLINE = "offline"
    BROKEN = "broken"  # ocwwatch itself failed on some resource (a bug): worth a report


@dataclass(frozen=True)
class Done:
    text: str
    verdict: Verdict = Verdict.CLEAN


def fetch_policy(
    http: HttpSettings, *, replay: bool, allowed_origins: Sequence[str] = ()
) -> FetchPolicy:
    """The fetcher's rules from the settings; a replay needs no politeness."""
    policy = FetchPolicy(
        allowed_origins=tuple(allowed_origins),
        timeout_seconds=http.timeout_seconds,
        per_host_concurrency=http.per_host_concurrency,
        per_host_interval_seconds=0.0 if replay else http.per_host_interval_seconds,
        max_redirects=http.max_redirects,
        max_bytes=http.max_bytes,
        retries=http.retries,
    )
    if http.user_agent:
        policy = policy.model_copy(update={"user_agent": http.user_agent})
    return policy


def check(
    config_path: Path | None,
    database: Path | None,
    report_format: str,
    *,
    replay: Path | None,
    cwd: Path,
    progress: Progress,
    deep: bool = False,
) -> Done:
    """`ocwwatch check`: one run, stored and published; the chosen format is returned."""
    config = load_config(config_path, cwd=cwd, database=database)
    scenario = load_scenario(replay) if replay is not None else None
    outcomes = publish_check(config, scenario, progress, deep=deep)
    with Store.open(config.settings.database) as store:
        text = store.load_report(outcomes.report.run.id, report_format) or ""
    return Done(text=text, verdict=verdict_of(outcomes))


def run_once(config_path: Path | None, database: Path | None, *, cwd: Path) -> Run:
    """One scheduled run (the daemon's tick): files re-read, so edits apply at the next tick.

    Per-resource progress is debug: the daemon logs one line per run (`scheduler`).
    """
    config = load_config(config_path, cwd=cwd, database=database)
    return publish_check(config, None, lambda line: log.debug("%s", line)).report.run


def publish_check(
    config: Config, scenario: Scenario | None, progress: Progress, *, deep: bool = False
) -> Outcomes:
    """Hold the writer lock, run the check, store and publish it."""
    transport = replay_transport(scenario, strict=False) if scenario is not None else None
    policy = fetch_policy(
        config.settings.http, replay=scenario is not None, allowed_origins=config.trusted_origins()
    )
    settings = config.settings
    with Store.open(settings.database) as store, store.lock(settings.lock_timeout_seconds):
        store.abandon_stale_runs(utc_now())
        outcomes = asyncio.run(check_once(config, store, policy, transport, progress, deep=deep))
        publish_run(
            store,
            outcomes.report,
            settings.reports_dir,
            settings.reports_url,
            outcomes.validators,
        )
    return outcomes


async def check_once(
    config: Config,
    store: Store,
    policy: FetchPolicy,
    transport: object | None,
    progress: Progress,
    *,
    deep: bool = False,
) -> Outcomes:
    async with Fetcher(policy, transport=transport) as fetcher:  # type: ignore[arg-type]
        return await run_check(config, store, fetcher, progress=progress, deep=deep)


def verdict_of(outcomes: Outcomes) -> Verdict:
    if outcomes.report.run.offline:
        return Verdict.OFFLINE
    if outcomes.findings:
        return Verdict.FINDINGS
    if outcomes.broken:
        return Verdict.BROKEN
    return Verdict.CLEAN


def record(urls: Sequence[str], out: Path) -> Done:
    """`ocwwatch record`: fetch URLs and save their answers as a scenario folder for --replay."""
    policy = fetch_policy(HttpSettings(), replay=False)  # as `check` with default settings
    recorded = record_scenario(urls, out, now=utc_now(), policy=policy)
    if len(recorded.unanswered) == len(urls):
        return Done(describe_recorded(recorded), Verdict.OFFLINE)
    verdict = Verdict.FINDINGS if recorded.unanswered else Verdict.CLEAN
    return Done(describe_recorded(recorded), verdict)


def accept(config_path: Path | None, database: Path | None, ids: Sequence[str], cwd: Path) -> Done:
    """`ocwwatch baseline accept`: write the latest run's observations into the curated list."""
    config = load_config(config_path, cwd=cwd, database=database)
    with Store.open(config.settings.database) as store:
        run = store.latest_run()
        if run is None:
            raise ConfigError(
                f"{config.settings.database}: no complete run to accept; run `ocwwatch check`"
            )
        observations = {o.id: o for o in store.load_observations(run.id)}
    observations, refused = safe_suggestions(config, observations)
    changed = accept_baseline(config.settings.resources, observations, ids)
    lines = [f"  not applied: {line}" for line in refused]
    if not changed:
        head = f"{config.settings.resources}: already matches run {run.id}; nothing to do"
        return Done("\n".join([head, *lines]) + "\n")
    lines = [f"  {line}" for line in changed] + lines
    return Done("\n".join([f"{config.settings.resources}: accepted run {run.id}:", *lines]) + "\n")


def safe_suggestions(
    config: Config, observations: dict[str, Observation]
) -> tuple[dict[str, Observation], list[str]]:
    """The observations with every suggested URL the address guard would refuse taken out
    (issue 9: `baseline accept` never writes one into the list), and a line for each."""
    guard = AddressGuard(config.trusted_origins(), resolver=None)
    kept: dict[str, Observation] = {}
    refused: list[str] = []
    for key, observation in observations.items():
        suggestion = observation.suggestion
        reason = suggested_url_problem(guard, suggestion.url) if suggestion else None
        kept[key] = observation
        if reason is not None:
            refused.append(f"{key}: {reason}")
            kept[key] = observation.model_copy(update={"suggestion": None})
    return kept, refused


def suggested_url_problem(guard: AddressGuard, url: str) -> str | None:
    try:
        parsed = parse_url(url)
    except InvalidURLError as exc:
        return str(exc)
    refusal = guard.refusal(parsed)
    return refusal.reason if refusal is not None else None


def init(folder: Path) -> Done:
    """`ocwwatch init`: an editable copy of the settings and the curated list."""
    written = write_default_config(folder)
    lines = [f"wrote {path}" for path in written]
    lines.append(f"next: edit {written[-1]}, then run `ocwwatch check --config {written[0]}`")
    return Done("\n".join(lines) + "\n")


def show_report(
    config_path: Path | None, database: Path | None, run_id: int | None, fmt: str, cwd: Path
) -> Done:
    """`ocwwatch report`: a stored run's report, exactly as it was written."""
    config = load_config(config_path, cwd=cwd, database=database)
    with Store.open(config.settings.database) as store:
        run = store.load_run(run_id) if run_id is not None else store.latest_run()
        if run is None:
            raise ConfigError(f"{config.settings.database}: no complete run yet")
        if run.finished_at is None:
            raise ConfigError(
                f"{config.settings.database}: run {run.id} did not complete; "
                "its reports are partial or missing"
            )
        text = store.load_report(run.id, fmt)
    if text is None:
        raise ConfigError(f"{config.settings.database}: run {run.id} has no {fmt} report")
    return Done(text)


def history(config_path: Path | None, database: Path | None, resource_id: str, cwd: Path) -> Done:
    """`ocwwatch history`: one resource's timeline, one line per run."""
    config = load_config(config_path, cwd=cwd, database=database)
    with Store.open(config.settings.database) as store:
        observations = store.resource_history(resource_id)
    if not observations:
        raise ConfigError(f"{config.settings.database}: no observation of {resource_id!r} yet")
    return Done("\n".join(timeline(observations)) + "\n")


def timeline(observations: Sequence[Observation]) -> list[str]:
    """Lines that say when a resource moved, changed, failed and recovered."""
    lines = []
    last = None
    for item in observations:
        when = item.observed_at.strftime("%Y-%m-%d %H:%M")
        status = item.http_status if item.http_status is not None else "-"
        event = "" if last is None or last == item.outcome else f"  (was {last})"
        detail = f" {item.final_url}" if item.final_url and item.final_url != item.url else ""
        changes = f", {len(item.changes)} change(s)" if item.changes else ""
        lines.append(f"{when}  {item.outcome:<8} {status}{detail}{changes}{event}")
        last = item.outcome
    return lines
