"""A Markdown document as the list (issue 13): its links outside code are the entries, with
their place in the document, and `baseline accept` rewrites exactly the fixed URLs."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from support.cli import TODAY, live_site, run
from support.loopback import LoopbackServer

from ocwwatch.config import load_resources
from ocwwatch.errors import ConfigError, FileWriteError
from ocwwatch.fetch import Recording
from ocwwatch.files import rewrite_file
from ocwwatch.lists import find_links, load_document_list, rewrite, rewrite_document
from ocwwatch.models import (
    Metadata,
    Observation,
    Outcome,
    PageKind,
    ResourceKind,
    Suggestion,
)
from ocwwatch.pipeline import accept

LISTS = Path(__file__).parent / "fixtures" / "lists"
AWESOME = LISTS / "awesome-calculus.md"
READING = LISTS / "reading-list.html"
CALCULUS = LISTS / "calculus-for-deep-learning.md"
OLD_1801 = "https://ocw.mit.edu/courses/mathematics/18-01sc-single-variable-calculus-fall-2010/"
NEW_1801 = "https://ocw.mit.edu/courses/18-01sc-single-variable-calculus-fall-2010/"
HIGHLIGHTS = "https://ocw.mit.edu/resources/res-18-005-highlights-of-calculus-spring-2010/"


def test_links_outside_code_are_the_entries_with_their_place() -> None:
    """Inline, reference-style and autolinks count, in a table too, and links written as HTML;
    code spans and code blocks (fenced and indented) do not; each entry points at its URL's
    line and column."""
    resources = load_document_list(AWESOME)
    where = {r.url: (r.location.line, r.location.column) for r in resources if r.location}
    assert where == {
        "https://www.gutenberg.org/ebooks/33283": (19, 8),  # the reference definition
        HIGHLIGHTS: (3, 58),  # the autolink; the code block and code span copies are not
        OLD_1801: (7, 40),  # in the table; the fenced copy is not
        "https://example.org/html": (9, 40),  # inline HTML
    }
    kinds = {r.url: r.kind for r in resources}
    assert kinds[OLD_1801] is ResourceKind.OCW_COURSE
    assert kinds["https://www.gutenberg.org/ebooks/33283"] is ResourceKind.PAGE
    assert next(r.name for r in resources) == "Calculus Made Easy"


def test_anchors_in_an_html_block_are_entries_and_are_rewritten(tmp_path: Path) -> None:
    """A `<p>` or a `<table>` on lines of its own is an HTML block: its anchors are links, as
    inline HTML's are; one in a fence or a code span is not."""
    old = "https://a.example/x?a=1&b=2"
    text = (
        f'# List\n\n<p><a href="{old.replace("&", "&amp;")}">A</a></p>\n\n'
        '<table>\n<tr><td><a href="https://b.example/">B</a></td></tr>\n</table>\n\n'
        '```\n<p><a href="https://c.example/">C</a></p>\n```\n\n'
        'Text with `<a href="https://d.example/">D</a>` and <a href="https://e.example/">E</a>.\n'
    )
    path = tmp_path / "list.md"
    path.write_text(text, encoding="utf-8")
    resources = load_document_list(path)
    assert [(r.url, str(r.location)) for r in resources] == [
        (old, f"{path}:3:13"),
        ("https://b.example/", f"{path}:6:18"),
        ("https://e.example/", f"{path}:13:61"),
    ]
    new = "https://n.example/y?c=3&d=4"
    rewrite = rewrite_document(path, text, {resources[0].id: (old, new)})
    assert rewrite.text == text.replace(old.replace("&", "&amp;"), new.replace("&", "&amp;"))


def test_a_pdf_link_is_a_pdf_entry() -> None:
    """An entry's kind is inferred from its URL: the full-book link is a PDF."""
    kinds = {r.id: r.kind for r in load_document_list(CALCULUS)}
    assert kinds["a-full-pdf-of-the-book"] is ResourceKind.PDF
    assert kinds["single-variable-calculus-18-01sc"] is ResourceKind.OCW_COURSE


