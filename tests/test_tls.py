"""The TLS context read ahead (tls.py): httpx's own default context, built on a thread once
`prepare` asks for it, handed out once, its failure raised where the context is taken."""

from __future__ import annotations

import ssl
import threading
from pathlib import Path

import certifi
import httpx
import pytest

from ocwwatch import tls


def described(context: ssl.SSLContext) -> tuple[object, ...]:
    return (
        context.verify_mode,
        context.check_hostname,
        context.options,
        context.minimum_version,
        context.maximum_version,
        context.verify_flags,
        sorted(str(cert) for cert in context.get_ca_certs()),
    )


@pytest.mark.parametrize("variable", [None, "SSL_CERT_FILE", "SSL_CERT_DIR"])
def test_the_context_is_the_one_httpx_builds(
    variable: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same CA certificates and settings as `httpx.create_ssl_context()`, whichever bundle the
    environment names (a folder's certificates load on demand, so both hold none yet)."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    if variable == "SSL_CERT_FILE":  # a bundle of three of certifi's certificates
        ends = "-----END CERTIFICATE-----\n"
        three = Path(certifi.where()).read_text().split(ends)[:3]
        bundle = tmp_path / "bundle.pem"
        bundle.write_text("".join(cert + ends for cert in three))
        monkeypatch.setenv(variable, str(bundle))
    elif variable == "SSL_CERT_DIR":
        monkeypatch.setenv(variable, str(tmp_path))
    ours, theirs = tls.build(), httpx.create_ssl_context()
    assert described(ours) == described(theirs)
    if variable is None:
        assert len(ours.get_ca_certs()) > 50  # certifi's bundle, not an empty store
    if variable == "SSL_CERT_FILE":
        assert len(ours.get_ca_certs()) == 3


def test_a_prepared_context_is_built_on_a_thread_and_handed_out_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built_on: list[str] = []
    real = tls.build

    def recording() -> ssl.SSLContext:
        built_on.append(threading.current_thread().name)
        return real()

    monkeypatch.setattr(tls, "build", recording)
    monkeypatch.setattr(tls, "_prepared", [])  # none left by an earlier test's check
    tls.prepare()
    tls.prepare()  # a second call waits for the first, it does not start another
    prepared = tls.context()
    assert built_on == ["ocwwatch-tls"]
    again = tls.context()  # nothing prepared any more: built here, afresh
    assert built_on == ["ocwwatch-tls", threading.current_thread().name]
    assert again is not prepared


def test_a_bundle_that_cannot_be_read_fails_where_the_context_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(FileNotFoundError):
        httpx.create_ssl_context()
    monkeypatch.setattr(tls, "_prepared", [])
    tls.prepare()
    with pytest.raises(FileNotFoundError):
        tls.context()
    monkeypatch.delenv("SSL_CERT_FILE")  # nothing is left prepared: the next call builds anew
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)  # from certifi's bundle
    assert tls.context().get_ca_certs()
