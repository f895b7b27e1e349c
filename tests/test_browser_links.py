"""Issue 14: the deep check sees every link a reader's browser would, one table row per kind of
element and attribute, through extraction and through a crawl served on a MockTransport."""

from __future__ import annotations

import pytest
from support.crawl import HOME, T0, MockSite, by_path, config, deep_run, ok, pdf, status

from ocwwatch.crawl import readers
from ocwwatch.extract import extract_links, extract_page
from ocwwatch.extract.links import css_urls, refresh_url, srcset_urls
from ocwwatch.fetch import Recording
from ocwwatch.judge import is_link_finding
from ocwwatch.models import ElementKind, LinkCheck, LinkKind, LinkState
from ocwwatch.store import Store

pytestmark = pytest.mark.anyio

BASE = "https://example.org/course/page/"
K = ElementKind

# (markup inside <body>, [(resolved URL, element, kind), ...]) in page order.
ELEMENTS = [
    ("<a href='a.html'>A</a>", [(BASE + "a.html", "a[href]", K.LINK)]),
    (
        "<map><area href='/area' alt='Region'></map>",
        [("https://example.org/area", "area[href]", K.LINK)],
    ),
    ("<img src='i.png' alt='I'>", [(BASE + "i.png", "img[src]", K.IMAGE)]),
    (
        "<img srcset='s1.png 1x, s2.png 2x'>",
        [(BASE + "s1.png", "img[srcset]", K.IMAGE), (BASE + "s2.png", "img[srcset]", K.IMAGE)],
    ),
    (
        "<picture><source srcset='p.webp' type='image/webp'><img src='p.jpg'></picture>",
        [(BASE + "p.webp", "source[srcset]", K.IMAGE), (BASE + "p.jpg", "img[src]", K.IMAGE)],
    ),
    ("<input type='image' src='go.png'>", [(BASE + "go.png", "input[src]", K.IMAGE)]),
    ("<input type='text' src='no.png'>", []),
    (
        "<svg><image href='s.svg'/><image xlink:href='x.svg'/></svg>",
        [(BASE + "s.svg", "image[href]", K.IMAGE), (BASE + "x.svg", "image[xlink:href]", K.IMAGE)],
    ),
    ("<iframe src='/embed/x'></iframe>", [("https://example.org/embed/x", "iframe[src]", K.FRAME)]),
    (
        "<video src='v.mp4' poster='v.jpg'></video>",
        [(BASE + "v.mp4", "video[src]", K.MEDIA), (BASE + "v.jpg", "video[poster]", K.IMAGE)],
    ),
    ("<audio src='a.mp3'></audio>", [(BASE + "a.mp3", "audio[src]", K.MEDIA)]),
    (
        "<video><source src='w.webm'><track src='w.vtt'></video>",
        [(BASE + "w.webm", "source[src]", K.MEDIA), (BASE + "w.vtt", "track[src]", K.MEDIA)],
    ),
    ("<object data='o.swf'></object>", [(BASE + "o.swf", "object[data]", K.OBJECT)]),
    ("<embed src='e.svg'>", [(BASE + "e.svg", "embed[src]", K.OBJECT)]),
    (
        "<link rel='stylesheet' href='/s.css'>",
        [("https://example.org/s.css", "link[href]", K.STYLESHEET)],
    ),
    (
        "<link rel='shortcut icon' href='/f.ico'>",
        [("https://example.org/f.ico", "link[href]", K.ICON)],
    ),
    ("<link rel='preconnect' href='https://cdn.example.net'>", []),
    ("<link rel='dns-prefetch' href='//cdn.example.net'>", []),
    ("<link rel='canonical' href='/c'>", []),
    ("<script src='/j.js'></script>", [("https://example.org/j.js", "script[src]", K.SCRIPT)]),
    (
        "<meta http-equiv='refresh' content='5; url=/moved/'>",
        [("https://example.org/moved/", "meta[content]", K.REFRESH)],
    ),
    ("<meta http-equiv='refresh' content='30'>", []),
    (
        "<style>@import 'imp.css'; .x { background: url(\"bg.png\") }</style>",
        [(BASE + "imp.css", "style", K.CSS), (BASE + "bg.png", "style", K.CSS)],
    ),
    (
        "<div style='background-image: url(/d.png)'>x</div>",
        [("https://example.org/d.png", "[style]", K.CSS)],
    ),
    (
        "<base href='https://cdn.example.net/b/'><img src='i.png'><a href='../up'>u</a>",
        [
            ("https://cdn.example.net/b/i.png", "img[src]", K.IMAGE),
            ("https://cdn.example.net/up", "a[href]", K.LINK),
        ],
    ),
]


