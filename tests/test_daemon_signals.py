"""The daemon's service conventions (issue 11), as real processes against a loopback site:
SIGHUP reads the settings again (an invalid schedule is logged, the old one kept), SIGTERM while
a tick waits for the lock starts no run, and a clock set forward or back resumes the schedule at
its next due time (the clock shifted in the child by a sitecustomize module, nothing patched
here).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from subprocess import Popen

from support.loopback import LoopbackServer
from test_daemon import (
    EVERY_TWO_SECONDS,
    REPO,
    cleanup,
    complete,
    runs,
    site,
    site_routes,
    start,
    stop,
    wait_for,
    write_config,
)

from ocwwatch.store import Store

__all__ = ["cleanup", "site"]  # fixtures shared with test_daemon

NEVER_SOON = "0 0 1 1 *"  # midnight on 1 January
ODD_SECONDS = "1-59/2 * * * * *"  # EVERY_TWO_SECONDS fires on even ones


def with_cron(settings: Path, cron: str) -> None:
    text = settings.read_text()
    start_at = text.index('cron = "') + len('cron = "')
    end_at = text.index('"', start_at)
    settings.write_text(text[:start_at] + cron + text[end_at:])


def test_sighup_reloads_the_schedule_and_keeps_it_when_invalid(
    tmp_path: Path, site: LoopbackServer, cleanup: list[Popen[bytes]]
) -> None:
    """A daemon on a far schedule runs every two seconds after its settings say so and SIGHUP;
    an invalid cron then is logged, and the two-second schedule and the last good settings go
    on; SIGTERM exits 0."""
    config = write_config(tmp_path / "config", site)
    database = tmp_path / "config" / "data" / "ocwwatch.db"
    with_cron(config, NEVER_SOON)
    daemon, log = start(tmp_path, "daemon", "--config", str(config))
    cleanup.append(daemon)
    wait_for(lambda: "daemon started" in log.read_text(), 10, "the daemon to start")
    time.sleep(2.5)
    assert complete(database) == []
    with_cron(config, EVERY_TWO_SECONDS)
    daemon.send_signal(signal.SIGHUP)
    wait_for(lambda: len(complete(database)) >= 1, 10, "a run on the new schedule")
    with_cron(config, "every morning")
    daemon.send_signal(signal.SIGHUP)
    wait_for(lambda: "settings not reloaded" in log.read_text(), 10, "the refusal")
    done = len(complete(database))
    wait_for(lambda: len(complete(database)) > done, 10, "a run on the kept schedule")
    assert daemon.poll() is None
    assert stop(daemon) == 0
    stderr = log.read_text()
    assert f"SIGHUP: settings reloaded: schedule '{EVERY_TWO_SECONDS}' (UTC)" in stderr
    assert f"settings not reloaded, keeping schedule '{EVERY_TWO_SECONDS}'" in stderr
    assert "schedule.cron" in stderr
    assert "settings or list invalid, going on with the last good ones" in stderr


def test_next_run_line_follows_the_schedule_a_sighup_put_in_force(
    tmp_path: Path, site: LoopbackServer, cleanup: list[Popen[bytes]]
) -> None:
    """After SIGHUP moves the runs from even to odd seconds, every "next run at" line logged
    after a run names an odd second, never the old schedule's next time (issue 16)."""
    config = write_config(tmp_path / "config", site)
    database = tmp_path / "config" / "data" / "ocwwatch.db"
    daemon, log = start(tmp_path, "daemon", "--config", str(config))
    cleanup.append(daemon)
    wait_for(lambda: complete(database), 10, "a run on the first schedule")
    with_cron(config, ODD_SECONDS)
    daemon.send_signal(signal.SIGHUP)
    wait_for(lambda: "settings reloaded" in log.read_text(), 10, "the reload")
    done = len(complete(database))
    wait_for(lambda: len(complete(database)) >= done + 2, 10, "two runs on the new schedule")
    assert stop(daemon) == 0
    stderr = log.read_text()
    reloaded = stderr[stderr.index("settings reloaded") :]
    after_a_run = reloaded[reloaded.index(" complete: ") :]  # its listener read the new schedule
    seconds = re.findall(r"next run at \d{4}-\d\d-\d\d \d\d:\d\d:(\d\d) UTC", after_a_run)
    assert seconds, stderr
    assert [int(second) % 2 for second in seconds] == [1] * len(seconds), stderr


