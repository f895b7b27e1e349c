"""Benchmark of `ocwwatch check`: the ocw-today scenario served on 127.0.0.1, 100 ms a response.

Measures body bytes of a cold and a warm (conditional) run, wall time of all resources against
each alone, peak RSS and a replay-only run. Prints ratios, not verdicts; exits 1 only when a run is
plainly broken. Run: `python tests/benchmarks/bench_check.py [--repeat N]` (README.md beside it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ocwwatch.config import Config, load_config, load_settings
from ocwwatch.fetch import Fetcher, Scenario, load_scenario
from ocwwatch.fetch.replay import respond
from ocwwatch.models import Outcome
from ocwwatch.pipeline import Outcomes, check_and_publish, fetch_policy, run_check
from ocwwatch.store import Store

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from support.loopback import LoopbackServer  # noqa: E402  (tests/ is not a package)

SCENARIO = ROOT / "ocwwatch" / "demo" / "scenarios" / "ocw-today"
CURATED = ROOT / "config" / "resources.toml"
SHIPPED = ROOT / "config" / "ocwwatch.toml"
OCW = "https://ocw.mit.edu"
GUTENBERG = "https://www.gutenberg.org"
# Another spelling of 127.0.0.1 (inet_aton): same socket address, but a second host name, so the
# fetcher's per-host gate treats Gutenberg as its own host, as it is in reality.
GUTENBERG_HOST = "127.1"
LATENCY_SECONDS = 0.1
UNTHROTTLED = {"per_host_concurrency": 8, "per_host_interval_seconds": 0.0}
BROKEN = frozenset({Outcome.ERROR, Outcome.UNKNOWN})
problems: list[str] = []  # plainly broken runs; any of them makes the exit status 1


def quiet(_line: str) -> None:
    """Progress lines are not wanted here."""


# --- the loopback origins ------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """What the servers answered during one run: statuses, requests per host, body bytes."""

    statuses: Counter[int]
    per_host: dict[str, int]
    body_bytes: int
    unknown_paths: tuple[str, ...]

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


@dataclass(frozen=True)
class Sample:
    wall_seconds: float
    tally: Tally


@dataclass
class Origins:
    """The two loopback servers (by the host they stand for) and recorded URL -> loopback URL."""

    servers: dict[str, LoopbackServer]
    mapping: dict[str, str]

    def reset(self) -> None:
        for server in self.servers.values():
            server.reset_counts()

    def tally(self) -> Tally:
        """Status of every request, as the server's own `respond` decided it."""
        statuses: Counter[int] = Counter()
        per_host: dict[str, int] = {}
        unknown: list[str] = []
        for host, server in self.servers.items():
            per_host[host] = len(server.request_log)
            for method, path, headers in server.request_log:
                recording = server.routes.get(path)
                if recording is None:
                    unknown.append(path)
                    statuses[404] += 1
                    continue
                status, _headers, _body = respond(
                    recording,
                    method=method,
                    if_none_match=headers.get("if-none-match"),
                    if_modified_since=headers.get("if-modified-since"),
                )
                statuses[status] += 1
        body_bytes = sum(sum(s.bytes_sent.values()) for s in self.servers.values())
        return Tally(statuses, per_host, body_bytes, tuple(unknown))


@contextmanager
def serve(scenario: Scenario, latency_seconds: float) -> Iterator[Origins]:
    """OCW on one LoopbackServer, Gutenberg on a second one addressed as GUTENBERG_HOST."""
    with (
        LoopbackServer(latency_seconds=latency_seconds) as ocw,
        LoopbackServer(latency_seconds=latency_seconds) as gutenberg,
    ):
        mapping = ocw.serve_scenario(scenario, OCW)
        for recorded, local in gutenberg.serve_scenario(scenario, GUTENBERG).items():
            mapping[recorded] = local.replace("//127.0.0.1:", f"//{GUTENBERG_HOST}:", 1)
        yield Origins({"ocw.mit.edu": ocw, "www.gutenberg.org": gutenberg}, mapping)


# --- temporary configurations --------------------------------------------------------------


@dataclass(frozen=True)
class CuratedText:
    """config/resources.toml cut into its preamble and one text block per entry, by id."""

    preamble: str
    entries: dict[str, str]

    @classmethod
    def read(cls, path: Path) -> CuratedText:
        preamble, *blocks = re.split(r"(?m)^(?=\[\[resources\]\]$)", path.read_text("utf-8"))
        entries = {}
        for block in blocks:
            found = re.search(r'(?m)^id = "([^"]+)"$', block)
            assert found is not None, f"{path}: an entry without an id"
            entries[found.group(1)] = block
        return cls(preamble, entries)


