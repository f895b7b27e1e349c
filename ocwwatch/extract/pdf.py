"""Extractor for PDF files: content type, size, SHA-256, page count and title.

It owns every use of pypdf and keeps pypdf's many exception types, warnings and log records
inside this module: whatever the bytes, the answer is a record with `problems`, never a raise.
The work is bounded: page count comes from the page tree's /Count, not from walking it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ocwwatch.models import Extraction, Metadata, PageKind

if TYPE_CHECKING:
    from pypdf import PdfReader

PDF_MAGIC = b"%PDF-"
# Above this, hashing is still done but parsing is skipped: pypdf's xref repair is linear
# in the file size and a body this large has already passed the fetcher's own cap.
MAX_PARSE_BYTES = 512 * 1024 * 1024
# A declared /Count beyond this is a lie (the largest real PDFs have tens of thousands).
_MAX_PAGES = 1_000_000
_PYPDF_LOGGER = "pypdf"
log = logging.getLogger(__name__)


class _Collect(logging.Handler):
    """Keeps pypdf's log messages so they become `problems` instead of stderr noise."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _quiet_pypdf() -> Iterator[_Collect]:
    """Capture pypdf's warnings and log records for the duration of one read."""
    logger = logging.getLogger(_PYPDF_LOGGER)
    handler = _Collect()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield handler
        handler.messages.extend(str(warning.message) for warning in caught)
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def extract_pdf(body: bytes, problems: tuple[str, ...] = ()) -> Extraction:
    """Describe a PDF body; anything unreadable becomes a problem."""
    found = list(problems)
    # Readers accept the header anywhere in the first 1024 bytes (PDF 1.7, annex H).
    if PDF_MAGIC not in body[:1024]:
        found.append("not a PDF (no %PDF- header)")
    if b"%%EOF" not in body[-2048:]:
        found.append("PDF is truncated (no %%EOF marker at the end)")
    pages, title = None, None
    if len(body) > MAX_PARSE_BYTES:
        found.append(f"PDF not parsed: larger than {MAX_PARSE_BYTES} bytes")
    elif body:
        pages, title = _read(body, found)
    metadata = Metadata(
        page_kind=PageKind.PDF,
        title=title,
        content_type="application/pdf",
        size_bytes=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        pages=pages,
        problems=tuple(dict.fromkeys(found)),
    )
    return Extraction(metadata=metadata)


def _read(body: bytes, problems: list[str]) -> tuple[int | None, str | None]:
    """Page count and title, each read on its own so one failure does not hide the other."""
    from pypdf import PdfReader  # noqa: PLC0415 - 40 ms of imports, for runs that read a PDF

    pages, title = None, None
    with _quiet_pypdf() as captured:
        try:
            reader = PdfReader(io.BytesIO(body), strict=False)
        except Exception as exc:  # pypdf raises far beyond PdfReadError on hostile input
            problems.append(f"PDF is unreadable: {_describe(exc)}")
        else:
            _unlock(reader, problems)
            pages = _page_count(reader, problems)
            title = _title(reader, problems)
    problems.extend(f"pypdf: {message}" for message in captured.messages)
    return pages, title


def _unlock(reader: PdfReader, problems: list[str]) -> None:
    """Open an encrypted PDF with the empty user password, as viewers do."""
    try:
        if reader.is_encrypted and not reader.decrypt(""):
            problems.append("PDF is encrypted")
    except Exception as exc:  # unsupported algorithms raise their own errors
        problems.append(f"PDF is encrypted: {_describe(exc)}")


def _page_count(reader: PdfReader, problems: list[str]) -> int | None:
    try:
        root = reader.trailer["/Root"].get_object()
        count = root["/Pages"].get_object()["/Count"]  # type: ignore[index]
        if isinstance(count, int) and 0 <= count <= _MAX_PAGES:
            return int(count)
        problems.append(f"PDF declares an implausible page count: {count!r}")
    except Exception as exc:
        problems.append(f"PDF page count unreadable: {_describe(exc)}")
    return None


def _title(reader: PdfReader, problems: list[str]) -> str | None:
    """The document information /Title, else the XMP dc:title."""
    try:
        info = reader.metadata
        title = info.title if info is not None else None
        if isinstance(title, str) and title.strip():
            return " ".join(title.split())
        return _xmp_title(reader)
    except Exception as exc:
        problems.append(f"PDF title unreadable: {_describe(exc)}")
    return None


def _xmp_title(reader: PdfReader) -> str | None:
    xmp = reader.xmp_metadata
    titles = xmp.dc_title if xmp is not None else None
    if not titles:
        return None
    text = titles.get("x-default") or next(iter(titles.values()), None)
    return " ".join(text.split()) if isinstance(text, str) and text.strip() else None


def _describe(exc: Exception) -> str:
    log.debug("pypdf failed", exc_info=exc)
    return f"{type(exc).__name__}: {exc}"[:200]
