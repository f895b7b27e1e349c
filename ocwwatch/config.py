"""Settings and the curated list: read, validate, and (for `baseline accept`) rewrite in place.

Owns every TOML file ocwwatch reads or writes. Errors name the file, the entry and the field;
pydantic's ValidationError and tomllib's errors never leave this module.
"""

from __future__ import annotations

import logging
import re
import tomllib
import zoneinfo
from collections.abc import Collection, Mapping, Sequence
from importlib import resources as package_files
from pathlib import Path
from typing import Annotated, Any

import tomlkit
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Table
from tomlkit.toml_document import TOMLDocument

from ocwwatch.errors import ConfigError, FileWriteError
from ocwwatch.files import rewrite_file, write_file
from ocwwatch.models import Metadata, Observation, Outcome, Resource
from ocwwatch.urls import InvalidURLError, parse_url, redact_url
from ocwwatch.validation import describe_validation

log = logging.getLogger(__name__)

DEFAULT_SETTINGS = Path("config") / "ocwwatch.toml"
CONFIG_FILES = ("ocwwatch.toml", "resources.toml")

# Resource ids name report anchors and history queries; keeping them to a safe alphabet means
# no id can ever become a path outside the reports folder.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CRON_FIELD = re.compile(r"^[A-Za-z0-9*/,\-?LW#]+$")

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]


class Section(BaseModel):
    """Base of every settings table: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class HttpSettings(Section):
    per_host_concurrency: PositiveInt = 2
    per_host_interval_seconds: NonNegativeFloat = 0.5
    timeout_seconds: PositiveFloat = 30.0
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    max_bytes: PositiveInt = 100 * 1024 * 1024
    max_redirects: Annotated[int, Field(ge=1, le=50)] = 10
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
    workers: Annotated[int, Field(ge=1, le=256)] = 16  # links in flight across all hosts
    # Processes that read crawled pages; 0 reads them in the crawling process. Worth it only
    # when CPU, not politeness, bounds the crawl (a fast mirror, high per-host concurrency).
    extract_workers: Annotated[int, Field(ge=0, le=32)] = 0
    check_external: bool = True  # also check links that leave the crawled course sites
    respect_robots: bool = True  # honour each host's robots.txt (RFC 9309)
    robots_user_agent: str = Field(default="ocwwatch", min_length=1)  # token robots.txt names
    # Moved to [http], as origins: a value here is refused with a message that says so.
    allowed_private_hosts: tuple[str, ...] = ()
    resources: dict[str, DeepOverride] = {}  # per-resource overrides, keyed by resource id
    # A link whose answer the crawl does not read (a file, another site's page) that a complete
    # run found ok at most this long ago keeps that verdict without a request; 0 asks every run.
    recheck_after_hours: NonNegativeFloat = 20.0
    # Issue 4, item 5: a dead link with no redirect to suggest gets the Wayback Machine's
    # snapshot closest to when it started failing, asked of archive.org's availability API.
    wayback: bool = True
    wayback_endpoint: str = Field(
        default="https://archive.org/wayback/available", pattern=r"^https?://[^/?#]+"
    )
    wayback_timeout_seconds: PositiveFloat = 10.0  # per lookup, retries and waiting included
    wayback_max_lookups: PositiveInt = 200  # per run; cached answers do not count
    wayback_miss_retry_days: PositiveInt = 30  # a URL archive.org had no snapshot of

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
    jitter_seconds: Annotated[int, Field(ge=0)] = 300
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


# --- reading --------------------------------------------------------------------------------


def read_toml(path: Path) -> dict[str, Any]:
    """Parse one TOML file, turning every failure into a ConfigError that names the file."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{path}: is a folder, expected a TOML file") from exc
    except PermissionError as exc:
        raise ConfigError(f"{path}: cannot be read (permission denied)") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def describe_errors(path: Path, exc: ValidationError, data: dict[str, Any]) -> str:
    """Rewrite pydantic's errors as `file: entry: field: problem` lines."""
    return "\n".join(describe_validation(str(path), exc, data))


