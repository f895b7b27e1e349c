"""One run of the check: fetch every resource, extract, diff, judge, store, report.

The only module that knows the order of the stages. Each resource is checked on its own: an
unexpected error in one becomes that resource's `error` outcome and the run goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin, urlsplit

from ocwwatch.clock import Clock, utc_now
from ocwwatch.config import Config
from ocwwatch.crawl import Crawled, Seed, crawl_sites
from ocwwatch.diff import check_promises, diff_baseline, diff_previous
from ocwwatch.extract import extract_page, find_missing_phrases
from ocwwatch.fetch import Fetcher
from ocwwatch.judge import (
    ANSWERED,
    UNREACHABLE_FAILURES,
    is_link_finding,
    judge_link,
    judge_resource,
    redirect_kind,
    suggest_move,
)
from ocwwatch.models import (
    Counts,
    Extraction,
    FetchResult,
    LinkCheck,
    Metadata,
    Observation,
    Outcome,
    PageKind,
    PromiseCheck,
    Report,
    Resource,
    ResourceKind,
    Run,
    Suggestion,
    Validators,
)
from ocwwatch.store import Store

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
MAX_PDF_CANDIDATES = 3  # resource pages tried when a PDF link lands on HTML


@dataclass
class Followed:
    """A page the check itself fetched beyond a resource's own URL."""

    result: FetchResult
    metadata: Metadata
    found_on: str


@dataclass
class Checked:
    """One resource's result: its observation and what was fetched to reach it."""

    observation: Observation
    result: FetchResult
    followed: list[Followed] = field(default_factory=list)
    internal_error: bool = False  # the check raised: a bug in ocwwatch, not the resource


@dataclass
class Outcomes:
    """What a whole run found, before it is stored."""

    report: Report
    validators: dict[str, Validators] = field(default_factory=dict)  # saved when complete
    broken: tuple[str, ...] = ()  # ids of resources whose check raised (internal errors)

    @property
    def findings(self) -> bool:
        return self.report.run.has_findings


class ResourceCheck:
    """Checks one resource: the fetch, the PDF chase, the promises, the diffs, the verdict."""

    def __init__(
        self,
        fetcher: Fetcher,
        validators: Mapping[str, Validators],
        previous: Observation | None,
        now: Clock,
    ) -> None:
        self.fetcher = fetcher
        self.previous = previous
        self.validators = validators
        self.now = now
        self.followed: list[Followed] = []

    async def run(self, resource: Resource) -> Checked:
        if self.previous is not None and self.previous.url != resource.url:
            self.previous = None  # the list now names another URL: its history starts anew
        result = await self.fetcher.fetch(resource.url, validators=self.conditional_for())
        extraction = self.read(result)
        metadata = extraction.metadata
        suggestion = suggest_move(result)
        if is_pdf_on_html(resource, result, metadata):
            suggestion = await self.find_pdf(result, extraction) or suggestion
        promises = await self.check_promises(resource, result, metadata)
        observation = self.observe(resource, result, metadata, promises, suggestion)
        return Checked(observation=observation, result=result, followed=self.followed)

    def conditional_for(self, promise: str | None = None) -> dict[str, Validators]:
        """Validators only where a 304 can be answered: what the previous run read there.

        A 304 carries no body, so it is asked for only when the previous observation of this
        resource (or of this promise's page) can stand in for the page.
        """
        previous = self.previous
        if previous is None or previous.final_url is None:
            return {}
        if promise is not None:
            if not any(check.text == promise for check in previous.promises):
                return {}
            return dict(self.validators)
        found = self.validators.get(previous.final_url)
        return {previous.final_url: found} if found else {}

    def read(self, result: FetchResult) -> Extraction:
        """The page's extraction; a 304 reuses what the previous run read from the same bytes."""
        if result.not_modified and self.previous is not None:
            return Extraction(metadata=self.previous.metadata)
        if result.status is None:
            return Extraction(metadata=Metadata(page_kind=PageKind.OTHER))
        return extract_page(result.body, result.final_url, result.content_type)

    def observe(
        self,
        resource: Resource,
        result: FetchResult,
        metadata: Metadata,
        promises: tuple[PromiseCheck, ...],
        suggestion: Suggestion | None,
    ) -> Observation:
        readable = result.failure is None and (
            result.status == 200 or (result.not_modified and self.previous is not None)
        )
        observation = Observation(
            id=resource.id,
            url=resource.url,
            final_url=result.final_url,
            http_status=result.status,
            redirects=result.redirects,
            redirect_kind=redirect_kind(result),
            outcome=Outcome.OK,
            metadata=metadata,
            promises=promises,
            not_modified=result.not_modified,
            observed_at=result.fetched_at,
        )
        changes = diff_baseline(resource.expected, metadata, promises) if readable else []
        if readable and self.previous is not None and self.previous.url == resource.url:
            changes += diff_previous(self.previous, observation)
        outcome, error = judge_resource(result, metadata, resource.kind, changes)
        return observation.model_copy(
            update={
                "outcome": outcome,
                "error": error,
                "changes": tuple(changes),
                "suggestion": suggestion,
            }
        )

    async def follow(
        self, url: str, found_on: str, validators: Mapping[str, Validators] | None = None
    ) -> Followed:
        result = await self.fetcher.fetch(url, validators=validators or {})
        metadata = (
            extract_page(result.body, result.final_url, result.content_type).metadata
            if result.status == 200
            else Metadata(page_kind=PageKind.OTHER)
        )
        followed = Followed(result=result, metadata=metadata, found_on=found_on)
        self.followed.append(followed)
        return followed

    async def find_pdf(self, landing: FetchResult, extraction: Extraction) -> Suggestion | None:
        """The PDF behind a landing page; an unchanged page (304) keeps last run's answer."""
        if landing.not_modified and self.previous is not None:
            return self.previous.suggestion
        return await self.chase_pdf(landing, extraction)

    async def chase_pdf(self, landing: FetchResult, extraction: Extraction) -> Suggestion | None:
        """Find the real PDF behind an HTML landing page: a direct link, or OCW's resource page."""
        for url in pdf_candidates(extraction)[:MAX_PDF_CANDIDATES]:
            page = await self.follow(url, landing.final_url)
            target = page.result.final_url if page.metadata.page_kind is PageKind.PDF else None
            if target is None and page.metadata.file_url:
                pdf = await self.follow(page.metadata.file_url, page.result.final_url)
                if pdf.metadata.page_kind is PageKind.PDF:
                    target = pdf.result.final_url
            if target:
                return Suggestion(
                    url=target,
                    reason=(
                        f"the link now lands on an HTML page ({landing.final_url}); "
                        f"that page links the PDF"
                    ),
                )
        return None

    async def check_promises(
        self, resource: Resource, result: FetchResult, metadata: Metadata
    ) -> tuple[PromiseCheck, ...]:
        missing: dict[str, tuple[str, ...]] = {}
        pages: dict[str, Followed] = {}
        for promise in resource.expected.promises:
            if not promise.phrases:
                continue
            if promise.page is None:
                missing[promise.text] = self.missing_on_resource(result, promise.phrases)
                continue
            url = urljoin(result.final_url, promise.page)
            if url not in pages:
                conditional = self.conditional_for(promise.text)
                pages[url] = await self.follow(url, result.final_url, conditional)
            missing[promise.text] = self.missing_on(pages[url], promise.text, promise.phrases)
        return check_promises(resource.expected.promises, metadata.resource_types, missing)

    def missing_on_resource(self, result: FetchResult, phrases: Sequence[str]) -> tuple[str, ...]:
        if result.status != 200 or result.failure is not None:
            return tuple(phrases)
        return find_missing_phrases(result.body, phrases)

    def missing_on(self, page: Followed, text: str, phrases: Sequence[str]) -> tuple[str, ...]:
        """Phrases a promise page lacks; an unchanged page (304) keeps last run's answer."""
        if page.result.not_modified and self.previous is not None:
            for check in self.previous.promises:
                if check.text == text:
                    return tuple(p for p in check.missing if p in phrases)
        return self.missing_on_resource(page.result, phrases)


