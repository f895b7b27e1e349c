"""What each command does, as functions that return text and a verdict; `cli` prints them.

Reads the files a command needs first (a bad one is a clear error before anything is opened),
then hands over to the pipeline, the store or the scheduler. No fetcher, transport or event loop
lives here: a check's whole life is the pipeline's (pipeline/run.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ocwwatch.clock import utc_now
from ocwwatch.config import (
    Config,
    ScheduleSettings,
    add_entry,
    entry_id,
    load_config,
    refuse_packaged_list,
    remove_entry,
    write_default_config,
)
from ocwwatch.errors import ConfigError
from ocwwatch.judge import failing
from ocwwatch.lists import infer_kind, is_document
from ocwwatch.models import Observation, Resource, ResourceKind, Run
from ocwwatch.pipeline import (
    Outcomes,
    Pruning,
    accept_latest,
    apart_from_live,
    check_and_publish,
    check_environment,
    prune_runs,
)
from ocwwatch.record import describe_recorded, record_scenario
from ocwwatch.report import render_markdown
from ocwwatch.report.github import workflow_commands
from ocwwatch.store import Store

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


class Verdict(StrEnum):
    """What a command found; `cli` turns it into an exit code."""

    CLEAN = "clean"
    FINDINGS = "findings"
    OFFLINE = "offline"
    BROKEN = "broken"  # ocwwatch itself failed on some resource (a bug): worth a report


@dataclass(frozen=True)
class Done:
    text: str
    verdict: Verdict = Verdict.CLEAN
    warning: str | None = None  # one line for stderr, after the text (issue 11)


def check(
    config_path: Path | None,
    database: Path | None,
    report_format: str,
    *,
    replay: Path | None,
    cwd: Path,
    progress: Progress,
    deep: bool = False,
    curated: Path | None = None,
    fail_on: frozenset[str] | None = None,
    github: bool = False,
    step_summary: Path | None = None,
    tick_seconds: float | None = None,
) -> Done:
    """`ocwwatch check`: one run, stored and published; the chosen format is returned. With
    `tick_seconds`, a deep check prints how far it has got at that interval.

    Under GitHub Actions (`github`), the findings are also annotations (workflow commands,
    printed before the report) and the Markdown report is appended to the job summary file.
    """
    config = load_config(config_path, cwd=cwd, database=database, curated=curated)
    if replay is None:
        check_environment()
    outcomes = check_and_publish(config, replay, progress, deep=deep, tick_seconds=tick_seconds)
    # Read-only: a full disk that kept the report files from being written must not keep the
    # stored report from being printed (issue 11).
    with Store.open_read_only(outcomes.database or config.settings.database) as store:
        text = store.load_report(outcomes.report.run.id, report_format) or ""
    if github:
        text = workflow_commands(outcomes.report) + text
    if step_summary is not None:
        append_summary(step_summary, render_markdown(outcomes.report))
    if outcomes.unwritten is not None:
        return Done(text=text, verdict=Verdict.BROKEN, warning=outcomes.unwritten)
    return Done(text=text, verdict=verdict_of(outcomes, fail_on))


def append_summary(path: Path, markdown: str) -> None:
    """Add the report to the job summary; a summary that cannot be written costs a warning,
    never the run (it is stored and published already)."""
    try:
        with path.open("a", encoding="utf-8") as summary:
            summary.write(markdown if markdown.endswith("\n") else markdown + "\n")
    except OSError as exc:
        log.warning("%s: cannot append the job summary: %s", path, exc.strerror or exc)


class DaemonConfig:
    """The daemon's settings and list: read again at every tick and on SIGHUP; when the files
    turn invalid or cannot be read, that is logged and the last good reading goes on being used
    (issue 11)."""

    def __init__(self, config_path: Path | None, database: Path | None, cwd: Path) -> None:
        self.config_path, self.database, self.cwd = config_path, database, cwd
        self.good = load_config(config_path, cwd=cwd, database=database)

    def read(self) -> Config:
        try:
            self.good = load_config(self.config_path, cwd=self.cwd, database=self.database)
        except ConfigError as exc:
            log.error("settings or list invalid, going on with the last good ones: %s", exc)
        except Exception as exc:
            # Not a ConfigError (a symlink loop, a file where a folder should be, a bug): still
            # no reason to lose the tick. One line naming the settings file, as an unattended
            # daemon's log is read; the traceback only with -vv.
            log.error(
                "settings or list unreadable, going on with the last good ones: %s: %s: %s",
                self.good.settings.source,
                type(exc).__name__,
                exc,
            )
            log.debug("reading the settings failed", exc_info=True)
        return self.good

    def reload(self) -> ScheduleSettings:
        """SIGHUP: the files read again; an error is raised for the scheduler to log."""
        self.good = load_config(self.config_path, cwd=self.cwd, database=self.database)
        return self.good.settings.schedule


def daemon(config_path: Path | None, database: Path | None, *, cwd: Path) -> int:
    """`ocwwatch daemon`: checks on the settings' schedule; each tick re-reads the files."""
    config = DaemonConfig(config_path, database, cwd)
    check_environment()

    def progress(line: str) -> None:
        log.debug("%s", line)  # the daemon logs one line per run (`scheduler`)

    def tick(stopping: Callable[[], bool]) -> Run:
        """One scheduled run; a tick still waiting for the lock when asked to stop gives up."""
        return check_and_publish(config.read(), None, progress, stopping=stopping).report.run

    from ocwwatch.scheduler import run_daemon  # noqa: PLC0415 - apscheduler only for the daemon

    settings = config.good.settings
    return run_daemon(tick, settings.schedule, settings.source, reload=config.reload)


