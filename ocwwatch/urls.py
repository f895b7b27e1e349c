"""URLs as a browser reads them: the WHATWG URL standard, through ada-url (the parser of Node.js).

Owns ada_url (no other module imports it) and the rule that no secret in a URL is ever shown.
Pure functions of text: nothing here resolves a name or connects. A host is read the way a
browser reads it before anything judges it: IDNA/UTS 46 mapping (full-width and ideographic full
stops become dots), lower case, and IPv4 written in decimal, hex, octal or short forms turned
into dotted quads, so `http://2130706433/` and `http://127.1/` are both `127.0.0.1`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import ada_url

WEB_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
REDACTED = "***"
# Where a URL's authority, and so its user info, starts, the way a browser finds it: after a
# special scheme, any run of slashes and backslashes or none (`http:\\u:p@h`, `http:u:p@h`);
# after any other scheme, or none, two or more (a log line's repr doubles each backslash).
_AUTHORITY_START = r"(?<![A-Za-z0-9+.\-])(?i:https?|wss?|ftp):[/\\]*|[/\\]{2,}"
_URL_END = r"\s\"'<>`"  # what ends a URL in prose, a repr, JSON, HTML or Markdown
# A URL-looking text's user info, for text the parser rejects too: up to the last `@` before
# the path, query or fragment (`deploy:tok@en42@host`: the password holds an `@`); or, where
# what follows a colon before the first slash is no port, up to the last `@` before the query
# (`u:abc/def@host`, which no parser reads, but a reader sees a password in).
_USERINFO = re.compile(
    rf"(?P<lead>{_AUTHORITY_START})(?P<userinfo>"
    rf"[^/\\?#{_URL_END}]*"
    rf"|[^/\\?#@:\[\]{_URL_END}]*:(?=[^/\\?#@{_URL_END}]*[^0-9/\\?#@{_URL_END}])[^?#{_URL_END}]*"
    r")@"
)


class InvalidURLError(ValueError):
    """A text a browser's URL parser rejects (`http://`, `http://localhost]`, `//////`)."""


class HostKind(StrEnum):
    NAME = "name"
    IPV4 = "ipv4"
    IPV6 = "ipv6"


@dataclass(frozen=True)
class WebURL:
    """One parsed URL. `href` never holds a password; `request_url` holds no user info at all."""

    href: str  # serialised as a browser would, credentials redacted (`user:***@`)
    request_url: str  # what is asked for on the wire: no user info, no fragment
    scheme: str  # "http", without the colon
    host: str  # IDNA-mapped name, dotted-quad IPv4, or IPv6 without brackets; "" when none
    host_kind: HostKind
    port: int | None  # the effective port (80 for http without one); None for other schemes
    has_credentials: bool

    @property
    def origin(self) -> str:
        """`scheme://host:port`, the unit in which private addresses are allowed."""
        host = f"[{self.host}]" if self.host_kind is HostKind.IPV6 else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def is_web(self) -> bool:
        return self.scheme in WEB_SCHEMES and bool(self.host)


@lru_cache(maxsize=8192)
def parse_url(text: str, base: str | None = None) -> WebURL:
    """`text` (resolved against `base` when given) as a browser would read it.

    Raises InvalidURLError when a browser would reject it. Cached: a crawl asks about the same
    URL several times (its key, its redirect chain, its validators).
    """
    try:
        absolute = text if base is None else ada_url.join_url(base, text)
        parts = ada_url.parse_url(absolute, attributes=_ATTRIBUTES)
    except (ValueError, TypeError) as exc:
        where = f" (relative to {redact_url(base)})" if base else ""
        raise InvalidURLError(f"not a valid URL: {redact_url(text)!r}{where}") from exc
    scheme = str(parts["protocol"]).rstrip(":")
    user, password = str(parts["username"]), str(parts["password"])
    href = str(parts["href"])
    fragment = str(parts["hash"])
    request_url = href[: len(href) - len(fragment)] if fragment else href
    if user or password:  # user info needs a host: the URL is `scheme://user:pass@host...`
        userinfo = f"{user}:{REDACTED}" if password else REDACTED
        rest = f"{parts['host']}{parts['pathname']}{parts['search']}"
        request_url = f"{parts['protocol']}//{rest}"
        href = f"{parts['protocol']}//{userinfo}@{rest}{fragment}"
    port = str(parts["port"])
    return WebURL(
        href=href,
        request_url=request_url,
        scheme=scheme,
        host=str(parts["hostname"]).strip("[]"),
        host_kind=_HOST_KINDS.get(int(parts["host_type"]), HostKind.NAME),
        port=int(port) if port else DEFAULT_PORTS.get(scheme),
        has_credentials=bool(user or password),
    )


