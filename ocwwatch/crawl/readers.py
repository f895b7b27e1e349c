"""Page readers: processes that read crawled pages for links, fed through pipes by the event loop.

Reading a page (parsing it, resolving its links) is most of a fast crawl's CPU, and the event
loop that keeps the requests going runs on one core. `deep.extract_workers` moves that work to
child processes. They are driven through their stdin and stdout by the loop itself, with no
threads in this process: a `ProcessPoolExecutor`'s feeder threads fought the loop for the GIL
and cost as much as the reading they took away.

A request is the URL, the content type and the body, each prefixed by its length; the answer
is JSON, `[page kind, [Link.to_row(), ...], [problem, ...], fetchable, [target, ...], [own
fragment, ...]]`, prefixed by its length (the first `fetchable` links are the page's `links`,
the rest `unfetchable`); one page at a time per reader, which keeps at most `max_links` of a
page's links (its command line says how many). Once a reader dies or misbehaves, its page and
every later one are read in this process instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import struct
import sys
from types import TracebackType
from typing import Any, BinaryIO, Self

from ocwwatch.extract import MAX_LINKS_PER_PAGE, extract_links
from ocwwatch.models import Extraction, Link, Metadata, PageKind

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("!Q")
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a reader's answer longer than this is taken as garbage
READY = b"ready\n"  # what a reader writes once its imports are done
# What a reader process runs (not `-m`: the package imports this module before runpy would).
READER_MAIN = (
    "import sys; from ocwwatch.crawl.readers import serve; "
    "serve(sys.stdin.buffer, sys.stdout.buffer, int(sys.argv[1]), sys.argv[2] == '1')"
)


class PageReaders:
    """An async context manager holding `count` reader processes (none when `count` is 0)."""

    def __init__(
        self, count: int, max_links: int = MAX_LINKS_PER_PAGE, *, fragments: bool = False
    ) -> None:
        self.count = count
        self.max_links = max_links
        self.fragments = fragments  # read each page's ids too (extract_links' `fragments`)
        self._processes: list[asyncio.subprocess.Process] = []
        self._idle: asyncio.Queue[asyncio.subprocess.Process] = asyncio.Queue()
        self._broken = False  # a reader failed: every page is read here from then on
        self._starting: set[asyncio.Task[None]] = set()
        self._ready = 0

    async def __aenter__(self) -> Self:
        for _ in range(self.count):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                READER_MAIN,
                str(self.max_links),
                "1" if self.fragments else "0",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            self._processes.append(process)
            self._starting.add(asyncio.create_task(self._await_ready(process)))
        return self

    @property
    def ready(self) -> bool:
        """Whether pages go to reader processes now (some started, none failed)."""
        return self._ready > 0 and not self._broken

    async def started(self) -> None:
        """Wait until every reader has said it is ready (or failed to start)."""
        await asyncio.gather(*self._starting)

    async def _await_ready(self, process: asyncio.subprocess.Process) -> None:
        """Lend a reader once it says it is ready; pages read until then are read here (a
        reader takes a few hundred milliseconds to import the extractors)."""
        try:
            if process.stdout is None or await process.stdout.readexactly(len(READY)) != READY:
                raise EOFError("no ready signal")
        except (EOFError, asyncio.IncompleteReadError, OSError) as exc:
            log.warning("a page reader did not start (%s); reading pages in this process", exc)
            self._broken = True
            return
        self._ready += 1
        self._idle.put_nowait(process)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in self._starting:
            task.cancel()
        await asyncio.gather(*self._starting, return_exceptions=True)
        for process in self._processes:
            if self._broken:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            elif process.stdin is not None:
                process.stdin.close()  # end of input: the reader returns
        for process in self._processes:
            try:
                await asyncio.wait_for(process.wait(), timeout=5)
            except TimeoutError:
                process.kill()
                await process.wait()

    async def read(self, body: bytes, url: str, content_type: str | None) -> Extraction:
        """`extract_links` of the page, by a reader process while they work."""
        if not self.ready:
            return self._read_here(body, url, content_type)
        process = await self._idle.get()
        try:
            if self._broken:
                return self._read_here(body, url, content_type)
            answer = await self._ask(process, (body, url, content_type))
            extraction = _extraction_of(answer, content_type)
        except (OSError, EOFError, ValueError, TypeError) as exc:
            log.warning("a page reader failed (%s); reading pages in this process", exc)
            self._broken = True
            return self._read_here(body, url, content_type)
        except BaseException:  # cancelled mid-message: the pipe is out of step for good
            self._broken = True
            raise
        finally:
            self._idle.put_nowait(process)
        return extraction

    def _read_here(self, body: bytes, url: str, content_type: str | None) -> Extraction:
        return extract_links(
            body, url, content_type, max_links=self.max_links, fragments=self.fragments
        )

    async def _ask(
        self, process: asyncio.subprocess.Process, request: tuple[bytes, str, str | None]
    ) -> list[Any]:
        stdin, stdout = process.stdin, process.stdout
        if stdin is None or stdout is None:
            raise OSError("the reader has no pipes")
        stdin.write(_frame(request))
        await stdin.drain()
        try:
            (length,) = _LENGTH.unpack(await stdout.readexactly(_LENGTH.size))
            if length > MAX_ANSWER_BYTES:
                raise ValueError(f"answer of {length} bytes")
            answer = json.loads(await stdout.readexactly(length))
        except asyncio.IncompleteReadError as exc:
            raise EOFError("the reader exited") from exc
        if not isinstance(answer, list):
            raise TypeError("the answer is no JSON array")
        return answer


def _extraction_of(answer: list[Any], content_type: str | None) -> Extraction:
    """A reader's answer as the Extraction it stands for (ValueError, TypeError if garbled)."""
    kind, rows, problems, fetchable, targets, own = answer
    metadata = Metadata(
        page_kind=PageKind(kind),
        content_type=content_type,
        problems=tuple(str(problem) for problem in problems),
    )
    links = tuple(Link.from_row(row) for row in rows)
    return Extraction(
        metadata=metadata,
        links=links[: int(fetchable)],
        unfetchable=links[int(fetchable) :],
        targets=tuple(str(target) for target in targets),
        own_fragments=tuple(str(fragment) for fragment in own),
    )


