"""The deep check's crawl loop: claim entries from the SQLite frontier, check them with a
bounded number in flight, queue the links each page read adds, judge every link found.

Memory holds one claimed batch, the checks in flight and one unsaved step; the frontier, where
each link was found and every result live in the store. Politeness per host is the Fetcher's.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ocwwatch.clock import Clock
from ocwwatch.crawl.fragments import FragmentLink, Fragments
from ocwwatch.crawl.frontier import Frontier, FrontierWriter
from ocwwatch.crawl.probe import (
    Prober,
    Visit,
    followed_as_told,
    landing_of,
    page_metadata,
    probe_of,
    remembered,
    shared_failure,
    skipped,
)
from ocwwatch.crawl.readers import PageReaders
from ocwwatch.crawl.robots import RobotsBook
from ocwwatch.crawl.scope import Scope, host_of, may_be_page, url_key
from ocwwatch.crawl.verdict import judge_found
from ocwwatch.extract import MAX_LINKS_PER_PAGE, links_were_cut
from ocwwatch.fetch import Fetcher
from ocwwatch.judge import ANSWERED, restate
from ocwwatch.models import (
    WORKING_LINKS,
    CrawlStep,
    ElementKind,
    FetchResult,
    FoundCheck,
    FoundLink,
    FrontierEntry,
    Link,
    LinkCheck,
    LinkChecks,
    LinkKind,
    LinkProbe,
    LinkState,
    Metadata,
    PageKind,
)

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
PROGRESS_EVERY = 1000  # links checked between progress lines
RECENT_KEYS = 4096  # keys queued lately, not offered to the store again (bounded memory)
# Pages a working link's check carries into the run's reports; the store keeps every one.
FOUND_ON_KEPT = 25
# States whose status the settings may accept as ok (not a soft 404: its status is a 200).
ACCEPTABLE = frozenset({LinkState.DEAD, LinkState.BLOCKED, LinkState.UNKNOWN})
REUSED = "earlier run"  # the probe method of a verdict taken over within recheck_after


@dataclass(frozen=True)
class DeepOptions:
    """How hard the crawl works; per-host politeness is the Fetcher's policy, not this."""

    workers: int = 32  # links in flight across every host (16 per slot at the default 2)
    extract_workers: int = 0  # processes that read pages (0: this one)
    check_external: bool = True
    respect_robots: bool = True
    robots_user_agent: str = "ocwwatch"
    # A link whose answer is not read (a file, another site's page) and that a complete run
    # found ok this long ago or less keeps that verdict unasked; None asks every link every run.
    recheck_after: timedelta | None = None
    flush_every: int = 256  # settled links per store transaction
    claim_batch: int = 64  # frontier entries claimed at once
    judge_batch: int = 500  # found links judged per read
    max_links_per_page: int = MAX_LINKS_PER_PAGE  # links read from one page, in page order
    max_links_per_run: int = 200_000  # distinct links the crawl queues; later ones are dropped
    # What the elements holding the links read are for (issue 14): other links are not checked.
    link_kinds: frozenset[ElementKind] = frozenset(ElementKind)
    check_fragments: bool = False  # judge `page#id` links by the ids of the pages read
    # Statuses that are ok for a link after all (issue 14), everywhere and by lower-case host.
    accept: frozenset[int] = frozenset()
    accept_hosts: Mapping[str, frozenset[int]] = field(default_factory=dict)

    def accepts(self, check: LinkCheck) -> bool:
        """Whether the settings accept the status of a failing link's answer."""
        status = check.http_status
        if status is None or check.state not in ACCEPTABLE:
            return False
        host = host_of(check.final_url or check.url)
        return status in self.accept or status in self.accept_hosts.get(host, ())


@dataclass
class Cuts:
    """Where the link caps cut this run's crawl short, for the run's notes."""

    pages: int = 0  # pages whose links were cut at max_links_per_page
    first_page: str | None = None
    run_full_on: str | None = None  # the page on which max_links_per_run was reached
    dropped: int = 0  # links not queued since (a link found on several pages counts on each)

    def notes(self, options: DeepOptions) -> tuple[str, ...]:
        notes = []
        if self.pages:
            notes.append(
                f"deep.max_links_per_page ({options.max_links_per_page}) cut the links of "
                f"{self.pages} page(s), first {self.first_page}: the links after the first "
                f"{options.max_links_per_page} on a page were not checked"
            )
        if self.run_full_on is not None:
            notes.append(
                f"deep.max_links_per_run ({options.max_links_per_run}) was reached on "
                f"{self.run_full_on}: {self.dropped} link(s) found after that were not "
                "checked (a link on several pages counts once for each)"
            )
        return tuple(notes)