def test_sigterm_while_a_tick_waits_for_the_lock_starts_no_run(
    tmp_path: Path, site: LoopbackServer, cleanup: list[Popen[bytes]]
) -> None:
    """The lock held elsewhere, a tick waits for it (lock_timeout_seconds = 60); SIGTERM then
    ends the daemon within seconds, exit 0, and no run was started, then or after."""
    config = write_config(tmp_path / "config", site, lock_timeout_seconds=60)
    database = tmp_path / "config" / "data" / "ocwwatch.db"
    with Store.open(database) as store, store.lock(0):
        daemon, log = start(tmp_path, "daemon", "--config", str(config))
        cleanup.append(daemon)
        wait_for(lambda: "daemon started" in log.read_text(), 10, "the daemon to start")
        time.sleep(3)  # a tick (every two seconds) is waiting for the lock now
        began = time.monotonic()
        assert stop(daemon, timeout_seconds=10) == 0
        assert time.monotonic() - began < 5
    assert runs(database) == {}
    assert "no run started" in log.read_text()


SHIFTED_CLOCK = '''
"""Test only: the daemon's scheduler reads a wall clock shifted by the seconds in a file."""
import datetime as _datetime
import os
from pathlib import Path

_OFFSET = Path(os.environ["OCWWATCH_TEST_CLOCK_OFFSET"])


class _Shifted(_datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        try:
            seconds = float(_OFFSET.read_text() or 0)
        except (OSError, ValueError):
            seconds = 0.0
        return _datetime.datetime.now(tz) + _datetime.timedelta(seconds=seconds)


import apscheduler.schedulers.base as _base

_base.datetime = _Shifted
import ocwwatch.scheduler as _scheduler

_scheduler.WAKE_SECONDS = 0.5
'''


def start_shifted(folder: Path, *argv: str) -> tuple[Popen[bytes], Path, Path]:
    """`start`, with a sitecustomize that shifts the child's scheduler clock by the seconds
    written to the returned offset file."""
    hook = folder / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(textwrap.dedent(SHIFTED_CLOCK))
    offset = folder / "offset"
    offset.write_text("0")
    log = folder / "stderr.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(hook), str(REPO)]),
        "OCWWATCH_TEST_CLOCK_OFFSET": str(offset),
    }
    with log.open("wb") as stderr:
        process = Popen(
            [sys.executable, "-m", "ocwwatch", *argv],
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
    return process, log, offset


def test_clock_jumps_resume_the_schedule_at_the_next_due_time(
    tmp_path: Path, cleanup: list[Popen[bytes]]
) -> None:
    """A yearly schedule: the clock set forward past its time runs the check once, at once; set
    back and forward past it again, the check does not run twice."""
    with LoopbackServer(site_routes()) as server:
        config = write_config(tmp_path / "config", server)
        database = tmp_path / "config" / "data" / "ocwwatch.db"
        with_cron(config, NEVER_SOON)
        daemon, log, shifted = start_shifted(tmp_path, "daemon", "--config", str(config))
        cleanup.append(daemon)
        wait_for(lambda: "daemon started" in log.read_text(), 10, "the daemon to start")
        now = datetime.now(UTC)
        new_year = datetime(now.year + 1, 1, 1, tzinfo=UTC)
        shifted.write_text(str((new_year - now).total_seconds() + 1))  # forward, past it
        wait_for(lambda: len(complete(database)) == 1, 15, "the due run")
        shifted.write_text("0")  # back a year
        time.sleep(1.5)
        shifted.write_text(str((new_year - datetime.now(UTC)).total_seconds() + 2))
        time.sleep(1.5)
        assert len(runs(database)) == 1
        assert stop(daemon) == 0
