"""One run of the check, whole: the lock, stale runs abandoned, the run started, every stage in
order, the reports published, the run finished or failed.

The only module that knows the order of the stages; a check's life begins and ends here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path

from ocwwatch.archive import SUGGESTED_STATES, archived_copy, suggest_snapshots
from ocwwatch.clock import Clock, utc_now
from ocwwatch.config import Config
from ocwwatch.crawl import Crawled, Seed, crawl_sites, plan_sites
from ocwwatch.errors import ReportFilesError, StoppingError, StoreError
from ocwwatch.fetch import (
    Fetcher,
    FetchPolicy,
    Scenario,
    find_scenario,
    load_scenario,
    open_fetcher,
)
from ocwwatch.judge import UNREACHABLE_FAILURES, News, is_link_finding, judge_link
from ocwwatch.models import (
    WORKING_LINKS,
    Counts,
    LinkCheck,
    LinkChecks,
    LinkState,
    Observation,
    Outcome,
    Report,
    Resource,
    ResourceKind,
    Run,
    Suggestion,
    Validators,
)
from ocwwatch.notify import check_urls, send
from ocwwatch.pipeline.check import Checked, Followed, Progress, check_all
from ocwwatch.pipeline.options import (
    archive_options,
    deep_options,
    fetch_policy,
    pages_to_crawl,
)
from ocwwatch.pipeline.progress import ticking
from ocwwatch.pipeline.publish import publish_run, stored_news
from ocwwatch.pipeline.retention import prune_quietly
from ocwwatch.pipeline.successor import find_successor
from ocwwatch.report import report_filename
from ocwwatch.store import Store
from ocwwatch.text import one_line
from ocwwatch.urls import redact_secrets

log = logging.getLogger(__name__)
# Resources whose page a deep run reads for links (a `page` alone, issue 12; a course or any
# other site within its folder, issue 14).
CRAWLED_KINDS = frozenset({ResourceKind.OCW_COURSE, ResourceKind.SITE, ResourceKind.PAGE})

REPLAY_FOLDER = "replay"  # beside the live database and reports, for `check --replay` runs


@dataclass
class Outcomes:
    """What a whole run found, before it is stored."""

    report: Report
    validators: dict[str, Validators] = field(default_factory=dict)  # saved when complete
    broken: tuple[str, ...] = ()  # ids of resources whose check raised (internal errors)
    database: Path | None = None  # where the run was stored (a replay's own database)
    unwritten: str | None = None  # why report files of the (complete) run are missing

    @property
    def findings(self) -> bool:
        return self.report.run.has_findings


def check_and_publish(
    config: Config,
    replay: Path | None,
    progress: Progress,
    *,
    deep: bool = False,
    tick_seconds: float | None = None,
    stopping: Callable[[], bool] | None = None,
) -> Outcomes:
    """A check's whole life: read the scenario of a replay, hold the writer lock, abandon runs
    a crash left `running`, run every stage, store and publish the reports. A run that fails
    is stored failed. A replay run is stored and published apart from live runs
    (`apart_from_live`); `Outcomes.database` says where. A deep check says how far it has got
    every `tick_seconds` (progress.py)."""
    replay = find_scenario(replay) if replay is not None else None
    scenario = load_scenario(replay) if replay is not None else None
    if replay is not None:
        config = apart_from_live(config)
    settings = config.settings
    policy = fetch_policy(
        settings.http, replay=scenario is not None, allowed_origins=config.trusted_origins()
    )
    check_urls(settings.notify.urls, str(settings.source))
    busy = settings.store.busy_timeout_seconds
    with (
        Store.open(settings.database, busy_timeout_seconds=busy) as store,
        store.lock(settings.lock_timeout_seconds, stopping),
        crawl_rows_cleared(store),
    ):
        if stopping is not None and stopping():  # asked to stop as the lock came free
            raise StoppingError(f"stopping: {settings.database}: no run started")
        store.abandon_stale_runs(utc_now())
        with ticking(settings.database, progress, tick_seconds if deep else None):
            outcomes = asyncio.run(
                _check_with(config, store, policy, scenario, progress=progress, deep=deep)
            )
        if replay is not None:
            outcomes.report = marked_replay(outcomes.report, replay)
        outcomes.database = settings.database
        report = outcomes.report
        try:
            run = publish_run(
                store, report, settings.reports_dir, settings.reports_url, outcomes.validators
            )
        except ReportFilesError as exc:
            return replace(outcomes, unwritten=str(exc))
        except BaseException as exc:
            fail_run_if_possible(store, report.run.id, exc)
            raise
        news = stored_news(store, run)
        prune_quietly(store, settings, utc_now())
    page = settings.reports_dir / report_filename(outcomes.report.run, "html")
    progress(
        f"reports: {page} (also .md, .json and .sarif; every run: {page.with_name('index.html')})"
    )
    if news is not None and news.any and settings.notify.urls:
        if scenario is not None:
            log.info("a replay run: no notification (the answers were recorded, not live)")
        else:
            title, body = describe_news(run, news, settings.reports_url)
            send(settings.notify.urls, title, body, settings.notify.timeout_seconds)
    return outcomes


CLEARED_VACUUM_SHARE = 0.5  # of the file free once the crawl's rows are cleared: VACUUM


@contextmanager
def crawl_rows_cleared(store: Store) -> Iterator[None]:
    """Once the run is over, complete or failed, its crawl frontier and sources go (issue 16):
    reports, `report N`, `history` and the JSON read `link_checks` and `links`, never these.
    A failure to clear (a full disk) is logged, not the run's: the next run's end clears them.

    They live in the working file, deleted whole (issue 15), so the database itself gains
    only what the run keeps. Its free pages (crawled pages' links rewritten, say) are given
    back to the disk when they are at least half the file; else the next run reuses them."""
    try:
        yield
    finally:
        try:
            cleared = store.clear_crawl_rows()
        except StoreError as exc:
            log.warning("the crawl's working rows were kept until the next run: %s", exc)
            cleared = False
        if cleared:
            try:
                freed = store.vacuum_if_worth_it(share=CLEARED_VACUUM_SHARE)
            except StoreError as exc:
                log.warning("the crawl's working rows' space stays in the file: %s", exc)
            else:
                if freed:
                    log.info("gave %.1f MB back to the disk", freed / 2**20)


def fail_run_if_possible(store: Store, run_id: int, exc: BaseException) -> None:
    """Store the run failed with the reason; when even that write fails (a full disk), the run
    stays `running` for the next check to mark failed, and the first error is the one told."""
    try:
        store.fail_run(run_id, utc_now(), f"{type(exc).__name__}: {exc}")
    except StoreError as also:
        log.info("run %d stays 'running' until the next check marks it failed: %s", run_id, also)


def describe_news(run: Run, news: News, reports_url: str | None) -> tuple[str, str]:
    """A notification's title and plain-text body: each new finding with its fix, each
    recovery, and where the report is. Every line is made inert (one line, no escapes): fix
    URLs come from what servers answered, and chat services render what they are sent."""
    counts = [f"{len(news.new)} new"] if news.new else []
    counts += [f"{len(news.recovered)} recovered"] if news.recovered else []
    title = f"ocwwatch run {run.id}: {', '.join(counts)}"
    lines = []
    if news.new:
        lines += ["New:", *(f"- {_inert(line)}" for line in news.new.values())]
    if news.recovered:
        lines += ["Recovered:", *(f"- {_inert(line)}" for line in news.recovered.values())]
    if reports_url:
        lines.append(f"Report: {reports_url.rstrip('/')}/run-{run.id}.html")
    return title, "\n".join(lines)


def _inert(line: str) -> str:
    """A news line as a notification tells it: one line, no secret of a URL (`redact_secrets`)."""
    return redact_secrets(one_line(line))


def apart_from_live(config: Config) -> Config:
    """The settings of a replay run (issue 16): its database and reports in a `replay/` folder
    beside the live ones, and no feed URL. A recording then never becomes a live run's
    "previous", never lends it validators, never reaches the live index or feed, and never
    feeds `baseline accept`, which reads the live database (and refuses a replay run)."""
    settings = config.settings
    database = settings.database.parent / REPLAY_FOLDER / settings.database.name
    apart = settings.model_copy(
        update={
            "database": database,
            "reports_dir": settings.reports_dir / REPLAY_FOLDER,
            "reports_url": None,
        }
    )
    return config.model_copy(update={"settings": apart})


def marked_replay(report: Report, scenario: Path) -> Report:
    """The report of a run answered by the recorded `scenario`, saying so (its folder name)."""
    run = report.run.model_copy(update={"replay": scenario.resolve().name})
    return report.model_copy(update={"run": run})


async def _check_with(
    config: Config,
    store: Store,
    policy: FetchPolicy,
    scenario: Scenario | None,
    *,
    progress: Progress,
    deep: bool,
) -> Outcomes:
    async with open_fetcher(policy, scenario) as fetcher:
        return await run_check(config, store, fetcher, progress=progress, deep=deep)


def is_offline(checked: Sequence[Checked]) -> bool:
    """No host answered at all: the run proves nothing about the links. A chain whose first
    hops answered before an unreachable one was answered (issue 11)."""
    return bool(checked) and all(
        c.result.status is None
        and not c.result.redirects
        and c.result.failure in UNREACHABLE_FAILURES
        for c in checked
    )


def judge_links(checked: Sequence[Checked], store: Store, now: datetime) -> list[LinkCheck]:
    found_on: dict[str, list[str]] = {}
    latest: dict[str, Followed] = {}
    for item in checked:
        for followed in item.followed:
            found_on.setdefault(followed.result.url, []).append(followed.found_on)
            latest[followed.result.url] = followed
    return [
        judge_link(f.result, f.metadata, found_on[url], store.link_state(url), now)
        for url, f in latest.items()
    ]


def collect_validators(checked: Sequence[Checked]) -> dict[str, Validators]:
    """Validators for every 200 fetched this run, to make the next run conditional."""
    values = {}
    results = [c.result for c in checked] + [f.result for c in checked for f in c.followed]
    for result in results:
        found = result.validators
        if result.status == 200 and result.failure is None and (found.etag or found.last_modified):
            values[result.final_url] = found
    return values


def count(observations: Sequence[Observation], links: LinkChecks, failures_before: int) -> Counts:
    to_fix = links.where(frozenset(LinkState) - WORKING_LINKS)
    dead_links = sum(is_link_finding(link, failures_before) for link in to_fix)
    return Counts(
        resources=len(observations),
        links=len(links),
        dead=sum(o.outcome is Outcome.DEAD for o in observations) + dead_links,
        moved=sum(o.outcome is Outcome.MOVED for o in observations),
        replaced=sum(o.outcome is Outcome.REPLACED for o in observations),
        changed=sum(o.outcome is Outcome.CHANGED for o in observations),
    )


def settle_offline(observations: list[Observation]) -> list[Observation]:
    """In an offline run nothing is judged dead: a DNS failure there is the network's."""
    return [
        o.model_copy(update={"outcome": Outcome.UNKNOWN}) if o.outcome is Outcome.DEAD else o
        for o in observations
    ]


def deep_seeds(config: Config, checked: Sequence[Checked]) -> list[Seed]:
    """What the resource checks fetched, for `--deep`: course homes and followed pages.

    The crawl fetches none of them again; it stores every link it judges batch by batch
    (anchors included), so the deep branch of `judge_run` saves no links itself.
    """
    kinds = {resource.id: resource.kind for resource in config.resources}
    seeds = []
    for item in checked:
        observation = item.observation
        if kinds[observation.id] in CRAWLED_KINDS:
            seeds.append(Seed(item.result, observation.metadata, resource_id=observation.id))
        seeds += [Seed(f.result, f.metadata, found_on=f.found_on) for f in item.followed]
    return seeds


async def run_check(
    config: Config,
    store: Store,
    fetcher: Fetcher,
    *,
    now: Clock = utc_now,
    progress: Progress = lambda _line: None,
    deep: bool = False,
) -> Outcomes:
    """One whole run, stored step by step; the returned report is what was stored.

    With `deep`, the links inside every `ocw-course` site are crawled and checked too (issue 4).
    """
    started = now()
    run_id = store.start_run(started)
    try:
        return await judge_run(
            config, store, fetcher, run_id, started, now=now, progress=progress, deep=deep
        )
    except BaseException as exc:
        # Interrupted or broken: keep the run, but never let it count as complete.
        fail_run_if_possible(store, run_id, exc)
        raise


async def judge_run(
    config: Config,
    store: Store,
    fetcher: Fetcher,
    run_id: int,
    started: datetime,
    *,
    now: Clock,
    progress: Progress,
    deep: bool = False,
) -> Outcomes:
    checked = await check_all(config, fetcher, store, run_id, now=now, progress=progress)
    offline = is_offline(checked)
    if offline:
        progress("offline: no host answered, so nothing was judged")
    else:
        checked = await succeed_dead(config, fetcher, checked, progress)
        checked = await archive_dead(config, store, fetcher, checked, now=now)
    observations = [c.observation for c in checked]
    if offline:
        observations = settle_offline(observations)
    kinds = {resource.id: resource.kind for resource in config.resources}
    for observation in observations:
        store.save_observation(run_id, observation, kind=kinds[observation.id])
    # An offline run judges nothing, so it crawls nothing either.
    found = await find_links(
        config,
        store,
        fetcher,
        run_id,
        checked,
        now=now,
        progress=progress,
        crawl=deep and not offline,
    )
    links = found.links
    counts = count(observations, links, config.settings.failures_before_finding)
    finished = now()
    run = Run(
        id=run_id,
        started_at=started,
        finished_at=finished,
        offline=offline,
        counts=counts,
        notes=found.notes,
    )
    report = Report(run=run, resources=tuple(observations), links=links)
    broken = tuple(c.observation.id for c in checked if c.internal_error)
    return Outcomes(report=report, validators=collect_validators(checked), broken=broken)


async def find_links(
    config: Config,
    store: Store,
    fetcher: Fetcher,
    run_id: int,
    checked: Sequence[Checked],
    *,
    now: Clock,
    progress: Progress,
    crawl: bool,
) -> Crawled:
    """The run's links, judged and stored: every link of the course sites when `crawl`
    (the deep check), else those the resource checks followed."""
    if crawl:
        return await crawl_deep(config, store, fetcher, run_id, checked, now=now, progress=progress)
    links = judge_links(checked, store, now())
    store.save_link_checks(run_id, links)
    return Crawled(LinkChecks(links))


async def crawl_deep(
    config: Config,
    store: Store,
    fetcher: Fetcher,
    run_id: int,
    checked: Sequence[Checked],
    *,
    now: Clock,
    progress: Progress,
) -> Crawled:
    """The deep check: crawl the course sites, then ask the archive about dead links that no
    redirect explains (`deep.wayback`)."""
    deep = config.settings.deep
    seeds = deep_seeds(config, checked)
    kinds = {resource.id: resource.kind for resource in config.resources}
    sites = plan_sites(seeds, partial(pages_to_crawl, deep, kinds))
    crawled = await crawl_sites(
        store,
        fetcher,
        run_id,
        seeds,
        sites=sites,
        options=deep_options(deep, config.settings.http.per_host_concurrency),
        now=now,
        progress=progress,
    )
    if not deep.wayback:
        return crawled
    # Only dead links are looked up, and those are the ones held: the store gets the snapshots.
    dead = list(crawled.links.where(SUGGESTED_STATES))
    found = await suggest_snapshots(
        store, fetcher, run_id, dead, options=archive_options(deep), now=now, progress=progress
    )
    return Crawled(crawled.links.with_updates(found), crawled.notes)


async def succeed_dead(
    config: Config, fetcher: Fetcher, checked: list[Checked], progress: Progress
) -> list[Checked]:
    """Dead course entries with a verified successor (issue 12): the successor is the fix,
    and the entry is `replaced` when it is another course (number or term), else `moved`."""
    pages = [(c.result.final_url, c.observation.metadata) for c in checked]
    pages += [(f.result.final_url, f.metadata) for c in checked for f in c.followed]
    resources = {resource.id: resource for resource in config.resources}
    updated = []
    for item in checked:
        resource = resources[item.observation.id]
        successor = None
        if item.observation.outcome is Outcome.DEAD and resource.kind is ResourceKind.OCW_COURSE:
            successor = await find_successor(fetcher, resource, pages)
        if successor is None:
            updated.append(item)
            continue
        progress(f"{resource.id}: successor {successor.url}")
        observation = with_successor(item.observation, resource, successor)
        updated.append(replace(item, observation=observation))
    return updated


async def archive_dead(
    config: Config, store: Store, fetcher: Fetcher, checked: list[Checked], *, now: Clock
) -> list[Checked]:
    """Dead entries that no redirect, successor or landing page gave a fix: their archived
    copy is the fix, where the Wayback Machine has one (`[deep] wayback`, public URLs only)."""
    if not config.settings.deep.wayback:
        return checked
    options = archive_options(config.settings.deep)
    updated = []
    for item in checked:
        observation = item.observation
        if observation.outcome is not Outcome.DEAD or observation.suggestion is not None:
            updated.append(item)
            continue
        found = await archived_copy(store, fetcher, observation.url, options=options, now=now())
        fixed = observation.model_copy(update={"suggestion": found})
        updated.append(item if found is None else replace(item, observation=fixed))
    return updated


def with_successor(observation: Observation, resource: Resource, found: Suggestion) -> Observation:
    shown = found.metadata
    expected = resource.expected
    other = shown is not None and (
        (expected.term is not None and shown.term != expected.term)
        or (expected.course_number or "").upper() != (shown.course_number or "").upper()
    )
    outcome = Outcome.REPLACED if other else Outcome.MOVED
    why = f"{observation.error}; its successor: {found.url}" if observation.error else None
    return observation.model_copy(update={"outcome": outcome, "suggestion": found, "error": why})
