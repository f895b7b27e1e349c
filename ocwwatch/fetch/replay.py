"""Recorded scenarios: load and save `scenario.json` folders, and answer requests from them.

Owns the scenario format and the replay transport (an httpx.MockTransport). It must not reach the
network: a request without a recording fails (strict) or becomes FailureKind.NO_RECORDING.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cached_property
from importlib import resources as package_files
from pathlib import Path

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ocwwatch.errors import ScenarioError
from ocwwatch.fetch.client import Fetcher
from ocwwatch.fetch.failures import NoRecordingError
from ocwwatch.fetch.policy import FetchPolicy
from ocwwatch.fetch.urls import normalise_url
from ocwwatch.files import write_file
from ocwwatch.models import FetchResult
from ocwwatch.validation import describe_validation

SCENARIO_FILE = "scenario.json"

# Framing headers describe the recorded connection, not the resource; replay sets its own.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
# What a 304 repeats from the full response (RFC 9110, section 15.4.5).
_NOT_MODIFIED_HEADERS = ("etag", "last-modified", "cache-control", "expires", "vary", "date")


class UnexpectedRequestError(AssertionError):
    """Strict replay got a request the scenario has no recording for (a test failure)."""


class RecordedEntry(BaseModel):
    """One entry of `responses` in scenario.json, as written on disk."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str = "GET"
    url: str
    status: int = Field(ge=100, le=599)
    headers: dict[str, str] = {}
    body: str | None = None  # path of the body file, relative to the scenario folder
    synthetic: bool = False  # written by hand to model a rule, not captured from the server
    source: str | None = None  # where the rule or the capture comes from

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if value.upper() not in ("GET", "HEAD"):
            raise ValueError("must be GET or HEAD")
        return value.upper()

    @field_validator("url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/]", value, flags=re.IGNORECASE):
            raise ValueError("must be an absolute http(s) URL")
        return value


class ScenarioFile(BaseModel):
    """scenario.json as written on disk."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    responses: list[RecordedEntry]


@dataclass(frozen=True)
class Recording:
    """One recorded response, its body loaded; header names lower-case."""

    url: str
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    method: str = "GET"
    synthetic: bool = False
    source: str | None = None


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario: its recordings, looked up by method and normalised URL."""

    name: str
    recordings: tuple[Recording, ...]
    description: str = ""
    folder: Path | None = None

    @cached_property
    def _index(self) -> dict[tuple[str, str], Recording]:
        return {(r.method, normalise_url(r.url)): r for r in self.recordings}

    def find(self, method: str, url: str) -> Recording | None:
        """The recording answering `method url`; a GET recording also answers HEAD."""
        key = normalise_url(url)
        found = self._index.get((method.upper(), key))
        if found is None and method.upper() == "HEAD":
            found = self._index.get(("GET", key))
        return found


def shipped_scenarios() -> Path:
    """The folder of the scenarios shipped inside ocwwatch (issue 16), so that a pip user's
    `--replay ocw-today` works without a checkout. Laid out as tests/fixtures is (scenarios/,
    pages/, synthetic/), so that their scenario.json files stay byte-identical."""
    return Path(str(package_files.files("ocwwatch") / "demo" / "scenarios"))


def find_scenario(path: Path) -> Path:
    """The scenario folder `--replay PATH` means: PATH when it exists, else the shipped
    scenario of that name when PATH is a bare name. Anything else is a ScenarioError naming
    the shipped ones, so that a typo is told apart from a missing checkout."""
    if path.exists():
        return path
    shipped = shipped_scenarios()
    if len(path.parts) == 1 and (shipped / path.name / SCENARIO_FILE).is_file():
        return shipped / path.name
    names = ", ".join(sorted(p.name for p in shipped.iterdir() if (p / SCENARIO_FILE).is_file()))
    raise ScenarioError(
        f"{path}: no such scenario folder, nor a scenario of that name shipped with ocwwatch "
        f"(shipped: {names})"
    )


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario folder (or its scenario.json); ScenarioError says where."""
    file = path / SCENARIO_FILE if path.is_dir() else path
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{file}: cannot read: {exc.strerror or exc}") from exc
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise ScenarioError(f"{file}: not valid JSON: {exc}") from exc
    try:
        parsed = ScenarioFile.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError("\n".join(describe_validation(str(file), exc, raw))) from exc
    recordings = tuple(
        _load_entry(file, index, entry) for index, entry in enumerate(parsed.responses)
    )
    _check_unique(file, recordings)
    return Scenario(
        name=parsed.name,
        description=parsed.description,
        recordings=recordings,
        folder=file.parent,
    )


def replay_transport(scenario: Scenario, *, strict: bool) -> httpx.MockTransport:
    """A transport answering from `scenario`, with 304s for matching validators.

    With no recording for a request, strict raises UnexpectedRequestError (an AssertionError that
    fails the test); otherwise NoRecordingError, which the Fetcher reports as NO_RECORDING.
    """

    def answer(request: httpx.Request) -> httpx.Response:
        method, url = request.method, str(request.url)
        recording = scenario.find(method, url)
        if recording is None:
            message = f"scenario {scenario.name!r} has no recording for {method} {url}"
            if strict:
                raise UnexpectedRequestError(message)
            raise NoRecordingError(message, request=request)
        status, headers, body = respond(
            recording,
            method=method,
            if_none_match=request.headers.get("if-none-match"),
            if_modified_since=request.headers.get("if-modified-since"),
        )
        # stream=, not content=: content= would have httpx read and decode the body right here,
        # before the Fetcher's cap and decoder see it.
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))

    return httpx.MockTransport(answer)


def respond(
    recording: Recording,
    *,
    method: str,
    if_none_match: str | None = None,
    if_modified_since: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body to send for `recording` (shared with the loopback test server)."""
    if is_not_modified(recording.headers, if_none_match, if_modified_since):
        kept = {k: recording.headers[k] for k in _NOT_MODIFIED_HEADERS if k in recording.headers}
        return 304, kept, b""
    headers = {k: v for k, v in recording.headers.items() if k not in _FRAMING_HEADERS}
    headers["content-length"] = str(len(recording.body))
    body = b"" if method.upper() == "HEAD" else recording.body
    return recording.status, headers, body