_ATTRIBUTES = (
    "href",
    "protocol",
    "username",
    "password",
    "host",
    "hostname",
    "port",
    "pathname",
    "search",
    "hash",
    "host_type",
)
_HOST_KINDS = {0: HostKind.NAME, 1: HostKind.IPV4, 2: HostKind.IPV6}


# Query (or fragment) parameters whose value is a credential: OAuth's tokens, API keys,
# passwords, and the signatures of presigned S3 and Cloud Storage URLs. Kept short on purpose:
# `key` alone, say, names far more than secrets, and a redacted value is a broken URL to show.
SECRET_PARAMETERS = frozenset(
    {
        "access_token",
        "id_token",
        "refresh_token",
        "token",
        "auth",
        "apikey",
        "api_key",
        "password",
        "passwd",
        "secret",
        "client_secret",
        "signature",
        "sig",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "x-goog-signature",
        "x-goog-credential",
    }
)
# A parameter follows `?`, `&`, `;` (HTML's `&amp;` ends with one) or `#` (OAuth's implicit
# flow answers `#access_token=`); its value runs to the next parameter or the URL's end.
_SECRET_NAMES = "|".join(
    re.escape(name) for name in sorted(SECRET_PARAMETERS, key=len, reverse=True)
)
_SECRET_PARAMETER = re.compile(
    rf"(?P<name>[?&;#](?:{_SECRET_NAMES}))=[^&#\\{_URL_END}]+", re.IGNORECASE
)


# A credential-like parameter's name and its `=`, wherever it stands.
_SECRET_NAME = re.compile(rf"[?&;#](?:{_SECRET_NAMES})=", re.IGNORECASE)


def may_hold_secret(text: str) -> bool:
    """False when `redact_secrets` would find nothing to hide in any part of `text`: it holds
    no `@` and no credential-like parameter. So an encoding (JSON's) of values that holds
    neither needs none of them redacted; the two `in` tests rule out most text at once."""
    return "@" in text or ("=" in text and _SECRET_NAME.search(text) is not None)


def redact_secrets(text: str) -> str:
    """`redact_url`, and the value of every credential-like query parameter (`access_token`,
    `X-Amz-Signature`, ...: SECRET_PARAMETERS, any case) shown as `***`. For what ocwwatch
    shows and publishes (logs, reports, notifications); what it stores, a link's identity
    above all, keeps its query as the server gave it."""
    if "=" not in text:  # no parameter at all: most text, and the pattern is slow to rule out
        return redact_url(text)
    return _SECRET_PARAMETER.sub(rf"\g<name>={REDACTED}", redact_url(text))


def redact_url(text: str) -> str:
    """`text` with any password in a URL shown as `***` (`user:***@`; a lone user name, which
    is often a token, as `***@`). Works on text that is no valid URL, and on prose holding URLs."""
    if "@" not in text:  # most text, a report's pieces above all: the pattern is slow to rule out
        return text
    return _USERINFO.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    user, colon, _password = match.group("userinfo").partition(":")
    userinfo = f"{user}:{REDACTED}" if colon else REDACTED
    return f"{match.group('lead')}{userinfo}@"
