"""The TLS context of live requests, its CA bundle read in the background as a check starts.

Reading the CA bundle (a few hundred certificates, parsed by OpenSSL) takes 40-50 ms, and
OpenSSL does it with the GIL released. `prepare()`, called before a live check imports the rest
of the program, reads it on a thread while the imports run (issue 15); `context()` waits for
that one, or reads the bundle then if nothing was prepared. Each prepared context is handed out
once, so that every run (a daemon's too) reads the bundle as it is at that run.

The context is httpx's default one, built as `httpx.create_ssl_context()` builds it: the file
or folder `SSL_CERT_FILE` or `SSL_CERT_DIR` names, else certifi's bundle. This module imports
neither httpx nor the rest of ocwwatch, so that it can start before they are imported.
"""

from __future__ import annotations

import os
import ssl
import threading

import certifi


def build() -> ssl.SSLContext:
    """A verifying client context on the CA bundle httpx would use."""
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    return ssl.create_default_context(cafile=certifi.where())


class _Building:
    """`build()` on a daemon thread; `take()` waits and returns it, or raises what it raised."""

    def __init__(self) -> None:
        self._context: ssl.SSLContext | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ocwwatch-tls", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._context = build()
        except BaseException as exc:  # handed to whoever takes the context, where it belongs
            self._error = exc

    def wait(self) -> None:
        self._thread.join()

    def take(self) -> ssl.SSLContext:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._context is not None
        return self._context


_prepared: list[_Building] = []  # at most one, started by `prepare`


def prepare() -> None:
    """Start reading the CA bundle in the background (once; a prepared context waits)."""
    if not _prepared:
        _prepared.append(_Building())


def settle() -> None:
    """Wait for a bundle still being read that nothing took (a check that failed before its
    first request). The process must not exit while OpenSSL parses on another thread: its
    exit handlers free the locks that thread holds, and the process died of SIGSEGV (exit
    139) instead of saying why it stopped."""
    for building in _prepared:
        building.wait()


def context() -> ssl.SSLContext:
    """The prepared context, waited for; else one built now."""
    return _prepared.pop().take() if _prepared else build()
