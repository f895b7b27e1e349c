"""Bounded decoding of a response body: content-encoding undone, decoded size capped.

Owns the byte cap, applied to the DECODED bytes so a compression bomb stops at the cap instead
of filling memory. Pure byte handling; it knows nothing about HTTP clients or sockets.
"""

from __future__ import annotations

import zlib

_GZIP_WBITS = zlib.MAX_WBITS | 16
_ZLIB_WBITS = zlib.MAX_WBITS
_RAW_DEFLATE_WBITS = -zlib.MAX_WBITS
_WBITS = {"gzip": _GZIP_WBITS, "x-gzip": _GZIP_WBITS, "deflate": _ZLIB_WBITS}

ACCEPT_ENCODING = "gzip, deflate"  # only what this module can decode under a cap


class BodyDecodeError(ValueError):
    """The body's content-encoding is unsupported or its bytes do not decode."""


class BodyDecoder:
    """Feed raw chunks in; keeps at most `max_bytes` decoded bytes and says when it overflowed."""

    def __init__(self, content_encoding: str | None, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._parts: list[bytes] = []
        self._size = 0
        self.truncated = False
        self._wbits = _choose_wbits(content_encoding)
        self._inflater = None if self._wbits is None else zlib.decompressobj(self._wbits)
        self._started = False

    @property
    def body(self) -> bytes:
        return b"".join(self._parts)

    def feed(self, chunk: bytes) -> bool:
        """Add one raw chunk; True once the decoded body went over the cap (stop reading)."""
        if self.truncated or not chunk:
            return self.truncated
        if self._inflater is None:
            self._keep(chunk)
        else:
            self._inflate(chunk)
        return self.truncated

    def finish(self) -> None:
        """Drain output the inflater still holds after the last chunk (within the cap)."""
        while self._inflater is not None and not self.truncated:
            room = self._max_bytes - self._size + 1
            try:
                out = self._inflater.decompress(b"", room)
            except zlib.error as exc:
                raise BodyDecodeError(f"body does not decode: {exc}") from exc
            if not out:
                return
            self._keep(out)

    def _inflate(self, chunk: bytes) -> None:
        data = chunk
        while data and not self.truncated:
            # Ask for one byte more than the room left: getting it proves the body is over the cap.
            room = self._max_bytes - self._size + 1
            try:
                out = self._decompress(data, room)
            except zlib.error as exc:
                raise BodyDecodeError(f"body does not decode: {exc}") from exc
            self._keep(out)
            assert self._inflater is not None
            data = self._inflater.unconsumed_tail
            if self._inflater.eof:
                return

    def _decompress(self, data: bytes, room: int) -> bytes:
        assert self._inflater is not None
        try:
            out = self._inflater.decompress(data, room)
        except zlib.error:
            # Some servers send raw deflate without the zlib wrapper (httpx does the same dance).
            if self._started or self._wbits != _ZLIB_WBITS:
                raise
            self._wbits = _RAW_DEFLATE_WBITS
            self._inflater = zlib.decompressobj(self._wbits)
            out = self._inflater.decompress(data, room)
        self._started = True
        return out

    def _keep(self, data: bytes) -> None:
        room = self._max_bytes - self._size
        if len(data) > room:
            data = data[:room]
            self.truncated = True
        self._parts.append(data)
        self._size += len(data)


def _choose_wbits(content_encoding: str | None) -> int | None:
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return None
    if len(codings) > 1 or codings[0] not in _WBITS:
        raise BodyDecodeError(f"unsupported content-encoding: {content_encoding}")
    return _WBITS[codings[0]]
