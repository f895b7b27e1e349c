"""The command line: parses arguments, prints, and picks exit codes. Nothing else does.

Every command body only delegates to `commands`; exit codes are documented once, in
`ExitCode`, and in the README.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ocwwatch import __version__, tls
from ocwwatch.errors import (
    ConfigError,
    ForeignDatabaseError,
    NoSuchRunError,
    OcwwatchError,
    ScenarioError,
    StoreBusyError,
)
from ocwwatch.text import for_terminal
from ocwwatch.urls import redact_secrets

if TYPE_CHECKING:
    from ocwwatch import commands

log = logging.getLogger("ocwwatch")


class ExitCode(IntEnum):
    """The exit codes other tools rely on (DESIGN.md, "Contracts")."""

    OK = 0  # nothing to report
    FINDINGS = 1  # dead links, moved links, drift from the baseline
    USAGE = 2  # usage or configuration error
    INTERNAL = 3  # internal error (a bug, or the database failed)
    OFFLINE = 4  # no host answered, nothing was judged


EXIT_CODES = {
    "clean": ExitCode.OK,
    "findings": ExitCode.FINDINGS,
    "offline": ExitCode.OFFLINE,
    "broken": ExitCode.INTERNAL,
}

FORMATS = ("markdown", "json", "html", "sarif")
# The outcomes `--fail-on` takes (models.Outcome but `ok`; kept here so --help stays fast).
FAIL_ON_CHOICES = ("dead", "replaced", "moved", "changed", "unknown", "error")
KINDS = ("ocw-course", "pdf", "page", "site")  # what `list add --kind` takes (models.ResourceKind)
DEMO_SCENARIO = "ocw-today"  # shipped in ocwwatch/demo/scenarios/ (fetch.shipped_scenarios)
PROGRESS_SECONDS = 5.0  # between a deep check's progress lines
# C0 controls except tab and newline, DEL and C1 controls: what terminal escapes are made of.

DESCRIPTION = """\
ocwwatch keeps a curated list of learning resources current. It fetches every resource of
the list (MIT OpenCourseWare courses, PDFs, web pages), reads what each page says (title,
course number, term, instructors, units, resource types, the PDF itself), stores every
observation in SQLite, and reports what moved, changed or died, with the fix to apply.
"""

EPILOG = """\
exit codes: 0 nothing to report; 1 findings (dead, moved, drift from the baseline);
2 usage or configuration error; 3 internal error; 4 offline (no host answered).

examples:
  ocwwatch check                                   check the list in config/, print Markdown
  ocwwatch check --replay ocw-today                the same, against the recorded scenario
                                                   shipped with ocwwatch (or: check --demo)
  ocwwatch baseline accept                         write what was observed into the list
  ocwwatch daemon                                  check on the configured schedule
  ocwwatch record URL --out DIR                    save what URL answers, for --replay DIR
"""


def add_config_options(parser: argparse.ArgumentParser, *, database: bool = True) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="settings file (default: config/ocwwatch.toml, else the list shipped with ocwwatch)",
    )
    if database:
        parser.add_argument(
            "--db", type=Path, metavar="PATH", help="SQLite database (overrides the settings)"
        )


def add_list_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--list",
        type=Path,
        metavar="FILE",
        help="the curated list to use instead of the settings' `resources`: a resources.toml, "
        "or a Markdown or HTML document whose http(s) links (outside code) are the entries",
    )


def global_options() -> argparse.ArgumentParser:
    """-v and -q, accepted after the command too (`ocwwatch check -q`): SUPPRESS as default,
    so a command's copy only speaks when it was given."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="more logs on stderr (-vv: debug)",
    )
    options.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress"
    )
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ocwwatch",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ocwwatch {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logs on stderr (-vv: debug)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_check(commands)
    add_daemon(commands)
    add_baseline(commands)
    add_init(commands)
    add_report(commands)
    add_history(commands)
    add_prune(commands)
    add_record(commands)
    add_list(commands)
    return parser