def verdict_of(outcomes: Outcomes, fail_on: frozenset[str] | None = None) -> Verdict:
    """Offline first (nothing was judged); then findings: by default what the maintainer has to
    act on (dead, replaced, moved, changed), else exactly the outcomes `fail_on` names."""
    if outcomes.report.run.offline:
        return Verdict.OFFLINE
    found = outcomes.findings if fail_on is None else bool(failing(outcomes.report, fail_on))
    if found:
        return Verdict.FINDINGS
    if outcomes.broken:
        return Verdict.BROKEN
    return Verdict.CLEAN


def record(urls: Sequence[str], out: Path) -> Done:
    """`ocwwatch record`: fetch URLs and save their answers as a scenario folder for --replay."""
    # FetchPolicy's defaults are the [http] defaults (tested): bodies capped as `check` caps them.
    check_environment()
    recorded = record_scenario(urls, out, now=utc_now())
    if len(recorded.unanswered) == len(urls):
        return Done(describe_recorded(recorded), Verdict.OFFLINE)
    verdict = Verdict.FINDINGS if recorded.unanswered else Verdict.CLEAN
    return Done(describe_recorded(recorded), verdict)


def accept(
    config_path: Path | None,
    database: Path | None,
    ids: Sequence[str],
    cwd: Path,
    *,
    replaced: bool = False,
    curated: Path | None = None,
    dry_run: bool = False,
) -> Done:
    """`ocwwatch baseline accept`: write the latest run's observations into the curated list
    (a Markdown list: the fixed URLs only, after printing the diff)."""
    config = load_config(config_path, cwd=cwd, database=database, curated=curated)
    accepted = accept_latest(config, ids, replaced=replaced, dry_run=dry_run)
    where, run_id = config.settings.resources, accepted.run_id
    lines = [f"  not applied: {line}" for line in accepted.refused]
    if accepted.diff:
        lines.insert(0, accepted.diff.rstrip("\n"))
    if dry_run:
        return Done("\n".join([f"{where}: would accept run {run_id} (dry run):", *lines]) + "\n")
    if not accepted.changed:
        head = f"{where}: already matches run {run_id}; nothing to do"
        return Done("\n".join([head, *lines]) + "\n")
    lines = [f"  {line}" for line in accepted.changed] + lines
    return Done("\n".join([f"{where}: accepted run {run_id}:", *lines]) + "\n")


def list_add(
    config_path: Path | None,
    curated: Path | None,
    url: str,
    *,
    cwd: Path,
    resource_id: str | None = None,
    name: str | None = None,
    kind: str | None = None,
) -> Done:
    """`ocwwatch list add`: a new entry at the end of the TOML list, comments kept (issue 16);
    its kind inferred from the URL unless given."""
    path = editable_list(config_path, curated, cwd)
    resource = Resource(
        id=resource_id or entry_id(url, name),
        url=url,
        kind=ResourceKind(kind) if kind else infer_kind(url),
        name=name,
    )
    add_entry(path, resource)
    return Done(f"{path}: added {resource.id} ({resource.kind}) {resource.url}\n")


def list_remove(
    config_path: Path | None, curated: Path | None, resource_id: str, *, cwd: Path
) -> Done:
    """`ocwwatch list remove`: the entry and its expectations out of the TOML list."""
    path = editable_list(config_path, curated, cwd)
    url = remove_entry(path, resource_id)
    return Done(f"{path}: removed {resource_id} ({url}); its history stays in the database\n")


