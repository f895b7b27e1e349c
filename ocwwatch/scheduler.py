"""`ocwwatch daemon`: APScheduler 3 around one check, on the settings' cron schedule.

Never two runs at once (max_instances=1, coalesced misfires); a failed run is logged and the
daemon waits for the next tick; SIGTERM and SIGINT stop it after the run in progress ends.
Owns apscheduler; knows nothing about how a check works beyond `commands.run_once`.
"""

from __future__ import annotations

import logging
import re
import signal
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import NoReturn

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from ocwwatch.commands import run_once
from ocwwatch.config import ScheduleSettings, load_config
from ocwwatch.errors import ConfigError, OcwwatchError

log = logging.getLogger(__name__)

WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
WEEKDAY_NUMBER = re.compile(r"(?<![/\d])([0-7])(?!\d)")  # a weekday, not a step like */2
MISFIRE_GRACE_SECONDS = 3600  # a tick missed by less than this (a suspended laptop) still runs


def build_trigger(schedule: ScheduleSettings, source: Path) -> CronTrigger:
    """A cron trigger from the settings: five crontab fields, or six with seconds first.

    Weekday numbers follow crontab (0 and 7 = Sunday); APScheduler 3 counts 0 as Monday
    (agronholm/apscheduler#286), so numbers are translated to names first.
    """
    fields = schedule.cron.split()
    second = fields.pop(0) if len(fields) == 6 else "0"
    minute, hour, day, month, weekday = fields
    weekday = WEEKDAY_NUMBER.sub(lambda m: WEEKDAYS[int(m.group(1)) % 7], weekday)
    try:
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=weekday,
            timezone=schedule.timezone,
            jitter=schedule.jitter_seconds or None,
        )
    except ValueError as exc:
        raise ConfigError(f"{source}: schedule.cron: {schedule.cron!r}: {exc}") from exc


def scheduled_check(config_path: Path | None, database: Path | None, cwd: Path) -> None:
    """One tick: run a check and log one line; failures are logged, never raised."""
    try:
        run = run_once(config_path, database, cwd=cwd)
    except OcwwatchError as exc:
        log.error("check failed: %s; waiting for the next tick", exc)
        return
    except Exception:
        log.exception("check failed with an internal error; waiting for the next tick")
        return
    counts = run.counts
    log.info(
        "run %d %s: %d resources, %d links, %d dead, %d moved, %d changed",
        run.id,
        "offline" if run.offline else "done",
        counts.resources,
        counts.links,
        counts.dead,
        counts.moved,
        counts.changed,
    )


def _stop(signum: int, _frame: FrameType | None) -> NoReturn:
    raise SystemExit(f"signal {signal.Signals(signum).name}")


def run_daemon(config_path: Path | None, database: Path | None, *, cwd: Path) -> int:
    """Run checks on schedule until SIGTERM or SIGINT; returns the exit code (0)."""
    config = load_config(config_path, cwd=cwd, database=database)
    schedule = config.settings.schedule
    trigger = build_trigger(schedule, config.settings.source)
    scheduler = BlockingScheduler(
        timezone=schedule.timezone,
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": MISFIRE_GRACE_SECONDS,
        },
    )
    first = {"next_run_time": datetime.now(UTC)} if schedule.run_on_start else {}
    scheduler.add_job(
        scheduled_check, trigger, args=(config_path, database, cwd), id="check", **first
    )
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("daemon started: schedule %r (%s)", schedule.cron, schedule.timezone)
    try:
        scheduler.start()
    except SystemExit as stop:
        log.info("stopping on %s; letting the run in progress finish", stop)
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=True)
    log.info("daemon stopped")
    return 0