def add_check(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = commands.add_parser(
        "check",
        parents=[global_options()],
        help="check every resource once and report",
        description="Check every resource of the curated list once, store what was seen, "
        "write the reports under the reports folder and print one of them on stdout.",
    )
    add_config_options(check)
    add_list_option(check)
    check.add_argument(
        "--format", choices=FORMATS, default="markdown", help="what to print (default: markdown)"
    )
    check.add_argument(
        "--deep", action="store_true", help="also check every link inside the course sites"
    )
    recorded = check.add_mutually_exclusive_group()
    recorded.add_argument(
        "--replay",
        type=Path,
        metavar="DIR",
        help="answer from a recorded scenario folder instead of the network; a bare name that "
        f"is no folder here is a scenario shipped with ocwwatch (`{DEMO_SCENARIO}`)",
    )
    recorded.add_argument(
        "--demo",
        dest="replay",
        action="store_const",
        const=Path(DEMO_SCENARIO),
        help=f"the same as --replay {DEMO_SCENARIO}: today's OCW answering the 2020 list",
    )
    check.add_argument(
        "--fail-on",
        type=fail_on_list,
        metavar="OUTCOMES",
        help="comma-separated outcomes that make exit 1, from "
        f"{', '.join(FAIL_ON_CHOICES)}, or `none` (default: dead,replaced,moved,changed); "
        "a --deep link counts as dead (dead, soft404, invalid), moved (redirected), "
        "changed (missing-fragment) or unknown (blocked, unknown)",
    )


def fail_on_list(text: str) -> frozenset[str]:
    """`--fail-on dead,moved`: known outcomes only, so a typo is an error and not a pass."""
    names = {name.strip().lower() for name in text.split(",") if name.strip()}
    if names == {"none"}:
        return frozenset()
    unknown = sorted(names - set(FAIL_ON_CHOICES))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown outcome {', '.join(unknown) or repr(text)}; "
            f"choose from {', '.join(FAIL_ON_CHOICES)}, or none"
        )
    return frozenset(names)


def github_actions() -> tuple[bool, Path | None]:
    """Whether this is a GitHub Actions step (GITHUB_ACTIONS=true), and its job summary file."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return False, None
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    return True, Path(summary) if summary else None


def add_daemon(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    daemon = commands.add_parser(
        "daemon",
        parents=[global_options()],
        help="run checks on the configured schedule",
        description="Run `check` on the schedule of the settings' [schedule] table until "
        "SIGTERM or SIGINT, then exit 0.",
    )
    add_config_options(daemon)


def add_baseline(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    baseline = commands.add_parser(
        "baseline",
        parents=[global_options()],
        help="accept what was observed as the new curated list",
        description="Edit the curated list (resources.toml) in place.",
    )
    actions = baseline.add_subparsers(dest="action", metavar="ACTION", required=True)
    accept = actions.add_parser(
        "accept",
        parents=[global_options()],
        help="write the latest run's observations into the curated list",
        description="Write the latest complete run's new URLs and metadata into the curated "
        "list, keeping its comments and order, so that the next run is clean.",
    )
    add_config_options(accept)
    add_list_option(accept)
    accept.add_argument(
        "--dry-run",
        action="store_true",
        help="for a Markdown or HTML list: print the diff of the fixes, write nothing",
    )
    accept.add_argument("ids", nargs="*", metavar="ID", help="only these resources (default: all)")
    accept.add_argument(
        "--replaced",
        action="store_true",
        help="also take entries that now lead to another course (outcome `replaced`); "
        "without it they are taken only when named by id",
    )


def add_init(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = commands.add_parser(
        "init",
        parents=[global_options()],
        help="write an editable copy of the settings and curated list",
        description="Write config/ocwwatch.toml and config/resources.toml under DIR.",
    )
    init.add_argument("dir", nargs="?", type=Path, default=Path(), metavar="DIR")


def add_report(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser(
        "report",
        parents=[global_options()],
        help="print the report of a stored run",
        description="Print the report of a stored run exactly as it was written at the time.",
    )
    add_config_options(report)
    report.add_argument("run", nargs="?", type=int, metavar="RUN", help="run id (default: latest)")
    report.add_argument("--format", choices=FORMATS, default="markdown")


def add_prune(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    prune = commands.add_parser(
        "prune",
        parents=[global_options()],
        help="drop old runs as [retention] says",
        description=(
            "Drop the runs, link checks, stored reports and report files that the settings'"
            " [retention] rules let go (also done after every check unless prune_after_run ="
            " false). The latest state and every run that changed something are kept."
        ),
    )
    add_config_options(prune)
    prune.add_argument(
        "--dry-run", action="store_true", help="only say what would be dropped; change nothing"
    )


def add_history(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    history = commands.add_parser(
        "history",
        parents=[global_options()],
        help="show one resource's timeline",
        description="Show when one resource moved, changed, failed and recovered.",
    )
    add_config_options(history)
    history.add_argument("id", metavar="ID", help="resource id from the curated list")


def add_record(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    record = commands.add_parser(
        "record",
        parents=[global_options()],
        help="save what URLs answer as a scenario folder for --replay",
        description="Fetch each URL once, following redirects, and write every redirect hop "
        "and final response (bodies as files) to DIR/scenario.json, for `check --replay DIR`.",
    )
    record.add_argument("urls", nargs="+", metavar="URL", help="absolute http(s) URLs")
    record.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="scenario folder to create"
    )


def add_list(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    entries = commands.add_parser(
        "list",
        parents=[global_options()],
        help="add or remove an entry of the curated list",
        description="Edit the curated list (resources.toml) in place, keeping its comments.",
    )
    actions = entries.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add",
        parents=[global_options()],
        help="add an entry at the end of the list",
        description="Add URL as a new entry at the end of the curated list; its kind is "
        "inferred from the URL (an OCW course site, a .pdf, else a page) unless given.",
    )
    add.add_argument("url", metavar="URL", help="absolute http(s) URL")
    add.add_argument("--id", dest="entry_id", metavar="ID", help="default: from --name or URL")
    add.add_argument("--name", help="how the list names it (reports use it)")
    add.add_argument("--kind", choices=KINDS, help="default: inferred")
    remove = actions.add_parser(
        "remove",
        parents=[global_options()],
        help="remove an entry from the list",
        description="Remove the entry ID and its expectations from the curated list; its "
        "history stays in the database.",
    )
    remove.add_argument("entry_id", metavar="ID", help="resource id in the list")
    for action in (add, remove):
        add_config_options(action, database=False)
        add_list_option(action)


def configure_logging(verbose: int, *, daemon: bool = False) -> None:
    """Warnings only by default; a daemon, whose log is all it says, starts at info."""
    quiet = logging.INFO if daemon else logging.WARNING
    level = quiet if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = QuietStreamHandler()
    handler.setFormatter(logging.Formatter("ocwwatch: %(levelname)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    for each in logging.getLogger().handlers:
        each.addFilter(InertLogFilter())
    if verbose < 2:
        for noisy in ("httpx", "httpcore", "apscheduler"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    # A line per request is what -v asks for, not what a daemon's log wants.
    requests_level = logging.WARNING if verbose < 1 else logging.NOTSET
    logging.getLogger("ocwwatch.requests").setLevel(requests_level)


def progress_printer(quiet: bool) -> Callable[[str], None]:
    def show(line: str) -> None:
        if not quiet:
            write_quietly(sys.stderr, clean_terminal(line) + "\n")

    return show


def tick_seconds(args: argparse.Namespace) -> float | None:
    """How often a deep check says how far it has got: on a terminal or with -v, never with -q
    (cron and the daemon get the run's summary line, not a line every few seconds)."""
    if args.quiet or not (args.verbose or sys.stderr.isatty()):
        return None
    return PROGRESS_SECONDS


def write_quietly(stream: TextIO, text: str) -> None:
    """Write and flush; a closed pipe or terminal (`ocwwatch check 2>&1 | head -2`) drops the
    text instead of failing the run (issue 11). The stream's descriptor is pointed at
    /dev/null, so that the interpreter's last flush at exit does not fail either."""
    try:
        stream.write(text)
        stream.flush()
    except (BrokenPipeError, ValueError, OSError):
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)


