"""Uploading a report to presigned URLs with the standard library only.

This runs inside profiled processes whose environment we do not own, so it imports
nothing outside the standard library, never holds a whole report in memory (each
part is streamed from disk with ``socket.sendfile``, zero-copy on plain HTTP), and
keeps going through the failures a busy cluster produces: refused connections while
MinIO restarts, 503 "slow down", 429 and 408. It gives up at once on answers that
retrying cannot fix (403 expired/bad signature, 404, 400): the caller then asks the
coordinator for fresh URLs instead of hammering storage.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import random
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

log = logging.getLogger(__name__)

_HASH_CHUNK = 1024 * 1024
_ERROR_BODY_LIMIT = 4096
#: Statuses under 500 that mean "try again later" rather than "you are wrong".
_RETRYABLE_4XX = frozenset({408, 429})

T = TypeVar("T")


class TransferError(Exception):
    """An upload failed; ``status`` is the HTTP status if the server answered."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        #: Seconds the server asked us to wait (``Retry-After``), if it did.
        self.retry_after: float | None = None


def resolve(base_url: str, url: str) -> str:
    """Make a presigned URL absolute: local-storage URLs are relative to the API root.

    ``base_url`` must end with ``/`` (``http://host/coordinator/api/v1/``) for the
    relative URL to land under it, as ``urljoin`` does for browsers.
    """
    return urljoin(base_url, url)