def test_a_rewrite_changes_exactly_the_fixed_urls() -> None:
    """Every other byte stays: line endings (CRLF), titles, code blocks and code spans."""
    text = AWESOME.read_bytes().decode("utf-8")
    ids = {r.url: r.id for r in load_document_list(AWESOME)}
    fixes = {ids[OLD_1801]: (OLD_1801, NEW_1801)}
    rewrite = rewrite_document(AWESOME, text, fixes)
    at = text.index(OLD_1801 + ' "OCW Scholar"')
    assert rewrite.text == text[:at] + NEW_1801 + text[at + len(OLD_1801) :]
    assert rewrite.text.count(OLD_1801) == 1  # the fenced copy is untouched
    assert "\r\n" in rewrite.text
    assert "\n" not in rewrite.text.replace("\r\n", "")
    assert rewrite.diff.startswith("--- a/awesome-calculus.md")


def test_an_entry_edited_since_the_check_is_not_overwritten() -> None:
    """A fix applies only where the document still has the URL that was checked."""
    text = AWESOME.read_text(encoding="utf-8").replace(OLD_1801, "https://example.org/")
    ids = {r.url: r.id for r in load_document_list(AWESOME)}
    rewrite = rewrite_document(AWESOME, text, {ids[OLD_1801]: (OLD_1801, NEW_1801)})
    assert rewrite.text == text
    assert rewrite.skipped == [
        f"{ids[OLD_1801]}: the document no longer has {OLD_1801}; not changed"
    ]


def test_the_markdown_list_is_checked_fixed_in_place_and_then_clean(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    tmp_path: Path,
) -> None:
    """check --list reports each move with its line; accept rewrites exactly those URLs (the
    diff first); the next run reports no move."""
    document = tmp_path / "calculus.md"
    shutil.copy(CALCULUS, document)
    with live_site(config, TODAY, document) as site:
        before = document.read_text(encoding="utf-8")
        old, new = site.local(OLD_1801), site.local(NEW_1801)
        code, out, _ = run(capsys, "check", "--config", config, "--list", document)
        assert code == 1
        assert f"- In the list: `{document}:10:41`" in out
        code, out, _ = run(capsys, "baseline", "accept", "--config", config, "--list", document)
        assert code == 0, out
        assert "-1. [Single Variable Calculus (18.01SC)](" + old in out  # the diff, printed
        after = document.read_text(encoding="utf-8")
        assert after.count(new) == 1
        assert old not in after
        assert len(after.splitlines()) == len(before.splitlines())
        changed = [a == b for a, b in zip(before.splitlines(), after.splitlines(), strict=True)]
        assert changed.count(False) == len(find_links(before)) - 1  # all but Gutenberg's line
        code, out, _ = run(
            capsys, "check", "--config", config, "--list", document, "--format", "json"
        )
    report = json.loads(out)
    assert [r["outcome"] for r in report["resources"] if r["outcome"] != "ok"] == []
    assert code == 0


def test_an_html_list_has_its_anchors_outside_code_and_comments() -> None:
    """Every http(s) `<a href>`, however quoted or cased, with its text as name; not the
    stylesheet, the fragment, the mailto, the comment or the `<pre><code>` copy."""
    resources = load_document_list(READING)
    assert [(r.name, r.location.line if r.location else 0) for r in resources] == [
        ("Calculus Made Easy", 10),
        ("Single Variable Calculus (18.01SC)", 12),
        ("Multivariable Calculus (18.02SC)", 13),
    ]
    text = READING.read_text(encoding="utf-8")
    for resource in resources:
        assert resource.location is not None
        line = text.splitlines()[resource.location.line - 1]
        assert line[resource.location.column - 1 :].startswith(resource.url)
    assert resources[1].kind is ResourceKind.OCW_COURSE