class QuietStreamHandler(logging.StreamHandler[TextIO]):
    """stderr logging that drops records once stderr is closed, without the "Logging error"
    traceback logging would try to print there."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record) + self.terminator
        except Exception:  # a formatting bug is logging's to report, as usual
            self.handleError(record)
            return
        write_quietly(self.stream, text)


class InertLogFilter(logging.Filter):
    """Logs quote URLs and titles taken from pages: keep their escape sequences off stderr, and
    the user info and credential-like query values of any URL (httpcore's debug lines quote raw
    Location headers) out of sight."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = inert_log_text(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:  # what the formatter would append raw
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = inert_log_text(record.exc_text)
        if record.stack_info:
            record.stack_info = inert_log_text(record.stack_info)
        return True


def inert_log_text(text: str) -> str:
    """A record's text as it may be logged: no escape sequence, no secret, and every line after
    the first indented, so that a line break in what a page or an exception said cannot pass
    the rest for a record of its own (`ocwwatch: ERROR: ...`)."""
    return clean_terminal(redact_secrets(text)).replace("\n", "\n  ")


def clean_terminal(text: str) -> str:
    """Drop control characters (escape sequences included) and bidi overrides, which make text
    read otherwise than it is, before anything reaches a terminal."""
    return for_terminal(text)


def run_check_command(args: argparse.Namespace, cwd: Path) -> commands.Done:
    if args.replay is None:
        tls.prepare()  # a live check: the CA bundle is read while the rest is imported
    from ocwwatch import commands  # noqa: PLC0415 - late, so that --help stays fast

    github, step_summary = github_actions()
    return commands.check(
        args.config,
        args.db,
        args.format,
        replay=args.replay,
        cwd=cwd,
        progress=progress_printer(args.quiet),
        deep=args.deep,
        curated=args.list,
        fail_on=args.fail_on,
        github=github,
        step_summary=step_summary,
        tick_seconds=tick_seconds(args),
    )