def is_not_modified(
    recorded: Mapping[str, str], if_none_match: str | None, if_modified_since: str | None
) -> bool:
    """True when the request's validators match the recorded ETag or Last-Modified.

    If-None-Match wins over If-Modified-Since when both are sent (RFC 9110, section 13.2.2).
    """
    if if_none_match is not None:
        etag = recorded.get("etag")
        if etag is None:
            return False
        wanted = {_weak_stripped(tag) for tag in if_none_match.split(",")}
        return "*" in wanted or _weak_stripped(etag) in wanted
    if if_modified_since is not None and "last-modified" in recorded:
        since = _http_date(if_modified_since)
        modified = _http_date(recorded["last-modified"])
        return since is not None and modified is not None and modified <= since
    return False


def _weak_stripped(tag: str) -> str:
    """If-None-Match compares weakly: W/"x" matches "x"."""
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def save_scenario(
    folder: Path, *, name: str, recordings: Sequence[Recording], description: str = ""
) -> Path:
    """Write `recordings` as a scenario folder (bodies under `bodies/`); return scenario.json."""
    bodies = folder / "bodies"
    entries = []
    for index, recording in enumerate(recordings):
        body_path = None
        if recording.body:
            bodies.mkdir(parents=True, exist_ok=True)
            body_path = f"bodies/{index:03d}{_suffix(recording.headers)}"
            write_file(folder / body_path, recording.body, what="the recorded body")
        entries.append(_entry_for(recording, body_path))
    document = ScenarioFile(name=name, description=description, responses=entries)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / SCENARIO_FILE
    text = json.dumps(document.model_dump(mode="json", exclude_defaults=True), indent=2)
    write_file(target, (text + "\n").encode("utf-8"), what="the scenario")
    return target


def recordings_from_result(result: FetchResult) -> list[Recording]:
    """The responses one fetch saw, redirect hops included, ready for save_scenario.

    Hops only keep their status, so their Location is rebuilt from the next hop's URL; the final
    body is stored decoded, so content-encoding is dropped with the framing headers.
    """
    # Each hop redirected to the next one's URL, the last to the final URL (none: no hop).
    targets = [hop.url for hop in result.redirects[1:]] + [result.final_url][
        : len(result.redirects)
    ]
    recordings = [
        Recording(url=hop.url, status=hop.status, headers={"location": target}, source="recorded")
        for hop, target in zip(result.redirects, targets, strict=True)
    ]
    if result.status is not None and result.failure is None:
        dropped = _FRAMING_HEADERS | {"content-encoding"}
        headers = {k: v for k, v in result.headers.items() if k not in dropped}
        recordings.append(
            Recording(
                url=result.final_url,
                status=result.status,
                headers=headers,
                body=result.body,
                source="recorded",
            )
        )
    return recordings


def _load_entry(file: Path, index: int, entry: RecordedEntry) -> Recording:
    body = b""
    if entry.body is not None:
        body_file = file.parent / entry.body
        try:
            body = body_file.read_bytes()
        except OSError as exc:
            where = f"{file}: responses[{index}].body"
            raise ScenarioError(f"{where}: cannot read {body_file}: {exc.strerror or exc}") from exc
    return Recording(
        url=entry.url,
        status=entry.status,
        headers={k.lower(): v for k, v in entry.headers.items()},
        body=body,
        method=entry.method,
        synthetic=entry.synthetic,
        source=entry.source,
    )


def _check_unique(file: Path, recordings: Iterable[Recording]) -> None:
    first: dict[tuple[str, str], int] = {}
    for index, recording in enumerate(recordings):
        key = (recording.method, normalise_url(recording.url))
        if key in first:
            raise ScenarioError(
                f"{file}: responses[{index}]: {key[0]} {key[1]} is already recorded at "
                f"responses[{first[key]}]; a URL is listed once per method"
            )
        first[key] = index


def _entry_for(recording: Recording, body_path: str | None) -> RecordedEntry:
    return RecordedEntry(
        method=recording.method,
        url=recording.url,
        status=recording.status,
        headers=dict(recording.headers),
        body=body_path,
        synthetic=recording.synthetic,
        source=recording.source,
    )


def _suffix(headers: Mapping[str, str]) -> str:
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return {"text/html": ".html", "application/pdf": ".pdf", "text/plain": ".txt"}.get(
        media, ".bin"
    )


def open_fetcher(policy: FetchPolicy, scenario: Scenario | None) -> Fetcher:
    """A live Fetcher, or one answered from `scenario` (an unrecorded URL fails as
    NO_RECORDING): the one place a run's fetcher is chosen."""
    transport = replay_transport(scenario, strict=False) if scenario is not None else None
    return Fetcher(policy, transport=transport)
