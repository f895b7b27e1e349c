"""Issue 14: the deep check reads a page by its answer, not its name, crawls the folder a browser
resolves `./` to, and does not take a site's ordinary redirects to its home for soft 404s."""

from __future__ import annotations

import pytest
from support.crawl import HOME, MockSite, by_path, config, deep_run, moved, ok, page, status

from ocwwatch.config import Config, Settings
from ocwwatch.crawl.probe import header_nofollow
from ocwwatch.crawl.scope import may_be_page, site_prefix
from ocwwatch.extract import extract_links, extract_page
from ocwwatch.judge import is_home_redirect
from ocwwatch.models import LinkState, Outcome, Resource, ResourceKind
from ocwwatch.store import Store

pytestmark = pytest.mark.anyio

C = HOME  # /courses/c1/


# --- read by content type ----------------------------------------------------------------------


def dotted_site() -> MockSite:
    return MockSite(
        {
            C: ok(page(C + "v1.2", C + "guide.v2", C + "data.v3", C + "notes.pdf")),
            C + "v1.2": ok(page(C + "from-v12/")),
            C + "guide.v2": ok(page(C + "from-guide/")),
            C + "data.v3": ok(b"\x00\x01binary", "application/octet-stream"),
            C + "notes.pdf": ok(page(C + "from-pdf/")),
            C + "from-guide/": ok(page(title="Guide child")),
        }
    )


async def test_a_dotted_last_segment_answering_html_is_read_as_a_page(store: Store) -> None:
    """/v1.2 and /guide.v2 get HEAD first; their answer says HTML, so they are read and their
    links checked (one dead, one ok)."""
    mock = dotted_site()
    links = by_path(await deep_run(config(mock), store, transport=mock.transport()), mock)
    assert links[C + "v1.2"].state is LinkState.OK
    assert links[C + "from-v12/"].state is LinkState.DEAD
    assert links[C + "from-guide/"].state is LinkState.OK
    assert mock.requests.count(("HEAD", C + "v1.2")) == 1
    assert mock.requests.count(("GET", C + "v1.2")) == 1


async def test_a_dotted_name_answering_a_file_is_not_downloaded(store: Store) -> None:
    """/data.v3 answers a binary type to HEAD: it is a file, and no GET fetches it."""
    mock = dotted_site()
    links = by_path(await deep_run(config(mock), store, transport=mock.transport()), mock)
    assert links[C + "data.v3"].state is LinkState.OK
    assert ("GET", C + "data.v3") not in mock.requests


async def test_a_file_type_name_is_never_read_as_a_page(store: Store) -> None:
    """A .pdf link answering a web page is dead (it lands on HTML), and that page's links are
    not the site's: they are not checked."""
    mock = dotted_site()
    links = by_path(await deep_run(config(mock), store, transport=mock.transport()), mock)
    assert links[C + "notes.pdf"].state is LinkState.DEAD
    assert C + "from-pdf/" not in links


async def test_dotted_pages_count_against_max_pages(store: Store) -> None:
    """With max_pages = 2 (the home and one more), only one dotted page is read."""
    mock = dotted_site()
    outcomes = await deep_run(config(mock, max_pages=2), store, transport=mock.transport())
    links = by_path(outcomes, mock)
    assert (C + "from-v12/" in links) != (C + "from-guide/" in links)


@pytest.mark.parametrize(
    ("url", "maybe"),
    [
        ("https://a.test/docs/v1.2", True),
        ("https://a.test/docs/guide.v2", True),
        ("https://a.test/docs/notes.pdf", False),
        ("https://a.test/docs/slides.PPTX", False),
        ("https://a.test/docs/clip.mp4", False),
        ("https://a.test/docs/page", False),  # no suffix: a page by its kind, not this rule
    ],
)
def test_which_file_names_a_page_may_have(url: str, maybe: bool) -> None:
    """A suffix no file type is known by may be a page's; a file type's never is."""
    assert may_be_page(url) is maybe


# --- scope: the folder `./` resolves to --------------------------------------------------------


