"""One writer at a time, between real processes: a second `check` waits for the writer lock.

It waits up to `lock_timeout_seconds`, then exits 2 naming the database; the database stays
intact. The holder is a `check` or the daemon, slowed by a loopback site with latency.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest
from support.loopback import LoopbackServer
from test_daemon import complete, runs, site_routes, start, stop, wait_for, write_config


def integrity(database: Path) -> str:
    with sqlite3.connect(database) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def start_holder(kind: str, folder: Path, config: Path) -> subprocess.Popen[bytes]:
    """A `check` or a daemon that runs at once (run_on_start), holding the lock while it runs."""
    if kind == "daemon":
        with config.open("a") as settings:
            settings.write("run_on_start = true\n")  # [schedule] is the file's last table
    command = ("daemon",) if kind == "daemon" else ("-q", "check")
    process, _ = start(folder, *command, "--config", str(config))
    return process


@pytest.mark.parametrize("holder", ["check", "daemon"])
def test_check_exits_2_naming_the_database_when_the_lock_stays_busy(
    tmp_path: Path, holder: str
) -> None:
    """A check started during another process's run waits the lock timeout, then exits 2."""
    with LoopbackServer(site_routes(), latency_seconds=1.5) as slow:
        config = write_config(tmp_path / "config", slow, lock_timeout_seconds=0.5)
        database = tmp_path / "config" / "data" / "ocwwatch.db"
        first = start_holder(holder, tmp_path, config)
        try:
            wait_for(lambda: "running" in runs(database).values(), 10, "the first run")
            second, log = start(tmp_path, "-q", "check", "--config", str(config))
            assert second.wait(timeout=10) == 2
            message = log.read_text()
            assert f"database {database} is busy" in message
            assert "another ocwwatch check or daemon is running" in message
            assert "waited 0.5s" in message
            wait_for(lambda: complete(database), 10, "the first run to complete")
            if holder == "check":
                assert first.wait(timeout=10) in (0, 1)
        finally:
            if first.poll() is None:
                assert stop(first) == 0
    assert set(runs(database).values()) == {"complete"}
    assert integrity(database) == "ok"


def test_check_that_gets_the_lock_in_time_runs_after_the_other(tmp_path: Path) -> None:
    """Within the lock timeout a second check simply waits its turn and completes its own run."""
    with LoopbackServer(site_routes(), latency_seconds=1.0) as slow:
        config = write_config(tmp_path / "config", slow, lock_timeout_seconds=30)
        database = tmp_path / "config" / "data" / "ocwwatch.db"
        first, _ = start(tmp_path, "-q", "check", "--config", str(config))
        wait_for(lambda: "running" in runs(database).values(), 10, "the first run")
        second, log = start(tmp_path, "-q", "check", "--config", str(config))
        assert first.wait(timeout=15) == 1  # the moved page is a finding
        assert second.wait(timeout=15) == 1, log.read_text()
    assert complete(database) == [1, 2]
    assert integrity(database) == "ok"
