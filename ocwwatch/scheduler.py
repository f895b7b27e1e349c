"""`ocwwatch daemon`: APScheduler 3 around one check, on the settings' cron schedule.

Never two runs at once (max_instances=1, coalesced misfires); a failed run is logged and the
daemon waits for the next tick. The first SIGTERM or SIGINT lets the run in progress finish (a
tick still waiting for the lock starts none), the second stops at once; SIGHUP reads the
settings again (issue 11). Owns apscheduler; knows nothing of a check beyond the job it is given.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_SCHEDULER_STARTED
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

from ocwwatch.config import ScheduleSettings
from ocwwatch.errors import ConfigError, OcwwatchError, StoppingError
from ocwwatch.models import Run

log = logging.getLogger(__name__)

WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab numbering: 0 = Sunday
MISFIRE_GRACE_SECONDS = 3600  # a tick missed by less than this (a suspended laptop) still runs
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# The scheduler sleeps on a monotonic clock: it looks at the wall clock again at least this
# often, so that a clock set forward is noticed (issue 11), not slept through until the tick is
# missed by more than the grace time.
WAKE_SECONDS = 60.0

Job = Callable[[Callable[[], bool]], Run]  # a check, given "has the daemon been asked to stop?"


def build_trigger(schedule: ScheduleSettings, source: Path) -> BaseTrigger:
    """A cron trigger from the settings: five crontab fields, or six with seconds first.

    As in crontab, when both the day of the month and the weekday are restricted (neither
    starts with `*`), a day matching either runs (`0 6 1 * 1`: the 1st and every Monday);
    APScheduler's CronTrigger wants both, so that case is two triggers, either firing.
    One that never fires (`0 0 30 2 *`, 30 February) is refused: APScheduler takes it and
    pauses the job for good, and the daemon would idle forever after saying it started.
    """
    fields = schedule.cron.split()
    second = fields.pop(0) if len(fields) == 6 else "0"
    minute, hour, day, month, weekday = fields
    jitter = schedule.jitter_seconds or None

    def cron(day: str, weekday: str, jitter: int | None) -> CronTrigger:
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=crontab_weekdays(weekday),
            timezone=schedule.timezone,
            jitter=jitter,
        )

    either = not day.startswith(("*", "?")) and not weekday.startswith(("*", "?"))
    try:
        trigger: BaseTrigger = (
            OrTrigger([cron(day, "*", None), cron("*", weekday, None)], jitter=jitter)
            if either
            else cron(day, weekday, jitter)
        )
    except ValueError as exc:
        raise ConfigError(f"{source}: schedule.cron: {schedule.cron!r}: {exc}") from exc
    # With no year field, a date that matches recurs; APScheduler gives up looking at year
    # 9999, a fraction of a second for a schedule that never fires, at once for any other.
    if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
        raise ConfigError(
            f"{source}: schedule.cron: {schedule.cron!r} never fires: no date matches its day, "
            "month and weekday fields together"
        )
    return trigger


def crontab_weekdays(field: str) -> str:
    """A crontab weekday field in APScheduler's terms: numbers become the days they name.

    Crontab counts 0 and 7 as Sunday; APScheduler 3 counts 0 as Monday and reads `*/2` from
    Monday (agronholm/apscheduler#286), so numeric items, ranges and steps are expanded to day
    names ("1-5" -> mon..fri, "0-6" -> every day, "*/2" -> sun,tue,thu,sat). Names pass through.
    """
    if field == "*" or not any(char.isdigit() for char in field):
        return field
    days: set[int] = set()
    kept: list[str] = []
    for item in field.split(","):
        numbers = _weekday_numbers(item)
        if numbers is None:
            kept.append(item)  # a name, or something for APScheduler to judge
        else:
            days |= numbers
    return ",".join([WEEKDAYS[day] for day in sorted(days)] + kept)


def _weekday_numbers(item: str) -> set[int] | None:
    base, slash, step_text = item.partition("/")
    first, dash, last = base.partition("-")
    if base == "*":
        first, last = "0", "6"
    elif not dash:
        last = "7" if slash else first
    if not (first.isdigit() and last.isdigit() and (step_text.isdigit() or not slash)):
        return None
    start, end, step = int(first), int(last), int(step_text) if slash else 1
    if not 0 <= start <= end <= 7 or step < 1:
        raise ValueError(f"weekday {item!r}: use 0-7 (0 and 7 are Sunday) and low-high ranges")
    return {number % 7 for number in range(start, end + 1, step)}


def scheduled_check(job: Job, stopping: Callable[[], bool]) -> None:
    """One tick: run a check and log one line; failures are logged, never raised."""
    if stopping():
        return
    try:
        run = job(stopping)
    except StoppingError as exc:
        log.info("%s", exc)
        return
    except OcwwatchError as exc:
        log.error("check failed, waiting for the next tick: %s", exc)
        return
    except Exception:
        log.exception("check failed with an internal error; waiting for the next tick")
        return
    counts = run.counts
    log.info(
        "run %d %s: %d resources, %d links, %d dead, %d moved, %d changed",
        run.id,
        "offline" if run.offline else "complete",
        counts.resources,
        counts.links,
        counts.dead,
        counts.moved,
        counts.changed,
    )


class StopRequest:
    """What the signal handler shares with the stopping thread: an Event, and nothing else.

    A handler runs on the main thread between two bytecodes, maybe inside APScheduler while it
    holds its locks; so it only sets an Event that no other main-thread code touches, and the
    shutting down (locks, waiting for the run) happens on another thread.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signals: list[int] = []

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.signals:
            os.write(2, b"ocwwatch: stopping now; the unfinished run will be marked failed\n")
            os._exit(128 + signum)
        self.signals.append(signum)
        self.event.set()


def stop_when_asked(stop: StopRequest, scheduler: BlockingScheduler) -> None:
    """Wait for a signal, then start no new run and shut down once the current one ends."""
    stop.event.wait()
    name = signal.Signals(stop.signals[0]).name
    log.info("stopping on %s: the run in progress ends first; send it again to stop now", name)
    while True:
        scheduler.remove_all_jobs()
        try:
            scheduler.shutdown(wait=True)
        except SchedulerNotRunningError:  # the signal came before start(): wait for it
            time.sleep(0.05)
        else:
            return


@dataclass(frozen=True)
class Schedule:
    """A schedule ready to put in force: its settings, the job's trigger, and the same trigger
    without jitter for the "next run at" line. That line asks a trigger of our own, not the
    job's: the scheduler's locks are held while it waits for the last run to end on shutdown."""

    settings: ScheduleSettings
    trigger: BaseTrigger
    unjittered: BaseTrigger


def build_schedule(settings: ScheduleSettings, source: Path) -> Schedule:
    """Both triggers from the settings, or the ConfigError that refuses them."""
    unjittered = settings.model_copy(update={"jitter_seconds": 0})
    return Schedule(settings, build_trigger(settings, source), build_trigger(unjittered, source))


class InForce:
    """The schedule the daemon follows, replaced whole by the SIGHUP thread and read by the
    "next run at" listener: one attribute, so the line never names a schedule replaced since
    (nor settings from one schedule and a time from another)."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule


def log_next_run(schedule: Schedule) -> None:
    """Say when the next check starts (issue 16): on start, after every run and after a SIGHUP,
    so a daemon's log never leaves one wondering whether it is still alive."""
    upcoming = schedule.unjittered.get_next_fire_time(None, datetime.now(UTC))
    if upcoming is None:
        return
    seconds = schedule.settings.jitter_seconds
    jitter = f", plus up to {seconds} s of jitter" if seconds else ""
    log.info("next run at %s%s", upcoming.strftime("%Y-%m-%d %H:%M:%S %Z"), jitter)


class WakefulScheduler(BlockingScheduler):  # type: ignore[misc] # apscheduler is untyped
    """A BlockingScheduler that sleeps at most WAKE_SECONDS between looks at its jobs."""

    def _main_loop(self) -> None:
        wait_seconds = WAKE_SECONDS
        while self.state != STATE_STOPPED:
            self._event.wait(wait_seconds)
            self._event.clear()
            due = self._process_jobs()  # None: no job left (shutting down)
            wait_seconds = WAKE_SECONDS if due is None else min(due, WAKE_SECONDS)


def build_scheduler(schedule: ScheduleSettings) -> BlockingScheduler:
    return WakefulScheduler(
        timezone=schedule.timezone,
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": MISFIRE_GRACE_SECONDS,
        },
    )


