"""Hostile page content through a real `ocwwatch check`: every report format must stay inert.

Pages whose titles, units, instructors, anchors and URLs carry HTML, Markdown, backticks,
newlines, terminal escapes and bidi overrides are replayed; the outputs are parsed and inspected.
"""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from pypdf import PdfWriter

from ocwwatch.cli import clean_output, clean_terminal, main
from ocwwatch.config import load_config
from ocwwatch.errors import ConfigError
from ocwwatch.extract import extract_page
from ocwwatch.models import (
    Against,
    Change,
    ChangeKind,
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
from ocwwatch.pipeline.publish import write_listings
from ocwwatch.report import (
    FILE_SUFFIX,
    render_html,
    render_json,
    render_markdown,
    render_sarif,
    report_filename,
)
from ocwwatch.report.github import workflow_commands
from ocwwatch.store import Store

PAGES = Path(__file__).parent / "fixtures" / "pages"
HOST = "https://hostile.example"
ESCAPES = "\x1b[31mred\x1b[0m \x1b]8;;https://evil.example/\x07click\x1b]8;;\x07 \x1b[2J\x9b2J"
BIDI = "\u202etxt.exe\u202c \u2066iso\u2069"
SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'
MARKDOWN = "[click](javascript:alert(1)) ![img](https://evil.example/i.png) `rm -rf /` **b**"
TITLE = f"Calculus {SCRIPT} {MARKDOWN} {ESCAPES} {BIDI}"
UNIT = f"Unit 1 {MARKDOWN}\n# Injected heading\n{ESCAPES}"
INSTRUCTOR = f"Prof. {SCRIPT} {BIDI} ``` `"
ANCHOR = f"<b>bold</b> {MARKDOWN} {ESCAPES}"
# Characters that make a terminal act rather than show: C0 (but tab and newline), DEL, C1.
TERMINAL_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
BIDI_CONTROL = re.compile(r"[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
AUTOLINK = re.compile(r"<https?://[^\s<>`\x00-\x1f\x7f-\x9f]+>", re.IGNORECASE)
HEADING = re.compile(
    r"^(# ocwwatch report: run \d+|## [A-Z][a-z]+( [a-z]+)? \(\d+\)"
    r"|## Links that need attention \(\d+\)"
    r"|### `[A-Za-z0-9._-]+`(: .*)?)$"
)
# URLs that reach the reports through Location headers, links and the curated list itself.
ODD_PATH = '/p/"onmouseover=alert(1)/<script>`x`</script>/[t](javascript:alert(1))'


# --- the hostile scenario ------------------------------------------------------------------


def hostile_course() -> bytes:
    """The recorded 18.01SC home with its title, first unit and instructor made hostile."""
    text = (PAGES / "18.01sc" / "home.html").read_text(encoding="utf-8")
    text = text.replace("Single Variable Calculus", html.escape(TITLE))
    text = text.replace("Unit 1: Differentiation", html.escape(UNIT))
    return text.replace("Prof. David Jerison", html.escape(INSTRUCTOR)).encode()


def hostile_page(links: list[tuple[str, str]]) -> bytes:
    anchors = "".join(
        f'<a href="{html.escape(href)}">{html.escape(text)}</a>\n' for href, text in links
    )
    return (
        f"<!doctype html><html><head><title>{html.escape(TITLE)}</title></head>"
        f"<body><h1>{html.escape(TITLE)}</h1>\n{anchors}</body></html>"
    ).encode()


def hostile_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=72, height=72)
    writer.add_metadata({"/Title": TITLE})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def responses() -> list[dict[str, Any]]:
    """(url, status, headers, body) for every page of the scenario."""
    odd = HOST + ODD_PATH
    pdf = f"{HOST}/files/book%22onclick=alert(1)%60.pdf"
    links = [(odd, ANCHOR), ("javascript:alert(1)//.pdf", ANCHOR), (pdf, ANCHOR)]
    html_type = {"content-type": "text/html; charset=utf-8"}
    course = hostile_course()
    return [
        {"url": f"{HOST}/courses/c/", "status": 200, "headers": html_type, "body": course},
        {"url": f"{HOST}/page", "status": 301, "headers": {"location": odd}, "body": b""},
        {"url": odd, "status": 200, "headers": html_type, "body": hostile_page(links)},
        {"url": f"{HOST}/book.pdf", "status": 200, "headers": html_type,
         "body": hostile_page(links)},
        {"url": pdf, "status": 200, "headers": {"content-type": "application/pdf"},
         "body": hostile_pdf()},
        {"url": f"{HOST}/gone", "status": 404, "headers": html_type, "body": hostile_page([])},
    ]  # fmt: skip


RESOURCES = f"""\
[[resources]]
id = "hostile-course"
url = "{HOST}/courses/c/"
kind = "ocw-course"
[resources.expected]
title = "Single Variable Calculus"
instructors = ["Prof. David Jerison"]

[[resources]]
id = "hostile-page"
url = "{HOST}/page"
kind = "page"

[[resources]]
id = "hostile-pdf"
url = "{HOST}/book.pdf"
kind = "pdf"

[[resources]]
id = "hostile-dead"
url = "{HOST}/gone"
kind = "page"
"""


def write_scenario(folder: Path) -> Path:
    (folder / "bodies").mkdir(parents=True)
    entries = []
    for number, item in enumerate(responses()):
        body = f"bodies/{number}.bin"
        (folder / body).write_bytes(item.pop("body"))
        entries.append(item | {"body": body})
    scenario = {"name": "hostile", "responses": entries}
    (folder / "scenario.json").write_text(json.dumps(scenario), encoding="utf-8")
    return folder


def write_config(folder: Path, resources: str = RESOURCES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "resources.toml").write_text(resources, encoding="utf-8")
    settings = (
        'resources = "resources.toml"\ndatabase = "../data/o.db"\nreports_dir = "../data/r"\n'
    )
    (folder / "ocwwatch.toml").write_text(settings, encoding="utf-8")
    return folder / "ocwwatch.toml"


@dataclass
class Checked:
    """What one hostile `check` printed and wrote."""

    code: int
    out: str
    err: str
    files: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> Checked:
    root = tmp_path_factory.mktemp("hostile")
    config = write_config(root / "config")
    scenario = write_scenario(root / "scenario")
    with pytest.MonkeyPatch.context() as patch:
        out, err = io.StringIO(), io.StringIO()
        patch.setattr("sys.stdout", out)
        patch.setattr("sys.stderr", err)
        code = main(["check", "--config", str(config), "--replay", str(scenario)])
    reports = root / "data" / "r" / "replay"  # a replay run's own folder (issue 16)
    files = {path.name: path.read_text(encoding="utf-8") for path in reports.iterdir()}
    # A replay publishes no feed: the feed a live run would publish of the same runs.
    with Store.open_read_only(root / "data" / "replay" / "o.db") as store:
        write_listings(store, root / "live", None)
    files["feed.xml"] = (root / "live" / "feed.xml").read_text(encoding="utf-8")
    return Checked(code=code, out=out.getvalue(), err=err.getvalue(), files=files)


# --- inspecting what was written -------------------------------------------------------------


class Inspector(HTMLParser):
    """Every element, attribute and text node of an HTML document, as a browser would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []  # tag, name, value
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(tag, name, value or "") for name, value in attrs]

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def inspect_html(document: str) -> Inspector:
    inspector = Inspector()
    inspector.feed(document)
    inspector.close()
    return inspector


def is_safe_href(value: str) -> bool:
    """An href that cannot run code: http(s), or a relative report file of this folder (a
    run's report, the index, the feed)."""
    pattern = r"https?://[^\s\x00-\x1f\x7f-\x9f]+|run-\d+\.html|index\.html|feed\.xml"
    return re.fullmatch(pattern, value) is not None


def live_characters(line: str, characters: str) -> list[str]:
    """Characters of `line` that Markdown would read as syntax: not backslash-escaped, not
    inside a code span, not inside an http(s) autolink (a small CommonMark inline scanner)."""
    found, index = [], 0
    while index < len(line):
        char = line[index]
        if char == "\\":
            index += 2
            continue
        autolink = AUTOLINK.match(line, index)
        if char == "`":
            fence = re.match(r"`+", line[index:])
            assert fence is not None
            end = index + len(fence.group())
            close = re.compile(rf"(?<!`){fence.group()}(?!`)").search(line, end)
            index = close.end() if close else end
            found += [] if close else ["`"]
            continue
        if autolink is not None:
            index = autolink.end()
            continue
        found += [char] if char in characters else []
        index += 1
    return found


def live_syntax(markdown: str) -> list[str]:
    """What a CommonMark (with GFM tables and strikethrough) renderer makes of `markdown`
    beyond text, code spans and the report's own http(s) autolinks: raw HTML, images, links
    written with brackets, autolinks to anything else. javascript: links are seen too."""
    parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    parser.validateLink = lambda url: True  # type: ignore[method-assign]
    found = []
    for block in parser.parse(markdown):
        if block.type == "html_block":
            found.append(block.content)
        for token in block.children or []:
            if token.type in ("html_inline", "image"):
                found.append(token.content)
            href = str(token.attrs.get("href", ""))
            web = re.match(r"https?://", href) is not None
            if token.type == "link_open" and (token.markup != "autolink" or not web):
                found.append(href)
    return found


def unescaped(markdown: str, characters: str) -> list[str]:
    """Lines of `markdown` in which one of `characters` is live Markdown syntax."""
    return [line for line in markdown.splitlines() if live_characters(line, characters)]


def test_check_ran_on_the_hostile_pages(checked: Checked) -> None:
    """The hostile scenario reached every renderer: findings, exit 1, the title in the report."""
    report = json.loads(checked.files["run-1.json"])
    titles = {item["id"]: item["metadata"]["title"] for item in report["resources"]}
    assert checked.code == 1
    assert titles["hostile-course"].startswith("Calculus <script>")
    assert {"run-1.md", "run-1.html", "run-1.json", "index.html", "feed.xml"} <= set(checked.files)


@pytest.mark.parametrize("name", ["run-1.html", "index.html"])
def test_html_has_no_live_markup(checked: Checked, name: str) -> None:
    """No script, event handler or non-http(s) href: hostile markup is text, not elements."""
    page = inspect_html(checked.files[name])
    assert not {"script", "img", "iframe", "object", "embed", "svg", "form", "base"} & set(
        page.tags
    )
    assert [a for a in page.attributes if a[1].startswith("on")] == []
    hrefs = [value for tag, name_, value in page.attributes if name_ in ("href", "src")]
    assert [href for href in hrefs if not is_safe_href(href)] == []


def test_html_shows_hostile_markup_as_text(checked: Checked) -> None:
    """The page's `<script>` and Markdown reach the reader as visible, literal text."""
    text = " ".join(inspect_html(checked.files["run-1.html"]).text)
    assert SCRIPT in text
    assert MARKDOWN in text


@pytest.mark.parametrize("name", ["run-1.html", "index.html", "feed.xml", "run-1.md"])
def test_reports_hold_no_control_or_bidi_characters(checked: Checked, name: str) -> None:
    """No escape sequence, C1 control or bidi override survives into a written report."""
    text = checked.files[name].replace("\n", "")
    assert TERMINAL_CONTROL.findall(text) == []
    assert BIDI_CONTROL.findall(text) == []


def test_markdown_has_only_its_own_headings(checked: Checked) -> None:
    """A newline in a unit name never starts a heading line: every `#` line is the report's."""
    lines = checked.files["run-1.md"].splitlines()
    headings = [line for line in lines if line.lstrip().startswith("#")]
    assert [line for line in headings if not HEADING.match(line)] == []


def test_markdown_escapes_links_images_html_and_code(checked: Checked) -> None:
    """Brackets, angle brackets and backticks from pages are escaped or fenced, never live."""
    assert unescaped(checked.files["run-1.md"], "<`") == []
    assert live_syntax(checked.files["run-1.md"]) == []


def test_json_keeps_hostile_text_as_data(checked: Checked) -> None:
    """The JSON report parses, round-trips, and holds the page's text as extracted."""
    report = json.loads(checked.files["run-1.json"])
    assert json.loads(json.dumps(report)) == report
    course = extract_page(hostile_course(), f"{HOST}/courses/c/", "text/html")
    metadata = next(r for r in report["resources"] if r["id"] == "hostile-course")["metadata"]
    assert metadata["title"] == course.metadata.title
    assert metadata["units"] == list(course.metadata.units)
    assert metadata["instructors"] == list(course.metadata.instructors)


def test_json_text_is_inert_in_a_terminal(checked: Checked) -> None:
    """Raw C1 and bidi characters are written as \\u escapes, so `cat run-1.json` is safe."""
    text = checked.files["run-1.json"]
    assert TERMINAL_CONTROL.findall(text.replace("\n", "")) == []
    assert BIDI_CONTROL.findall(text) == []


def test_check_prints_no_control_characters(checked: Checked) -> None:
    """What `check` prints on stdout (the Markdown) and stderr (progress) is terminal-safe."""
    for stream in (checked.out, checked.err):
        assert TERMINAL_CONTROL.findall(stream.replace("\n", "")) == []
        assert BIDI_CONTROL.findall(stream) == []
    assert checked.out == checked.files["run-1.md"]


class Terminal(io.StringIO):
    """A stdout that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_output_to_a_terminal_loses_escapes_and_bidi(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal, clean_output drops escapes, C1 controls and bidi overrides it is given."""
    monkeypatch.setattr("sys.stdout", Terminal())
    shown = clean_output(f"{TITLE}\n{UNIT}\n")
    assert TERMINAL_CONTROL.findall(shown.replace("\n", "")) == []
    assert BIDI_CONTROL.findall(shown) == []
    assert clean_terminal(BIDI) == "txt.exe iso"


# --- files: ids cannot name paths, report names cannot leave the reports folder --------------

PATH_LIKE_IDS = ["../evil", "a/b", "/etc/passwd", ".hidden", "..", "a\\\\b", "x\x1b[31m", "a b", ""]


@pytest.mark.parametrize("resource_id", PATH_LIKE_IDS)
def test_config_rejects_path_like_ids(tmp_path: Path, resource_id: str) -> None:
    """An id that could name a path (or hide an escape) is a configuration error."""
    entry = f'[[resources]]\nid = {json.dumps(resource_id)}\nurl = "{HOST}/"\nkind = "page"\n'
    config = write_config(tmp_path / "config", entry)
    with pytest.raises(ConfigError, match="id"):
        load_config(config, cwd=tmp_path)


def test_check_with_a_path_like_id_writes_nothing(tmp_path: Path) -> None:
    """`check` refuses such a list with exit 2 before any database or report is written."""
    entry = f'[[resources]]\nid = "../../escape"\nurl = "{HOST}/"\nkind = "page"\n'
    config = write_config(tmp_path / "config", entry)
    scenario = write_scenario(tmp_path / "scenario")
    code = main(["-q", "check", "--config", str(config), "--replay", str(scenario)])
    assert code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config", "scenario"]


@pytest.mark.parametrize("report_format", sorted(FILE_SUFFIX))
@pytest.mark.parametrize("run_id", [1, 0, -1, 10**12])
def test_report_file_names_stay_in_the_reports_folder(
    tmp_path: Path, report_format: str, run_id: int
) -> None:
    """A report's file name is one plain name: it resolves inside the reports folder."""
    run = Run(id=run_id, started_at=datetime(2024, 5, 1, tzinfo=UTC))
    name = report_filename(run, report_format)
    assert re.fullmatch(r"run--?\d+\.(md|json|html|sarif)", name)
    assert (tmp_path / name).resolve().parent == tmp_path.resolve()


def test_check_writes_only_report_files(checked: Checked) -> None:
    """The reports folder holds only run-<id>.*, latest.*, index.html and feed.xml."""
    expected = re.compile(r"(run-\d+|latest)\.(md|json|html|sarif)|index\.html|feed\.xml")
    assert [name for name in checked.files if not expected.fullmatch(name)] == []


# --- renderers given hostile text in every field, line breaks kept ------------------------


def hostile_report(text: str) -> Report:
    """A report whose every free-text field and URL holds `text`."""
    at = datetime(2024, 5, 1, tzinfo=UTC)
    metadata = Metadata(
        page_kind=PageKind.OCW_COURSE,
        title=text,
        course_number=text,
        term=text,
        instructors=(text, text),
        units=(text,),
        content_type=text,
        pages=3,
    )
    change = Change(
        field=text, kind=ChangeKind.CHANGED, before=text, after=text, against=Against.BASELINE
    )
    observation = Observation(
        id="x",
        url=text,
        final_url=text,
        http_status=200,
        redirects=(Hop(url=text, status=301),),
        redirect_kind=text,
        outcome=Outcome.MOVED,
        metadata=metadata,
        promises=(PromiseCheck(text=text, holds=False, missing=(text,)),),
        changes=(change,),
        suggestion=Suggestion(url=text, reason=text),
        error=text,
        observed_at=at,
    )
    link = LinkCheck(
        url=text,
        found_on=(text,),
        state=LinkState.DEAD,
        final_url=text,
        suggestion=Suggestion(url=text, reason=text),
        detail=text,
        first_failed_at=at,
    )
    return Report(run=Run(id=1, started_at=at, finished_at=at), resources=(observation,),
                  links=(link,))  # fmt: skip


HOSTILE_FIELDS = [TITLE, UNIT, INSTRUCTOR, ANCHOR, "javascript:alert(1)", HOST + ODD_PATH]


@pytest.mark.parametrize("text", HOSTILE_FIELDS)
def test_every_field_renders_inert_in_markdown(text: str) -> None:
    """Markdown of a report hostile in every field: no escapes, headings or live syntax."""
    markdown = render_markdown(hostile_report(text))
    assert TERMINAL_CONTROL.findall(markdown.replace("\n", "")) == []
    assert BIDI_CONTROL.findall(markdown) == []
    headings = [line for line in markdown.splitlines() if line.lstrip().startswith("#")]
    assert [line for line in headings if not HEADING.match(line)] == []
    assert unescaped(markdown, "<`") == []
    assert live_syntax(markdown) == []


@pytest.mark.parametrize("text", HOSTILE_FIELDS)
def test_every_field_renders_inert_in_html(text: str) -> None:
    """HTML of a report hostile in every field: text only, and only http(s) hrefs."""
    document = render_html(hostile_report(text))
    page = inspect_html(document)
    assert [tag for tag in page.tags if tag in ("script", "img", "iframe", "svg", "base")] == []
    assert [a for a in page.attributes if a[1].startswith("on")] == []
    assert [v for _, n, v in page.attributes if n == "href" and not is_safe_href(v)] == []
    assert TERMINAL_CONTROL.findall(document.replace("\n", "")) == []
    assert BIDI_CONTROL.findall(document) == []


@pytest.mark.parametrize("text", HOSTILE_FIELDS)
def test_every_field_survives_json_unchanged(text: str) -> None:
    """JSON of a report hostile in every field parses back to exactly the same text."""
    document = json.loads(render_json(hostile_report(text)))
    resource = document["resources"][0]
    assert resource["metadata"]["title"] == resource["url"] == text
    assert resource["changes"][0]["after"] == document["links"][0]["url"] == text


MARKDOWN_ALPHABET = st.sampled_from([*"[]()<>!`*_~$&#;-+=>.1 aZ\\|{}:/", "&amp;", "\n"])


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(st.lists(MARKDOWN_ALPHABET, max_size=40).map("".join))
def test_any_markdown_punctuation_in_any_field_stays_text(text: str) -> None:
    """Escaping only what would be syntax (issue 16) still leaves nothing live: no link, image,
    HTML or heading from page text, whatever mix of punctuation it holds."""
    markdown = render_markdown(hostile_report(text))
    assert live_syntax(markdown) == []
    headings = [line for line in markdown.splitlines() if line.lstrip().startswith("#")]
    assert [line for line in headings if not HEADING.match(line)] == []


# Text that only looks harmless once decoded: a control character or a line separator beside a
# URL's user info (JSON writes them as escapes, whose backslash reads as a URL's slash), tokens
# whose values hold what Markdown escapes, and escapes in a link that only a crawl keeps.
TOKEN = "_IQoJb3JpZ2luX2Vj~EX*AM$PLE"
SECRET_FIELDS = [
    "Calculus (mirror: http:\x01mirror@web.archive.org)",
    "http:\x0b@[",
    "Calculus (http:\x7fmirror@host)",
    f"redirect to a non-http(s) URL: ftp://files.example.org/f.pdf?X-Amz-Security-Token={TOKEN}",
    f"https://h.example/p?a=1&access_token={TOKEN} and #token={TOKEN}",
    f"http://[{ESCAPES} ALL GOOD {BIDI}fdp.exe]/",
]
SECRET_FIELD_IDS = ["control", "invalid", "delete", "s3-token", "tokens", "escapes"]
RENDERERS: dict[str, Callable[[Report], str]] = {
    "json": render_json,
    "sarif": render_sarif,
    "markdown": render_markdown,
    "html": render_html,
    "annotations": workflow_commands,
}


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("text", SECRET_FIELDS, ids=SECRET_FIELD_IDS)
def test_every_output_stays_valid_inert_and_secret_free(renderer: str, text: str) -> None:
    """Every output of a report holding `text` in every field: JSON and SARIF still parse (and
    validate), no control or bidi character is written raw, and no user info or token shows,
    however the output escapes what surrounds it."""
    published = RENDERERS[renderer](hostile_report(text))
    if renderer in ("json", "sarif"):
        json.loads(published)
    assert TERMINAL_CONTROL.findall(published.replace("\n", "")) == []
    assert BIDI_CONTROL.findall(published) == []
    for secret in ("mirror@", "IQoJ", "EX*AM", r"EX\*AM", "PLE"):
        assert secret not in published
