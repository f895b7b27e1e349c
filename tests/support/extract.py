"""Helpers for the extract tests: fixture pages, golden files, generated PDFs, page transforms.

Golden files are rewritten only when OCWWATCH_REGEN_GOLDEN=1 is set; otherwise a missing or
different golden fails the test.
"""

from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pypdf import PdfWriter

from ocwwatch.models import Extraction

FIXTURES = Path(__file__).parent.parent / "fixtures"
PAGES = FIXTURES / "pages"
GOLDEN = FIXTURES / "golden" / "extract"
REGEN_ENV = "OCWWATCH_REGEN_GOLDEN"
OCW = "https://ocw.mit.edu"


@dataclass(frozen=True)
class FixturePage:
    """One recorded (or synthetic) page with the URL and content type it stands for."""

    file: str
    url: str
    content_type: str

    @property
    def name(self) -> str:
        return self.file.removesuffix(".html").replace("/", "--")

    def body(self) -> bytes:
        return (PAGES / self.file).read_bytes()


SYNTHETIC_PAGES = (
    FixturePage(
        "synthetic/generic-links.html", "https://www.example.org/reading/list.html", "text/html"
    ),
)


def fixture_pages() -> list[FixturePage]:
    """Every page of manifest.json, then the synthetic ones (SYNTHETIC.md)."""
    manifest = json.loads((PAGES / "manifest.json").read_text(encoding="utf-8"))
    recorded = [
        FixturePage(entry["file"], entry["url"], entry["content_type"])
        for entry in manifest["pages"]
    ]
    return [*recorded, *SYNTHETIC_PAGES]


def page(file: str) -> FixturePage:
    """The fixture page recorded in `file`."""
    return next(candidate for candidate in fixture_pages() if candidate.file == file)


def check_golden(name: str, extraction: Extraction) -> None:
    """Compare with tests/fixtures/golden/extract/<name>.json (or rewrite it on request)."""
    path = GOLDEN / f"{name}.json"
    actual: dict[str, Any] = extraction.model_dump(mode="json")
    if os.environ.get(REGEN_ENV) == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(actual, indent=2, ensure_ascii=False, sort_keys=True)
        path.write_text(text + "\n", encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path}; run with {REGEN_ENV}=1 and review it"
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert actual == expected, f"extraction differs from {path}"


def make_pdf(title: str | None = "A Title", pages: int = 3, password: str | None = None) -> bytes:
    """A small valid PDF of blank pages, optionally with a /Title and encryption."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    if title is not None:
        writer.add_metadata({"/Title": title})
    if password is not None:
        writer.encrypt(password)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def replace_once(text: str, old: str, new: str) -> str:
    """str.replace that insists the old text is there (a transform must not silently miss)."""
    assert old in text, f"transform target not found: {old[:60]!r}"
    return text.replace(old, new)


def drop_instructors(html: str, keep: int) -> str:
    """Keep the first `keep` instructor list items of each info panel (phone and desktop)."""
    item = re.compile(r"\s*<li>\s*<a[^>]*course-info-instructor[^>]*>[^<]*</a>\s*</li>")
    lists = re.compile(r"(<ul class=\"list-unstyled m-0\">)((?:" + item.pattern + r")+)")

    def trim(match: re.Match[str]) -> str:
        kept = item.findall(match.group(2))[:keep]
        return match.group(1) + "".join(kept)

    return lists.sub(trim, html)


def absolutise_hrefs(html: str, origin: str = OCW) -> str:
    """Turn root-relative hrefs into absolute ones, as production may serve them."""
    return re.sub(r'href="/(?!/)', f'href="{origin}/', html)