def _check_resource(resource: Resource, index: int, path: Path) -> None:
    where = f"{path}: resources[{index}] (id {resource.id!r})"
    if not ID_PATTERN.match(resource.id):
        raise ConfigError(
            f"{where}: id: use letters, digits, '.', '_' or '-' (at most 64), "
            "starting with a letter or digit"
        )
    try:
        url = parse_url(resource.url)
    except InvalidURLError:
        url = None
    if url is None or not url.is_web:
        shown = redact_url(resource.url)
        raise ConfigError(f"{where}: url: {shown!r} is not an absolute http(s) URL")
    if url.has_credentials:
        raise ConfigError(
            f"{where}: url: {url.href!r} holds credentials; ocwwatch never sends them and "
            "would publish them in its reports: remove the user name and password"
        )


def load_resources(path: Path) -> tuple[Resource, ...]:
    """Read and validate the curated list."""
    data = read_toml(path)
    try:
        curated = CuratedList.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_errors(path, exc, data)) from None
    for index, resource in enumerate(curated.resources):
        _check_resource(resource, index, path)
    return curated.resources


def load_settings(path: Path) -> Settings:
    """Read and validate the settings file; relative paths become relative to it."""
    data = read_toml(path)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_errors(path, exc, data)) from None
    folder = path.parent
    return settings.model_copy(
        update={
            "resources": folder / settings.resources,
            "database": folder / settings.database,
            "reports_dir": folder / settings.reports_dir,
            "source": path,
        }
    )


def load_config(path: Path | None, *, cwd: Path, database: Path | None = None) -> Config:
    """Settings and curated list for one run.

    Without `path`, uses `config/ocwwatch.toml` under `cwd` if present, else the list shipped
    in the package with the database and reports under `cwd/data` (never inside the package).
    """
    if path is None and not (cwd / DEFAULT_SETTINGS).is_file():
        settings = _packaged_settings(cwd)
    else:
        settings = load_settings(path if path is not None else cwd / DEFAULT_SETTINGS)
    if database is not None:
        settings = settings.model_copy(update={"database": database})
    resources = load_resources(settings.resources)
    _check_deep_overrides(settings, resources)
    return Config(settings=settings, resources=resources)


def _check_deep_overrides(settings: Settings, resources: Sequence[Resource]) -> None:
    """An override for an id the list does not have is a typo; say which one."""
    known = {resource.id for resource in resources}
    for resource_id in settings.deep.resources:
        if resource_id not in known:
            raise ConfigError(
                f"{settings.source}: deep.resources.{resource_id}: no resource with this id in "
                f"{settings.resources}"
            )


def _packaged_settings(cwd: Path) -> Settings:
    folder = package_files.files("ocwwatch") / "defaults"
    settings_path = Path(str(folder / "ocwwatch.toml"))
    log.info("no %s here: using the curated list shipped with ocwwatch", DEFAULT_SETTINGS)
    settings = load_settings(settings_path)
    return settings.model_copy(
        update={"database": cwd / "data" / "ocwwatch.db", "reports_dir": cwd / "data" / "reports"}
    )


def write_default_config(folder: Path) -> list[Path]:
    """Copy the packaged settings and curated list into `folder/config` (never overwriting)."""
    source = package_files.files("ocwwatch") / "defaults"
    target = folder / "config"
    written = []
    for name in CONFIG_FILES:
        destination = target / name
        if destination.exists() or destination.is_symlink():
            raise ConfigError(f"{destination}: already exists; not overwriting it")
        target.mkdir(parents=True, exist_ok=True)
        try:
            write_file(destination, (source / name).read_bytes(), what="the configuration")
        except FileWriteError as exc:
            raise ConfigError(str(exc)) from exc
        written.append(destination)
    return written


def parse_resources(text: str, *, source: str) -> Sequence[Resource]:
    """Validate curated-list text (used by `baseline accept` to check its own output)."""
    try:
        data = tomllib.loads(text)
        return CuratedList.model_validate(data).resources
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ConfigError(f"{source}: the rewritten list would be invalid: {exc}") from None


