"""The database under ordinary faults (issue 11): another program's SQLite file, a lock held
too long, a disk that fills up at any point of a run, a stored report that cannot be written.
Disk-full trials run the real CLI in a subprocess under a file-size limit (RLIMIT_FSIZE).
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import REPO, live_site, run

from ocwwatch.clock import utc_now
from ocwwatch.config import load_config
from ocwwatch.errors import StoreBusyError
from ocwwatch.store import Store
from ocwwatch.store.base import APPLICATION_ID

ENV = {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.fixture(autouse=True)
def served(request: pytest.FixtureRequest) -> Iterator[None]:
    """Today's recorded OCW, served live on 127.0.0.1 for the test's checks: a replay run is
    kept apart from the live database these tests look at (issue 16)."""
    if "config" not in request.fixturenames:
        yield
        return
    with live_site(request.getfixturevalue("config")):
        yield


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def foreign(path: Path, application_id: int = 0) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute(f"PRAGMA application_id = {application_id}")
    return path


@pytest.mark.parametrize("application_id", [0, 0x4C494E4B])
def test_another_programs_database_is_refused_not_extended(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: Path, application_id: int
) -> None:
    """A SQLite file with foreign tables and no ocwwatch mark: `check` and `report` refuse it
    in one line (exit 2) and add no table to it."""
    db = foreign(tmp_path / "photos.db", application_id)
    code, _, err = run(
        capsys,
        "check",
        "--config",
        config,
        "--db",
        db,
    )
    assert code == 2
    assert len(err.splitlines()) == 1
    assert f"{db}: not an ocwwatch database" in err
    assert tables(db) == {"photos"}
    code, _, err = run(capsys, "report", "--config", config, "--db", db)
    assert (code, tables(db)) == (2, {"photos"})


def test_a_new_database_is_marked_and_an_unmarked_ocwwatch_one_adopted(tmp_path: Path) -> None:
    """A new database gets ocwwatch's application id and its schema version as user_version;
    one from before the mark (ocwwatch's tables, no id) is opened and marked."""
    path = tmp_path / "ocwwatch.db"
    Store.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA application_id = 0")
    with Store.open(path) as store:
        version = store.schema_version()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
        assert db.execute("PRAGMA user_version").fetchone() == (version,)


def test_busy_timeout_is_a_setting(tmp_path: Path) -> None:
    """`[store] busy_timeout_seconds` reaches SQLite: a write behind another connection's lock
    gives up after that long, as a StoreBusyError."""
    (tmp_path / "ocwwatch.toml").write_text("[store]\nbusy_timeout_seconds = 0.3\n")
    (tmp_path / "resources.toml").write_text(
        '[[resources]]\nid = "a"\nurl = "http://127.0.0.1:9/"\nkind = "page"\n'
    )
    settings = load_config(tmp_path / "ocwwatch.toml", cwd=tmp_path).settings
    assert settings.store.busy_timeout_seconds == 0.3
    path = tmp_path / "ocwwatch.db"
    with Store.open(path, busy_timeout_seconds=settings.store.busy_timeout_seconds) as store:
        holder = sqlite3.connect(path)
        holder.execute("BEGIN IMMEDIATE")
        began = time.monotonic()
        with pytest.raises(StoreBusyError, match="cannot start a run: database is locked"):
            store.start_run(utc_now())
        waited = time.monotonic() - began
        holder.rollback()
        holder.close()
    assert 0.25 <= waited < 2.0


def test_a_complete_run_whose_files_cannot_be_written_stays_complete(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    """A report file that cannot be written once the run is complete (a symlink where
    latest.md goes): the run stays complete, its report is printed, one line says which file
    and why, exit 3; the next run (with the link gone) writes everything."""
    reports = config.parent / ".." / "data" / "reports"  # as the shipped settings name it
    reports.mkdir(parents=True)
    (reports / "latest.md").symlink_to(tmp_path / "elsewhere.md")
    code, out, err = run(
        capsys,
        "check",
        "--config",
        config,
    )
    assert code == 3
    assert "## Dead (1)" in out
    assert err.splitlines() == [
        f"ocwwatch: {reports / 'latest.md'}: cannot write the report: it is a symlink, and "
        "ocwwatch does not write through links here; remove it; run 1 is stored complete "
        "(`ocwwatch report 1` prints it)"
    ]
    assert (reports / "run-1.md").exists()
    (reports / "latest.md").unlink()
    assert (
        run(
            capsys,
            "check",
            "--config",
            config,
        )[0]
        == 1
    )
    assert (reports / "latest.md").read_text() == (reports / "run-2.md").read_text()


def limited_check(config: Path, limit: int) -> subprocess.CompletedProcess[str]:
    """`ocwwatch check` in a child whose files may not grow past `limit` bytes (EFBIG)."""

    def limit_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    command = [sys.executable, "-m", "ocwwatch", "-q", "check", "--config", str(config)]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
        check=False,
        preexec_fn=limit_files,
    )


@pytest.mark.parametrize("room", [0, 4096, 40_000, 200_000])
def test_a_disk_that_fills_up_never_breaks_the_store(
    config: Path, tmp_path: Path, room: int
) -> None:
    """Files limited to the database's size plus `room`: whatever fails says so in one line
    without a traceback; the database passes integrity_check; every complete run has its report
    files; `report` works on a read-only copy of the database."""
    data = config.parent.parent / "data"
    command = [sys.executable, "-m", "ocwwatch", "-q", "check", "--config", str(config)]
    first = subprocess.run([*command], env=ENV, capture_output=True, check=False)
    assert first.returncode == 1
    done = limited_check(config, (data / "ocwwatch.db").stat().st_size + room)
    assert "Traceback" not in done.stderr
    assert done.returncode in (1, 3), done.stderr
    assert len(done.stderr.splitlines()) == (0 if done.returncode == 1 else 1), done.stderr
    with sqlite3.connect(data / "ocwwatch.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        complete = [row[0] for row in db.execute("SELECT id FROM runs WHERE status='complete'")]
    for run_id in complete:
        assert {f"run-{run_id}.{suffix}" for suffix in ("md", "html", "json")} <= {
            path.name for path in (data / "reports").iterdir()
        }
    copy = tmp_path / "copy"
    copy.mkdir()
    for part in data.glob("ocwwatch.db*"):  # with its -wal: a checkpoint may have been cut short
        shutil.copy(part, copy / part.name)
        (copy / part.name).chmod(0o444)
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "ocwwatch",
            "report",
            "--config",
            config,
            "--db",
            copy / "ocwwatch.db",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert f"# ocwwatch report: run {max(complete)}" in shown.stdout


def test_a_damaged_database_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """Pages overwritten in the middle of the file: `history` says it is damaged and what to do,
    in one line, exit 3; a file of random bytes is named as no SQLite database."""
    assert (
        run(
            capsys,
            "check",
            "--config",
            config,
        )[0]
        == 1
    )
    database = config.parent / ".." / "data" / "ocwwatch.db"
    data = bytearray(database.read_bytes())
    data[4096 * 5 : 4096 * 5 + 3000] = bytes(3000)
    database.write_bytes(bytes(data))
    code, _, err = run(capsys, "history", "18.01sc", "--config", config)
    assert code == 3
    assert len(err.splitlines()) == 1
    assert "database disk image is malformed; the file is damaged: restore it" in err
    garbage = config.parent / "garbage.db"
    garbage.write_bytes(bytes(range(256)) * 20)
    code, _, err = run(capsys, "report", "--config", config, "--db", garbage)
    assert (code, err.splitlines()) == (
        3,
        [
            f"ocwwatch: {garbage}: cannot open the database for reading: file is not a database;"
            " it is no SQLite database: name another file in `database` or with --db"
        ],
    )
