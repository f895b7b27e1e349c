"""Translation of transport errors into FailureKind values, the one place httpx errors end.

Owns the mapping (DNS, refused, timeout, reset, protocol). It must not decide about retries:
the Fetcher does that from the kind it gets back.
"""

from __future__ import annotations

import os
import socket

import httpx

from ocwwatch.models import FailureKind


class NoRecordingError(httpx.ConnectError):
    """Replay has no response for this request; the Fetcher reports FailureKind.NO_RECORDING."""


# Substrings of resolver messages, for transports that lose the gaierror on the way up.
_DNS_MESSAGES = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "no address associated with hostname",
    "getaddrinfo failed",
)


def classify_error(exc: BaseException, *, mid_body: bool) -> tuple[FailureKind, str]:
    """The failure kind and a one-line detail for an error raised while sending or reading."""
    detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
    reason = _socket_reason(exc)
    if reason and reason.lower() not in detail.lower():
        # anyio reports a refused connect as "All connection attempts failed"; the socket's
        # own reason ("Connection refused") is what a reader of the report needs.
        detail = f"{detail} ({reason})"
    return _kind_of(exc, mid_body=mid_body), detail


def _socket_reason(exc: BaseException) -> str | None:
    """The OS's words for the deepest socket error among the causes ("Connection refused")."""
    reason = None
    for current in _causes(exc):
        if isinstance(current, OSError) and current.errno is not None:
            reason = os.strerror(current.errno)
    return reason


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and its causes (or contexts), outermost first, each once."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _kind_of(exc: BaseException, *, mid_body: bool) -> FailureKind:
    if isinstance(exc, NoRecordingError):
        return FailureKind.NO_RECORDING
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return FailureKind.TIMEOUT
    if isinstance(exc, httpx.ConnectError | socket.gaierror):
        if is_temporary_dns_failure(exc):
            return FailureKind.DNS_TEMPORARY
        return FailureKind.DNS if is_dns_failure(exc) else FailureKind.CONNECT
    if isinstance(exc, httpx.RemoteProtocolError):
        return _remote_protocol_kind(exc, mid_body=mid_body)
    if isinstance(exc, httpx.NetworkError | OSError):
        return FailureKind.RESET if mid_body else FailureKind.CONNECT
    return FailureKind.PROTOCOL


def _remote_protocol_kind(exc: httpx.RemoteProtocolError, *, mid_body: bool) -> FailureKind:
    # h11 reports a peer that hangs up as a protocol error; it is a broken connection, not bad
    # HTTP ("Server disconnected without sending a response", "peer closed connection ...").
    message = str(exc).lower()
    hung_up = "disconnected" in message or "peer closed" in message
    if mid_body and hung_up:
        return FailureKind.RESET
    return FailureKind.CONNECT if hung_up else FailureKind.PROTOCOL


def is_temporary_dns_failure(exc: BaseException) -> bool:
    """A resolver that could not answer now (EAI_AGAIN): the name may well exist (issue 11)."""
    return any(
        (isinstance(current, socket.gaierror) and current.errno == socket.EAI_AGAIN)
        or "temporary failure in name resolution" in str(current).lower()
        for current in _causes(exc)
    )


def is_dns_failure(exc: BaseException) -> bool:
    """True when a socket.gaierror is somewhere in the chain of causes (or its message is)."""
    return any(
        isinstance(current, socket.gaierror)
        or any(text in str(current).lower() for text in _DNS_MESSAGES)
        for current in _causes(exc)
    )
