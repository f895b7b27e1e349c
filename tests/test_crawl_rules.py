"""The deep check's pure rules: URL keys and scope, link kinds, safety, robots.txt answers,
bot challenges and the failure streak of a state the crawl decides itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ocwwatch.crawl.oembed import oembed_url, video_id
from ocwwatch.crawl.robots import read_robots
from ocwwatch.crawl.scope import Scope, Site, is_file_path, site_prefix, url_key
from ocwwatch.judge import bot_challenge, crawl_state, is_home_redirect, link_state, restate
from ocwwatch.models import (
    FailureKind,
    FetchResult,
    LinkCheck,
    LinkKind,
    LinkState,
    Metadata,
    PageKind,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
OCW = "https://ocw.mit.edu/courses/18-01sc-single-variable-calculus-fall-2010/"
SITE = Site(resource_id="18.01sc", home=OCW, prefix=site_prefix(OCW), max_pages=10)


def result(status: int | None, body: bytes = b"", **fields: object) -> FetchResult:
    url = str(fields.pop("url", OCW + "pages/x/"))
    values: dict[str, object] = {"url": url, "final_url": url, "status": status, "body": body}
    return FetchResult.model_validate(values | {"fetched_at": T0} | fields)


# --- URL keys and scope --------------------------------------------------------------------


def test_spellings_of_one_url_share_a_key() -> None:
    """Scheme and host case, the default port and the fragment do not make another URL."""
    assert url_key("HTTPS://OCW.mit.edu:443/courses/x/#top") == url_key(
        "https://ocw.mit.edu/courses/x/"
    )


def test_path_case_and_query_make_another_url() -> None:
    """Paths are case-sensitive and queries matter: those are different links."""
    assert url_key(OCW + "Pages/") != url_key(OCW + "pages/")
    assert url_key(OCW + "?a=1") != url_key(OCW)


@pytest.mark.parametrize(
    ("final_url", "prefix"),
    [
        (OCW, OCW),
        ("https://ocw.mit.edu/courses/x/index.htm", "https://ocw.mit.edu/courses/x/"),
        # `./` from an extensionless last segment is its folder, as a browser resolves it
        ("https://ocw.mit.edu/courses/x", "https://ocw.mit.edu/courses/"),
        ("https://ocw.mit.edu/courses/x/?utm=1", "https://ocw.mit.edu/courses/x/"),
    ],
)
def test_site_prefix_is_the_home_folder(final_url: str, prefix: str) -> None:
    """A course home's folder is its site's prefix, whatever form the home URL takes."""
    assert site_prefix(final_url) == prefix


def test_a_sibling_course_is_outside_the_site() -> None:
    """/courses/18-01sc-…/ does not contain /courses/18-01sc-…-2011/ (prefix, not startswith)."""
    assert SITE.contains(url_key(OCW + "pages/syllabus/"))
    assert SITE.contains(url_key(OCW.rstrip("/")))
    assert not SITE.contains(url_key(OCW.rstrip("/") + "-2011/"))


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        (OCW + "pages/syllabus/", LinkKind.PAGE),
        (OCW + "download", LinkKind.PAGE),
        (OCW + "index.html", LinkKind.PAGE),
        (OCW + "mit18_01scf10_ses1a.pdf", LinkKind.FILE),
        ("https://archive.org/download/MIT18.01SCF10/clip_300k.mp4", LinkKind.FILE),
        ("https://ocw.mit.edu/search/?t=Calculus", LinkKind.EXTERNAL),
        ("https://www.youtube.com/embed/XXcL1p0001a", LinkKind.EMBED),
    ],
)
def test_links_are_classified_by_site_and_suffix(url: str, kind: LinkKind) -> None:
    """Pages inside the site are read; files anywhere are files; the rest are external."""
    assert Scope([SITE]).classify(url, url_key(url))[0] is kind


def test_file_suffix_ignores_html_like_pages() -> None:
    """.html, .php and suffix-less paths are pages; .pdf, .zip and .srt are files."""
    assert [
        is_file_path(f"https://a.test/x.{s}") for s in ("html", "php", "pdf", "zip", "srt")
    ] == [
        False,
        False,
        True,
        True,
        True,
    ]


# --- safety --------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://ocw.mit.edu/x", "mailto:a@b.c", "http://", "http://[::1"])
def test_links_that_are_not_http_urls_are_refused(url: str) -> None:
    """Non-http(s) schemes and texts a browser rejects are never fetched (addresses are the
    fetcher's guard's to judge: tests/test_guard.py)."""
    assert Scope([SITE]).refusal(url) is not None


def test_public_names_are_allowed_without_resolving_them() -> None:
    """A public name passes (it is never looked up here)."""
    assert Scope([SITE]).refusal("https://www.gutenberg.org/ebooks/33283") is None


# --- robots.txt answers (RFC 9309, 2.3.1) --------------------------------------------------


def test_robots_rules_are_read_from_a_200() -> None:
    """A 200 robots.txt is parsed: its Disallow lines apply to the matching agent."""
    rules = read_robots(result(200, b"User-agent: *\nDisallow: /private/\n"))
    assert rules.permit("https://a.test/private/x", "ocwwatch").allowed is False
    assert rules.permit("https://a.test/public/x", "ocwwatch").allowed is True


def test_robots_404_allows_everything() -> None:
    """A robots.txt that is not there (4xx) means no rules."""
    assert read_robots(result(404)).permit("https://a.test/x", "ocwwatch").allowed


def test_robots_5xx_disallows_everything() -> None:
    """A server error on robots.txt means everything is disallowed for now."""
    permit = read_robots(result(503)).permit("https://a.test/x", "ocwwatch")
    assert (permit.allowed, permit.unreachable) == (False, None)


def test_robots_unreachable_host_shares_its_failure() -> None:
    """A host whose name does not resolve passes that failure on to its links."""
    failed = result(None, failure=FailureKind.DNS, failure_detail="no such name")
    permit = read_robots(failed).permit("https://a.test/x", "ocwwatch")
    assert permit.unreachable is not None
    assert permit.unreachable.failure is FailureKind.DNS


# --- verdicts the crawl decides ------------------------------------------------------------


def test_status_999_is_a_bot_challenge() -> None:
    """Status 999 (sent to crawlers by some sites) is a bot wall."""
    assert bot_challenge(result(999)) is not None


def test_captcha_words_in_a_200_are_not_a_challenge() -> None:
    """A normal page that mentions a captcha is not taken for a bot wall."""
    assert bot_challenge(result(200, b"<p>solve the captcha to post</p>")) is None


def test_redirect_to_home_only_from_deeper_paths() -> None:
    """/x -> / is a soft 404; http:// -> https:// of the home itself is not."""
    assert is_home_redirect("https://a.test/x/", "https://a.test/", redirected=True)
    assert not is_home_redirect("http://a.test/", "https://a.test/", redirected=True)