@pytest.mark.parametrize(("markup", "expected"), ELEMENTS, ids=[row[0][:40] for row in ELEMENTS])
def test_every_url_a_browser_follows_or_loads_is_read(
    markup: str, expected: list[tuple[str, str, ElementKind]]
) -> None:
    """Each element and attribute a browser follows or loads gives its link, element and kind;
    hints (preconnect, dns-prefetch) and pages' own statements (canonical) give none."""
    body = f"<html><head><title>t</title></head><body>{markup}</body></html>".encode()
    fast = extract_links(body, BASE, "text/html")
    found = [(link.url, link.element, link.kind) for link in fast.links]
    assert found == expected
    assert extract_page(body, BASE, "text/html").links == fast.links


SRCSETS = [
    ("a.png", ["a.png"]),
    ("a.png 1x, b.png 2x", ["a.png", "b.png"]),
    ("a.png 100w,b.png 200w", ["a.png", "b.png"]),
    ("image,1.jpg 1x, image,2.jpg 2x", ["image,1.jpg", "image,2.jpg"]),
    ("a.png, b.png", ["a.png", "b.png"]),
    ("  ,, a.png  ", ["a.png"]),
    ("data:image/png;base64,iVBORw0KGgo= 1x", ["data:image/png;base64,iVBORw0KGgo="]),
]


@pytest.mark.parametrize(("srcset", "urls"), SRCSETS)
def test_srcset_candidates_as_the_html_standard_parses_them(srcset: str, urls: list[str]) -> None:
    """A candidate's URL runs to whitespace (commas inside it stay); descriptors are skipped."""
    assert srcset_urls(srcset) == urls


@pytest.mark.parametrize(
    ("content", "url"),
    [
        ("0; url=/next", "/next"),
        ("0;URL='/quoted' ", "/quoted"),
        ("3, url = x.html", "x.html"),
        ("0; /bare", "/bare"),
        ("5", None),
    ],
)
def test_meta_refresh_targets(content: str, url: str | None) -> None:
    """The refresh pragma's URL, quoted or not, with or without `url=`; a bare delay has none."""
    assert refresh_url(content) == url


def test_css_urls_quoted_unquoted_and_imports() -> None:
    """url() with either quote or none, and @import of a string, in order."""
    css = "@import \"a.css\"; b { background: url( 'b.png' ) } c { src: url(c.woff) }"
    assert css_urls(css) == ["a.css", "b.png", "c.woff"]


# --- through a crawl ---------------------------------------------------------------------------

COURSE = (
    b"<html><head><title>Course</title><link rel='stylesheet' href='/courses/c1/s.css'>"
    b"<link rel='preconnect' href='https://fonts.example.net'>"
    b"<script src='/courses/c1/gone.js'></script></head><body>"
    b"<img src='/courses/c1/img/slide' alt='Slide one'><img src='/courses/c1/missing.png'>"
    b"<iframe src='/courses/c1/player/'></iframe><video poster='/courses/c1/poster.jpg'></video>"
    b"<a href='/courses/c1/notes.pdf'>Notes</a></body></html>"
)


def course_site() -> MockSite:
    return MockSite(
        {
            HOME: ok(COURSE),
            "/courses/c1/s.css": ok(b"body{}", "text/css"),
            "/courses/c1/img/slide": ok(b"\x89PNG", "image/png"),
            "/courses/c1/player/": ok(b"<html><title>Player</title><a href='/courses/c1/x/'>x</a>"),
            "/courses/c1/x/": ok(b"<html><title>X</title></html>"),
            "/courses/c1/poster.jpg": status(404),
            "/courses/c1/notes.pdf": pdf(),
        }
    )


async def test_a_crawl_checks_what_a_page_loads_and_says_what_broke(store: Store) -> None:
    """Broken images, scripts and posters are dead links like a broken anchor; an image with no
    suffix is checked as a file (HEAD), never read; a frame's page is read for its links."""
    mock = course_site()
    outcomes = await deep_run(config(mock), store, transport=mock.transport())
    links = by_path(outcomes, mock)
    states = {path: link.state for path, link in links.items()}
    assert states["/courses/c1/s.css"] is LinkState.OK
    assert states["/courses/c1/gone.js"] is LinkState.DEAD
    assert states["/courses/c1/missing.png"] is LinkState.DEAD
    assert states["/courses/c1/poster.jpg"] is LinkState.DEAD
    assert states["/courses/c1/x/"] is LinkState.OK  # found inside the frame's page
    assert links["/courses/c1/img/slide"].kind is LinkKind.FILE
    assert ("GET", "/courses/c1/img/slide") not in mock.requests
    assert not [url for url in links if "fonts.example.net" in url]


async def test_link_kinds_selects_what_is_checked(store: Store) -> None:
    """`[deep] link_kinds = ["link"]` checks anchors only: no image, script or stylesheet."""
    mock = course_site()
    cfg = config(mock, link_kinds=["link"])
    outcomes = await deep_run(cfg, store, transport=mock.transport())
    assert set(by_path(outcomes, mock)) == {"/courses/c1/notes.pdf"}
    assert mock.count("/courses/c1/gone.js") == 0


# --- nothing silently dropped (item 2) ---------------------------------------------------------

