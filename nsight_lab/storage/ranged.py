"""Random access to a stored object by byte ranges: S3 GETs, or a presigned URL.

Arrow reads a Parquet file by seeking: the footer at the end, then only the column
chunks a query asks for. Over the network each read becomes one ranged GET, so a
reader wanting three columns of one row group fetches those bytes of a gigabyte
file and nothing else. Reads are rounded up to ``min_fetch`` bytes and the last
block is kept, which folds Arrow's small sequential reads (page headers, the footer
length then the footer) into one request.

Presigned URLs are how a process without storage credentials (a Dask worker, the
JupyterLab server extension) reads a converted trace: :class:`UrlFiles` maps each
file name of the trace to its URL and satisfies
:class:`nsight_lab.trace.converted.TraceFiles`.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin

import httpx

from nsight_lab.storage.base import ObjectNotFound, StorageError

#: Smallest ranged GET: one round trip for a footer, or for a page header and its page.
MIN_FETCH = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes \d+-\d+/(\d+)")

Fetch = Callable[[int, int], bytes]
"""fetch(start, stop) -> the object's bytes [start, stop)."""


class RangedReader(io.RawIOBase):
    """A read-only, seekable file whose bytes come from ``fetch`` on demand."""

    def __init__(self, size: int, fetch: Fetch, *, name: str = "", min_fetch: int = MIN_FETCH):
        super().__init__()
        self.size = size
        self.name = name
        self._fetch = fetch
        self._min_fetch = min_fetch
        self._pos = 0
        self._block_start = 0
        self._block = b""
        self._lock = threading.Lock()
        #: Ranged GETs made so far (tests and benchmarks read it).
        self.fetches = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        target = base + offset
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        self._pos = target
        return target

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        with self._lock:
            start = self._pos
            want = min(len(view), max(0, self.size - start))
            if want == 0:
                return 0
            end = start + want
            block_end = self._block_start + len(self._block)
            if not (self._block_start <= start and end <= block_end):
                stop = min(self.size, max(end, start + self._min_fetch))
                data = self._fetch(start, stop)
                self.fetches += 1
                if len(data) != stop - start:
                    raise StorageError(
                        f"{self.name}: asked for bytes {start}-{stop - 1}, got {len(data)} bytes"
                    )
                self._block_start, self._block = start, data
            offset = start - self._block_start
            view[:want] = self._block[offset : offset + want]
            self._pos = end
            return want

    def readall(self) -> bytes:
        return self.read(max(0, self.size - self._pos))

    def __repr__(self) -> str:
        return f"RangedReader({self.name!r}, {self.size} bytes)"


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code in (200, 206):
        return
    if response.status_code == 404:
        raise ObjectNotFound(f"{what}: not found (HTTP 404)")
    if response.status_code in (401, 403):
        raise StorageError(
            f"{what}: refused (HTTP {response.status_code}); the presigned URL expired or is "
            "not valid: ask the analysis service for fresh ones"
        )
    raise StorageError(f"{what}: HTTP {response.status_code}: {response.text[:200]}")


def _redact(url: str) -> str:
    """A URL fit for an error message: its signature is a credential."""
    return url.split("?", 1)[0]


def open_url(url: str, client: httpx.Client) -> RangedReader:
    """A :class:`RangedReader` over the object behind a presigned GET ``url``."""
    what = _redact(url)
    try:
        first = client.get(url, headers={"Range": "bytes=0-0"})
    except httpx.HTTPError as exc:
        raise StorageError(f"{what}: {exc}") from exc
    _check(first, what)
    match = _CONTENT_RANGE.match(first.headers.get("content-range", ""))
    if first.status_code != 206 or match is None:
        raise StorageError(
            f"{what}: the server does not serve byte ranges (HTTP {first.status_code})"
        )
    size = int(match.group(1))

    def fetch(start: int, stop: int) -> bytes:
        try:
            answer = client.get(url, headers={"Range": f"bytes={start}-{stop - 1}"})
        except httpx.HTTPError as exc:
            raise StorageError(f"{what}: {exc}") from exc
        _check(answer, what)
        return answer.content

    return RangedReader(size, fetch, name=what)


class UrlFiles:
    """Files of one converted trace behind presigned URLs: ``{file name: url}``.

    Relative URLs (the local-folder backend signs them relative to the service's API
    root) are resolved against ``base_url``. Picklable, so it travels to Dask
    workers; each process opens its own HTTP connection pool on first use.
    """

    def __init__(self, urls: Mapping[str, str], *, base_url: str | None = None) -> None:
        self.urls = {
            name: urljoin(base_url, url) if base_url else url for name, url in urls.items()
        }
        self._client: httpx.Client | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"urls": self.urls}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.urls = state["urls"]
        self._client = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0))
        return self._client

    def _url(self, name: str) -> str:
        try:
            return self.urls[name]
        except KeyError:
            raise FileNotFoundError(f"no URL for {name!r} (have {sorted(self.urls)})") from None

    def open(self, name: str) -> RangedReader:
        try:
            return open_url(self._url(name), self.client)
        except ObjectNotFound as exc:
            raise FileNotFoundError(str(exc)) from exc

    def read_bytes(self, name: str) -> bytes:
        url = self._url(name)
        try:
            answer = self.client.get(url)
        except httpx.HTTPError as exc:
            raise StorageError(f"{_redact(url)}: {exc}") from exc
        try:
            _check(answer, _redact(url))
        except ObjectNotFound as exc:
            raise FileNotFoundError(str(exc)) from exc
        return answer.content

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __repr__(self) -> str:
        some = next(iter(self.urls.values()), "")
        return f"UrlFiles({_redact(some).rsplit('/', 1)[0]}/...)"
