"""URLs as text to show (urls.py): no secret a URL carries is ever shown, in whatever form a
browser would still read it, and every other URL comes out unchanged."""

from __future__ import annotations

import pytest

from ocwwatch.report.pieces import redacted
from ocwwatch.urls import InvalidURLError, parse_url, redact_secrets, redact_url

REDACTED_USER_INFO = [
    ("http://user:pw@host/", "http://user:***@host/"),
    ("http://token@host/", "http://***@host/"),
    # The password holds an `@`: everything up to the last one before the path is user info.
    ("http://deploy:tok@en42@127.0.0.1:18901/ok", "http://deploy:***@127.0.0.1:18901/ok"),
    ("http://a@b@c@host?q=1", "http://***@host?q=1"),
    # Backslashes, any number of slashes, or none, after a special scheme (WHATWG).
    ("http:\\\\deploy:TOKEN99@127.0.0.1:18901/ok", "http:\\\\deploy:***@127.0.0.1:18901/ok"),
    ("http:deploy:TOKEN99@host/", "http:deploy:***@host/"),
    ("https:/u:p@host/", "https:/u:***@host/"),
    ("https:///u:p@host/", "https:///u:***@host/"),
    ("HTTPS://U:P@HOST/", "HTTPS://U:***@HOST/"),
    ("ws://u:p@host/", "ws://u:***@host/"),
    ("ftp://u:p@host/", "ftp://u:***@host/"),
    # A repr doubles each backslash (httpcore's -vv lines quote raw headers so).
    (
        "(b'Location', b'http:\\\\\\\\deploy:TOKEN99@h/')",
        "(b'Location', b'http:\\\\\\\\deploy:***@h/')",
    ),
    # What follows the colon is no port: a password with a slash, which no parser reads.
    ("https://u:abc/def@host/", "https://u:***@host/"),
    ("//u:p@host/x", "//u:***@host/x"),
    ("svn+ssh://u:p@host/repo", "svn+ssh://u:***@host/repo"),
    ("went to http://a:b@h/ then https://c:d@k/", "went to http://a:***@h/ then https://c:***@k/"),
    ("not a valid URL: 'http://u:p@[bad/'", "not a valid URL: 'http://u:***@[bad/'"),
    ('{"url": "http://u:p@h/"}', '{"url": "http://u:***@h/"}'),
]

UNCHANGED = [
    "https://ocw.mit.edu/courses/18-01sc-single-variable-calculus-fall-2010/",
    "https://mastodon.social/@user",
    "https://medium.com/@writer/a-post@2x",
    "https://example.org/?q=a@b",
    "https://example.org/#x@y",
    "https://example.org?q=a@b",
    "http://[::1]:8080/x@y",
    "http://host:8080/a@b",
    "http://host:/@x",
    "mailto:bob@example.com",
    "write to bob@example.com",
    "http://127.0.0.1:18901/ok",
    "https://u:***@host/",
    "",
]


@pytest.mark.parametrize(("text", "shown"), REDACTED_USER_INFO)
def test_user_info_is_redacted_in_every_form_a_browser_reads(text: str, shown: str) -> None:
    """User info is redacted up to the last `@` of the authority, however the slashes run."""
    assert redact_url(text) == shown


@pytest.mark.parametrize("text", UNCHANGED)
def test_urls_without_user_info_come_out_unchanged(text: str) -> None:
    """An `@` in a path, query or fragment, an e-mail address, a port: nothing is touched."""
    assert redact_url(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "http://deploy:tok@en42@127.0.0.1:18901/ok",
        "http:\\\\deploy:TOKEN99@127.0.0.1:18901/ok",
        "http:deploy:TOKEN99@127.0.0.1/ok",
    ],
)
def test_redaction_agrees_with_the_parser_on_where_the_host_starts(text: str) -> None:
    """What a browser takes for the host is what follows the redacted user info."""
    url = parse_url(text)
    assert url.has_credentials
    assert redact_url(text).split("@")[-1].startswith(url.host)


def test_a_rejected_url_is_named_redacted() -> None:
    """The parser's error (an invalid link's detail, a config error) shows no password."""
    with pytest.raises(InvalidURLError) as caught:
        parse_url("https://u:abc/def@host/")
    assert "'https://u:***@host/'" in str(caught.value)
    assert "abc" not in str(caught.value)


SECRET_QUERIES = [
    (
        "http://h/f?X-Amz-Credential=AKIA&X-Amz-Signature=dead&access_token=TOK123",
        "http://h/f?X-Amz-Credential=***&X-Amz-Signature=***&access_token=***",
    ),
    (
        "https://h/?Token=a&API_KEY=b&apikey=c&sig=d",
        "https://h/?Token=***&API_KEY=***&apikey=***&sig=***",
    ),
    (
        "https://h/?x-goog-signature=a&x-goog-credential=b",
        "https://h/?x-goog-signature=***&x-goog-credential=***",
    ),
    ("https://h/?password=a&passwd=b&secret=c", "https://h/?password=***&passwd=***&secret=***"),
    (
        "https://h/?client_secret=a&id_token=b&refresh_token=c&auth=d&signature=e&x-amz-security-token=f",
        "https://h/?client_secret=***&id_token=***&refresh_token=***&auth=***&signature=***&x-amz-security-token=***",
    ),
    # OAuth's implicit flow answers in the fragment.
    (
        "https://app/cb#access_token=XYZ&token_type=bearer",
        "https://app/cb#access_token=***&token_type=bearer",
    ),
    # As the HTML report escapes it, and as JSON quotes it.
    ("?a=1&amp;token=TOK&amp;b=2", "?a=1&amp;token=***&amp;b=2"),
    ('"url": "https://h/?sig=abc"', '"url": "https://h/?sig=***"'),
    ("http://u:pw@h/?token=t", "http://u:***@h/?token=***"),
]

NOT_SECRET_QUERIES = [
    "https://h/?key=k&token_type=bearer&mytoken=x&page=2",
    "https://h/?token=",
    "https://h/path/token=x",
    "https://h/?q=token%3Dx",
    "the token=x in prose",
]


@pytest.mark.parametrize(("text", "shown"), SECRET_QUERIES)
def test_credential_query_values_are_redacted(text: str, shown: str) -> None:
    """Values of SECRET_PARAMETERS (any case) are `***`; names and other parameters stay."""
    assert redact_secrets(text) == shown


@pytest.mark.parametrize("text", [*NOT_SECRET_QUERIES, *UNCHANGED])
def test_other_query_parameters_come_out_unchanged(text: str) -> None:
    """`key`, `token_type`, an empty value, a path that looks like one: nothing is touched."""
    assert redact_secrets(text) == text


def test_a_url_split_between_pieces_is_redacted_whole() -> None:
    """A rendering written in pieces is cut anew at whitespace: a URL across two is read whole."""
    pieces = ["see http://h/f?access_to", "ken=TOK123&v=1 and ", "http://u:p", "w@h/ end"]
    assert (
        "".join(redacted(pieces)) == "see http://h/f?access_token=***&v=1 and http://u:***@h/ end"
    )
