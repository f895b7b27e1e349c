"""Crash safety: a real `ocwwatch check` SIGKILLed at seeded moments, then the store audited.

After every kill the database is intact, no run counts as complete without all its observations
and reports, runs left 'running' are listed nowhere, and the next run completes and reports.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.loopback import LoopbackServer

from ocwwatch.cli import main
from ocwwatch.fetch import load_scenario
from ocwwatch.fetch.replay import Recording
from ocwwatch.store import Store

REPO = Path(__file__).resolve().parent.parent
TODAY = REPO / "ocwwatch" / "demo" / "scenarios" / "ocw-today"
CHANGED_1803 = REPO / "tests" / "fixtures" / "synthetic" / "18.03sc-home-changed.html"
ORIGINS = ("https://ocw.mit.edu", "https://www.gutenberg.org")
HOME_1803 = "/courses/18-03sc-differential-equations-fall-2011/"
UNIT_III = (
    "Unit III: Fourier Series and Laplace Transform",
    "Unit III: Fourier Series and the Laplace Transform",
)
RESOURCES = 7  # entries of config/resources.toml
# As bytes: a report written in pieces is stored as its UTF-8 bytes (issue 15), others as text.
STORED_REPORT = "SELECT CAST(body AS BLOB) FROM reports WHERE run_id = ? AND format = ?"
FORMATS = ("markdown", "json", "html", "summary")
SUFFIXES = ("md", "json", "html")
LATENCY_SECONDS = 0.06
SEED = 20240501
RANDOM_TRIALS = {"plain": 15, "deep": 3}  # kills at seeded random moments across a whole run
# Kills the moment the run reaches a state, to land inside the short publishing windows too.
TRIGGERED = ("observations", "link-checks", "first-report", "all-reports", "complete")
# Plain runs and `check --deep` runs (which crawl the course sites and stream their frontier
# through the database) are both killed.
SETTINGS = """\
resources = "resources.toml"
database = "../data/ocwwatch.db"
reports_dir = "../data/reports"
lock_timeout_seconds = 20

[http]
per_host_concurrency = 6
per_host_interval_seconds = 0
timeout_seconds = 10
retries = 0

[deep]
max_pages = 10
check_external = false
"""


# --- the site: OCW today on 127.0.0.1, with one course home that changes between runs --------


@dataclass
class Site:
    """The `ocw-today` scenario served on loopback; the 18.03SC home alternates two versions."""

    server: LoopbackServer
    versions: tuple[bytes, bytes]
    served: int = 0

    def serve_version(self, version: int) -> None:
        """Serve version `version % 2` of the 18.03SC home under an ETag unique to `version`."""
        base = self.server.routes[HOME_1803]
        headers = dict(base.headers) | {"etag": f'"v{version}"'}
        body = self.versions[version % 2]
        self.server.routes[HOME_1803] = Recording(base.url, 200, headers, body)
        self.served = version


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    scenario = load_scenario(TODAY)
    with LoopbackServer(latency_seconds=LATENCY_SECONDS) as server:
        for origin in ORIGINS:
            server.serve_scenario(scenario, origin)
        local = server.base_url.encode()
        for path, recording in list(server.routes.items()):
            body = recording.body
            for origin in ORIGINS:
                body = body.replace(origin.encode(), local)
            server.routes[path] = Recording(
                recording.url, recording.status, recording.headers, body
            )
        home = server.routes[HOME_1803].body
        changed = CHANGED_1803.read_bytes().replace(ORIGINS[0].encode(), local)
        yield Site(server=server, versions=(home, changed))


def write_config(folder: Path, base_url: str) -> Path:
    """Settings and the repository's curated list, every URL moved onto the loopback server."""
    folder.mkdir(parents=True)
    resources = (REPO / "config" / "resources.toml").read_text(encoding="utf-8")
    for origin in ORIGINS:
        resources = resources.replace(origin, base_url)
    (folder / "resources.toml").write_text(resources, encoding="utf-8")
    (folder / "ocwwatch.toml").write_text(SETTINGS, encoding="utf-8")
    return folder / "ocwwatch.toml"