# --- `baseline accept`: write what was observed back into the curated list ------------------

SCALAR_FIELDS = ("title", "course_number", "term", "content_type", "sha256", "pages")
LIST_FIELDS = ("instructors", "units", "resource_types")


def accept_baseline(
    path: Path, observations: Mapping[str, Observation], ids: Collection[str] = ()
) -> list[str]:
    """Rewrite the curated list so that it says what was observed; return what changed.

    Only keys the list already has are updated, so the baseline never grows promises nobody
    made. A dead resource takes only its suggested URL: its metadata is of the wrong page.
    Comments, order and formatting survive (tomlkit); the file is replaced atomically, keeping
    its mode, owner and, if the list is a symlink, the link (the file it points to is rewritten).
    """
    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, TOMLKitError) as exc:
        raise ConfigError(f"{path}: cannot be read for rewriting: {exc}") from exc
    unknown = set(ids) - set(observations)
    if unknown:
        raise ConfigError(f"{path}: no observation for id(s) {', '.join(sorted(unknown))}")
    changed: list[str] = []
    for table in _resource_tables(document):
        observation = observations.get(str(table.get("id")))
        if observation is not None and (not ids or observation.id in ids):
            changed += [f"{observation.id}: {line}" for line in _accept_one(table, observation)]
    text = tomlkit.dumps(document)
    parse_resources(text, source=str(path))
    try:
        rewrite_file(path, text.encode("utf-8"), what="the list")
    except FileWriteError as exc:  # the list is configuration: unwritable, like unreadable, is 2
        raise ConfigError(str(exc)) from exc
    return changed


def _resource_tables(document: TOMLDocument) -> list[Table]:
    entries = document.get("resources")
    if not isinstance(entries, AoT):
        return []
    return [table for table in entries.body if isinstance(table, Table)]


def _accept_one(table: Table, observation: Observation) -> list[str]:
    changed = []
    if observation.suggestion and table.get("url") != observation.suggestion.url:
        changed.append(f"url {table.get('url')} -> {observation.suggestion.url}")
        table["url"] = observation.suggestion.url
    expected = table.get("expected")
    if observation.outcome is Outcome.DEAD or not isinstance(expected, Table):
        return changed
    changed += _accept_fields(expected, observation.metadata)
    promises = expected.get("promises")
    if isinstance(promises, AoT):
        changed += _accept_promises(promises, observation)
    return changed


def _accept_fields(expected: Table, metadata: Metadata) -> list[str]:
    changed = []
    for name in SCALAR_FIELDS + LIST_FIELDS:
        if name not in expected:
            continue
        value = getattr(metadata, name)
        new = list(value) if isinstance(value, tuple) else value
        if new is None or new == expected[name]:
            continue
        changed.append(f"expected.{name} {expected[name]!r} -> {new!r}")
        expected[name] = new
    return changed


def _accept_promises(promises: AoT, observation: Observation) -> list[str]:
    holds = {check.text: check.holds for check in observation.promises}
    changed = []
    for promise in promises.body:
        text = str(promise.get("text"))
        if text not in holds or bool(promise.get("holds", True)) == holds[text]:
            continue
        changed.append(f"promise {text!r} holds = {str(holds[text]).lower()}")
        if holds[text]:
            del promise["holds"]
        else:
            set_after_last_key(promise, "holds", False)
    return changed


def set_after_last_key(table: Table, key: str, value: bool) -> None:
    """Add a key after the table's last key, not after the comments that trail it.

    tomlkit appends at the very end of a table's body, which puts the key below a comment that
    introduces the next table (python-poetry/tomlkit, comments belong to the preceding table).
    """
    body = table.value.body
    last = max((i for i, (k, _item) in enumerate(body) if k is not None), default=None)
    if last is None or key in table:
        table[key] = value
        return
    # tomlkit has no public insert-at; `_insert_at` is in every release from 0.7 to 0.15, while
    # `_insert_after` went away in 0.15 (the range in pyproject.toml pins what was tested).
    table.value._insert_at(last + 1, key, value)
