"""`ocwwatch daemon` as a real process against a loopback site: its schedule, its log, SIGTERM.

Every test starts `python -m ocwwatch daemon` on a six-field cron firing every two seconds and
reads the database read-only while it runs; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfWriter
from support.loopback import LoopbackServer

from ocwwatch.config import ScheduleSettings
from ocwwatch.errors import ConfigError
from ocwwatch.fetch import Recording
from ocwwatch.scheduler import build_trigger, crontab_weekdays
from ocwwatch.store import Store

REPO = Path(__file__).resolve().parent.parent
EVERY_TWO_SECONDS = "*/2 * * * * *"
FORMATS = {"markdown", "json", "html", "sarif"}
PAGE = b"<html><head><title>A page</title></head><body><p>Hello.</p></body></html>"


def pdf_bytes() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=72, height=72)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def site_routes() -> dict[str, Recording]:
    """A page, a page that moved (301), and a PDF."""
    return {
        "/page": Recording(url="", status=200, headers={"content-type": "text/html"}, body=PAGE),
        "/old": Recording(url="", status=301, headers={"location": "/page"}),
        "/book.pdf": Recording(
            url="", status=200, headers={"content-type": "application/pdf"}, body=pdf_bytes()
        ),
    }


def write_config(folder: Path, site: LoopbackServer, *, lock_timeout_seconds: float = 5) -> Path:
    """Settings and a three-entry list naming the loopback site; returns the settings file."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = [("page", "/page", "page"), ("moved", "/old", "page"), ("book", "/book.pdf", "pdf")]
    (folder / "resources.toml").write_text(
        "".join(
            f'[[resources]]\nid = "{key}"\nurl = "{site.url(path)}"\nkind = "{kind}"\n\n'
            for key, path, kind in entries
        )
    )
    settings = folder / "ocwwatch.toml"
    settings.write_text(
        'resources = "resources.toml"\ndatabase = "data/ocwwatch.db"\n'
        f'reports_dir = "data/reports"\nlock_timeout_seconds = {lock_timeout_seconds}\n'
        "[http]\nper_host_concurrency = 4\nper_host_interval_seconds = 0\n"
        "timeout_seconds = 10\nretries = 0\n"
        f'[schedule]\ncron = "{EVERY_TWO_SECONDS}"\ntimezone = "UTC"\njitter_seconds = 0\n'
    )
    return settings


def start(folder: Path, *argv: str) -> tuple[subprocess.Popen[bytes], Path]:
    """`python -m ocwwatch ARGV` in the background, stderr to a file; returns it and the file."""
    log = folder / f"stderr-{time.monotonic_ns()}.log"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "ocwwatch", *argv],
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
    return process, log


def wait_for(condition: Callable[[], object], timeout_seconds: float, what: str) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout_seconds} s waiting for {what}")
        time.sleep(0.1)


def runs(database: Path) -> dict[int, str]:
    """Run id -> status, read-only; empty while the database does not exist yet."""
    if not database.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
            return dict(db.execute("SELECT id, status FROM runs").fetchall())
    except sqlite3.OperationalError:  # created but not migrated yet
        return {}


def complete(database: Path) -> list[int]:
    return sorted(run_id for run_id, status in runs(database).items() if status == "complete")


def stored_formats(database: Path) -> dict[int, set[str]]:
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT run_id, format FROM reports").fetchall()
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    found: dict[int, set[str]] = {}
    for run_id, name in rows:
        found.setdefault(run_id, set()).add(name)
    return found


def stop(process: subprocess.Popen[bytes], timeout_seconds: float = 10) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=timeout_seconds)


@pytest.fixture
def site() -> Iterator[LoopbackServer]:
    with LoopbackServer(site_routes()) as server:
        yield server


