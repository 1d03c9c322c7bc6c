"""The one storage interface every backend implements.

Storage credentials stay on the server side: agents and clients only ever receive
presigned URLs. A backend therefore offers presigning (single PUT, multipart parts,
GET) plus the server-side operations the coordinator and the analysis service need
(verify, read, write, list, delete).

Presigned URLs are either absolute (S3/MinIO sign for their own endpoint) or relative
to the coordinator's API root (the local-folder backend, whose objects the
coordinator itself serves); callers resolve relative ones against the URL they called.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

#: Reports up to this size go up in one PUT; larger ones in parts of this size.
DEFAULT_PART_SIZE = 64 * 1024 * 1024
#: S3 refuses parts under 5 MiB (except the last one).
MIN_PART_SIZE = 5 * 1024 * 1024
#: Presigned URLs live ten minutes: long enough to start a transfer (a URL is checked
#: when a request begins, not while its bytes flow), short enough that a leaked one
#: is soon worthless.
DEFAULT_EXPIRY_S = 600
#: S3's multipart limits (MinIO keeps the same): parts per upload, bytes per part,
#: bytes per object.
MAX_PARTS = 10_000
MAX_PART_SIZE = 5 * 1024**3
MAX_OBJECT_SIZE = 5 * 1024**4


class StorageError(RuntimeError):
    """A storage operation failed; the message says which object and why."""


class ObjectNotFound(StorageError):
    pass


class ObjectExists(StorageError):
    """An exclusive presigned PUT found its object already stored (HTTP 412): a
    verified report is never overwritten by a replayed URL."""


class ObjectTooLarge(StorageError):
    """An object larger than any store here can hold (HTTP 413)."""


def part_size_for(size: int, preferred: int = DEFAULT_PART_SIZE) -> int:
    """The part size for a ``size``-byte multipart upload: ``preferred``, grown (in
    whole MiB) just enough to stay within :data:`MAX_PARTS` parts.

    Deterministic, so a plan re-issued for the same upload gets the same parts.
    Raises :class:`ObjectTooLarge` past :data:`MAX_OBJECT_SIZE`.
    """
    if size > MAX_OBJECT_SIZE:
        raise ObjectTooLarge(
            f"{size} bytes is more than the {MAX_OBJECT_SIZE} bytes (5 TiB) one stored "
            "object may hold; split the report"
        )
    mib = 1024 * 1024
    needed = -(-size // MAX_PARTS)
    part = max(preferred, -(-needed // mib) * mib)
    return min(part, MAX_PART_SIZE)


class InvalidKey(StorageError):
    """A key that could escape its bucket prefix or folder (HTTP 400 where served)."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int


@runtime_checkable
class ObjectStore(Protocol):
    """Object storage as the services see it. Keys are ``/``-separated, never absolute."""

    kind: str

    def presign_put(
        self, key: str, *, expires_s: int = DEFAULT_EXPIRY_S, exclusive: bool = False
    ) -> str:
        """A PUT URL for ``key``; ``exclusive`` ones refuse to replace a stored object
        (the caller must send :meth:`exclusive_put_headers` with the request)."""
        ...

    def exclusive_put_headers(self) -> dict[str, str]:
        """Headers an exclusive presigned PUT must carry (signed into S3 URLs)."""
        ...

    def create_multipart(self, key: str) -> str:
        """Start a multipart upload and return its upload id."""
        ...

    def presign_part(
        self, key: str, upload_id: str, part_number: int, *, expires_s: int = DEFAULT_EXPIRY_S
    ) -> str: ...

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        """Assemble the parts, given as ``(part_number, etag)`` in any order."""
        ...

    def abort_multipart(self, key: str, upload_id: str) -> None: ...

    def presign_get(
        self, key: str, *, expires_s: int = DEFAULT_EXPIRY_S, download_name: str | None = None
    ) -> str: ...

    def head(self, key: str) -> ObjectInfo | None: ...

    def open_read(self, key: str) -> BinaryIO:
        """A readable stream of the object; raises :class:`ObjectNotFound`."""
        ...

    def open_ranged(self, key: str) -> BinaryIO:
        """A seekable file over the object that fetches only the bytes read (Parquet
        footers and column chunks); raises :class:`ObjectNotFound`."""
        ...

    def put_file(self, key: str, path: Path) -> ObjectInfo: ...

    def put_bytes(self, key: str, data: bytes) -> ObjectInfo: ...

    def delete(self, key: str) -> None: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...


def validate_key(key: str) -> str:
    """Refuse keys that could escape a bucket prefix or a local folder."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise InvalidKey(f"invalid storage key {key!r}")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidKey(f"invalid storage key {key!r}: empty, '.' or '..' component")
    return key