def reload_when_asked(
    asked: threading.Event,
    reload: Callable[[], ScheduleSettings],
    scheduler: BlockingScheduler,
    in_force: InForce,
    source: Path,
) -> None:
    """On each SIGHUP, read the settings again; a new schedule replaces the old one, an invalid
    one is logged and the old one kept (issue 11)."""
    while True:
        asked.wait()
        asked.clear()
        cron = in_force.schedule.settings.cron
        try:
            reload_schedule(reload, scheduler, in_force, source)
        except OcwwatchError as exc:
            log.error("SIGHUP: settings not reloaded, keeping schedule %r: %s", cron, exc)
        except Exception as exc:
            # Anything else (an OSError the settings reader left untranslated, a bug) would end
            # this thread, and every later SIGHUP would go unheard: logged like the rest.
            log.error(
                "SIGHUP: settings not reloaded, keeping schedule %r: %s: %s: %s",
                cron,
                source,
                type(exc).__name__,
                exc,
            )
            log.debug("reloading the settings failed", exc_info=True)


def reload_schedule(
    reload: Callable[[], ScheduleSettings],
    scheduler: BlockingScheduler,
    in_force: InForce,
    source: Path,
) -> None:
    """One SIGHUP: the settings read again, their schedule put in force if it changed; anything
    wrong is raised before the job is touched."""
    settings = reload()
    schedule = build_schedule(settings, source)
    if settings != in_force.schedule.settings:
        scheduler.reschedule_job("check", trigger=schedule.trigger)
        in_force.schedule = schedule
    log.info("SIGHUP: settings reloaded: schedule %r (%s)", settings.cron, settings.timezone)
    log_next_run(in_force.schedule)