def run_list_command(args: argparse.Namespace, cwd: Path) -> commands.Done:
    from ocwwatch import commands  # noqa: PLC0415 - late, so that --help stays fast

    if args.action == "add":
        return commands.list_add(
            args.config,
            args.list,
            args.url,
            cwd=cwd,
            resource_id=args.entry_id,
            name=args.name,
            kind=args.kind,
        )
    return commands.list_remove(args.config, args.list, args.entry_id, cwd=cwd)


def dispatch(args: argparse.Namespace) -> int:
    from ocwwatch import commands  # noqa: PLC0415 - late, so that --help stays fast

    release_collector()

    cwd = Path.cwd()
    if args.command == "daemon":  # runs until stopped; says what it does in its log
        return commands.daemon(args.config, args.db, cwd=cwd)
    if args.command == "init":
        return finish(commands.init(args.dir))
    match args.command:
        case "check":
            done = run_check_command(args, cwd)
        case "baseline":
            done = commands.accept(
                args.config,
                args.db,
                args.ids,
                cwd,
                replaced=args.replaced,
                curated=args.list,
                dry_run=args.dry_run,
            )
        case "report":
            done = commands.show_report(args.config, args.db, args.run, args.format, cwd)
        case "history":
            done = commands.history(args.config, args.db, args.id, cwd)
        case "prune":
            done = commands.prune(args.config, args.db, cwd, dry_run=args.dry_run)
        case "record":
            done = commands.record(args.urls, args.out)
        case "list":
            done = run_list_command(args, cwd)
        case _:  # argparse rejects unknown commands before this
            raise AssertionError(args.command)
    return finish(done)


def finish(done: commands.Done) -> int:
    """Print what a command said and turn its verdict into the exit code."""
    write_quietly(sys.stdout, clean_output(done.text))
    if done.warning is not None:
        write_quietly(sys.stderr, f"ocwwatch: {clean_terminal(done.warning)}\n")
    return EXIT_CODES[done.verdict.value]


def clean_output(text: str) -> str:
    """Reports are already inert; this keeps terminal escapes out even if one slipped in."""
    return clean_terminal(text) if sys.stdout.isatty() else text


# The cyclic garbage collector's first threshold for the `ocwwatch` process: a gen-0 pass
# after this many container objects more made than freed (CPython's default is 700).
GC_THRESHOLD = 10_000
_collector = {"held": False}  # whether `entry` holds the collector until the imports are done


def hold_collector() -> None:
    """Keep the collector off while a command's modules are imported: what they make (classes,
    pydantic's validators, compiled patterns) lives as long as the process, so a pass over it
    finds nothing. `release_collector` turns it back on."""
    gc.disable()
    _collector["held"] = True


def release_collector() -> None:
    """After the imports, if `hold_collector` held it: move all there is to the permanent
    generation (`gc.freeze`), so no later pass goes over it again, and collect less often.

    A deep run of 6,500 requests spent 0.41-0.43 s in the collector at CPython's defaults and
    0.07-0.09 s so, importing took about 0.05 s less (issue 15). A process run by `main`
    alone (the tests) keeps the interpreter's settings."""
    if not _collector["held"]:
        return
    _collector["held"] = False
    gc.freeze()
    _, *older = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, *older)
    gc.enable()


def entry() -> None:
    """The `ocwwatch` console script and `python -m ocwwatch`: `main`, then the exit.

    Once a command is done and only this thread is left, the process ends without tearing the
    interpreter down: everything the command wrote is closed by then (the store, the report
    files), and tearing down a hundred modules and a run's objects costs 0.1-0.2 s that nobody
    waits for willingly (issue 15). Output still buffered is flushed first, the way the
    interpreter's own exit would, a closed pipe dropping it quietly (`write_quietly`). With
    another thread alive (a daemon interrupted mid-run, a caller's own), it exits as usual.
    """
    hold_collector()
    code = main()
    tls.settle()  # a check that failed early leaves its CA bundle being read
    if threading.active_count() > 1:
        raise SystemExit(code)
    logging.shutdown()
    write_quietly(sys.stdout, "")
    write_quietly(sys.stderr, "")
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose, daemon=args.command == "daemon" and not args.quiet)
    try:
        return dispatch(args)
    except (ConfigError, ScenarioError) as exc:
        print(f"ocwwatch: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except (StoreBusyError, NoSuchRunError, ForeignDatabaseError) as exc:
        print(f"ocwwatch: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except OcwwatchError as exc:
        print(f"ocwwatch: {exc}", file=sys.stderr)
        return ExitCode.INTERNAL
    except KeyboardInterrupt:
        print("ocwwatch: interrupted; the run was not counted as complete", file=sys.stderr)
        return 130
    except Exception:
        log.exception("internal error; please report it with the lines above")
        return ExitCode.INTERNAL
