"""`baseline accept`: the latest complete run's observations, written into the curated list.

Only suggestions the address guard would let through are applied (issue 9): a stored suggestion
can come from an older version or a hostile answer, and the list is what the next run trusts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ocwwatch.config import (
    Config,
    accept_baseline,
    refuse_packaged_list,
    rewrite_sidecar_urls,
    sidecar_path,
)
from ocwwatch.errors import ConfigError, FileWriteError
from ocwwatch.fetch.guard import AddressGuard
from ocwwatch.files import rewrite_file
from ocwwatch.lists import is_document, read_document, rewrite_document
from ocwwatch.models import Observation, Outcome
from ocwwatch.pipeline.publish import REPLAY
from ocwwatch.store import Store
from ocwwatch.urls import InvalidURLError, parse_url


@dataclass(frozen=True)
class Accepted:
    run_id: int
    changed: list[str]  # one line per key written
    refused: list[str]  # one line per suggestion left out, with the guard's reason
    diff: str = ""  # a document list's unified diff


def accept_latest(
    config: Config, ids: Sequence[str], *, replaced: bool = False, dry_run: bool = False
) -> Accepted:
    """Write the latest complete run's observations of `ids` (all when empty) into the list.

    An entry that now leads to another course (`replaced`) is taken only when named in `ids`
    or with `replaced`: a plain accept never swaps one course for another (issue 12).
    """
    refuse_packaged_list(config.settings.resources)
    busy = config.settings.store.busy_timeout_seconds
    with Store.open(config.settings.database, busy_timeout_seconds=busy) as store:
        run = store.latest_run()
        if run is None:
            raise ConfigError(
                f"{config.settings.database}: no complete run to accept; run `ocwwatch check` "
                "(replay runs are kept apart and never accepted)"
            )
        scenario = store.load_report(run.id, REPLAY)
        if scenario is not None:
            raise ConfigError(
                f"{config.settings.database}: run {run.id} replayed the recorded scenario "
                f"{scenario!r}; `baseline accept` takes only live runs (a recording is not "
                "what the sites answer today)"
            )
        observations = {o.id: o for o in store.load_observations(run.id)}
    observations, refused = safe_suggestions(config, observations)
    for key, observation in list(observations.items()):
        if observation.outcome is Outcome.REPLACED and not replaced and key not in ids:
            del observations[key]
            refused.append(f"{key}: now another course; take it with --replaced or by its id")
    if is_document(config.settings.resources):
        path = config.settings.resources
        accepted = accept_into_document(path, observations, ids, dry_run=dry_run)
        return Accepted(run.id, accepted.changed, refused + accepted.refused, accepted.diff)
    changed, skipped = accept_baseline(config.settings.resources, observations, ids)
    return Accepted(run_id=run.id, changed=changed, refused=refused + skipped)


def accept_into_document(
    path: Path, observations: Mapping[str, Observation], ids: Sequence[str], *, dry_run: bool
) -> Accepted:
    """Rewrite exactly the fixed URLs of a document list, where it still has them."""
    fixes = {
        key: (o.url, o.suggestion.url)
        for key, o in observations.items()
        if o.suggestion is not None and (not ids or key in ids)
    }
    original = read_document(path)
    rewrite = rewrite_document(path, original, fixes)
    if rewrite.applied and not dry_run:
        _write_list(path, rewrite.text)
        try:
            followed = rewrite_sidecar_urls(sidecar_path(path), rewrite.moves)
        except ConfigError as exc:
            raise _put_back(path, original, exc) from exc
        return Accepted(0, rewrite.applied + followed, rewrite.skipped, rewrite.diff)
    return Accepted(0, rewrite.applied, rewrite.skipped, rewrite.diff)  # the run: the caller's


def _write_list(path: Path, text: str) -> None:
    try:
        rewrite_file(path, text.encode("utf-8"), what="the list")
    except FileWriteError as exc:
        raise ConfigError(str(exc)) from exc


def _put_back(path: Path, original: str, failure: ConfigError) -> ConfigError:
    """The document as it was, when its sidecar could not follow its new URLs: a sidecar entry
    naming a URL the document no longer has fails every later check."""
    try:
        _write_list(path, original)
    except ConfigError as undo:
        return ConfigError(
            f"{failure}; {path} has the new URLs and could not be put back ({undo}): "
            f"write them into {sidecar_path(path).name} by hand before the next check"
        )
    return ConfigError(f"{failure}; {path.name} was put back as it was: nothing changed")


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
