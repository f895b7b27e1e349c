"""The settings and the curated list as validated records: every key, its default and its rule.

Pydantic models that forbid unknown keys; nothing here reads or writes a file (load.py does).
"""

from __future__ import annotations

import re
import zoneinfo
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ocwwatch.models import ElementKind, Expected, Resource, ResourceKind
from ocwwatch.urls import InvalidURLError, parse_url, redact_url

# Resource ids name report anchors and history queries; keeping them to a safe alphabet means
# no id can ever become a path outside the reports folder.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CRON_FIELD = re.compile(r"^[A-Za-z0-9*/,\-?LW#]+$")
MAX_WORKERS = 256  # [deep] workers: checks in flight at most
WORKERS_PER_SLOT = 16  # [deep] workers unset: checks in flight per per-host concurrency slot

# Counts: at most what SQLite and the standard library take as a C int, far past any need
# (a larger one passed validation, then overflowed at run time).
MAX_COUNT = 2**31 - 1
PositiveInt = Annotated[int, Field(gt=0, le=MAX_COUNT)]
# Seconds and other measures: a number, never `inf` or `nan` (TOML has both). An infinite
# timeout is a run a silent server can hold forever, `nan` compares false with everything (a
# politeness interval that never waits), and `[store] busy_timeout_seconds = inf` crashed.
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
# Ages a run turns into a `timedelta` (retention, rechecks, Wayback misses): one past what
# timedelta holds (`inf`, 1e10 days) passed validation and crashed every run after it was
# published. A century is beyond any sensible age and well inside timedelta's range.
MAX_AGE_DAYS = 36_500
AgeDays = Annotated[float, Field(ge=0, le=MAX_AGE_DAYS, allow_inf_nan=False)]
AgeHours = Annotated[float, Field(ge=0, le=MAX_AGE_DAYS * 24, allow_inf_nan=False)]


class Section(BaseModel):
    """Base of every settings table: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class HttpSettings(Section):
    per_host_concurrency: PositiveInt = 2
    per_host_interval_seconds: NonNegativeFloat = 0.5
    timeout_seconds: PositiveFloat = 30.0
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    max_bytes: Annotated[int, Field(gt=0, le=1 << 40)] = 100 * 1024 * 1024  # at most 1 TiB
    max_redirects: Annotated[int, Field(ge=1, le=50)] = 10
    # Issue 11: what one URL's retries may wait in all, and what a run may wait beyond its
    # pace in all (retries, Retry-After pauses, slowed hosts); README, "Politeness and retries".
    url_wait_budget_seconds: NonNegativeFloat = 60.0
    run_wait_budget_seconds: NonNegativeFloat = 1800.0
    user_agent: str | None = None
    # Loopback, private and link-local addresses are refused to every request (issue 9) except
    # at the origins of the list's own resources and these: `scheme://host:port` texts.
    allowed_private_hosts: tuple[str, ...] = ()

    @field_validator("allowed_private_hosts")
    @classmethod
    def _origins(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            try:
                url = parse_url(value)
            except InvalidURLError:
                url = None
            if url is None or not url.is_web or url.has_credentials or "://" not in value:
                raise ValueError(
                    f"{redact_url(value)!r} is not an origin: write scheme, host and port, "
                    "e.g. 'http://10.0.0.5:8080' (a host name alone would allow every port)"
                )
        return values


Status = Annotated[int, Field(ge=100, le=999)]


class DeepOverride(Section):
    """`[deep.resources."<id>"]`: one course site's own deep-check settings."""

    max_pages: PositiveInt | None = None  # None: the [deep] value
    crawl: bool = True  # false: leave this course out of deep runs