@pytest.fixture
def cleanup() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test started; any still alive at the end is killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_daemon_runs_on_schedule_and_exits_0_on_sigterm(
    tmp_path: Path, site: LoopbackServer, cleanup: list[subprocess.Popen[bytes]]
) -> None:
    """Two scheduled runs complete with their reports and log lines; SIGTERM exits 0."""
    config = write_config(tmp_path / "config", site)
    database = tmp_path / "config" / "data" / "ocwwatch.db"
    daemon, log = start(tmp_path, "daemon", "--config", str(config))
    cleanup.append(daemon)
    wait_for(lambda: len(complete(database)) >= 2, 15, "two complete runs")
    assert stop(daemon) == 0
    done = complete(database)
    assert set(runs(database).values()) == {"complete"}
    assert stored_formats(database) == {run_id: FORMATS | {"summary", "news"} for run_id in done}
    stderr = log.read_text()
    for run_id in done:
        assert f"run {run_id} complete: 3 resources, 0 links, 0 dead, 1 moved" in stderr, stderr
    assert stderr.count(" complete: ") == len(done)
    # The daemon says when it runs next: once started, and after every run but one stopped by
    # the signal (which may come before that run's end is announced) (issue 16).
    said = re.findall(r"next run at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", stderr)
    assert len(said) >= len(done)
    assert "daemon stopped" in stderr
    assert (tmp_path / "config" / "data" / "reports" / f"run-{done[-1]}.json").is_file()


def test_run_that_cannot_get_the_lock_is_logged_and_the_next_tick_runs(
    tmp_path: Path, site: LoopbackServer, cleanup: list[subprocess.Popen[bytes]]
) -> None:
    """A tick that finds the database busy past the lock timeout fails; the next one runs."""
    config = write_config(tmp_path / "config", site, lock_timeout_seconds=0.2)
    database = tmp_path / "config" / "data" / "ocwwatch.db"
    with Store.open(database) as store, store.lock(0):
        daemon, log = start(tmp_path, "daemon", "--config", str(config))
        cleanup.append(daemon)
        wait_for(lambda: "check failed" in log.read_text(), 10, "a failed tick")
    wait_for(lambda: complete(database), 10, "a complete run after the lock is free")
    assert stop(daemon) == 0
    stderr = log.read_text()
    assert "is busy: another ocwwatch check or daemon is running" in stderr
    assert "waiting for the next tick" in stderr
    assert set(runs(database).values()) == {"complete"}


def test_site_going_down_makes_an_offline_run_and_the_daemon_goes_on(
    tmp_path: Path, site: LoopbackServer, cleanup: list[subprocess.Popen[bytes]]
) -> None:
    """When the site stops answering, the next run is logged offline and the daemon keeps going."""
    config = write_config(tmp_path / "config", site)
    database = tmp_path / "config" / "data" / "ocwwatch.db"
    daemon, log = start(tmp_path, "daemon", "--config", str(config))
    cleanup.append(daemon)
    wait_for(lambda: complete(database), 10, "a first complete run")
    site.stop()
    wait_for(lambda: " offline: " in log.read_text(), 10, "an offline run")
    assert daemon.poll() is None
    assert stop(daemon) == 0
    assert set(runs(database).values()) == {"complete"}


def test_sigterm_during_a_run_lets_it_finish(
    tmp_path: Path, cleanup: list[subprocess.Popen[bytes]]
) -> None:
    """SIGTERM while a run is in progress: the run completes with its reports, then exit 0."""
    with LoopbackServer(site_routes(), latency_seconds=1.0) as slow:
        config = write_config(tmp_path / "config", slow)
        database = tmp_path / "config" / "data" / "ocwwatch.db"
        daemon, log = start(tmp_path, "daemon", "--config", str(config))
        cleanup.append(daemon)
        wait_for(lambda: "running" in runs(database).values(), 10, "a run in progress")
        assert stop(daemon, timeout_seconds=15) == 0
    statuses = runs(database)
    assert set(statuses.values()) == {"complete"}
    assert stored_formats(database) == {
        run_id: FORMATS | {"summary", "news"} for run_id in statuses
    }
    assert "the run in progress ends first" in log.read_text()


def test_second_sigterm_stops_at_once_and_the_run_is_not_complete(
    tmp_path: Path, cleanup: list[subprocess.Popen[bytes]]
) -> None:
    """A second SIGTERM exits 143 at once; the interrupted run is never marked complete."""
    with LoopbackServer(site_routes(), latency_seconds=5.0) as stalled:
        config = write_config(tmp_path / "config", stalled)
        database = tmp_path / "config" / "data" / "ocwwatch.db"
        daemon, _ = start(tmp_path, "daemon", "--config", str(config))
        cleanup.append(daemon)
        wait_for(lambda: "running" in runs(database).values(), 10, "a run in progress")
        daemon.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert stop(daemon, timeout_seconds=3) == 128 + signal.SIGTERM
    assert set(runs(database).values()) == {"running"}  # `check` marks it failed next time
    assert stored_formats(database) == {}