def loopback_env() -> dict[str, str]:
    """The child's environment: any non-loopback request goes to a dead local proxy."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    dead = "http://127.0.0.1:9"
    env |= {"HTTP_PROXY": dead, "HTTPS_PROXY": dead, "ALL_PROXY": dead}
    env |= {"NO_PROXY": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1"}
    return env


def spawn_check(config: Path, *, deep: bool = False) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "ocwwatch", "-q", "check", "--config", str(config)]
    argv += ["--deep"] if deep else []
    return subprocess.Popen(
        argv,
        env=loopback_env(),
        cwd=config.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


# --- reading the database from outside, as the child writes it -------------------------------


def connect(database: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)


def query(database: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    with closing(connect(database)) as db:
        return db.execute(sql, params).fetchall()


def max_run_id(database: Path) -> int:
    return int(query(database, "SELECT coalesce(max(id), 0) FROM runs")[0][0])


def reached(database: Path, run_id: int, state: str) -> bool:
    """Whether run `run_id` (the one being killed) has reached `state` yet."""
    sql = {
        "observations": "SELECT count(*) FROM observations WHERE run_id = ?",
        "link-checks": "SELECT count(*) FROM link_checks WHERE run_id = ?",
        "first-report": "SELECT count(*) FROM reports WHERE run_id = ?",
        "all-reports": "SELECT count(*) >= 4 FROM reports WHERE run_id = ?",
        "complete": "SELECT count(*) FROM runs WHERE id = ? AND status = 'complete'",
    }[state]
    try:
        return bool(query(database, sql, (run_id,))[0][0])
    except sqlite3.OperationalError:  # busy or mid-checkpoint: not yet, try again
        return False


# --- killing -------------------------------------------------------------------------------


@dataclass
class Kill:
    """How one trial ended the child: after `delay` seconds, or when `state` was reached."""

    delay: float | None = None
    state: str | None = None

    def describe(self) -> str:
        return f"after {self.delay:.3f}s" if self.delay is not None else f"at {self.state}"


def kill_child(child: subprocess.Popen[bytes], kill: Kill, database: Path, run_id: int) -> bool:
    """SIGKILL the child as `kill` says; False when it had already exited by itself."""
    deadline = time.monotonic() + (kill.delay if kill.delay is not None else 30.0)
    while child.poll() is None and time.monotonic() < deadline:
        if kill.state is not None and reached(database, run_id, kill.state):
            break
        # The deadline can pass between the loop's test and here (a loaded machine): never < 0.
        pause = 0.001 if kill.state is not None else min(0.005, deadline - time.monotonic())
        time.sleep(max(0.0, pause))
    exited = child.poll() is not None
    if not exited:
        os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=30)
    return not exited


# --- the audit -----------------------------------------------------------------------------


@dataclass
class Audit:
    """What one trial found wrong, by invariant; no problems means nothing was lost."""

    problems: dict[str, list[str]] = field(default_factory=dict)

    def check(self, invariant: str, ok: bool, problem: str) -> None:
        self.problems.setdefault(invariant, [])
        if not ok:
            self.problems[invariant].append(problem)


def complete_runs(database: Path) -> set[int]:
    rows = query(database, "SELECT id FROM runs WHERE status = 'complete'")
    return {int(row[0]) for row in rows}


def count_rows(database: Path, table: str, run_id: int) -> int:
    return int(
        str(query(database, f"SELECT count(*) FROM {table} WHERE run_id = ?", (run_id,))[0][0])
    )


def audit_database(database: Path, resources: int, audit: Audit) -> None:
    """Intact file; each complete run has every observation, link check and report."""
    intact = query(database, "PRAGMA integrity_check") == [("ok",)]
    audit.check("integrity", intact, "PRAGMA integrity_check failed")
    for run_id, counts_text in query(
        database, "SELECT id, counts FROM runs WHERE status = 'complete'"
    ):
        run = int(str(run_id))
        counts = json.loads(str(counts_text))
        rows = query(database, "SELECT format FROM reports WHERE run_id = ?", (run,))
        formats = {str(row[0]) for row in rows}
        whole = (
            count_rows(database, "observations", run) == counts["resources"] == resources
            and count_rows(database, "link_checks", run) == counts["links"]
            and formats >= set(FORMATS)
        )
        audit.check(
            "complete-is-whole", whole, f"run {run} complete but partial ({sorted(formats)})"
        )


def audit_listings(database: Path, reports: Path, audit: Audit) -> None:
    """Only complete runs are listed: list_runs, index.html, feed.xml, latest.*."""
    complete = complete_runs(database)
    with Store.open(database) as store:
        listed = {run.id for run in store.list_runs()}
    audit.check("listings", listed == complete, f"list_runs {sorted(listed)}")
    listed_on = {
        "index.html": r'href="run-(\d+)\.html"',
        "feed.xml": r"ocwwatch/run/(\d+)<",
        "latest.json": r'^  "run": {\n    "id": (\d+),',
    }
    for name, pattern in listed_on.items():
        path = reports / name
        shown = (
            set(map(int, re.findall(pattern, path.read_text(), re.M))) if path.exists() else set()
        )
        audit.check("listings", shown <= complete, f"{name} lists runs {sorted(shown - complete)}")


def audit_files(database: Path, reports: Path, audit: Audit) -> None:
    """Every complete run's report files exist and hold what the database stored."""
    for run in sorted(complete_runs(database)):
        for suffix, fmt in zip(SUFFIXES, FORMATS[:3], strict=True):
            path = reports / f"run-{run}.{suffix}"
            stored = query(database, STORED_REPORT, (run, fmt))
            ok = path.exists() and path.read_bytes() == stored[0][0]
            audit.check("report-files", ok, f"{path.name} missing or not as stored")


