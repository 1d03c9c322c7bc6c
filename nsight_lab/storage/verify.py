"""Checking that an uploaded object is the file the agent meant to send.

Presigned PUTs let an agent write anything, of any length, under its key. Before a
report is registered, the coordinator reads it back and compares size and SHA-256
with what the agent declared, so a truncated or altered upload is refused instead
of surfacing later as an unreadable report.
"""

from __future__ import annotations

import hashlib

from nsight_lab.storage.base import ObjectNotFound, ObjectStore, StorageError

_CHUNK = 1024 * 1024


def verify_object(store: ObjectStore, key: str, size: int, sha256: str) -> None:
    """Raise :class:`StorageError` naming ``key`` unless it holds ``size`` bytes hashing to ``sha256``."""
    info = store.head(key)
    if info is None:
        raise ObjectNotFound(f"uploaded object {key!r} is missing: nothing was stored")
    if info.size != size:
        raise StorageError(
            f"uploaded object {key!r} has the wrong size: expected {size} bytes, found {info.size}"
        )
    digest = hashlib.sha256()
    found = 0
    stream = store.open_read(key)
    try:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            found += len(chunk)
    finally:
        stream.close()
    if found != size:
        raise StorageError(
            f"uploaded object {key!r} has the wrong size: expected {size} bytes, read {found}"
        )
    if digest.hexdigest() != sha256.lower():
        raise StorageError(
            f"uploaded object {key!r} has the wrong content: expected sha256 {sha256.lower()}, "
            f"found {digest.hexdigest()}"
        )