class DeepSettings(Section):
    max_pages: PositiveInt = 2000  # per resource
    # Issue "Safe by default", item 6: one hostile page or site cannot make a run take
    # unbounded memory or requests. Links past these caps are not checked; the run's reports
    # say where the crawl was cut. Each is a count of distinct URLs.
    max_links_per_page: PositiveInt = 10_000  # read from one page, the first in page order
    max_links_per_run: PositiveInt = 200_000  # queued by one deep run, across every site
    # Links in flight across all hosts; None: WORKERS_PER_SLOT per `[http] per_host_concurrency`
    # slot, so that each host's politeness, not this pool, bounds the crawl (issue 15: with 16,
    # as many as the four busiest hosts' slots, a check waiting on one full host left another
    # host's free slot idle). A waiting check is a coroutine: cheap.
    workers: Annotated[int, Field(ge=1, le=MAX_WORKERS)] | None = None
    # Processes that read crawled pages; 0 reads them in the crawling process. Worth it only
    # when CPU, not politeness, bounds the crawl (a fast mirror, high per-host concurrency).
    extract_workers: Annotated[int, Field(ge=0, le=32)] = 0
    check_external: bool = True  # also check links that leave the crawled course sites
    # Issue 14: which of the URLs a reader's browser follows or loads are checked, by what the
    # element holding them is for (link, image, stylesheet, ...); every kind by default.
    link_kinds: tuple[ElementKind, ...] = tuple(ElementKind)
    # Issue 14: statuses a found link may answer and still be ok (a site that answers crawlers
    # 403 or 999 while readers get the page), everywhere or per host (`"www.linkedin.com"`).
    # Issue 14: check that a link's `#id` names an element of its page (pages the crawl reads).
    check_fragments: bool = False
    accept: tuple[Status, ...] = ()
    accept_hosts: dict[str, tuple[Status, ...]] = {}
    respect_robots: bool = True  # honour each host's robots.txt (RFC 9309)
    robots_user_agent: str = Field(default="ocwwatch", min_length=1)  # token robots.txt names
    # Moved to [http], as origins: a value here is refused with a message that says so.
    allowed_private_hosts: tuple[str, ...] = ()
    resources: dict[str, DeepOverride] = {}  # per-resource overrides, keyed by resource id
    # A link whose answer the crawl does not read (a file, another site's page) that a complete
    # run found ok at most this long ago keeps that verdict without a request; 0 asks every run.
    recheck_after_hours: AgeHours = 20.0
    # Issue 4, item 5: a dead link with no redirect to suggest gets the Wayback Machine's
    # snapshot closest to when it started failing, asked of archive.org's availability API.
    wayback: bool = True
    wayback_endpoint: str = Field(
        default="https://archive.org/wayback/available", pattern=r"^https?://[^/?#]+"
    )
    wayback_timeout_seconds: PositiveFloat = 10.0  # per lookup, retries and waiting included
    wayback_max_lookups: PositiveInt = 200  # per run; cached answers do not count
    wayback_miss_retry_days: Annotated[int, Field(gt=0, le=MAX_AGE_DAYS)] = (
        30  # a URL archive.org had no snapshot of
    )

    @field_validator("allowed_private_hosts")
    @classmethod
    def _moved(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        if values:
            raise ValueError(
                "moved to [http] allowed_private_hosts, where it names origins "
                "(e.g. 'http://10.0.0.5:8080') and applies to every request"
            )
        return values

    def max_pages_for(self, resource_id: str) -> int:
        override = self.resources.get(resource_id)
        if override is None or override.max_pages is None:
            return self.max_pages
        return override.max_pages

    def crawls(self, resource_id: str) -> bool:
        override = self.resources.get(resource_id)
        return override is None or override.crawl


class ScheduleSettings(Section):
    cron: str = "17 6 * * *"
    timezone: str = "UTC"
    jitter_seconds: Annotated[int, Field(ge=0, le=86_400)] = 300  # at most a day
    run_on_start: bool = False

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        fields = value.split()
        if len(fields) not in {5, 6} or not all(CRON_FIELD.match(f) for f in fields):
            raise ValueError(
                f"{value!r} is not a cron expression: expected five fields "
                "(minute hour day month weekday), e.g. '17 6 * * *', or six with seconds first"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like 'UTC'") from exc
        return value


class NotifySettings(Section):
    """Where to say that a run found something new or saw something recover (issue 13): Apprise
    URLs (`mailto://`, `slack://`, `ntfys://`, `json://`, ...). They hold the services' tokens:
    keep the settings file private; ocwwatch never prints or publishes them."""

    urls: tuple[str, ...] = ()
    timeout_seconds: PositiveFloat = 10.0


class StoreSettings(Section):
    # Issue 11: how long one SQLite statement waits for another connection's lock (a reader's
    # checkpoint, a `report` beside a check) before the run fails; 5 s lost whole runs.
    # SQLite takes it in milliseconds as a 32-bit int: a day is far beyond any use of it.
    busy_timeout_seconds: Annotated[float, Field(gt=0, le=86_400, allow_inf_nan=False)] = 30.0


class RetentionSettings(Section):
    """Issue 11: what is kept of old runs (observations, link checks, stored reports and report
    files). A run is kept while it is one of the newest `keep_runs` or younger than `keep_days`;
    the runs the latest state points at and every run that changed something are always kept."""

    keep_runs: Annotated[int, Field(ge=1, le=MAX_COUNT)] = 30
    keep_days: AgeDays = 30.0  # 0: age keeps nothing beyond keep_runs
    prune_after_run: bool = True  # false: only `ocwwatch prune` prunes


class Settings(Section):
    """The settings file, with its paths resolved against the file's own folder."""

    resources: Path = Path("resources.toml")
    database: Path = Path("../data/ocwwatch.db")
    reports_dir: Path = Path("../data/reports")
    reports_url: str | None = None  # where reports_dir is served; the feed links from there
    failures_before_finding: PositiveInt = 3
    lock_timeout_seconds: NonNegativeFloat = 600.0
    http: HttpSettings = HttpSettings()
    deep: DeepSettings = DeepSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    notify: NotifySettings = NotifySettings()
    store: StoreSettings = StoreSettings()
    retention: RetentionSettings = RetentionSettings()
    source: Path = Path()  # the settings file itself (not a TOML key)


class CuratedList(Section):
    resources: tuple[Resource, ...]

    @model_validator(mode="after")
    def _unique_ids(self) -> CuratedList:
        if not self.resources:
            raise ValueError("the list is empty: add at least one [[resources]] entry")
        seen: set[str] = set()
        for index, resource in enumerate(self.resources):
            if resource.id in seen:
                raise ValueError(f"resources[{index}]: id {resource.id!r} is used twice")
            seen.add(resource.id)
        return self


class SidecarEntry(Section):
    """What a document list cannot say about one of its links (issue 13): its kind, its name,
    its expectations; found by the link's id or its URL."""

    id: str | None = None
    url: str | None = None
    kind: ResourceKind | None = None
    name: str | None = None
    expected: Expected = Expected()

    @model_validator(mode="after")
    def _one_key(self) -> SidecarEntry:
        if (self.id is None) == (self.url is None):
            raise ValueError("give either `id` or `url` (the link it is about), not both")
        return self


class Sidecar(Section):
    """The optional `<document>.ocwwatch.toml` next to a Markdown or HTML list."""

    resources: tuple[SidecarEntry, ...] = ()


class Config(BaseModel):
    """Everything one run needs from the files on disk."""

    model_config = ConfigDict(frozen=True)

    settings: Settings
    resources: tuple[Resource, ...]

    def trusted_origins(self) -> tuple[str, ...]:
        """Origins that may be private because the user named them: the list's resources, the
        Wayback endpoint and [http] allowed_private_hosts. A redirect, a page or a found link
        never adds to them (issue 9)."""
        return (
            *(resource.url for resource in self.resources),
            self.settings.deep.wayback_endpoint,
            *self.settings.http.allowed_private_hosts,
        )