@pytest.mark.parametrize(
    ("code", "state"),
    [(400, LinkState.UNKNOWN), (405, LinkState.UNKNOWN), (451, LinkState.BLOCKED)],
)
def test_other_client_errors_are_not_ok(code: int, state: LinkState) -> None:
    """4xx codes judge does not name are unknown (451: blocked), never ok: the status matrix
    decides them for every link (issue 14), not the crawl alone."""
    metadata = Metadata(page_kind=PageKind.OTHER)
    assert crawl_state(result(code), metadata, LinkKind.PAGE) is None
    assert link_state(result(code), metadata)[0] is state


def test_restated_failure_keeps_the_first_failure_time() -> None:
    """A crawl-decided failure after failing runs counts on, from the first failure."""
    previous = LinkCheck(
        url="https://a.test/x", state=LinkState.UNKNOWN, first_failed_at=T0, failed_runs=2
    )
    now = T0 + timedelta(days=2)
    check = LinkCheck(url="https://a.test/x", state=LinkState.OK)
    restated = restate(check, LinkState.BLOCKED, "a bot challenge", previous, now)
    assert (restated.failed_runs, restated.first_failed_at) == (3, T0)


# --- YouTube embeds ------------------------------------------------------------------------


def test_video_id_comes_from_youtube_embeds_only() -> None:
    """Embed URLs of YouTube give their video id; other hosts and paths give none."""
    assert video_id("https://www.youtube.com/embed/XXcL1p0001a") == "XXcL1p0001a"
    assert video_id("https://www.youtube-nocookie.com/embed/XXcL1p0001a/") == "XXcL1p0001a"
    assert video_id("https://www.youtube.com/watch?v=XXcL1p0001a") is None
    assert video_id("https://example.org/embed/XXcL1p0001a") is None


def test_oembed_url_quotes_the_watch_url() -> None:
    """The oEmbed request names the watch URL, quoted, and asks for JSON."""
    assert oembed_url("XXcL1p0001a") == (
        "https://www.youtube.com/oembed?url=https%3A%2F%2Fwww.youtube.com%2Fwatch%3Fv%3D"
        "XXcL1p0001a&format=json"
    )