# (href as written, the state the deep check reports, a word its detail has); None: no link.
HREFS = [
    ("http://localhost]", LinkState.INVALID, "rejects"),
    ("http://", LinkState.INVALID, "rejects"),
    ("//////", LinkState.INVALID, "rejects"),
    ("http://[::1", LinkState.INVALID, "rejects"),
    ("https://exa mple.org/", LinkState.INVALID, "rejects"),
    ("mailto:editor@example.org", LinkState.SKIPPED, "mailto:"),
    ("tel:+1-555-0100", LinkState.SKIPPED, "tel:"),
    ("javascript:void(0)", LinkState.SKIPPED, "javascript:"),
    ("ftp://ftp.example.org/book.txt", LinkState.SKIPPED, "ftp:"),
    ("file:///C:/Users/me/notes.pdf", LinkState.DEAD, "reader's own computer"),
    ("data:text/plain,inline", None, ""),
    ("#top", None, ""),
    ("", None, ""),
]


async def unfetchable_run(
    store: Store, mock: MockSite, home: Recording | None = None
) -> dict[str, LinkCheck]:
    """A deep run of a home holding every href of HREFS; its links by URL."""
    hrefs = "".join(f"<a href='{href}'>{n}</a>" for n, (href, _, _) in enumerate(HREFS))
    body = f"<html><head><title>Home</title></head><body>{hrefs}</body></html>".encode()
    mock.routes[HOME] = home or ok(body, etag='"v1"')
    outcomes = await deep_run(config(mock), store, transport=mock.transport(), at=T0)
    return {link.url: link for link in outcomes.report.links}


@pytest.mark.parametrize(("href", "state", "word"), HREFS, ids=[row[0] or "empty" for row in HREFS])
async def test_links_no_request_can_follow_are_reported_not_dropped(
    store: Store, href: str, state: LinkState | None, word: str
) -> None:
    """An href a browser rejects is `invalid`, another scheme `skipped` naming it, a file: link
    `dead`; inline content, fragments of the page and empty hrefs are no links. None is fetched."""
    links = await unfetchable_run(store, MockSite({}))
    if state is None:
        assert not [url for url in links if url.startswith(href or "\0")]
        return
    link = links[href]
    assert (link.state, link.http_status) == (state, None)
    assert word in (link.detail or "")


async def test_unfetchable_links_survive_a_304_and_count_as_findings(store: Store) -> None:
    """A page unchanged since the last run (304) still reports its invalid and file: links,
    and each is a finding at once (the run exits with findings)."""
    mock = MockSite({})
    await unfetchable_run(store, mock)
    answered = len(mock.requests)
    links = await unfetchable_run(store, mock, home=status(304))
    assert mock.requests[answered:] == [("GET", HOME)]  # the home, and nothing else
    assert links["//////"].state is LinkState.INVALID
    assert links["file:///C:/Users/me/notes.pdf"].state is LinkState.DEAD
    assert is_link_finding(links["http://"], failures_before_finding=3)


async def test_a_stored_check_names_the_element_each_link_was_found_in(store: Store) -> None:
    """A broken image's stored check says `img[src]`, a script's `script[src]`: the report can
    say what to fix, not only where."""
    mock = course_site()
    outcomes = await deep_run(config(mock), store, transport=mock.transport())
    stored = {c.url: c for c in store.load_link_checks(outcomes.report.run.id)}
    elements = {
        path: [anchor.element for anchor in stored[mock.url(path)].anchors]
        for path in ("/courses/c1/missing.png", "/courses/c1/gone.js", "/courses/c1/notes.pdf")
    }
    assert elements == {
        "/courses/c1/missing.png": ["img[src]"],
        "/courses/c1/gone.js": ["script[src]"],
        "/courses/c1/notes.pdf": ["a[href]"],
    }


async def test_a_reader_process_answers_everything_a_link_carries() -> None:
    """Element, kind, nofollow, fragments, the unfetchable links and the page's ids come back
    from a reader process (deep.extract_workers) exactly as extract_links finds them here."""
    body = (
        b"<html><head><link rel='stylesheet' href='/s.css'></head><body id='top-of-page'>"
        b"<a href='a/#sec' rel='nofollow'>A</a><img src='i.png' alt='I'><a href='mailto:x@y'>m</a>"
        b"<a href='http://'>bad</a><h2 id='sec'>S</h2></body></html>"
    )
    url = "http://127.0.0.1:8000" + HOME
    async with readers.PageReaders(1, fragments=True) as pool:
        await pool.started()
        read = await pool.read(body, url, "text/html")
    direct = extract_links(body, url, "text/html", fragments=True)
    assert (read.links, read.unfetchable, read.targets) == (
        direct.links,
        direct.unfetchable,
        direct.targets,
    )
    assert set(read.targets) == {"top-of-page", "sec"}
    assert [(link.element, link.nofollow, link.fragments) for link in read.links] == [
        ("link[href]", False, ()),
        ("a[href]", True, ("sec",)),
        ("img[src]", False, ()),
    ]
    assert [link.url for link in read.unfetchable] == ["mailto:x@y", "http://"]