def sha256_file(path: Path | str) -> tuple[str, int]:
    """``(hex sha256, size)`` of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _connection(
    url: str, timeout: float, context: ssl.SSLContext | None
) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TransferError(
            f"cannot upload to {url[:200]!r}: not an absolute http(s) URL "
            "(resolve relative storage URLs against the coordinator URL first)"
        )
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=context
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    return conn, target


def _early_response(
    conn: http.client.HTTPConnection, host: str, send_error: OSError
) -> http.client.HTTPResponse:
    try:
        return conn.getresponse()
    except (OSError, http.client.HTTPException):
        raise TransferError(f"PUT to {host} failed: {send_error!r}", retryable=True) from send_error


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def put_range(
    url: str,
    path: Path | str,
    offset: int,
    length: int,
    *,
    timeout: float = 60.0,
    context: ssl.SSLContext | None = None,
    headers: dict[str, str] | None = None,
) -> str:
    """One PUT of ``length`` bytes of ``path`` from ``offset``; returns the ETag unquoted.

    ``headers`` are the plan's (a conditional ``If-None-Match``). Raises
    :class:`TransferError` with ``retryable`` set for failures worth retrying.
    """
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below; opened before connecting
    except OSError as exc:
        raise TransferError(f"cannot read {path}: {exc}") from exc
    conn, target = _connection(url, timeout, context)
    host = urlsplit(url).netloc
    try:
        with f:
            try:
                conn.putrequest("PUT", target, skip_host=False, skip_accept_encoding=True)
                conn.putheader("Content-Length", str(length))
                for name, value in (headers or {}).items():
                    conn.putheader(name, value)
                conn.endheaders()
                try:
                    sent = conn.sock.sendfile(f, offset, length) if length else 0
                except OSError as exc:
                    # Storage may refuse (403 expired URL) without reading the body and
                    # close the socket; its answer is then usually already in our receive
                    # buffer, and it decides whether a retry can help.
                    response = _early_response(conn, host, exc)
                else:
                    if sent != length:
                        raise TransferError(
                            f"{path} shrank during upload: sent {sent} of {length} bytes "
                            f"from offset {offset}"
                        )
                    response = conn.getresponse()
                body = response.read(_ERROR_BODY_LIMIT)
            except (OSError, http.client.HTTPException) as exc:
                raise TransferError(f"PUT to {host} failed: {exc!r}", retryable=True) from exc
    finally:
        conn.close()
    status = response.status
    if 200 <= status < 300:
        etag = response.getheader("ETag")
        if not etag:
            raise TransferError(f"PUT to {host} answered {status} without an ETag", status=status)
        return etag.strip().strip('"')
    detail = body.decode("utf-8", "replace").strip()[:500]
    error = TransferError(
        f"PUT to {host} answered {status} {response.reason}: {detail}",
        status=status,
        retryable=status >= 500 or status in _RETRYABLE_4XX,
    )
    error.retry_after = _retry_after(response.getheader("Retry-After"))
    raise error


def _with_retries(
    attempt: Callable[[], T],
    what: str,
    *,
    retries: int,
    backoff: float,
    max_backoff: float,
    stop: threading.Event | None = None,
) -> T:
    """Run ``attempt`` up to ``retries + 1`` times with exponential backoff and jitter.

    Jitter spreads the retries of many agents that lost storage at the same moment,
    so they do not all come back in one thundering herd.
    """
    for n in range(retries + 1):
        if stop is not None and stop.is_set():
            raise TransferError(f"{what}: cancelled after another part failed")
        try:
            return attempt()
        except TransferError as exc:
            if not exc.retryable or n == retries:
                raise
            ceiling = min(max_backoff, backoff * (2**n))
            delay = ceiling / 2 + random.uniform(0, ceiling / 2)
            if exc.retry_after is not None:
                delay = min(max_backoff, max(delay, exc.retry_after))
            log.info("%s: %s; retry %d/%d in %.2fs", what, exc, n + 1, retries, delay)
            if stop is not None:
                stop.wait(delay)
            else:
                time.sleep(delay)
    raise AssertionError("unreachable")


def upload_single(
    url: str,
    path: Path | str,
    timeout: float = 60.0,
    *,
    retries: int = 5,
    backoff: float = 0.5,
    max_backoff: float = 20.0,
    context: ssl.SSLContext | None = None,
    headers: dict[str, str] | None = None,
) -> str:
    """PUT the whole file to one presigned URL; returns the ETag without quotes.

    With an exclusive URL, 412 means the object is stored already (an earlier try
    whose answer was lost): that is success, and the coordinator's checksum check at
    completion decides whether it is the right file. The ETag is then "".
    """
    size = os.path.getsize(path)

    def attempt() -> str:
        try:
            return put_range(url, path, 0, size, timeout=timeout, context=context, headers=headers)
        except TransferError as exc:
            if exc.status == 412 and headers is not None:
                return ""
            raise

    return _with_retries(
        attempt,
        f"upload of {path}",
        retries=retries,
        backoff=backoff,
        max_backoff=max_backoff,
    )


def upload_parts(
    parts: Sequence[tuple[int, str]],
    path: Path | str,
    part_size: int,
    *,
    workers: int = 4,
    retries: int = 5,
    backoff: float = 0.5,
    max_backoff: float = 20.0,
    timeout: float = 60.0,
    context: ssl.SSLContext | None = None,
) -> list[tuple[int, str]]:
    """PUT each ``(part_number, url)`` (1-based; part n starts at ``(n-1)*part_size``).

    Parts go up on ``workers`` threads, each streamed from disk. Returns
    ``[(part_number, etag), ...]`` sorted by part number, ready for completion.
    The first part that fails for good cancels the others and its error is raised.
    """
    if part_size <= 0:
        raise ValueError(f"part_size must be positive, got {part_size}")
    size = os.path.getsize(path)
    ranges: list[tuple[int, str, int, int]] = []
    for number, url in parts:
        offset = (number - 1) * part_size
        if number < 1 or (offset >= size and not (size == 0 and number == 1)):
            raise ValueError(
                f"part {number} starts at byte {offset}, beyond the end of {path} ({size} bytes)"
            )
        ranges.append((number, url, offset, min(part_size, size - offset)))

    stop = threading.Event()

    def send(number: int, url: str, offset: int, length: int) -> tuple[int, str]:
        etag = _with_retries(
            lambda: put_range(url, path, offset, length, timeout=timeout, context=context),
            f"part {number} of {path}",
            retries=retries,
            backoff=backoff,
            max_backoff=max_backoff,
            stop=stop,
        )
        return number, etag

    with ThreadPoolExecutor(
        max_workers=max(1, workers), thread_name_prefix="nsight-upload"
    ) as pool:
        futures = [pool.submit(send, *r) for r in ranges]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            stop.set()
            for f in futures:
                f.cancel()
            error = failed[0].exception()
            assert error is not None
            raise error
    return sorted(f.result() for f in futures)