def test_a_url_written_with_character_references_is_read_and_rewritten_escaped(
    tmp_path: Path,
) -> None:
    """`&amp;` in an attribute is `&` in the URL; the new URL is written escaped, in HTML and
    in Markdown's inline HTML alike, and nothing else moves."""
    old, new = "https://a.example/x?a=1&b=2", "https://b.example/y?c=3&d=4"
    for name, text in {
        "list.html": f'<p><a href="{old.replace("&", "&amp;")}">A</a> &amp; more</p>\n',
        "list.md": f'Read <a href="{old.replace("&", "&amp;")}">A</a> & more.\n',
    }.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        (resource,) = load_document_list(path)
        assert resource.url == old
        rewrite = rewrite_document(path, text, {resource.id: (old, new)})
        assert rewrite.text == text.replace(old.replace("&", "&amp;"), new.replace("&", "&amp;"))


def test_the_html_list_is_checked_fixed_in_place_and_then_clean(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    """The same round trip on an HTML reading list: the moves reported at their lines, the
    accepted rewrite byte-identical outside the two moved URLs, the next run clean."""
    document = tmp_path / "reading.html"
    shutil.copy(READING, document)
    old_1802 = "https://ocw.mit.edu/courses/mathematics/18-02sc-multivariable-calculus-fall-2010/"
    new_1802 = "https://ocw.mit.edu/courses/18-02sc-multivariable-calculus-fall-2010/"
    with live_site(config, TODAY, document) as site:
        before = document.read_text(encoding="utf-8")
        code, out, _ = run(capsys, "check", "--config", config, "--list", document)
        assert code == 1
        assert f"`{document}:12:" in out
        code, out, _ = run(capsys, "baseline", "accept", "--config", config, "--list", document)
        assert code == 0, out
        expected = before.replace(f"'{site.local(OLD_1801)}'", f"'{site.local(NEW_1801)}'")
        expected = expected.replace(
            f"href={site.local(old_1802)}>", f"href={site.local(new_1802)}>"
        )
        assert document.read_text(encoding="utf-8") == expected  # <pre> and comment copies stay
        code, out, _ = run(capsys, "check", "--config", config, "--list", document)
        assert code == 0, out


def test_a_sidecar_file_adds_expectations_and_follows_the_rewrite(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    """`calculus.ocwwatch.toml` holds what the document cannot say: expectations by URL, a
    kind by id. They apply to the run; after accept its `url` names the new URL, so the next
    run still finds it, with its comment kept."""
    document = tmp_path / "calculus.md"
    shutil.copy(CALCULUS, document)
    sidecar = tmp_path / "calculus.ocwwatch.toml"
    sidecar.write_text(
        "# what the list promises\n"
        "[[resources]]\n"
        f'url = "{OLD_1801}"\n'
        "[resources.expected]\n"
        'title = "Single Variable Calculus, in Latin"\n'
        "\n"
        "[[resources]]\n"
        'id = "calculus-made-easy"\n'
        'name = "Thompson, Calculus Made Easy"\n',
        encoding="utf-8",
    )
    with live_site(config, TODAY, document, sidecar) as site:
        old, new = site.local(OLD_1801), site.local(NEW_1801)
        code, out, _ = run(
            capsys, "check", "--config", config, "--list", document, "--format", "json"
        )
        resources = {r["id"]: r for r in json.loads(out)["resources"]}
        course = resources["single-variable-calculus-18-01sc"]
        assert [c["field"] for c in course["changes"] if c["against"] == "baseline"] == ["title"]
        assert resources["calculus-made-easy"]["name"] == "Thompson, Calculus Made Easy"
        code, out, _ = run(capsys, "baseline", "accept", "--config", config, "--list", document)
        assert code == 0, out
        assert f"calculus.ocwwatch.toml: url {old} -> {new}" in out
        text = sidecar.read_text(encoding="utf-8")
        assert text.startswith("# what the list promises\n")
        assert f'url = "{new}"' in text
        code, out, _ = run(capsys, "check", "--config", config, "--list", document)
        assert code == 1  # the Latin title is still not what the page says
        assert "in Latin" in out


def moved_1801() -> Observation:
    """A run's observation of the list's one link: 18.01SC, moved to its new URL."""
    return Observation(
        id="calculus",
        url=OLD_1801,
        outcome=Outcome.MOVED,
        metadata=Metadata(page_kind=PageKind.OCW_COURSE),
        suggestion=Suggestion(url=NEW_1801, reason="301"),
        observed_at=datetime(2024, 5, 1, tzinfo=UTC),
    )


def test_a_sidecar_that_cannot_follow_leaves_the_document_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the sidecar cannot be rewritten (a read-only folder), the document is put back:
    a sidecar entry naming a URL the document no longer has would fail every later check."""
    document = tmp_path / "list.md"
    document.write_text(f"- [Calculus]({OLD_1801})\n", encoding="utf-8")
    sidecar = tmp_path / "list.ocwwatch.toml"
    sidecar.write_text(f'[[resources]]\nurl = "{OLD_1801}"\n', encoding="utf-8")
    before = (document.read_bytes(), sidecar.read_bytes())

    def read_only_sidecar(path: Path, data: bytes, *, what: str) -> None:
        if path == sidecar:
            raise FileWriteError(f"{path}: cannot write {what}: folder is read-only")
        rewrite_file(path, data, what=what)

    monkeypatch.setattr("ocwwatch.pipeline.accept.rewrite_file", read_only_sidecar)
    monkeypatch.setattr("ocwwatch.config.baseline.rewrite_file", read_only_sidecar)
    with pytest.raises(ConfigError, match=r"folder is read-only; list\.md was put back"):
        accept.accept_into_document(document, {"calculus": moved_1801()}, (), dry_run=False)
    assert (document.read_bytes(), sidecar.read_bytes()) == before


def test_a_sidecar_written_as_an_inline_array_follows_the_rewrite(tmp_path: Path) -> None:
    """`resources = [{ url = ... }]` is read like `[[resources]]`, so it is rewritten like it:
    left behind, its entry would name a URL the document no longer has."""
    document = tmp_path / "list.md"
    document.write_text(f"- [Calculus]({OLD_1801})\n", encoding="utf-8")
    sidecar = tmp_path / "list.ocwwatch.toml"
    sidecar.write_text(f'resources = [ {{ url = "{OLD_1801}", name = "X" }} ]\n')
    accepted = accept.accept_into_document(document, {"calculus": moved_1801()}, (), dry_run=False)
    assert f"list.ocwwatch.toml: url {OLD_1801} -> {NEW_1801}" in accepted.changed
    assert sidecar.read_text() == f'resources = [ {{ url = "{NEW_1801}", name = "X" }} ]\n'
    (resource,) = load_resources(document)  # the sidecar still names one of its links
    assert (resource.url, resource.name) == (NEW_1801, "X")


def test_a_sidecar_entry_for_no_link_is_an_error(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    """A typo in the sidecar is named, not ignored."""
    document = tmp_path / "calculus.md"
    shutil.copy(CALCULUS, document)
    (tmp_path / "calculus.ocwwatch.toml").write_text(
        '[[resources]]\nid = "no-such-entry"\n', encoding="utf-8"
    )
    code, _, err = run(capsys, "check", "--config", config, "--list", document, "--replay", TODAY)
    assert code == 2
    assert "calculus.ocwwatch.toml: resources[0]: id 'no-such-entry' is not a link of" in err


def _rewritten(tmp_path: Path, text: str, old: str, new: str, name: str = "list.md") -> str:
    """`text` as a list file, with the entry that links `old` fixed to `new`."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    (entry,) = (r for r in load_document_list(path) if r.url == old)
    rewrite = rewrite_document(path, text, {entry.id: (old, new)})
    assert rewrite.applied, rewrite.skipped
    return rewrite.text


def test_a_prose_mention_before_the_link_is_neither_its_place_nor_rewritten(
    tmp_path: Path,
) -> None:
    """The place is the link's destination, not the first time the URL is written: an earlier
    mention in prose, in another paragraph or in the same one, stays as written."""
    old, new = "https://a.example/mv2x", "https://a.example/new-home"
    for text, line in {
        f"We used to link {old} here.\n\n- [Moved page]({old})\n": 3,
        f"Was {old}, now [here]({old}).\n": 1,
    }.items():
        (link,) = find_links(text)
        column = text.splitlines()[line - 1].index(f"]({old})") + 3
        assert (link.url, link.line, link.column) == (old, line, column)
        assert _rewritten(tmp_path, text, old, new) == text.replace(f"]({old})", f"]({new})")


def test_a_link_whose_text_is_its_url_has_its_destination_rewritten(tmp_path: Path) -> None:
    """In `[url](url)` the place is the destination; the link text stays as the author wrote
    it."""
    old, new = "https://a.example/page", "https://b.example/page"
    text = f"- [{old}]({old})\n"
    (link,) = find_links(text)
    assert (link.line, link.column) == (1, len(f"- [{old}](") + 1)
    assert _rewritten(tmp_path, text, old, new) == f"- [{old}]({new})\n"


def test_a_url_that_starts_another_is_matched_whole(tmp_path: Path) -> None:
    """`.../page` is not found inside `.../page2` (in `<...>`, `](...)` or prose) written before
    it: each link points at its own destination, and a fix rewrites only its own."""
    page, page2 = "https://a.example/page", "https://a.example/page2"
    new = "https://b.example/one"
    for text, line in {
        f"[one][o] and [two]({page2}).\n\n[o]: {page}\n": 3,
        f"See <{page2}> and [two]({page2}), then [one]({page}).\n": 1,
    }.items():
        links = {link.url: (link.line, link.column) for link in find_links(text)}
        at = text.splitlines()[line - 1].rindex(page) + 1
        assert links[page] == (line, at)
        rewritten = _rewritten(tmp_path, text, page, new)
        assert rewritten.count(page2) == text.count(page2)
        assert rewritten.count(new) == 1


def test_a_reference_definition_is_the_place_and_is_rewritten(tmp_path: Path) -> None:
    """A reference link's URL is written once, in its definition (`[p]: url "title"`): that is
    its place, and the fix rewrites it there, not a mention of the URL in prose before it."""
    old, new = "https://a.example/old", "https://a.example/new"
    text = (
        f"Our old address was {old}.\r\n\r\nSee [the page][p] and [p].\r\n\r\n"
        f'[p]: {old} "The page"\r\n[q]: <{old}x>\r\n'
    )
    links = find_links(text)
    assert [(link.text, link.url, link.line, link.column) for link in links] == [
        ("the page", old, 5, 6),
        ("p", old, 5, 6),
    ]
    expected = text.replace(f"[p]: {old}", f"[p]: {new}")
    assert _rewritten(tmp_path, text, old, new) == expected


def test_a_destination_written_in_angle_brackets_or_escaped_is_found_and_rewritten(
    tmp_path: Path,
) -> None:
    """`](<url>)`, and a destination with a backslash escape, are still the link's place."""
    old, new = "https://a.example/a(b)", "https://a.example/c"
    escaped = old.replace("(", "\\(").replace(")", "\\)")
    text = f"[A](<{old}>) and [B]({escaped})\n"
    assert [link.url for link in find_links(text)] == [old, old]
    assert _rewritten(tmp_path, text, old, new) == f"[A](<{new}>) and [B]({new})\n"


HOSTILE = "http://127.0.0.1:18901/new3)[docs](http://127.0.0.1:18902/secret"
HOSTILE_READ = "http://127.0.0.1:18901/new3%29%5Bdocs%5D%28http://127.0.0.1:18902/secret"


@pytest.mark.parametrize(
    ("name", "template"),
    [
        ("list.md", "- [Moved page]({url})\n"),
        ("list.md", "- [Moved page](<{url}> 'title')\n"),
        ("list.md", "- [Moved page][m]\n\n[m]: {url}\n"),
        ("list.md", "- <{url}>\n"),
        ("list.md", "- <a href={url}>Moved page</a>\n"),
        ("list.html", "<ul><li><a href={url}>Moved page</a></li></ul>\n"),
        ("list.html", '<ul><li><a href="{url}">Moved page</a></li></ul>\n'),
    ],
)
def test_a_hostile_new_url_is_written_as_one_destination(
    tmp_path: Path, name: str, template: str
) -> None:
    """A redirect to `/new3)[docs](http://other/secret` is written percent-encoded: the list
    read again has the one link it had, to the new URL, and no link to the other origin."""
    old = "http://127.0.0.1:18901/mv3"
    text = template.format(url=old)
    rewritten = _rewritten(tmp_path, text, old, HOSTILE, name)
    links = find_links(rewritten, html_document=name.endswith(".html"))
    assert [link.url for link in links] == [HOSTILE_READ]
    assert "[docs]" not in rewritten
    assert rewritten.replace(HOSTILE_READ, "URL") == text.replace(old, "URL")


@pytest.mark.parametrize(
    "tail",
    [
        ' "a title"',
        "> <b>bold</b>",
        "\n[injected](http://127.0.0.1:18902/a)",
        "`code`",
        "\\",
        "?a=1&copy;=2",
        "\x00\x1f\x7f",
    ],
)
def test_characters_markdown_would_read_as_syntax_are_encoded(tmp_path: Path, tail: str) -> None:
    """Space, quotes, angle brackets, line endings, backticks, backslashes, an entity and
    control characters in a new URL stay inside the one destination (or attribute value)."""
    old, new = "https://a.example/old", f"https://a.example/new{tail}"
    for name, text in [
        ("list.md", f"[A]({old})\n"),
        ("list.md", f"[A][a]\n\n[a]: {old}\n"),
        ("list.md", f"<{old}>\n"),
        ("list.html", f"<a href={old}>A</a>\n"),
        ("list.html", f"<a href='{old}'>A</a>\n"),
    ]:
        rewritten = _rewritten(tmp_path, text, old, new, name)
        (link,) = find_links(rewritten, html_document=name == "list.html")
        assert link.url.startswith("https://a.example/new")
        assert "127.0.0.1:18902/a)" not in link.url
        assert rewritten.count("\n") == text.count("\n")
    assert "&copy;" in _rewritten(tmp_path, f"[A]({old})\n", old, f"{old}?a=1&copy;=2")


def test_a_rewrite_that_would_change_the_links_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: were a new URL ever written so that Markdown reads another link, the
    document read again says so and the fix is refused, naming the file and the entry."""
    monkeypatch.setattr(rewrite, "_written", lambda url, form: url)  # the escaping taken away
    old = "http://127.0.0.1:18901/mv3"
    path = tmp_path / "list.md"
    text = f"- [Moved page]({old})\n- [Kept](https://a.example/kept)\n"
    path.write_text(text, encoding="utf-8")
    ids = {r.url: r.id for r in load_document_list(path)}
    kept = "https://a.example/kept"
    fixes = {ids[old]: (old, HOSTILE), ids[kept]: (kept, f"{kept}-too")}
    with pytest.raises(ConfigError) as refused:
        rewrite_document(path, text, fixes)
    assert str(refused.value) == (
        f"{path}: moved-page: read again, the rewritten list would link to "
        "http://127.0.0.1:18901/new3, http://127.0.0.1:18902/secret instead of "
        "http://127.0.0.1:18901/new3)%5Bdocs%5D(http://127.0.0.1:18902/secret; nothing was "
        "written (edit that link by hand)"
    )
    assert path.read_text(encoding="utf-8") == text


def test_a_hostile_redirect_accepted_adds_no_link_and_the_next_check_stays_in_bounds(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    """The review's case: a moved page redirects to `/new3)[docs](http://other/secret`; after
    `baseline accept` the list has its one link, and the next check never asks the origin the
    address guard refuses."""
    document = tmp_path / "list.md"
    document.write_text("", encoding="utf-8")  # its link names the server, once it listens
    with live_site(config, TODAY, document) as site, LoopbackServer() as other:
        secret = other.url("/secret")
        other.routes["/secret"] = Recording(secret, 200, {"content-type": "text/html"}, b"x")
        page = Recording("", 200, {"content-type": "text/html"}, b"<title>New</title>")
        site.server.routes["/mv3"] = Recording("", 301, {"location": f"/new3)[docs]({secret}"}, b"")
        site.server.routes[f"/new3)[docs]({secret}"] = page  # as the redirect names it
        site.server.routes[f"/new3%29%5Bdocs%5D%28{secret}"] = page  # as the list writes it
        document.write_text(f"- [Moved page]({site.server.url('/mv3')})\n", encoding="utf-8")
        code, out, _ = run(capsys, "check", "--config", config, "--list", document)
        assert code == 1, out
        code, out, _ = run(capsys, "baseline", "accept", "--config", config, "--list", document)
        assert code == 0, out
        accepted = document.read_text(encoding="utf-8")
        assert [link.url for link in find_links(accepted)] == [
            site.server.url(f"/new3%29%5Bdocs%5D%28{secret}")
        ]
        code, out, _ = run(capsys, "check", "--config", config, "--list", document)
        assert code == 0, out
        assert other.requests == {}


def test_ids_from_repeated_link_texts_keep_their_numbers(tmp_path: Path) -> None:
    """A repeated text numbers its ids `-2`, `-3`, ... in document order, skipping one the
    document already names (`Here 2`); a URL seen before and links in code take no id."""
    path = tmp_path / "list.md"
    path.write_text(
        "# Reading\n\n"
        "- [here](https://e.org/1)\n"
        "- [Here 2](https://e.org/2)\n"
        "- [here](https://e.org/3) and `[here](https://e.org/code)` `more code`\n"
        "- [here](https://e.org/1)\n"
        "- [here-4!](https://e.org/4)\n"
        "- [here](https://e.org/5)\n"
        "- [here 2](https://e.org/6)\n"
        "- [](https://e.org/7)\n"
        "- `[link](https://e.org/span)` [link](https://e.org/8)\n\n"
        "```text\n[here](https://e.org/fenced)\n```\n\n"
        "[here](https://e.org/9) `x` [here][ref]\n\n"
        "[ref]: https://e.org/10\n",
        encoding="utf-8",
    )
    found = [(r.id, r.url) for r in load_document_list(path)]
    assert found == [
        ("here", "https://e.org/1"),
        ("here-2", "https://e.org/2"),
        ("here-3", "https://e.org/3"),
        ("here-4", "https://e.org/4"),
        ("here-5", "https://e.org/5"),
        ("here-2-2", "https://e.org/6"),
        ("link", "https://e.org/7"),
        ("link-2", "https://e.org/8"),
        ("here-6", "https://e.org/9"),
        ("here-7", "https://e.org/10"),
    ]


def _steps_to_load(path: Path) -> int:
    """How many lines of ocwwatch/lists run to load `path`: a measure of work that, unlike a
    timing, is the same on every machine."""
    package = str(Path(rewrite.__file__).parent)
    steps = 0

    def count(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal steps
        steps += event == "line"
        return count

    def enter(frame: FrameType, event: str, arg: Any) -> Any:
        return count if frame.f_code.co_filename.startswith(package) else None

    previous = sys.gettrace()
    sys.settrace(enter)
    try:
        load_document_list(path)
    finally:
        sys.settrace(previous)
    return steps


@pytest.mark.parametrize(
    ("line", "first_ids"),
    [
        ("- [here](https://e.org/{0})\n", ["here", "here-2", "here-3"]),
        ("- `code {0}` [course {0}](https://e.org/{0})\n", ["course-0", "course-1", "course-2"]),
        ('- <a href="https://e.org/{0}">course {0}</a> `code`\n', ["course-0", "course-1"]),
    ],
    ids=["same-text", "code-spans", "inline-html"],
)
def test_twice_the_links_take_about_twice_the_steps_to_load(
    tmp_path: Path, line: str, first_ids: list[str]
) -> None:
    """Every link named `here`, or a code span on every line, costs the same per link however
    many links there are: ids tried from `-2` again, or every code range scanned, for each
    link would grow with the document and make loading it quadratic."""
    steps = []
    for size in (300, 600):
        path = tmp_path / f"{size}.md"
        path.write_text("".join(line.format(n) for n in range(size)), encoding="utf-8")
        resources = load_document_list(path)
        assert [r.id for r in resources][: len(first_ids)] == first_ids
        assert len(resources) == size
        steps.append(_steps_to_load(path))
    assert steps[1] < 2.2 * steps[0], steps