def rewrite_urls(text: str, mapping: Mapping[str, str]) -> str:
    """Every entry's `url` through `mapping`; a URL the scenario does not serve is an error."""

    def local(match: re.Match[str]) -> str:
        if match.group(1) not in mapping:
            raise SystemExit(f"{CURATED}: {match.group(1)} is not served by the scenario")
        return f'url = "{mapping[match.group(1)]}"'

    return re.sub(r'(?m)^url = "([^"]+)"$', local, text)


def toml_value(value: object) -> str:
    return json.dumps(value) if isinstance(value, str) else repr(value)


def write_config(
    folder: Path, blocks: Sequence[str], mapping: Mapping[str, str], http: Mapping[str, object]
) -> Config:
    """Settings and a curated list of `blocks` in `folder`, database and reports beside them."""
    curated = CuratedText.read(CURATED)
    (folder / "resources.toml").write_text(
        rewrite_urls(curated.preamble + "".join(blocks), mapping), "utf-8"
    )
    lines = ['resources = "resources.toml"', 'database = "ocwwatch.db"', 'reports_dir = "reports"']
    lines += ["", "[http]", *(f"{key} = {toml_value(value)}" for key, value in http.items())]
    (folder / "ocwwatch.toml").write_text("\n".join(lines) + "\n", "utf-8")
    return load_config(folder / "ocwwatch.toml", cwd=folder)


def shipped_http() -> dict[str, object]:
    """The [http] settings config/ocwwatch.toml ships, as TOML-writable values."""
    return load_settings(SHIPPED).http.model_dump(exclude_none=True)


# --- runs ----------------------------------------------------------------------------------


def note_problems(label: str, outcomes: Outcomes, tally: Tally | None = None) -> None:
    """Record what makes a run plainly broken: offline, errors, requests nobody serves."""
    if outcomes.report.run.offline:
        problems.append(f"{label}: the run was offline")
    for observation in outcomes.report.resources:
        if observation.outcome in BROKEN:
            detail = observation.error or observation.http_status
            problems.append(f"{label}: {observation.id} is {observation.outcome} ({detail})")
    if tally is not None and tally.unknown_paths:
        problems.append(f"{label}: requests for unserved paths {sorted(tally.unknown_paths)}")


def time_publish(config: Config, replay: Path | None = None) -> tuple[float, Outcomes]:
    """The real `ocwwatch check` path (check_and_publish): lock, check, store, publish."""
    started = time.perf_counter()
    outcomes = check_and_publish(config, replay, quiet)
    return time.perf_counter() - started, outcomes


def time_check(config: Config) -> tuple[float, Outcomes]:
    """check_and_publish's check only (real Fetcher, real socket), without publishing."""
    policy = fetch_policy(
        config.settings.http, replay=False, allowed_origins=config.trusted_origins()
    )

    async def check(store: Store) -> Outcomes:
        async with Fetcher(policy) as fetcher:
            return await run_check(config, store, fetcher, progress=quiet)

    with Store.open(config.settings.database) as store:
        started = time.perf_counter()
        outcomes = asyncio.run(check(store))
        return time.perf_counter() - started, outcomes


def cold_check(origins: Origins, blocks: Sequence[str], http: Mapping[str, object]) -> Sample:
    """One cold check of `blocks` in a fresh folder: its wall time and what the servers saw."""
    with tempfile.TemporaryDirectory(prefix="ocwwatch-bench-") as tmp:
        config = write_config(Path(tmp), blocks, origins.mapping, http)
        origins.reset()
        wall, outcomes = time_check(config)
        tally = origins.tally()
    note_problems(f"check of {len(blocks)} resource(s)", outcomes, tally)
    return Sample(wall, tally)


# --- 1. bytes: cold run, then warm run -----------------------------------------------------


