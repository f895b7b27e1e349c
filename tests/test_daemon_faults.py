"""The daemon's re-reading of its settings survives any fault (issue 11), in-process: a tick goes
on with the last good settings, and the SIGHUP thread keeps the old schedule and keeps listening.

The reloading thread is driven as the daemon drives it: an Event set as the SIGHUP handler sets
it, a real (unstarted) scheduler holding the check job; nothing is patched but one `load_config`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from ocwwatch import commands
from ocwwatch.config import ScheduleSettings
from ocwwatch.scheduler import InForce, build_schedule, build_scheduler, reload_when_asked

OLD = ScheduleSettings(cron="0 6 * * *", jitter_seconds=0)
NEW = ScheduleSettings(cron="0 7 * * *", jitter_seconds=0)
SOURCE = Path("/etc/ocwwatch/ocwwatch.toml")


def write_settings(folder: Path, resources: str = "resources.toml") -> Path:
    """Settings naming a one-entry list in `folder`; returns the settings file."""
    (folder / "resources.toml").write_text(
        '[[resources]]\nid = "page"\nurl = "http://127.0.0.1:9/page"\nkind = "page"\n'
    )
    settings = folder / "ocwwatch.toml"
    settings.write_text(f'resources = "{resources}"\ndatabase = "data/ocwwatch.db"\n')
    return settings


def file_for_a_folder(folder: Path) -> str:
    (folder / "o.toml").write_text("")
    return "o.toml/x.toml"  # NotADirectoryError


def symlink_loop(folder: Path) -> str:
    (folder / "loop-a").symlink_to("loop-b")
    (folder / "loop-b").symlink_to("loop-a")
    return "loop-a"  # OSError: too many levels of symbolic links


@pytest.mark.parametrize("fault", [file_for_a_folder, symlink_loop])
def test_unreadable_list_at_a_tick_keeps_the_last_good_settings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, fault: Callable[[Path], str]
) -> None:
    """A list that cannot be read at a tick (an OSError, not a TOML error) costs one error line
    naming the file that failed; the tick goes on with the last good settings."""
    settings = write_settings(tmp_path)
    config = commands.DaemonConfig(settings, None, tmp_path)
    good = config.good
    unreadable = fault(tmp_path)
    write_settings(tmp_path, unreadable)
    with caplog.at_level(logging.INFO, logger="ocwwatch"):
        assert config.read() is good
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1, caplog.text
    line = errors[0].getMessage()
    assert "going on with the last good ones" in line
    assert f"{tmp_path / unreadable}: cannot be read" in line
    assert "\n" not in line


def test_unexpected_error_at_a_tick_keeps_the_last_good_settings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any exception re-reading the settings (here a bug's RuntimeError) is one error line naming
    the settings file and the error, never a failed tick."""
    settings = write_settings(tmp_path)
    config = commands.DaemonConfig(settings, None, tmp_path)
    good = config.good

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("reader broke")

    monkeypatch.setattr(commands, "load_config", broken)
    with caplog.at_level(logging.INFO, logger="ocwwatch"):
        assert config.read() is good
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert f"{settings}: RuntimeError: reader broke" in line


class Reloads:
    """What SIGHUP reads, one answer per signal (an exception is raised), and when it was read."""

    def __init__(self, *answers: ScheduleSettings | BaseException) -> None:
        self.answers = list(answers)
        self.read = threading.Semaphore(0)

    def __call__(self) -> ScheduleSettings:
        answer = self.answers.pop(0)
        self.read.release()
        if isinstance(answer, BaseException):
            raise answer
        return answer


def start_reloader(reloads: Reloads) -> tuple[threading.Event, Callable[[], str]]:
    """The daemon's reloading thread on OLD; returns its SIGHUP event and a function giving the
    job's trigger as the scheduler holds it."""
    scheduler = build_scheduler(OLD)
    in_force = InForce(build_schedule(OLD, SOURCE))
    scheduler.add_job(print, in_force.schedule.trigger, id="check")
    asked = threading.Event()
    threading.Thread(
        target=reload_when_asked,
        args=(asked, reloads, scheduler, in_force, SOURCE),
        name="test-reload",
        daemon=True,
    ).start()
    return asked, lambda: str(scheduler.get_job("check").trigger)


def hang_up(asked: threading.Event, reloads: Reloads) -> None:
    """One SIGHUP, returning once the settings have been read for it."""
    asked.set()
    assert reloads.read.acquire(timeout=10), "the reloading thread did not read the settings"


def soon(condition: Callable[[], bool]) -> bool:
    """Wait briefly, polling the reloading thread's progress, for `condition`."""
    for _ in range(500):
        if condition():
            return True
        threading.Event().wait(0.01)
    return False


def test_sighup_survives_an_unexpected_error_and_hears_the_next_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A SIGHUP whose reading raises something other than an OcwwatchError is logged with the
    settings file named, the old schedule kept; the next SIGHUP still reloads."""
    reloads = Reloads(NotADirectoryError(20, "Not a directory"), NEW)
    with caplog.at_level(logging.INFO, logger="ocwwatch"):
        asked, trigger = start_reloader(reloads)
        hang_up(asked, reloads)
        hang_up(asked, reloads)  # heard only once the first one has been dealt with
        assert soon(lambda: "settings reloaded" in caplog.text), caplog.text
    assert "hour='7'" in trigger()
    text = caplog.text
    assert f"settings not reloaded, keeping schedule '0 6 * * *': {SOURCE}: " in text
    assert "NotADirectoryError" in text
    assert "SIGHUP: settings reloaded: schedule '0 7 * * *'" in text


def test_sighup_to_a_schedule_that_never_fires_keeps_the_old_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """30 February on SIGHUP: refused and logged as never firing, the old schedule kept."""
    never = ScheduleSettings(cron="0 0 30 2 *", jitter_seconds=0)
    reloads = Reloads(never, NEW)
    with caplog.at_level(logging.INFO, logger="ocwwatch"):
        asked, trigger = start_reloader(reloads)
        hang_up(asked, reloads)
        hang_up(asked, reloads)
        assert soon(lambda: "settings reloaded" in caplog.text), caplog.text
    assert "hour='7'" in trigger()
    text = caplog.text
    assert "settings not reloaded, keeping schedule '0 6 * * *'" in text
    assert "schedule.cron: '0 0 30 2 *' never fires" in text
