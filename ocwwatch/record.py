"""`ocwwatch record`: fetch URLs with the real Fetcher and save what answered as a scenario folder.

Owns only the choice of what goes into a recording (every redirect hop, the final response, who
recorded it and when); the scenario format itself belongs to `ocwwatch.fetch`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from ocwwatch.errors import ConfigError
from ocwwatch.fetch import (
    Fetcher,
    FetchPolicy,
    Recording,
    normalise_url,
    recordings_from_result,
    save_scenario,
)
from ocwwatch.fetch.replay import SCENARIO_FILE
from ocwwatch.files import write_file
from ocwwatch.models import FetchResult
from ocwwatch.urls import InvalidURLError, parse_url

log = logging.getLogger(__name__)

# Cookies are the recorder's session, not the resource; they must not end up in a fixture.
PRIVATE_HEADERS = frozenset({"set-cookie", "set-cookie2"})


@dataclass(frozen=True)
class Recorded:
    """What `record_scenario` wrote: the scenario file, and the URLs without a final answer."""

    path: Path
    responses: int
    unanswered: tuple[str, ...]


def record_scenario(
    urls: Sequence[str], out: Path, *, now: datetime, policy: FetchPolicy | None = None
) -> Recorded:
    """Fetch every URL once and write `out/scenario.json` with its bodies beside it."""
    if (out / SCENARIO_FILE).exists():
        raise ConfigError(f"{out / SCENARIO_FILE}: already exists; record into a new folder")
    refuse_credentials(urls)
    # The URLs named on the command line may be private; nothing they redirect to may.
    policy = policy or FetchPolicy()
    allowed = (*policy.allowed_origins, *urls)
    results = asyncio.run(fetch_all(urls, policy.model_copy(update={"allowed_origins": allowed})))
    source = f"recorded by ocwwatch record on {now.date().isoformat()}"
    recordings = unique_recordings(results, source)
    description = f"Recorded by `ocwwatch record` on {now.isoformat()}: {', '.join(urls)}"
    path = save_scenario(out, name=out.name, recordings=recordings, description=description)
    mark_not_synthetic(path)
    unanswered = tuple(r.url for r in results if r.status is None or r.failure is not None)
    return Recorded(path=path, responses=len(recordings), unanswered=unanswered)


def refuse_credentials(urls: Sequence[str]) -> None:
    """A URL with user info is refused before anything is fetched, as the list refuses it
    (config/load.py): ocwwatch never sends credentials, and a scenario keeps the URLs it was
    asked for (in its description, as each response's URL), to be shared as a fixture."""
    for url in urls:
        try:
            parsed = parse_url(url)
        except InvalidURLError:
            continue  # recorded as unanswered, with the fetcher's reason
        if parsed.has_credentials:
            raise ConfigError(
                f"{parsed.href!r} holds credentials; ocwwatch never sends them and would "
                "record them in the scenario: remove the user name and password"
            )


async def fetch_all(urls: Sequence[str], policy: FetchPolicy) -> list[FetchResult]:
    async with Fetcher(policy) as fetcher:
        return await fetcher.fetch_many(urls)


def unique_recordings(results: Sequence[FetchResult], source: str) -> list[Recording]:
    """Every hop and final response, each URL once (two URLs may share a redirect target)."""
    seen: set[tuple[str, str]] = set()
    recordings = []
    for result in results:
        for recording in recordings_from_result(result):
            key = (recording.method, normalise_url(recording.url))
            if key in seen:
                continue
            seen.add(key)
            headers = {k: v for k, v in recording.headers.items() if k not in PRIVATE_HEADERS}
            recordings.append(replace(recording, headers=headers, synthetic=False, source=source))
    return recordings


def mark_not_synthetic(path: Path) -> None:
    """Say `"synthetic": false` in every entry, as the hand-curated scenarios do.

    save_scenario leaves out fields at their default; a recording states it was captured.
    """
    document = json.loads(path.read_text(encoding="utf-8"))
    for entry in document["responses"]:
        entry["synthetic"] = False
    write_file(path, (json.dumps(document, indent=2) + "\n").encode("utf-8"), what="the scenario")


def describe_recorded(recorded: Recorded) -> str:
    """The lines `ocwwatch record` prints."""
    lines = [f"wrote {recorded.path}: {recorded.responses} response(s)"]
    lines += [f"no final answer recorded for {url}" for url in recorded.unanswered]
    return "\n".join(lines) + "\n"
