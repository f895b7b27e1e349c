"""Property tests (hypothesis): extractors never raise and stay fast, renderers take any text.

Inputs are arbitrary bytes and mutated recorded pages (byte flips, truncation, tags spliced
from other pages, deep nesting). Derandomized: CI sees the same examples every time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import hypothesis
import pytest
from hypothesis import strategies as st
from support.extract import fixture_pages, make_pdf

from ocwwatch.extract import extract_page, find_missing_phrases
from ocwwatch.models import (
    Against,
    Change,
    ChangeKind,
    Extraction,
    Hop,
    LinkCheck,
    LinkState,
    Metadata,
    Observation,
    Outcome,
    PageKind,
    PromiseCheck,
    Report,
    Run,
    Suggestion,
)
from ocwwatch.report import render_html, render_json, render_markdown

T = TypeVar("T")
CONTENT_TYPES = (
    "text/html",
    "application/pdf",
    None,
    "application/octet-stream",
    "text/plain",
    "text/html; charset=utf-16",
)
URL = "https://ocw.mit.edu/courses/fuzz/"
CAP_SECONDS = 2.0  # per extractor call; real pages take milliseconds
PAGES = tuple(page.body() for page in fixture_pages())
PDF = make_pdf("Calculus", pages=2)
NESTING_TAGS = ("div", "span", "a", "b", "ul", "table", "font", "i", "section", "svg", "template")
# deadline=None: each call's time is asserted against CAP_SECONDS below, which is what matters;
# hypothesis' own per-example deadline would only add flakiness on shared CI cores.
FUZZ = hypothesis.settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.data_too_large],
)
MUTATED = hypothesis.settings(FUZZ, max_examples=120)
RENDER = hypothesis.settings(FUZZ, max_examples=200)

SLOWEST: dict[str, float] = {}
EXAMPLES: dict[str, int] = {}


def timed(label: str, call: Callable[[], T]) -> T:
    """Run `call`, record the slowest time per label, and fail if it exceeds the cap."""
    began = time.perf_counter()
    result = call()
    took = time.perf_counter() - began
    SLOWEST[label] = max(SLOWEST.get(label, 0.0), took)
    EXAMPLES[label] = EXAMPLES.get(label, 0) + 1
    assert took < CAP_SECONDS, f"{label}: one call took {took:.2f}s"
    return result


@pytest.fixture(scope="module", autouse=True)
def print_timings() -> Iterator[None]:
    """After the module: the slowest call per entry point, for the README (`pytest -s`)."""
    yield
    print("\nfuzz: calls and slowest call per entry point")
    for label in sorted(SLOWEST):
        print(f"  {label}: {EXAMPLES[label]} calls, slowest {SLOWEST[label] * 1000:.1f} ms")


def assert_extracts(body: bytes, label: str) -> None:
    """Every content type: a valid Extraction (it round-trips through validation), in time."""
    for content_type in CONTENT_TYPES:
        result = timed(label, partial(extract_page, body, URL, content_type))
        assert isinstance(result, Extraction)
        assert Extraction.model_validate(result.model_dump()) == result
    phrases = ("calculus", "", "Unit 1", "\x00")
    missing = timed(label, lambda: find_missing_phrases(body, phrases))
    assert set(missing) <= set(phrases)
    assert "" not in missing


# --- arbitrary bytes -------------------------------------------------------------------------


@FUZZ
@hypothesis.given(st.binary(max_size=4096))
def test_extractors_take_any_bytes(body: bytes) -> None:
    """Arbitrary bytes under every content type: a valid Extraction, never an exception."""
    assert_extracts(body, "arbitrary bytes")


@FUZZ
@hypothesis.given(st.sampled_from([b"%PDF-1.7\n", b"<!doctype html>", b"\xef\xbb\xbf<html>"]),
                  st.binary(max_size=2048))  # fmt: skip
def test_extractors_take_any_bytes_behind_a_known_header(head: bytes, tail: bytes) -> None:
    """Bytes that start like a PDF or an HTML page still extract safely."""
    assert_extracts(head + tail, "known header + bytes")


@FUZZ
@hypothesis.given(st.binary(max_size=2048), st.lists(st.text(max_size=40), max_size=5))
def test_find_missing_phrases_takes_any_bytes_and_phrases(body: bytes, phrases: list[str]) -> None:
    """Any body and phrases: the answer is a subset of the phrases, never an exception."""
    missing = timed("find_missing_phrases", lambda: find_missing_phrases(body, phrases))
    assert set(missing) <= set(phrases)


# --- mutated recorded pages ------------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, sources: tuple[bytes, ...]) -> bytes:
    """A recorded page with byte flips, a truncation and tags spliced in from another page."""
    body = bytearray(draw(st.sampled_from(sources)))
    for _ in range(draw(st.integers(0, 20))):
        position = draw(st.integers(0, len(body) - 1))
        body[position] = draw(st.integers(0, 255))
    donor = draw(st.sampled_from(PAGES))
    start = draw(st.integers(0, len(donor) - 1))
    splice = donor[start : start + draw(st.integers(0, 4000))]
    at = draw(st.integers(0, len(body)))
    body[at:at] = splice
    return bytes(body[: draw(st.integers(0, len(body)))])


@MUTATED
@hypothesis.given(mutated(PAGES))
def test_extractors_take_mutated_pages(body: bytes) -> None:
    """Recorded pages flipped, spliced and truncated: valid Extraction, within the cap."""
    assert_extracts(body, "mutated page")


@MUTATED
@hypothesis.given(mutated((PDF,)))
def test_extractors_take_mutated_pdfs(body: bytes) -> None:
    """A real PDF flipped, spliced and truncated: valid Extraction, within the cap."""
    assert_extracts(body, "mutated pdf")


@MUTATED
@hypothesis.given(
    st.sampled_from(PAGES),
    st.lists(st.sampled_from(NESTING_TAGS), min_size=1, max_size=3),
    st.integers(1, 60_000),
    st.sampled_from(["", "</x>", "text", "<p>x", "<br>"]),
)
# Stray end tags once hid the nesting from the depth bound: 6 s for 50,000 <div>s.
@hypothesis.example(page=PAGES[0], tags=["div"], depth=60_000, filler="</x>")
@hypothesis.example(page=PAGES[0], tags=["b", "i"], depth=60_000, filler="<p>x")
def test_extractors_take_deep_nesting(
    page: bytes, tags: list[str], depth: int, filler: str
) -> None:
    """Tens of thousands of unclosed elements (stray end tags between) inside a real page."""
    opening = "".join(f"<{tag} id=n>{filler}" for tag in tags) * (depth // len(tags))
    at = len(page) // 2
    assert_extracts(page[:at] + opening.encode() + page[at:], "deep nesting")


# --- renderers -------------------------------------------------------------------------------


def fuzz_report(texts: list[str]) -> Report:
    """A report with a different arbitrary text in every text field of every record."""
    pick = iter(texts * 40).__next__
    at = datetime(2024, 5, 1, tzinfo=UTC)
    metadata = Metadata(
        page_kind=PageKind.OCW_COURSE,
        title=pick(),
        course_number=pick(),
        term=pick(),
        level=(pick(),),
        instructors=(pick(), pick()),
        departments=(pick(),),
        topics=(pick(),),
        units=(pick(), pick()),
        resource_types=(pick(),),
        content_type=pick(),
        sha256=pick(),
        problems=(pick(),),
    )
    observation = Observation(
        id=pick(),
        url=pick(),
        final_url=pick(),
        http_status=200,
        redirects=(Hop(url=pick(), status=307),),
        redirect_kind=pick(),
        outcome=Outcome.CHANGED,
        metadata=metadata,
        promises=(PromiseCheck(text=pick(), holds=False, missing=(pick(),)),),
        changes=tuple(
            Change(field=pick(), kind=kind, before=pick(), after=pick(), against=Against.PREVIOUS)
            for kind in ChangeKind
        ),
        suggestion=Suggestion(url=pick(), reason=pick()),
        error=pick(),
        observed_at=at,
    )
    link = LinkCheck(
        url=pick(),
        found_on=(pick(), pick()),
        state=LinkState.REDIRECTED,
        final_url=pick(),
        suggestion=Suggestion(url=pick(), reason=pick()),
        detail=pick(),
        first_failed_at=at,
        failed_runs=2,
    )
    return Report(run=Run(id=1, started_at=at, finished_at=at), resources=(observation,),
                  links=(link,))  # fmt: skip


@RENDER
@hypothesis.given(st.lists(st.text(), min_size=1, max_size=8))
def test_renderers_take_any_text_in_every_field(texts: list[str]) -> None:
    """Any text in every Observation and LinkCheck field renders in Markdown, HTML and JSON."""
    report = fuzz_report(texts)
    assert timed("render_markdown", lambda: render_markdown(report)).startswith("# ocwwatch")
    assert timed("render_html", lambda: render_html(report)).startswith("<!DOCTYPE html>")
    document: Any = json.loads(timed("render_json", lambda: render_json(report)))
    assert document["resources"][0]["metadata"]["title"] == report.resources[0].metadata.title