# --- one trial -----------------------------------------------------------------------------


@dataclass
class Trial:
    """One kill and the recovery run after it."""

    kill: Kill
    phase: str
    audit: Audit
    seconds: float


def phase_of(database: Path, reports: Path, run_id: int) -> str:
    """How far the killed run got, read from what it left behind."""
    status = query(database, "SELECT status FROM runs WHERE id = ?", (run_id,))
    if not status:
        return "before the run started"
    if status[0][0] == "complete":
        written = all((reports / f"run-{run_id}.{s}").exists() for s in SUFFIXES)
        return "complete, files written" if written else "complete, writing files"
    if count_rows(database, "reports", run_id):
        return "publishing (storing reports)"
    if count_rows(database, "observations", run_id):
        return "storing observations"
    return "fetching"


def report_command(config: Path) -> tuple[int, str]:
    """`ocwwatch report --format json` in this process (it only reads the database)."""
    printed = io.StringIO()
    with redirect_stdout(printed):
        code = main(["-q", "report", "--config", str(config), "--format", "json"])
    return code, printed.getvalue()


def recover(config: Path, site: Site, run_id: int, audit: Audit, *, deep: bool) -> None:
    """The next, unkilled run completes with exit 1, sees today's content and reports."""
    database = config.parent.parent / "data" / "ocwwatch.db"
    child = spawn_check(config, deep=deep)
    out, err = child.communicate(timeout=60)
    audit.check(
        "next-run-completes", child.returncode == 1, f"exit {child.returncode}: {err[-300:]!r}"
    )
    newest = max_run_id(database)
    statuses = dict(query(database, "SELECT id, status FROM runs WHERE id >= ?", (run_id,)))
    audit.check("next-run-completes", statuses.get(newest) == "complete", f"statuses {statuses}")
    audit.check(
        "next-run-completes", set(statuses.values()) <= {"complete", "failed"}, f"{statuses}"
    )
    code, printed = report_command(config)
    report = json.loads(printed) if code == 0 else {}
    same = (
        code == 0
        and report["run"]["id"] == newest
        and out.decode() != ""
        and printed
        == (config.parent.parent / "data" / "reports" / "latest.json").read_text(encoding="utf-8")
    )
    audit.check("report-command", same, f"`ocwwatch report` exit {code}")
    course = next((r for r in report.get("resources", []) if r["id"] == "18.03sc"), None)
    units = course["metadata"]["units"] if course else []
    fresh = UNIT_III[site.served % 2] in units
    audit.check("sees-current-content", fresh, f"18.03sc units are stale: {units[3:5]}")


def run_trial(config: Path, site: Site, kill: Kill, number: int, *, deep: bool) -> Trial:
    database = config.parent.parent / "data" / "ocwwatch.db"
    reports = database.parent / "reports"
    began = time.monotonic()
    site.serve_version(number)
    run_id = max_run_id(database) + 1
    child = spawn_check(config, deep=deep)
    killed = kill_child(child, kill, database, run_id)
    phase = phase_of(database, reports, run_id) if killed else "exited before the kill"
    audit = Audit()
    audit_database(database, RESOURCES, audit)
    audit_listings(database, reports, audit)
    recover(config, site, run_id, audit, deep=deep)
    audit_database(database, RESOURCES, audit)
    audit_listings(database, reports, audit)
    audit_files(database, reports, audit)
    return Trial(kill=kill, phase=phase, audit=audit, seconds=time.monotonic() - began)


