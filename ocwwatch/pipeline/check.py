"""Checking one listed resource: the fetch, the PDF chase, the promises, the diffs, the verdict.

Each resource is checked on its own: an unexpected error in one becomes that resource's `error`
outcome (and an internal-error mark), and the run goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin, urlsplit

from ocwwatch.clock import Clock
from ocwwatch.config import Config
from ocwwatch.diff import check_promises, diff_baseline, diff_previous
from ocwwatch.extract import extract_page, find_missing_phrases
from ocwwatch.fetch import Fetcher
from ocwwatch.judge import (
    ANSWERED,
    UNREACHABLE_FAILURES,
    is_dead,
    judge_resource,
    redirect_kind,
    suggest_move,
)
from ocwwatch.models import (
    Extraction,
    FetchResult,
    Metadata,
    Observation,
    Outcome,
    PageKind,
    PromiseCheck,
    Resource,
    ResourceKind,
    Suggestion,
    Validators,
)
from ocwwatch.store import Store

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
MAX_PDF_CANDIDATES = 3  # resource pages tried when a PDF link lands on HTML


# What a previous run read of a resource it judged so is not the resource's page (a 404 page, an
# error, nothing): a page that comes back is compared with the baseline, not with that.
UNREAD_OUTCOMES = frozenset({Outcome.DEAD, Outcome.UNKNOWN, Outcome.ERROR})


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
        # A dead entry's promises are not looked for on its "not found" page (issue 12).
        dead = is_dead(result, metadata, resource.kind) is not None
        promises = () if dead else await self.check_promises(resource, result, metadata)
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
            name=resource.name,
            location=resource.location,
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
        previous = self.previous
        if readable and previous is not None and previous.outcome not in UNREAD_OUTCOMES:
            changes += diff_previous(previous, observation) if previous.url == resource.url else []
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
        progress(f"[{done}/{len(config.resources)}] {resource.id}: {progress_word(checked)}")
        return checked

    return list(await asyncio.gather(*(one(r) for r in config.resources)))


def progress_word(checked: Checked) -> str:
    """The outcome, except for a resource no host answered: that is not dead yet, since a run
    in which nothing answers judges nothing (issue 16); the run's end says which it was."""
    result = checked.result
    if result.status is None and not result.redirects and result.failure in UNREACHABLE_FAILURES:
        return f"no answer ({result.failure})"
    return checked.observation.outcome


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
