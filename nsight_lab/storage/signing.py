"""HMAC signatures for the local-folder backend's presigned URLs.

The local backend has no storage server of its own: the coordinator serves its
objects. To keep the promise that agents and clients never hold storage
credentials, the coordinator hands out URLs whose query carries an expiry and an
HMAC-SHA256 over everything that decides what the URL may touch (method, key,
expiry, and for multipart parts the upload id and part number). Anyone can read the
URL; only the holder of the signing key can mint or alter one.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from nsight_lab.storage.base import StorageError

#: Field separator inside the signed message. NUL cannot occur in a valid key
#: (``validate_key`` refuses it) nor in an upload id we mint, so no two distinct
#: (method, key, exp, upload_id, part) tuples can produce the same message.
_SEP = b"\x00"


class SignatureError(StorageError):
    """A presigned URL is missing its signature, was altered, or has expired (HTTP 403)."""


def _message(method: str, key: str, exp: int, upload_id: str | None, part: int | None) -> bytes:
    fields = [
        method.upper(),
        key,
        str(int(exp)),
        upload_id or "",
        "" if part is None else str(int(part)),
    ]
    return _SEP.join(f.encode("utf-8") for f in fields)


class UrlSigner:
    """Mints and checks signatures with one secret; the coordinator owns the secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError(
                "signing key must be at least 16 bytes; generate one with os.urandom(32)"
            )
        self._secret = bytes(secret)

    def sign(
        self,
        method: str,
        key: str,
        exp: int,
        upload_id: str | None = None,
        part: int | None = None,
    ) -> str:
        """Hex HMAC-SHA256 of the request's identity."""
        msg = _message(method, key, exp, upload_id, part)
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def verify(
        self,
        method: str,
        key: str,
        query: Mapping[str, str],
        *,
        now: float | None = None,
    ) -> tuple[str | None, int | None]:
        """Check ``exp``/``sig`` (and ``upload_id``/``part`` if present) in ``query``.

        Returns ``(upload_id, part)`` as signed, so callers act only on signed values.
        Raises :class:`SignatureError` saying which check failed; the comparison is
        constant-time so the signature cannot be guessed byte by byte.
        """
        sig = query.get("sig")
        exp_text = query.get("exp")
        if not sig or not exp_text:
            raise SignatureError(
                f"URL for {key!r} lacks 'exp' or 'sig'; ask for a new presigned URL"
            )
        try:
            exp = int(exp_text)
        except ValueError:
            raise SignatureError(f"URL for {key!r} has a non-integer 'exp' {exp_text!r}") from None
        upload_id = query.get("upload_id") or None
        part_text = query.get("part")
        part: int | None = None
        if part_text not in (None, ""):
            try:
                part = int(part_text)
            except ValueError:
                raise SignatureError(
                    f"URL for {key!r} has a non-integer 'part' {part_text!r}"
                ) from None
        expected = self.sign(method, key, exp, upload_id, part)
        if not hmac.compare_digest(expected.encode(), sig.lower().encode("utf-8", "replace")):
            raise SignatureError(
                f"bad signature for {method.upper()} {key!r}: the URL was altered or signed "
                "with another key"
            )
        current = time.time() if now is None else now
        if exp < current:
            raise SignatureError(
                f"URL for {method.upper()} {key!r} expired at {exp} (now {int(current)}); "
                "ask for a new presigned URL"
            )
        return upload_id, part
