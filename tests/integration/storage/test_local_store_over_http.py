"""The local backend end to end: agent transfer -> relative URLs -> an HTTP route -> LocalStore.

The route here is a minimal real ``http.server`` mounted at ``/coordinator/api/v1/``
that does what the coordinator's ``/storage/o/{key}`` route must do: percent-decode
the key, hand key and query to ``LocalStore``, map its errors to 400/403/404, and
answer PUTs with the ETag header. It shows the contract holds over a socket.
"""

from __future__ import annotations

import hashlib
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from nsight_lab.agent.transfer import (
    TransferError,
    resolve,
    sha256_file,
    upload_parts,
    upload_single,
)
from nsight_lab.storage import (
    InvalidKey,
    LocalStore,
    ObjectNotFound,
    SignatureError,
    StorageError,
    verify_object,
)

pytestmark = pytest.mark.integration

API_PREFIX = "/coordinator/api/v1/"
ROUTE = API_PREFIX + "storage/o/"
PART = 256 * 1024


class _Route(BaseHTTPRequestHandler):
    store: LocalStore
    protocol_version = "HTTP/1.1"

    def _target(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        if not parts.path.startswith(ROUTE):
            raise ObjectNotFound(f"no route {parts.path}")
        return unquote(parts.path[len(ROUTE) :]), dict(parse_qsl(parts.query))

    def _error(self, exc: StorageError) -> None:
        status = {InvalidKey: 400, SignatureError: 403, ObjectNotFound: 404}.get(type(exc), 400)
        body = str(exc).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        remaining = int(self.headers["Content-Length"])
        try:
            key, query = self._target()
            with self.store.open_put(key, query) as writer:
                while remaining:
                    chunk = self.rfile.read(min(remaining, 1 << 20))
                    writer.write(chunk)
                    remaining -= len(chunk)
                etag = writer.commit()
        except StorageError as exc:
            self.rfile.read(remaining)
            self._error(exc)
            return
        self.send_response(200)
        self.send_header("ETag", f'"{etag}"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        try:
            key, query = self._target()
            path = self.store.handle_get(key, query)
        except StorageError as exc:
            self._error(exc)
            return
        data = path.read_bytes()
        self.send_response(200)
        disposition = self.store.download_disposition(query)
        if disposition:
            self.send_header("Content-Disposition", disposition)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[LocalStore, str]]:
    store = LocalStore(tmp_path / "objects", os.urandom(32), min_part_size=PART)
    handler = type("Route", (_Route,), {"store": store})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield store, f"http://127.0.0.1:{server.server_address[1]}{API_PREFIX}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_multipart_upload_and_download_through_relative_urls(
    served: tuple[LocalStore, str], tmp_path: Path
) -> None:
    store, api_root = served
    report = tmp_path / "report.nsys-rep"
    report.write_bytes(os.urandom(3 * PART + 77))
    key = "sessions/s1/c1/train default_0.nsys-rep"

    upload_id = store.create_multipart(key)
    parts = [(n, resolve(api_root, store.presign_part(key, upload_id, n))) for n in (1, 2, 3, 4)]
    etags = upload_parts(parts, report, PART, workers=2)
    store.complete_multipart(key, upload_id, etags)
    digest, size = sha256_file(report)
    verify_object(store, key, size, digest)

    url = resolve(api_root, store.presign_get(key, download_name="train default_0.nsys-rep"))
    with urllib.request.urlopen(url, timeout=30) as answer:
        assert answer.read() == report.read_bytes()
        assert 'filename="train default_0.nsys-rep"' in answer.headers["Content-Disposition"]


def test_single_put_returns_the_md5_etag(served: tuple[LocalStore, str], tmp_path: Path) -> None:
    store, api_root = served
    report = tmp_path / "r.bin"
    report.write_bytes(b"hello")
    etag = upload_single(resolve(api_root, store.presign_put("k/r.bin")), report)
    assert etag == hashlib.md5(b"hello").hexdigest()


def test_tampered_url_is_403_and_not_retried(
    served: tuple[LocalStore, str], tmp_path: Path
) -> None:
    store, api_root = served
    report = tmp_path / "r.bin"
    report.write_bytes(b"hello")
    url = resolve(api_root, store.presign_put("k/r.bin")).replace("k/r.bin", "k/x.bin")
    with pytest.raises(TransferError, match=r"answered 403.*bad signature") as info:
        upload_single(url, report, retries=5, backoff=5.0)
    assert info.value.status == 403
    assert list(store.list()) == []


def test_path_trick_is_400(served: tuple[LocalStore, str]) -> None:
    _, api_root = served
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(api_root + "storage/o/%2E%2E/etc/passwd?exp=1&sig=00", timeout=30)
    assert info.value.code == 400
