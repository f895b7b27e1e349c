"""The reports say what a broken link is (issue 14): a deep check's broken image, stylesheet,
icon and anchor each read in a reader's words in every format, and so do their stored checks."""

from __future__ import annotations

import json

import pytest
from support import schema
from support.crawl import HOME, MockSite, by_path, config, deep_run, ok

from ocwwatch.models import ElementKind, FoundAs, LinkCheck, LinkState, Report
from ocwwatch.report import render_html, render_json, render_markdown, render_sarif
from ocwwatch.report.github import workflow_commands
from ocwwatch.store import Store

pytestmark = pytest.mark.anyio

SITE = MockSite.base_url
IMAGE, STYLESHEET, ICON, ANCHOR = (
    HOME + "diagram.png",
    HOME + "site.css",
    HOME + "favicon.ico",
    HOME + "pages/gone/",
)
# Every target is unrouted: each answers 404, so each is dead and only its element differs.
BROKEN_PAGE = f"""<html><head><title>Course home</title>
<link rel="stylesheet" href="{STYLESHEET}"><link rel="icon" href="{ICON}"></head>
<body><img src="{IMAGE}" alt="A diagram"><a href="{ANCHOR}">Unit 1</a></body></html>
""".encode()
NOUNS = {IMAGE: "image", STYLESHEET: "stylesheet", ICON: "icon", ANCHOR: "link"}


async def broken_site_report(store: Store) -> Report:
    mock = MockSite({HOME: ok(BROKEN_PAGE)})
    outcomes = await deep_run(config(mock), store, transport=mock.transport())
    assert {
        path: link.state.value for path, link in by_path(outcomes, mock).items()
    } == dict.fromkeys(NOUNS, "dead")
    return outcomes.report


async def test_each_broken_kind_reads_in_markdown(store: Store) -> None:
    """Markdown names each dead link as what it is, beside its URL."""
    markdown = render_markdown(await broken_site_report(store))
    for path, noun in NOUNS.items():
        assert f"- **dead** (HTTP 404) {noun} <{SITE}{path}>" in markdown


async def test_each_broken_kind_reads_in_html(store: Store) -> None:
    """The HTML report's "What" cell says image, stylesheet, icon or link, row by row."""
    html = render_html(await broken_site_report(store))
    assert "<th>What</th>" in html
    rows = {row.split("<a href=")[1].split('"')[1]: row for row in html.split("<tr>")[2:]}
    for path, noun in NOUNS.items():
        assert f"<td>{noun}</td>" in rows[SITE + path]


async def test_each_broken_kind_reads_in_json(store: Store) -> None:
    """The JSON gives each link its reader's word and the element it was found in, and stays
    valid against the shipped schema."""
    text = render_json(await broken_site_report(store))
    schema.validate_report(text)
    links = {link["url"].removeprefix(SITE): link for link in json.loads(text)["links"]}
    found_as = {path: (link["what"], link["found_as"]) for path, link in links.items()}
    assert found_as == {
        IMAGE: ("image", [{"element": "img[src]", "kind": "image", "what": "image"}]),
        STYLESHEET: (
            "stylesheet",
            [{"element": "link[href]", "kind": "stylesheet", "what": "stylesheet"}],
        ),
        ICON: ("icon", [{"element": "link[href]", "kind": "icon", "what": "icon"}]),
        ANCHOR: ("link", [{"element": "a[href]", "kind": "link", "what": "link"}]),
    }


async def test_sarif_and_annotations_say_broken_image_on_its_page(store: Store) -> None:
    """One-line formats read "image <url> on page <page>": SARIF's message, and the title and
    message of a GitHub annotation."""
    report = await broken_site_report(store)
    sarif = json.loads(render_sarif(report))
    messages = {result["message"]["text"] for result in sarif["runs"][0]["results"]}
    assert f"Image {SITE}{IMAGE} on page {SITE}{HOME}: dead (HTTP 404)" in messages
    assert f"Stylesheet {SITE}{STYLESHEET} on page {SITE}{HOME}: dead (HTTP 404)" in messages
    annotations = workflow_commands(report)
    assert f"::error title=image dead::image {SITE}{IMAGE} on page {SITE}{HOME}" in annotations


async def test_stored_checks_keep_the_elements_for_later_reports(store: Store) -> None:
    """What the run's report said is what its stored checks say: a report rendered again from
    the database names the image an image."""
    report = await broken_site_report(store)
    stored = {check.url: check for check in store.load_link_checks(report.run.id)}
    assert {url.removeprefix(SITE): check.noun for url, check in stored.items()} == NOUNS
    for link in report.links:
        assert stored[link.url].found_as == link.found_as


def test_a_link_found_as_several_elements_names_each_once() -> None:
    """A URL that is an image on one page and a link on another reads "image and link"; a
    <video>'s own source reads "video", not the kind's "video or audio"."""
    check = LinkCheck.model_validate(
        {
            "url": "https://a/x",
            "state": "dead",
            "found_as": [
                FoundAs(element="img[src]", kind=ElementKind.IMAGE),
                FoundAs(element="img[srcset]", kind=ElementKind.IMAGE),
                FoundAs(element="a[href]"),
            ],
        }
    )
    assert check.noun == "image and link"
    assert FoundAs(element="video[src]", kind=ElementKind.MEDIA).noun == "video"
    assert FoundAs(element="source[src]", kind=ElementKind.MEDIA).noun == "video or audio"
    assert LinkCheck(url="https://a/x", state=LinkState.OK).noun == "link"