def bench_bytes(origins: Origins, curated: CuratedText) -> list[str]:
    """Run 1 and run 2 on one database through publish_check, with the shipped politeness."""
    http = shipped_http()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ocwwatch-bench-") as tmp:
        config = write_config(Path(tmp), list(curated.entries.values()), origins.mapping, http)
        for label in ("run 1 (cold)", "run 2 (warm)"):
            origins.reset()
            wall, outcomes = time_publish(config)
            tally = origins.tally()
            note_problems(label, outcomes, tally)
            rows.append((label, wall, tally))
    cold, warm = rows[0][2].body_bytes, rows[1][2].body_bytes
    if rows[1][2].statuses[304] == 0:
        problems.append("run 2 (warm): no request was answered 304")
    lines = [
        "1. Bytes: run 1 (cold) then run 2 (warm, stored ETags make requests conditional)",
        f"   publish_check, shipped politeness: {politeness(http)}",
        f"   {'run':<14}{'requests':>9}  {'statuses':<24}{'body bytes':>11}{'wall s':>8}",
    ]
    for label, wall, tally in rows:
        statuses = " ".join(f"{code}x{n}" for code, n in sorted(tally.statuses.items()))
        lines.append(
            f"   {label:<14}{tally.requests:>9}  {statuses:<24}{tally.body_bytes:>11}{wall:>8.2f}"
        )
    ratio = warm / cold if cold else float("nan")
    lines.append(f"   run 2 / run 1 bytes = {warm} / {cold} = {ratio:.4f}  (acceptance: <= 0.10)")
    return lines


def politeness(http: Mapping[str, object]) -> str:
    return (
        f"per_host_concurrency {http['per_host_concurrency']}, "
        f"per_host_interval_seconds {http['per_host_interval_seconds']}"
    )


# --- 2. concurrency: each resource alone, then all together --------------------------------


@dataclass
class Setting:
    """One politeness setting's samples: each resource alone, and all of them together."""

    name: str
    http: dict[str, object]
    single: dict[str, list[Sample]] = field(default_factory=dict)
    together: list[Sample] = field(default_factory=list)

    @property
    def concurrency(self) -> int:
        return int(str(self.http["per_host_concurrency"]))

    @property
    def interval(self) -> float:
        return float(str(self.http["per_host_interval_seconds"]))


def sample_setting(origins: Origins, curated: CuratedText, setting: Setting) -> None:
    """One repetition, side by side: every resource alone, then all of them in one check."""
    for resource_id, block in curated.entries.items():
        sample = cold_check(origins, [block], setting.http)
        setting.single.setdefault(resource_id, []).append(sample)
    setting.together.append(cold_check(origins, list(curated.entries.values()), setting.http))


def chain_seconds(requests: int, setting: Setting) -> float:
    """Ideal wall time of one resource's chain: its requests run one after another.

    Each waits for the previous answer (latency) and for its start slot (the host interval).
    """
    return (requests - 1) * max(setting.interval, LATENCY_SECONDS) + LATENCY_SECONDS


def host_seconds(requests: int, setting: Setting) -> float:
    """Ideal wall time of `requests` to one host: starts at least `interval` apart, and at most
    `concurrency` in flight, so one start per max(interval, latency / concurrency) at best."""
    spacing = max(setting.interval, LATENCY_SECONDS / setting.concurrency)
    return (requests - 1) * spacing + LATENCY_SECONDS if requests else 0.0


def ideal_together(setting: Setting) -> float:
    """All resources: bounded below by the longest chain and by the busiest host's schedule."""
    chains = [chain_seconds(s[0].tally.requests, setting) for s in setting.single.values()]
    hosts = [host_seconds(n, setting) for n in setting.together[0].tally.per_host.values()]
    return max(chains + hosts)


def median_wall(samples: Sequence[Sample]) -> float:
    return statistics.median(s.wall_seconds for s in samples)


def setting_rows(setting: Setting) -> tuple[list[str], float]:
    """Table rows for one setting, and all-together / slowest-single (the acceptance ratio)."""
    rows = []
    for resource_id, samples in setting.single.items():
        requests = samples[0].tally.requests
        wall, ideal = median_wall(samples), chain_seconds(requests, setting)
        rows.append(row(setting.name, resource_id, requests, wall, ideal))
    slowest = max(median_wall(samples) for samples in setting.single.values())
    wall, ideal = median_wall(setting.together), ideal_together(setting)
    together = setting.together[0].tally
    rows.append(row(setting.name, "all seven", together.requests, wall, ideal))
    return rows, wall / slowest


def row(name: str, scope: str, requests: int, wall: float, ideal: float) -> str:
    return f"   {name:<12}{scope:<21}{requests:>8}{wall:>9.2f}{ideal:>9.2f}{wall / ideal:>7.2f}"