def run_daemon(
    job: Job,
    schedule: ScheduleSettings,
    source: Path,
    *,
    reload: Callable[[], ScheduleSettings] | None = None,
) -> int:
    """Run `job` on `schedule` until SIGTERM or SIGINT; returns the exit code (0). `source`
    names the settings file in errors; `reload` reads the schedule again on SIGHUP."""
    in_force = InForce(build_schedule(schedule, source))
    scheduler = build_scheduler(schedule)
    stop = StopRequest()
    first = {"next_run_time": datetime.now(UTC)} if schedule.run_on_start else {}
    stopping = stop.event.is_set
    trigger = in_force.schedule.trigger
    scheduler.add_job(scheduled_check, trigger, args=(job, stopping), id="check", **first)
    stopper = threading.Thread(
        target=stop_when_asked, args=(stop, scheduler), name="ocwwatch-stop", daemon=True
    )
    stopper.start()
    for number in STOP_SIGNALS:
        signal.signal(number, stop.handle)
    if reload is not None:
        hangup = threading.Event()
        reloader = threading.Thread(
            target=reload_when_asked,
            args=(hangup, reload, scheduler, in_force, source),
            name="ocwwatch-reload",
            daemon=True,
        )
        reloader.start()
        signal.signal(signal.SIGHUP, lambda _signum, _frame: hangup.set())
    log.info("daemon started: schedule %r (%s)", schedule.cron, schedule.timezone)
    # The next tick as the schedule in force at that moment says it (a SIGHUP may have replaced
    # the one started with), jitter aside.
    scheduler.add_listener(
        lambda _event: None if stop.event.is_set() else log_next_run(in_force.schedule),
        EVENT_SCHEDULER_STARTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR,
    )
    scheduler.start()  # returns once `stop_when_asked` has shut it down
    stopper.join()
    log.info("daemon stopped")
    return 0