@pytest.mark.parametrize(
    ("home", "prefix"),
    [
        ("https://a.test/pageBase/index", "https://a.test/pageBase/"),
        ("https://a.test/pageBase/index.html", "https://a.test/pageBase/"),
        ("https://a.test/pageBase/", "https://a.test/pageBase/"),
        ("https://a.test/pageBase", "https://a.test/"),
        ("https://a.test/a/b/c?x=1#f", "https://a.test/a/b/"),
        ("https://a.test", "https://a.test/"),
    ],
)
def test_scope_is_the_folder_a_browser_resolves_dot_slash_to(home: str, prefix: str) -> None:
    """The start URL's folder, computed as `new URL("./", home)` computes it."""
    assert site_prefix(home) == prefix


async def test_an_extensionless_start_url_crawls_its_siblings(store: Store) -> None:
    """A course listed as /pageBase/index reads /pageBase/sibling, and checks what it links."""
    mock = MockSite(
        {
            "/pageBase/index": ok(page("/pageBase/sibling", "/elsewhere/")),
            "/pageBase/sibling": ok(page("/pageBase/deeper")),
            "/elsewhere/": ok(page("/elsewhere/child")),
        }
    )
    cfg = config(mock, home="/pageBase/index")
    links = by_path(await deep_run(cfg, store, transport=mock.transport()), mock)
    assert links["/pageBase/deeper"].state is LinkState.DEAD
    assert "/elsewhere/child" not in links  # outside the folder: checked, not read


# --- redirects to the home page ----------------------------------------------------------------

REDIRECTS = [
    ("/index.php", LinkState.REDIRECTED),
    ("/default.aspx", LinkState.REDIRECTED),
    ("/en/", LinkState.REDIRECTED),
    ("/en", LinkState.REDIRECTED),
    ("/pt-BR/index.html", LinkState.REDIRECTED),
    ("/courses/c1/gone/", LinkState.SOFT404),
    ("/en/old-page/", LinkState.SOFT404),
    ("/docs/", LinkState.SOFT404),
]


@pytest.mark.parametrize(("path", "state"), REDIRECTS, ids=[row[0] for row in REDIRECTS])
async def test_only_a_deeper_page_sent_home_is_a_soft_404(
    store: Store, path: str, state: LinkState
) -> None:
    """The home under another name or a language root redirected to / is an ordinary
    redirect; a page of content sent to the home page is a soft 404."""
    mock = MockSite({path: moved(301, "/"), "/": ok(page(title="Home"))})
    mock.routes[C] = ok(page(path))
    link = by_path(await deep_run(config(mock), store, transport=mock.transport()), mock)[path]
    assert link.state is state


def test_a_redirect_to_the_home_with_a_query_is_no_soft_404() -> None:
    """`/x -> /?lang=fr` lands on a chosen page, not the bare home."""
    assert not is_home_redirect("https://a.test/x/", "https://a.test/?lang=fr", redirected=True)


async def test_a_redirect_to_a_page_not_found_is_still_dead(store: Store) -> None:
    """/en/ -> / where / answers 404: dead, whatever the rule says about the redirect."""
    mock = MockSite({"/en/": moved(302, "/"), "/": status(404)})
    mock.routes[C] = ok(page("/en/"))
    link = by_path(await deep_run(config(mock), store, transport=mock.transport()), mock)["/en/"]
    assert link.state is LinkState.DEAD


# --- any site, not only OCW --------------------------------------------------------------------


