"""Retention applied (issue 11): the settings' rules turned into the runs to drop, their rows
dropped from the store, their report files removed, the index and feed rebuilt without them.

Runs after each check (inside its lock) and from `ocwwatch prune`; it never prints.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ocwwatch.config import Settings
from ocwwatch.errors import OcwwatchError
from ocwwatch.pipeline.publish import write_listings
from ocwwatch.report import FILE_SUFFIX
from ocwwatch.store import Prunable, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pruning:
    """What a prune dropped (or, dry, would drop)."""

    runs: tuple[Prunable, ...]
    files: tuple[Path, ...]
    freed_bytes: int = 0  # given back to the disk by VACUUM
    dry_run: bool = False


def prune_runs(store: Store, settings: Settings, now: datetime, *, dry_run: bool) -> Pruning:
    """Drop the runs the `[retention]` rules let go, with their rows and report files."""
    rules = settings.retention
    keep_before = now - timedelta(days=rules.keep_days) if rules.keep_days else None
    runs = tuple(store.prunable_runs(rules.keep_runs, keep_before))
    files = tuple(
        path
        for run in runs
        for suffix in dict.fromkeys(FILE_SUFFIX.values())
        if (path := settings.reports_dir / f"run-{run.run_id}.{suffix}").exists()
    )
    if dry_run or not runs:
        return Pruning(runs, files, dry_run=dry_run)
    store.drop_runs([run.run_id for run in runs])
    for path in files:  # after the rows: a file is never left without its run's record
        path.unlink(missing_ok=True)
    write_listings(store, settings.reports_dir, settings.reports_url)
    freed = store.vacuum_if_worth_it()
    log.info("pruned %d old runs and %d report files", len(runs), len(files))
    return Pruning(runs, files, freed)


def prune_quietly(store: Store, settings: Settings, now: datetime) -> None:
    """Retention after a run: a failure is logged, never the run's (it is complete by now, and
    its report is still to be printed and told), whatever the failure: a bug here once turned
    every published run into exit 3 with no report and no notification."""
    if not settings.retention.prune_after_run:
        return
    try:
        prune_runs(store, settings, now, dry_run=False)
    except (OcwwatchError, OSError) as exc:
        log.warning("old runs were not pruned: %s", exc)
    except Exception as exc:  # a bug: logged with its traceback, the run's outcome kept
        log.error("old runs were not pruned (an ocwwatch bug): %s: %s", type(exc).__name__, exc)
        log.debug("the pruning failed here", exc_info=exc)