@dataclass(frozen=True)
class Seed:
    """A URL the resource checks already fetched: not fetched again, and read if a site's home."""

    result: FetchResult
    metadata: Metadata
    found_on: str | None = None  # the page that linked it; None for a resource itself
    resource_id: str | None = None  # set for a course home whose site is crawled


def reused(entry: FrontierEntry, status: int | None, checked_at: datetime) -> Visit:
    """A link that answered ok lately (`recheck_after`), judged by that answer unasked."""
    when = checked_at.strftime("%Y-%m-%d %H:%M UTC")
    detail = f"ok when last asked ({when}); not asked again within deep.recheck_after_hours"
    probe = LinkProbe(
        key=entry.key,
        final_url=entry.url,
        status=status,
        state=LinkState.OK,
        detail=detail,
        method=REUSED,
        fetched_at=checked_at,
    )
    return Visit(entry=entry, probe=probe)


def reused_probe(probe: LinkProbe) -> bool:
    return probe.method == REUSED


class DeepCrawl:
    """One run's crawl of every watched course site, with one shared frontier."""

    def __init__(
        self,
        store: Frontier,
        fetcher: Fetcher,
        run_id: int,
        scope: Scope,
        options: DeepOptions,
        *,
        now: Clock,
        progress: Progress,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.scope = scope
        self.options = options
        self.now = now
        self.progress = progress
        self.robots = RobotsBook(fetcher, options.robots_user_agent, enabled=options.respect_robots)
        self.prober = Prober(
            fetcher, store, scope, options.max_links_per_page, fragments=options.check_fragments
        )
        self.step = CrawlStep()
        self.claimed: deque[tuple[FrontierEntry, bool]] = deque()
        self.pages_read: Counter[str] = Counter()
        # Redirect targets settled this run (few): a direct link to one is not fetched again.
        self.landed: set[str] = set()
        self.recent: OrderedDict[str, None] = OrderedDict()
        # Hashes of the keys add_links queued, to count them against max_links_per_run: ints,
        # not the URLs, so the count costs a few dozen bytes a link (a collision only means
        # one link goes uncounted).
        self.queued: set[int] = set()
        self.cuts = Cuts()
        self.fragments = Fragments()  # used with check_fragments only
        self.checked = 0
        # Steps with found links handed to the store, and how many the last claim came after.
        self.found_flushes = 0
        self.claimed_after = 0
        self.pending: set[asyncio.Task[Visit | None]] = set()
        self.claiming: asyncio.Task[list[FrontierEntry]] | None = None
        # Checks finished and not yet absorbed, and what wakes the loop for them or a claim:
        # each task says it is done, so that a completion costs the same whatever `workers`
        # is (asyncio.wait over every pending check added and removed a callback on each).
        self.finished: deque[asyncio.Task[Visit | None]] = deque()
        self.woken = asyncio.Event()
        # Claimed entries found ok lately (status, when), by key: kept until checked.
        self.fresh: dict[str, tuple[int | None, datetime]] = {}
        # Claimed files whose HEAD the last verdict did not believe, by key: asked by the
        # ranged GET at once, which would have had to confirm that HEAD again.
        self.doubted: set[str] = set()
        self.writer: FrontierWriter  # set while the crawl runs

    async def run(self, seeds: Sequence[Seed]) -> LinkChecks:
        """Crawl from the seeds until the frontier is empty; return every found link judged."""
        try:
            for seed in seeds:
                self.plant(seed)
            async with self.store.writer() as self.writer:
                readers = PageReaders(
                    self.options.extract_workers,
                    self.options.max_links_per_page,
                    fragments=self.options.check_fragments,
                )
                async with readers:
                    self.prober.readers = readers
                    await self.drain()
                if self.options.check_fragments:
                    self.fragments.settle(self.step, self.now())
                await self.flush()
                await self.writer.settle()  # judging reads every step on the main connection
                pages = sum(self.pages_read.values())
                self.progress(f"deep: {self.checked} links checked, {pages} pages read")
                return await self.judge_all()
        finally:
            self.prober.readers = None
            self.robots.close()

    # --- the frontier ----------------------------------------------------------------------

    def plant(self, seed: Seed) -> None:
        """Record a URL the resource checks fetched; read its links if it is a site's page."""
        result = seed.result
        key = url_key(result.url)
        kind, site_id = self.scope.classify(result.url, key)
        entry = FrontierEntry(url=result.url, key=key, kind=kind, resource_id=site_id)
        if seed.found_on is not None:
            self.step.sources.append((key, seed.found_on, "", "a[href]", ElementKind.LINK.value))
        landing = landing_of(entry, result, seed.metadata, self.scope, "GET")
        target = landing[0] if landing is not None else entry
        site = self.readable_site(target, result, seed.metadata)
        links = self.seed_links(result, target) if site is not None else ()
        if links is None:  # a 304 with nothing remembered: read it afresh, like any page
            self.step.found.append(target)
            if landing is None:
                return
        else:
            self.step.settled.append((target, landing[1] if landing else self.probe(seed, entry)))
        if landing is not None:
            self.step.settled.append((entry, self.probe(seed, entry)))
        if site is not None and links is not None:
            self.landed.add(target.key)
            self.pages_read[site] += 1
            self.add_links(links, result.final_url, target)

    def probe(self, seed: Seed, entry: FrontierEntry) -> LinkProbe:
        return probe_of(entry, seed.result, seed.metadata, "GET")

    def readable_site(
        self, target: FrontierEntry, result: FetchResult, metadata: Metadata
    ) -> str | None:
        """The site whose page `target` is, when the seed's answer can be read for links."""
        if target.kind is not LinkKind.PAGE or result.status not in ANSWERED:
            return None
        if metadata.page_kind is PageKind.NOT_FOUND:
            return None
        return target.resource_id

    def seed_links(self, result: FetchResult, target: FrontierEntry) -> tuple[Link, ...] | None:
        """A seed page's links from the body already read, or last run's read (on a 304)."""
        if result.failure is not None:
            return ()  # the check's own tries broke off; asking again would repeat them (issue 11)
        if result.status == 200 and result.body:
            options = self.options
            extraction = page_metadata(
                result, options.max_links_per_page, fragments=options.check_fragments
            )
            extraction = followed_as_told(result, extraction)
            if links_were_cut(extraction.metadata):
                self.cut_page(result.final_url)
            page = remembered(target, result, extraction)
            if page is not None:
                self.step.pages.append(page)
            self.note_page(target, result.final_url, extraction.targets, extraction.own_fragments)
            return extraction.crawl_links
        cached = self.store.load_crawled_page(target.key)
        if cached is None:
            return None
        self.note_page(target, result.final_url, cached.targets, cached.own_fragments)
        return cached.links

    def note_page(
        self, entry: FrontierEntry, final_url: str, targets: Sequence[str], own: Sequence[str]
    ) -> None:
        """Remember what a page read lets fragments name, and the page's links to its own
        sections (`href="#id"`), when fragments are checked."""
        if not self.options.check_fragments:
            return
        key = url_key(final_url)
        self.fragments.note_page((entry.key, key), targets)
        site = entry.resource_id
        for fragment in own:
            found = FragmentLink(
                key, final_url, fragment, final_url, "", "a[href]", ElementKind.LINK, site
            )
            self.fragments.note_link(found)

    def add_links(self, links: Sequence[Link], found_on: str, parent: FrontierEntry) -> None:
        """Queue a page's links (the store ignores known ones) and record where each was."""
        for link in links:
            if link.kind not in self.options.link_kinds:
                continue
            key = url_key(link.url)
            if not self.within_run_cap(key, found_on):
                continue
            if link.fragments and self.options.check_fragments:
                self.note_fragments(link, key, found_on, parent)
            self.step.sources.append((key, found_on, link.text, link.element, link.kind.value))
            if key in self.recent:
                self.recent.move_to_end(key)
                continue  # queued a moment ago: a site's menu and footer are on every page
            self.recent[key] = None
            if len(self.recent) > RECENT_KEYS:
                self.recent.popitem(last=False)
            kind, site_id = self.scope.classify(link.url, key, link.kind)
            if link.nofollow and kind is LinkKind.PAGE:
                kind = LinkKind.EXTERNAL  # checked by GET like another site's page, never read
            self.step.found.append(
                FrontierEntry(
                    url=link.url,
                    key=key,
                    kind=kind,
                    resource_id=site_id or parent.resource_id,
                    depth=parent.depth + 1,
                )
            )

    def note_fragments(self, link: Link, key: str, found_on: str, parent: FrontierEntry) -> None:
        resource_id = self.scope.classify(link.url, key, link.kind)[1] or parent.resource_id
        for fragment in link.fragments:
            found = FragmentLink(
                key, link.url, fragment, found_on, link.text, link.element, link.kind, resource_id
            )
            self.fragments.note_link(found)

    def within_run_cap(self, key: str, found_on: str) -> bool:
        """Whether `key` was queued already this run, or still fits under max_links_per_run."""
        digest = hash(key)
        if digest in self.queued:
            return True
        if len(self.queued) < self.options.max_links_per_run:
            self.queued.add(digest)
            return True
        if self.cuts.run_full_on is None:
            self.cuts.run_full_on = found_on
            log.warning(
                "deep.max_links_per_run (%d) reached on %s: links found after it are not checked",
                self.options.max_links_per_run,
                found_on,
            )
        self.cuts.dropped += 1
        return False

    def cut_page(self, url: str) -> None:
        """Note a page whose links max_links_per_page cut (logged for the first one only)."""
        if self.cuts.first_page is None:
            self.cuts.first_page = url
            log.warning(
                "deep.max_links_per_page (%d) cut the links of %s (later pages are only counted)",
                self.options.max_links_per_page,
                url,
            )
        self.cuts.pages += 1

    async def flush(self) -> None:
        """Hand what the crawl learned to the store's thread (it is saved in order)."""
        step, self.step = self.step, CrawlStep()
        if step.found:
            self.found_flushes += 1
        if step.found or step.sources or step.settled or step.pages:
            run_id, now = self.run_id, self.now()
            await self.writer.write(lambda frontier: frontier.save_crawl_step(run_id, now, step))

    async def claim(self) -> list[FrontierEntry]:
        """Save the links found so far, then claim the next queued entries, noting those
        checked recently enough not to be asked again and those to ask by GET alone."""
        await self.flush()
        flushes = self.found_flushes
        now = self.now()
        window = self.options.recheck_after
        since = now - window if window is not None else None
        run_id, batch = self.run_id, self.options.claim_batch
        claimed = await self.writer.call(
            lambda frontier: claim_with_history(frontier, run_id, batch, since, now)
        )
        self.claimed_after = flushes
        self.fresh.update(claimed.fresh)
        self.doubted.update(claimed.doubted)
        return claimed.entries

    def accept(self, entries: Sequence[FrontierEntry]) -> int:
        """Queue claimed entries (the claim is over); how many there were."""
        self.claiming = None
        for entry in entries:
            self.claimed.append((entry, self.within_budget(entry)))
        return len(entries)

    def within_budget(self, entry: FrontierEntry) -> bool:
        site = self.scope.site_by_id(entry.resource_id)
        if entry.kind is not LinkKind.PAGE or site is None:
            return False
        return self.take_page(site.resource_id, site.max_pages)

    # --- checking --------------------------------------------------------------------------

    async def drain(self) -> None:
        """Keep `workers` checks in flight until the frontier is empty.

        Entries are claimed ahead, in the background, when the claimed queue runs low, so that
        the store's work never leaves a check slot idle. After a claim that found nothing,
        the next waits until a check has finished (it may have found links).
        """
        try:
            await self.keep_checking()
        finally:  # failed or cancelled: nothing may go on fetching once the crawl has stopped
            leftover = [*self.pending, *([self.claiming] if self.claiming else [])]
            for task in leftover:
                task.cancel()
            await asyncio.gather(*leftover, return_exceptions=True)

    async def keep_checking(self) -> None:
        dry = False  # the last claim found nothing, and no check has finished since
        while True:
            self.start_checks(claim=not dry)
            if not self.pending and not self.claimed:
                if self.claiming is None:
                    if self.exhausted():
                        return
                    self.start_claim()
                assert self.claiming is not None
                dry = not self.accept(await self.claiming)
                if dry and self.exhausted():
                    return
                continue
            await self.woken.wait()
            self.woken.clear()
            if self.claiming is not None and self.claiming.done():
                dry = not self.accept(self.claiming.result())
            if self.absorb_finished():
                dry = False
            if self.step.size >= self.options.flush_every:
                await self.flush()

    def start_checks(self, *, claim: bool) -> None:
        """Fill the free check slots; claim ahead (if `claim`) when few entries are left."""
        low = len(self.claimed) < self.options.claim_batch // 2
        if self.claiming is None and low and claim:
            self.start_claim()
        while len(self.pending) < self.options.workers and self.claimed:
            task = asyncio.create_task(self.visit(*self.claimed.popleft()))
            task.add_done_callback(self.check_done)
            self.pending.add(task)

    def start_claim(self) -> None:
        self.claiming = asyncio.create_task(self.claim())
        self.claiming.add_done_callback(lambda _task: self.woken.set())

    def check_done(self, task: asyncio.Task[Visit | None]) -> None:
        self.finished.append(task)
        self.woken.set()

    def absorb_finished(self) -> bool:
        """Learn from the checks finished since the last call; whether there were any."""
        absorbed = False
        while self.finished:
            task = self.finished.popleft()
            if task not in self.pending:
                continue  # cancelled as the crawl stopped
            self.pending.discard(task)
            absorbed = True
            visit = task.result()
            if visit is not None:
                self.absorb(visit)
        return absorbed

    def exhausted(self) -> bool:
        """Whether the last claim read the frontier after every link found had been saved."""
        return not self.step.found and self.claimed_after == self.found_flushes

    async def visit(self, entry: FrontierEntry, read_links: bool) -> Visit | None:
        try:
            return await self.check(entry, read_links)
        except Exception as exc:  # one link's bug must not stop the crawl
            log.exception("checking %s failed", entry.url)
            detail = f"internal error while checking: {type(exc).__name__}: {exc}"
            probe = LinkProbe(
                key=entry.key, state=LinkState.UNKNOWN, detail=detail, fetched_at=self.now()
            )
            return Visit(entry=entry, probe=probe)

    async def check(self, entry: FrontierEntry, read_links: bool) -> Visit | None:
        earlier = self.fresh.pop(entry.key, None)
        head_first = entry.key not in self.doubted
        self.doubted.discard(entry.key)
        if entry.key in self.landed:
            return None  # a redirect already ended here this run: checked, links read
        refusal = self.scope.refusal(entry.url)
        if refusal is not None:
            return skipped(entry, refusal[1], self.now(), refusal[0])
        outside = entry.kind in {LinkKind.EXTERNAL, LinkKind.EMBED}
        leaves = outside and self.scope.site_of(entry.key) is None
        if leaves and not self.options.check_external:
            reason = "links to other sites are not checked (deep.check_external = false)"
            return skipped(entry, reason, self.now())
        if earlier is not None and not read_links:
            return reused(entry, *earlier)
        permit = await self.robots.permit(entry.url)
        if permit.unreachable is not None:
            return shared_failure(entry, permit.unreachable)
        if not permit.allowed:
            return skipped(entry, permit.reason or "disallowed by robots.txt", self.now())
        if entry.kind is LinkKind.PAGE:
            return await self.prober.check_page(entry, read_links=read_links)
        if outside:
            return await self.prober.check_external(entry)
        return await self.prober.check_file(entry, self.page_budget(entry), head_first=head_first)

    def page_budget(self, entry: FrontierEntry) -> Callable[[], bool] | None:
        """For a file of a site whose name a page may have, what grants it a page of the
        site's budget if its answer is a page; None for any other."""
        site = self.scope.site_of(entry.key)
        if site is None or not may_be_page(entry.key):
            return None
        return lambda: self.take_page(site.resource_id, site.max_pages)

    def take_page(self, resource_id: str, max_pages: int) -> bool:
        if self.pages_read[resource_id] >= max_pages:
            return False
        self.pages_read[resource_id] += 1
        return True

    def absorb(self, visit: Visit) -> None:
        self.step.settled.append((visit.entry, visit.probe))
        if visit.final is not None:
            self.step.settled.append(visit.final)
            if visit.read or visit.final[0].kind is not LinkKind.PAGE:
                self.landed.add(visit.final[0].key)
        if visit.page is not None:
            self.step.pages.append(visit.page)
        if visit.read and visit.found_on is not None and visit.probe.status in ANSWERED:
            self.note_page(visit.entry, visit.found_on, visit.targets, visit.own_fragments)
        if visit.links and visit.found_on is not None:
            if visit.links_cut:
                self.cut_page(visit.found_on)
            self.add_links(visit.links, visit.found_on, visit.entry)
        self.checked += 1
        if self.checked % PROGRESS_EVERY == 0:
            pages = sum(self.pages_read.values())
            self.progress(f"deep: {self.checked} links checked, {pages} pages read")

    # --- judging ---------------------------------------------------------------------------

    async def judge_all(self) -> LinkChecks:
        """Judge every link found, in the order found, storing each batch as it is judged.

        The store copies the pages, anchors and elements each link was found on into its stored
        check:
        every one for a link to fix, the first `FOUND_ON_KEPT` of a link that works (a site's
        menu links are on every page), with the count. The returned checks hold only the links
        to fix, read back once stored; the rest are read from the store by each pass over them,
        so that a run's memory does not grow with its links (issue 15).
        """
        total, after = 0, 0
        while True:
            batch = self.store.load_found_links(self.run_id, after, self.options.judge_batch)
            if not batch:
                break
            previous = self.store.link_states(found.entry.url for found in batch)
            now = self.now()
            rows: list[FoundCheck] = []
            for found in batch:
                check = self.judge(found, previous.get(found.entry.url), now)
                # When a request decided the verdict: now, or for one taken over, when it was.
                asked = found.probe.fetched_at if reused_probe(found.probe) else now
                every = check.state not in WORKING_LINKS
                rows.append((found.entry.key, check, asked, every))
            await self.writer.write(saving_checks(self.run_id, rows))
            total += len(rows)
            after = batch[-1].entry.seq
        await self.writer.settle()
        to_fix = self.store.link_checks_to_fix(self.run_id)
        return LinkChecks.stored(to_fix, self.store.kept_checks(self.run_id), total)

    def judge(self, found: FoundLink, previous: LinkCheck | None, now: datetime) -> LinkCheck:
        """A found link's check, ok after all when the settings accept its status."""
        check = judge_found(found, (), previous, now)
        if not self.options.accepts(check):
            return check
        reason = f"status {check.http_status}, accepted by the settings (deep.accept)"
        return restate(check, LinkState.OK, reason, previous, now)


@dataclass(frozen=True)
class Claimed:
    """Entries claimed from the frontier, with what the store remembers of them, by key."""

    entries: list[FrontierEntry]
    fresh: dict[str, tuple[int | None, datetime]]  # found ok lately: (status, when asked)
    doubted: set[str]  # files whose last HEAD was not believed


def claim_with_history(
    frontier: Frontier, run_id: int, limit: int, since: datetime | None, now: datetime
) -> Claimed:
    """Claim up to `limit` entries and read what the last runs found of them, in one call on
    the store's thread. `since` None: the recheck window is off (every link is asked)."""
    entries = frontier.claim_frontier(run_id, limit)
    fresh: dict[str, tuple[int | None, datetime]] = {}
    if since is not None and entries:
        found = frontier.fresh_links([entry.url for entry in entries], since, now)
        fresh = {entry.key: found[entry.url] for entry in entries if entry.url in found}
    # Files only: a HEAD another site's page answers with 2xx is believed, HTML or not, and
    # never read, so a GET alone could judge it otherwise (a page titled "404 Not Found").
    files = [entry.url for entry in entries if entry.kind is LinkKind.FILE]
    doubted = frontier.doubted_heads(files) if files else set()
    return Claimed(entries, fresh, {entry.key for entry in entries if entry.url in doubted})


def saving_checks(run_id: int, rows: Sequence[FoundCheck]) -> Callable[[Frontier], None]:
    """The write of a batch of verdicts, bound now: it runs later, on the store's thread."""
    return lambda frontier: frontier.save_found_checks(run_id, rows, kept=FOUND_ON_KEPT)