async def test_a_site_resource_is_crawled_within_its_folder_like_a_course(store: Store) -> None:
    """A `site` entry (a generic HTML site) is crawled like a course: its pages are read and
    their links checked; a page outside its folder is checked, not read."""
    mock = MockSite(
        {
            "/book/": ok(page("/book/ch1.html", "/blog/")),
            "/book/ch1.html": ok(page("/book/ch2.html", "/book/fig1.png")),
            "/book/ch2.html": ok(page(title="Chapter 2")),
            "/blog/": ok(page("/blog/post/")),
        }
    )
    resource = Resource(id="book", url=mock.url("/book/"), kind=ResourceKind.SITE)
    cfg = Config(settings=Settings(), resources=(resource,))
    outcomes = await deep_run(cfg, store, transport=mock.transport())
    links = by_path(outcomes, mock)
    assert outcomes.report.resources[0].outcome is Outcome.OK
    assert links["/book/ch2.html"].state is LinkState.OK
    assert links["/book/fig1.png"].state is LinkState.DEAD
    assert links["/blog/"].state is LinkState.OK
    assert "/blog/post/" not in links


# --- crawl hints: nofollow ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markup", "nofollow"),
    [
        ("<a href='/x' rel='nofollow'>x</a>", True),
        ("<a href='/x' rel='external NoFollow'>x</a>", True),
        ("<a href='/x' rel='noopener'>x</a>", False),
        ("<meta name='robots' content='noindex, nofollow'><a href='/x'>x</a>", True),
        ("<meta name='ROBOTS' content='none'><a href='/x'>x</a>", True),
        ("<meta name='robots' content='noindex'><a href='/x'>x</a>", False),
        ("<meta name='googlebot' content='nofollow'><a href='/x'>x</a>", False),
    ],
)
def test_nofollow_hints_are_read(markup: str, nofollow: bool) -> None:
    """rel=nofollow marks its link; robots meta nofollow (or none) marks every link."""
    body = f"<html><head><title>t</title></head><body>{markup}</body></html>".encode()
    [link] = extract_links(body, "https://a.test/", "text/html").links
    assert link.nofollow is nofollow
    assert extract_page(body, "https://a.test/", "text/html").links == (link,)


async def test_the_crawl_checks_nofollow_links_but_does_not_follow_them(store: Store) -> None:
    """A rel=nofollow page of the site is checked (GET), not read; a page whose robots meta says
    nofollow is read, and its links are checked, but none of them is read."""
    mock = MockSite(
        {
            C: ok(b"<html><title>Home</title><a href='a/' rel='nofollow'>a</a><a href='b/'>b</a>"),
            C + "a/": ok(page(C + "a-child/")),
            C + "b/": ok(
                b"<html><head><meta name='robots' content='nofollow'></head>"
                b"<a href='/courses/c1/b-child/'>c</a></html>"
            ),
            C + "b-child/": ok(page(C + "b-grandchild/")),
        }
    )
    links = by_path(await deep_run(config(mock), store, transport=mock.transport()), mock)
    assert links[C + "a/"].state is LinkState.OK
    assert C + "a-child/" not in links
    assert links[C + "b-child/"].state is LinkState.OK
    assert C + "b-grandchild/" not in links


@pytest.mark.parametrize(
    ("value", "nofollow"),
    [
        ("nofollow", True),
        ("noindex, NoFollow", True),
        ("none", True),
        ("noindex", False),
        ("googlebot: nofollow", False),  # another crawler's directive
        ("googlebot: noindex, nofollow", False),
        ("unavailable_after: 25 Jun 2010 15:00:00 PST, nofollow", True),
        ("", False),
    ],
)
def test_x_robots_tag_nofollow_is_read_for_every_crawler_only(value: str, nofollow: bool) -> None:
    """The header's nofollow counts when it names no crawler (a prefix names one until the next)."""
    assert header_nofollow(value) is nofollow


async def test_a_page_whose_header_says_nofollow_is_not_followed(store: Store) -> None:
    """`X-Robots-Tag: nofollow` on a page of the site: its links are checked, none is read."""
    mock = MockSite(
        {
            C: ok(page(C + "h/")),
            C + "h/": ok(page(C + "h-child/"), **{"x-robots-tag": "noindex, nofollow"}),
            C + "h-child/": ok(page(C + "h-grandchild/")),
        }
    )
    links = by_path(await deep_run(config(mock), store, transport=mock.transport()), mock)
    assert links[C + "h-child/"].state is LinkState.OK
    assert C + "h-grandchild/" not in links