def plan_kills(run_seconds: float, random_trials: int) -> list[Kill]:
    """Seeded random delays spread over a whole run, then one kill per publishing state."""
    rng = random.Random(SEED)
    kills = [Kill(delay=rng.uniform(0.25, 0.95) * run_seconds) for _ in range(random_trials)]
    return kills + [Kill(state=state) for state in TRIGGERED]


@pytest.fixture(scope="module", params=["plain", "deep"])
def trials(
    site: Site, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> list[Trial]:
    mode: str = request.param
    deep = mode == "deep"
    config = write_config(tmp_path_factory.mktemp(f"crash-{mode}") / "config", site.server.base_url)
    began = time.monotonic()
    site.serve_version(0)
    first = spawn_check(config, deep=deep)
    first.communicate(timeout=60)
    assert first.returncode == 1, "the calibration run must complete"
    run_seconds = time.monotonic() - began
    kills = plan_kills(run_seconds, RANDOM_TRIALS[mode])
    done = [run_trial(config, site, kill, n, deep=deep) for n, kill in enumerate(kills, 1)]
    print_tally(done, run_seconds)
    return done


def print_tally(done: list[Trial], run_seconds: float) -> None:
    """The numbers for the README, on stdout (shown with `pytest -s`)."""
    lost = [t for t in done if any(t.audit.problems.values())]
    print(
        f"\ncrash trials: {len(done)}, a whole run {run_seconds:.2f}s, lost something: {len(lost)}"
    )
    for phase, n in sorted(Counter(t.phase for t in done).items()):
        print(f"  killed {phase}: {n}")
    print("  seconds per trial:", [round(t.seconds, 2) for t in done])
    for trial in lost:
        print(f"  {trial.kill.describe()} ({trial.phase}): {trial.audit.problems}")


def failures(done: list[Trial], invariant: str) -> list[str]:
    return [
        f"{t.kill.describe()} ({t.phase}): {problem}"
        for t in done
        for problem in t.audit.problems.get(invariant, [])
    ]


def test_kills_cover_every_stage_of_a_run(trials: list[Trial]) -> None:
    """Every planned kill landed (20 plain, 8 deep), among them while fetching or storing (a
    deep crawl stores as it fetches) and while publishing."""
    phases = Counter(t.phase for t in trials)
    assert len(trials) >= min(RANDOM_TRIALS.values()) + len(TRIGGERED)
    assert phases["fetching"] + phases["storing observations"]
    assert phases["publishing (storing reports)"]


def test_database_passes_integrity_check_after_every_kill(trials: list[Trial]) -> None:
    """PRAGMA integrity_check answers ok after each SIGKILL and after each recovery."""
    assert failures(trials, "integrity") == []


def test_no_run_is_complete_without_all_it_stored(trials: list[Trial]) -> None:
    """A complete run always has every observation, link check and report format."""
    assert failures(trials, "complete-is-whole") == []


def test_killed_runs_are_never_listed(trials: list[Trial]) -> None:
    """Runs left running appear in no list: list_runs, index.html, feed.xml, latest.json."""
    assert failures(trials, "listings") == []


def test_next_run_completes_with_its_exit_code(trials: list[Trial]) -> None:
    """After each kill the next check completes, exits 1, and the killed run is failed."""
    assert failures(trials, "next-run-completes") == []


def test_report_command_prints_the_next_run(trials: list[Trial]) -> None:
    """`ocwwatch report` after each recovery prints that run, equal to latest.json."""
    assert failures(trials, "report-command") == []


def test_next_run_reads_what_the_server_serves_now(trials: list[Trial]) -> None:
    """A killed run's validators never make the next run reuse stale content via a 304."""
    assert failures(trials, "sees-current-content") == []


def test_complete_runs_keep_their_report_files(trials: list[Trial]) -> None:
    """Every complete run's run-<id>.* files exist and match the stored reports."""
    assert failures(trials, "report-files") == []