def is_pdf_on_html(resource: Resource, result: FetchResult, metadata: Metadata) -> bool:
    return (
        resource.kind is ResourceKind.PDF
        and result.status in ANSWERED
        and metadata.page_kind is not PageKind.PDF
    )


def pdf_candidates(extraction: Extraction) -> list[str]:
    """Links likely to lead to the PDF: direct .pdf links first, then OCW resource pages."""
    direct = [link.url for link in extraction.links if urlsplit(link.url).path.endswith(".pdf")]
    resource_pages = [
        link.url
        for link in extraction.links
        if "/resources/" in urlsplit(link.url).path and link.url not in direct
    ]
    return list(dict.fromkeys(direct + resource_pages))


async def check_all(
    config: Config, fetcher: Fetcher, store: Store, run_id: int, *, now: Clock, progress: Progress
) -> list[Checked]:
    """Check every resource concurrently; politeness per host is the fetcher's job."""
    validators = store.load_validators()
    done = 0

    async def one(resource: Resource) -> Checked:
        nonlocal done
        previous = store.previous_observation(resource.id, run_id)
        try:
            checked = await ResourceCheck(fetcher, validators, previous, now).run(resource)
        except Exception as exc:  # one resource's bug must not stop the run
            log.exception("checking %s failed", resource.id)
            checked = failed_check(resource, exc, now())
        done += 1
        progress(f"[{done}/{len(config.resources)}] {resource.id}: {checked.observation.outcome}")
        return checked

    return list(await asyncio.gather(*(one(r) for r in config.resources)))


def failed_check(resource: Resource, exc: Exception, at: datetime) -> Checked:
    observation = Observation(
        id=resource.id,
        url=resource.url,
        outcome=Outcome.ERROR,
        metadata=Metadata(page_kind=PageKind.OTHER),
        error=f"internal error while checking: {type(exc).__name__}: {exc}",
        observed_at=at,
    )
    result = FetchResult(url=resource.url, final_url=resource.url, status=None, fetched_at=at)
    return Checked(observation=observation, result=result, internal_error=True)


def is_offline(checked: Sequence[Checked]) -> bool:
    """No host answered at all: the run proves nothing about the links."""
    return bool(checked) and all(
        c.result.status is None and c.result.failure in UNREACHABLE_FAILURES for c in checked
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


def count(
    observations: Sequence[Observation], links: Sequence[LinkCheck], failures_before: int
) -> Counts:
    dead_links = sum(is_link_finding(link, failures_before) for link in links)
    return Counts(
        resources=len(observations),
        links=len(links),
        dead=sum(o.outcome is Outcome.DEAD for o in observations) + dead_links,
        moved=sum(o.outcome is Outcome.MOVED for o in observations),
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
        if kinds[observation.id] is ResourceKind.OCW_COURSE:
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
        store.fail_run(run_id, now(), f"{type(exc).__name__}: {exc}")
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
    report = Report(run=run, resources=tuple(observations), links=tuple(links))
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
        return await crawl_sites(
            store,
            fetcher,
            run_id,
            deep_seeds(config, checked),
            deep=config.settings.deep,
            resources=config.resources,
            now=now,
            progress=progress,
        )
    links = judge_links(checked, store, now())
    store.save_link_checks(run_id, links)
    return Crawled(links)