@pytest.mark.parametrize(
    ("crontab", "expected"),
    [
        ("*", "*"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("0-6", "sun,mon,tue,wed,thu,fri,sat"),
        ("0", "sun"),
        ("7", "sun"),
        ("5-7", "sun,fri,sat"),
        ("*/2", "sun,tue,thu,sat"),
        ("1,3", "mon,wed"),
        ("mon-fri", "mon-fri"),
    ],
)
def test_weekday_numbers_follow_crontab(crontab: str, expected: str) -> None:
    """Weekday numbers mean what crontab means (0 and 7 are Sunday), not APScheduler's 0=Monday."""
    assert crontab_weekdays(crontab) == expected


def test_every_weekday_range_from_sunday_is_accepted() -> None:
    """'0-6' (every day in crontab) makes a trigger instead of a range error."""
    trigger = build_trigger(ScheduleSettings(cron="0 6 * * 0-6", jitter_seconds=0), Path("s"))
    assert "day_of_week='sun,mon,tue,wed,thu,fri,sat'" in repr(trigger)


def test_weekday_out_of_range_is_a_config_error() -> None:
    """A weekday beyond 7 names the settings file and the cron field."""
    with pytest.raises(ConfigError, match=r"s\.toml: schedule\.cron: .*weekday '8'"):
        build_trigger(ScheduleSettings(cron="0 6 * * 8", jitter_seconds=0), Path("s.toml"))


@pytest.mark.parametrize(
    ("cron", "fires"),
    [
        # The 1st of the month, and every Monday: crontab runs when either matches.
        ("0 6 1 * 1", ["2027-03-01 06:00", "2027-03-08 06:00", "2027-03-15 06:00"]),
        # A day field starting with `*` counts as unrestricted, so both must match, as in
        # crontab: the odd days that are Mondays.
        ("0 6 */2 * 1", ["2027-03-01 06:00", "2027-03-15 06:00", "2027-03-29 06:00"]),
        ("0 6 1 * *", ["2027-03-01 06:00", "2027-04-01 06:00", "2027-05-01 06:00"]),
        # 30 February never comes, but February's Mondays do.
        ("0 0 30 2 1", ["2028-02-07 00:00", "2028-02-14 00:00", "2028-02-21 00:00"]),
    ],
)
def test_day_and_weekday_both_restricted_fire_on_either_as_in_crontab(
    cron: str, fires: list[str]
) -> None:
    """When both the day of the month and the weekday are restricted, crontab runs on a day
    that matches either; APScheduler alone wants both (and `0 6 1 * 1` ran only on a 1st
    that is a Monday)."""
    trigger = build_trigger(ScheduleSettings(cron=cron, jitter_seconds=0), Path("s.toml"))
    moment = datetime(2027, 2, 28, 12, tzinfo=UTC)  # a Sunday
    seen = []
    for _ in fires:
        fired = trigger.get_next_fire_time(None, moment)
        assert fired is not None
        seen.append(fired.strftime("%Y-%m-%d %H:%M"))
        moment = fired + timedelta(seconds=1)
    assert seen == fires


def test_schedule_that_never_fires_is_a_config_error() -> None:
    """30 February names the settings file and the cron setting, and says it never fires."""
    never = ScheduleSettings(cron="0 0 30 2 *", jitter_seconds=0)
    with pytest.raises(ConfigError, match=r"s\.toml: schedule\.cron: '0 0 30 2 \*' never fires"):
        build_trigger(never, Path("s.toml"))


def test_daemon_on_a_schedule_that_never_fires_exits_2(
    tmp_path: Path, site: LoopbackServer, cleanup: list[subprocess.Popen[bytes]]
) -> None:
    """A cron of 30 February stops the daemon at start (exit 2, the file and setting named)
    instead of idling forever."""
    config = write_config(tmp_path / "config", site)
    config.write_text(config.read_text().replace(EVERY_TWO_SECONDS, "0 0 30 2 *"))
    daemon, log = start(tmp_path, "daemon", "--config", str(config))
    cleanup.append(daemon)
    assert daemon.wait(timeout=30) == 2, log.read_text()
    stderr = log.read_text()
    assert f"{config}: schedule.cron: '0 0 30 2 *' never fires" in stderr
    assert "daemon started" not in stderr