def editable_list(config_path: Path | None, curated: Path | None, cwd: Path) -> Path:
    """The user's TOML list: never the packaged one, never a Markdown document (whose links
    are edited in the document itself)."""
    path = load_config(config_path, cwd=cwd, curated=curated).settings.resources
    refuse_packaged_list(path)
    if is_document(path):
        raise ConfigError(f"{path}: a Markdown list: add or remove the link in the document")
    return path


def init(folder: Path) -> Done:
    """`ocwwatch init`: an editable copy of the settings and the curated list."""
    written = write_default_config(folder)
    lines = [f"wrote {path}" for path in written]
    lines.append(f"next: edit {written[-1]}, then run `ocwwatch check --config {written[0]}`")
    return Done("\n".join(lines) + "\n")


def show_report(
    config_path: Path | None, database: Path | None, run_id: int | None, fmt: str, cwd: Path
) -> Done:
    """`ocwwatch report`: a stored run's report, exactly as it was written."""
    config = load_config(config_path, cwd=cwd, database=database)
    with read_only_store(config) as store:
        run = store.load_run(run_id) if run_id is not None else store.latest_run()
        if run is None:
            raise ConfigError(f"{config.settings.database}: no complete run yet{replays(config)}")
        if run.finished_at is None:
            raise ConfigError(
                f"{config.settings.database}: run {run.id} did not complete; "
                "its reports are partial or missing"
            )
        text = store.load_report(run.id, fmt)
    if text is None:
        raise ConfigError(f"{config.settings.database}: run {run.id} has no {fmt} report")
    return Done(text)


def history(config_path: Path | None, database: Path | None, resource_id: str, cwd: Path) -> Done:
    """`ocwwatch history`: one resource's timeline, one line per run."""
    config = load_config(config_path, cwd=cwd, database=database)
    with read_only_store(config) as store:
        observations = store.resource_history(resource_id)
    if not observations:
        raise ConfigError(
            f"{config.settings.database}: no observation of {resource_id!r} yet{replays(config)}"
        )
    return Done("\n".join(timeline(observations)) + "\n")


def read_only_store(config: Config) -> Store:
    """The live database for `report` and `history`; none yet is the user's to fix (exit 2)."""
    database = config.settings.database
    if not database.is_file():
        raise ConfigError(f"{database}: no database yet; run `ocwwatch check`{replays(config)}")
    return Store.open_read_only(database)


def replays(config: Config) -> str:
    """Where replay runs went, for a message about a live database that has none (issue 16)."""
    database = apart_from_live(config).settings.database
    return (
        f" (replay runs are kept in {database}: add --db {database})" if database.exists() else ""
    )


def prune(config_path: Path | None, database: Path | None, cwd: Path, *, dry_run: bool) -> Done:
    """`ocwwatch prune`: drop what `[retention]` lets go; `--dry-run` only says what."""
    config = load_config(config_path, cwd=cwd, database=database)
    settings = config.settings
    if dry_run:
        with Store.open_read_only(settings.database) as store:
            return Done(describe_pruning(prune_runs(store, settings, utc_now(), dry_run=True)))
    busy = settings.store.busy_timeout_seconds
    with (
        Store.open(settings.database, busy_timeout_seconds=busy) as store,
        store.lock(settings.lock_timeout_seconds),
    ):
        return Done(describe_pruning(prune_runs(store, settings, utc_now(), dry_run=False)))


def describe_pruning(pruning: Pruning) -> str:
    if not pruning.runs:
        return "nothing to prune: every stored run is within [retention] or keeps something\n"
    ids = ", ".join(str(run.run_id) for run in pruning.runs)
    rows = sum(run.rows for run in pruning.runs)
    verb = "would drop" if pruning.dry_run else "dropped"
    text = (
        f"{verb} {len(pruning.runs)} runs ({ids}): {rows} rows, {len(pruning.files)} report files"
    )
    if pruning.freed_bytes:
        text += f"; VACUUM gave back {pruning.freed_bytes / 1_048_576:.1f} MB"
    return text + "\n"


def timeline(observations: Sequence[Observation]) -> list[str]:
    """Lines that say when a resource moved, changed, failed and recovered."""
    lines = []
    last = None
    for item in observations:
        when = item.observed_at.strftime("%Y-%m-%d %H:%M")
        status = item.http_status if item.http_status is not None else "-"
        event = "" if last is None or last == item.outcome else f"  (was {last})"
        detail = f" {item.final_url}" if item.final_url and item.final_url != item.url else ""
        fields = sorted({change.field for change in item.changes})
        changes = f", changed: {', '.join(fields)}" if fields else ""
        lines.append(f"{when}  {item.outcome:<8} {status}{detail}{changes}{event}")
        last = item.outcome
    return lines