def _frame(request: tuple[bytes, str, str | None]) -> bytes:
    body, url, content_type = request
    parts = (url.encode(), (content_type or "").encode(), body)
    return b"".join(_LENGTH.pack(len(part)) + part for part in parts)


def _read_part(source: BinaryIO) -> bytes | None:
    header = source.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(header)
    return source.read(length)


def serve(
    source: BinaryIO,
    sink: BinaryIO,
    max_links: int = MAX_LINKS_PER_PAGE,
    fragments: bool = False,
) -> None:
    """A reader's loop: a page in, its kind and links out, until its input ends.

    Deaf to SIGINT and SIGTERM: they reach the whole process group, and the crawling process
    decides when to stop (it closes the reader's input, or kills it).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sink.write(READY)
    sink.flush()
    while (url := _read_part(source)) is not None:
        content_type, body = _read_part(source), _read_part(source)
        if content_type is None or body is None:
            return
        extraction = extract_links(
            body,
            url.decode(),
            content_type.decode() or None,
            max_links=max_links,
            fragments=fragments,
        )
        links = [link.to_row() for link in extraction.crawl_links]
        metadata = extraction.metadata
        fetchable = len(extraction.links)
        answer = json.dumps(
            [
                metadata.page_kind.value,
                links,
                metadata.problems,
                fetchable,
                extraction.targets,
                extraction.own_fragments,
            ]
        ).encode()
        sink.write(_LENGTH.pack(len(answer)) + answer)
        sink.flush()