def bench_concurrency(origins: Origins, curated: CuratedText, repeat: int) -> list[str]:
    polite = shipped_http()
    settings = [
        Setting("unthrottled", polite | UNTHROTTLED),
        Setting("polite", polite),
    ]
    for _ in range(repeat):
        for setting in settings:
            sample_setting(origins, curated, setting)
    lines = [
        "2. Concurrency: cold checks (check_once: fetch, extract, store; no report publishing)",
        *(f"   {s.name}: {politeness(s.http)}" for s in settings),
        f"   {'setting':<12}{'scope':<21}{'requests':>8}{'wall s':>9}{'ideal s':>9}{'ratio':>7}",
    ]
    verdicts = []
    for setting in settings:
        rows, ratio = setting_rows(setting)
        lines += rows
        verdicts.append(f"   {setting.name}: all seven / slowest single = {ratio:.2f}")
    lines += ["   acceptance: all seven <= 1.5 x slowest single chain", *verdicts]
    lines += IDEAL_NOTE
    return lines


IDEAL_NOTE = [
    "   ideal, L = latency, I = interval, c = concurrency:",
    "     one resource: (requests - 1) x max(I, L) + L   (its requests run one after another)",
    "     all seven: max(slowest ideal chain, per host (requests - 1) x max(I, L / c) + L)",
    "     (requests x L / c + (requests - 1) x I would count L twice: a request's latency",
    "     overlaps the wait for the next start slot)",
]


# --- 3. reference: replay-only runs and peak RSS -------------------------------------------


def bench_replay(curated: CuratedText, repeat: int) -> list[str]:
    """The check with no network at all: in this process, and as a CLI subprocess."""
    identity = {url: url for url in re.findall(r'(?m)^url = "([^"]+)"$', CURATED.read_text())}
    walls = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="ocwwatch-bench-") as tmp:
            config = write_config(Path(tmp), list(curated.entries.values()), identity, {})
            wall, outcomes = time_publish(config, SCENARIO)
            note_problems("replay", outcomes)
            walls.append(wall)
    cli_wall, cli_rss = replay_subprocess(curated, identity)
    own_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return [
        "3. Reference",
        f"   replay-only publish_check, in process (median of {repeat}): "
        f"{statistics.median(walls):.3f} s",
        f"   replay-only `ocwwatch check --replay` in a child process: {cli_wall:.2f} s wall "
        f"(interpreter start included), its peak RSS (VmHWM) {cli_rss:.1f} MiB",
        f"   peak RSS of this benchmark process (servers and every run above): {own_rss:.1f} MiB",
    ]


# Runs the CLI, then reports VmHWM: the child's own peak RSS. getrusage(RUSAGE_CHILDREN) would
# not do: Linux carries the parent's high-water mark across fork and exec into the child's.
CHILD = """import sys
from ocwwatch.cli import main
code = main(sys.argv[1:])
status = open('/proc/self/status', encoding='ascii').read()
print(status.split('VmHWM:')[1].split()[0], file=sys.stderr)
sys.exit(code)
"""


def replay_subprocess(curated: CuratedText, identity: Mapping[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of `ocwwatch check --replay` in a child process."""
    with tempfile.TemporaryDirectory(prefix="ocwwatch-bench-") as tmp:
        write_config(Path(tmp), list(curated.entries.values()), identity, {})
        command = [sys.executable, "-c", CHILD, "check", "--config", f"{tmp}/ocwwatch.toml"]
        started = time.perf_counter()
        done = subprocess.run(
            [*command, "--replay", str(SCENARIO), "--format", "json"],
            capture_output=True,
            check=False,
            text=True,
        )
        wall = time.perf_counter() - started
    last = done.stderr.strip().rsplit("\n", 1)[-1]
    if done.returncode not in (0, 1) or not last.isdigit():
        problems.append(f"replay subprocess exited {done.returncode}: {done.stderr}")
        return wall, float("nan")
    return wall, int(last) / 1024


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="repetitions for medians (3)")
    args = parser.parse_args(argv)
    scenario, curated = load_scenario(SCENARIO), CuratedText.read(CURATED)
    print(f"ocwwatch check benchmark: scenario {scenario.name}, {LATENCY_SECONDS * 1000:.0f} ms")
    print(f"per response, median of {args.repeat} where timed")
    with serve(scenario, LATENCY_SECONDS) as origins:
        ocw, gutenberg = origins.servers.values()
        print(f"origins: ocw.mit.edu -> LoopbackServer {ocw.base_url}; www.gutenberg.org ->")
        print(f"  a second LoopbackServer on 127.0.0.1:{gutenberg.base_url.rsplit(':', 1)[1]},")
        print(f"  addressed as {GUTENBERG_HOST} so the fetcher gates it as its own host\n")
        print("\n".join([*bench_bytes(origins, curated), ""]), flush=True)
        print("\n".join([*bench_concurrency(origins, curated, args.repeat), ""]), flush=True)
    print("\n".join(bench_replay(curated, args.repeat)))
    for problem in problems:
        print(f"BROKEN: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
