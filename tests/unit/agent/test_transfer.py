"""agent/transfer.py: standard-library uploads that survive a flaky storage server.

The server here is a real ``http.server`` on loopback (not a mock of the transfer
code): it reads every body off the socket, answers with the MD5 as ETag as S3 does,
and can be told to fail its first requests with a chosen status.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from nsight_lab.agent.transfer import (
    TransferError,
    resolve,
    sha256_file,
    upload_parts,
    upload_single,
)
from tests.support.minio import free_port


class StorageStandIn(ThreadingHTTPServer):
    """Accepts PUTs, keeps bodies by path, fails the first ``fail_first`` requests."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.bodies: dict[str, bytes] = {}
        self.requests = 0
        self.fail_first = 0
        self.fail_status = 503
        self.retry_after: str | None = None
        #: Answer this status at once, without reading the body, and hang up, as
        #: storage does with an expired URL.
        self.refuse_unread: int | None = None
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: StorageStandIn
    protocol_version = "HTTP/1.1"

    def do_PUT(self) -> None:
        if self.server.refuse_unread is not None:
            with self.server.lock:
                self.server.requests += 1
            payload = (
                b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
            )
            self.send_response(self.server.refuse_unread)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
            self.close_connection = True
            return
        length = int(self.headers["Content-Length"])
        body = self.rfile.read(length)
        with self.server.lock:
            self.server.requests += 1
            failing = self.server.requests <= self.server.fail_first
            if not failing:
                self.server.bodies[self.path] = body
        if failing:
            self.send_response(self.server.fail_status)
            if self.server.retry_after is not None:
                self.send_header("Retry-After", self.server.retry_after)
            payload = b"<Error><Code>SlowDown</Code></Error>"
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        self.send_response(200)
        self.send_header("ETag", f'"{hashlib.md5(body).hexdigest()}"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[StorageStandIn]:
    srv = StorageStandIn()
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.nsys-rep"
    path.write_bytes(os.urandom(2 * 1024 * 1024 + 123))
    return path


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_sha256_file_matches_hashlib(report: Path) -> None:
    data = report.read_bytes()
    assert sha256_file(report) == (hashlib.sha256(data).hexdigest(), len(data))


def test_relative_local_storage_urls_resolve_under_the_api_root() -> None:
    api = "http://gw:8888/coordinator/api/v1/"
    assert resolve(api, "storage/o/a/b?exp=1&sig=2") == (
        "http://gw:8888/coordinator/api/v1/storage/o/a/b?exp=1&sig=2"
    )
    absolute = "http://minio:9000/bucket/a?X-Amz-Signature=1"
    assert resolve(api, absolute) == absolute


def test_a_relative_url_is_refused_with_a_hint(report: Path) -> None:
    with pytest.raises(TransferError, match="resolve relative storage URLs"):
        upload_single("storage/o/a?exp=1&sig=2", report, retries=0)


def test_single_upload_sends_the_file_and_returns_the_unquoted_etag(
    server: StorageStandIn, report: Path
) -> None:
    etag = upload_single(f"{server.url}/bucket/key?sig=abc", report)
    assert server.bodies["/bucket/key?sig=abc"] == report.read_bytes()
    assert etag == md5(report.read_bytes())


def test_an_empty_file_uploads(server: StorageStandIn, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert upload_single(f"{server.url}/e", empty) == md5(b"")
    assert upload_parts([(1, f"{server.url}/p1")], empty, 1024) == [(1, md5(b""))]


def test_parts_stream_their_byte_ranges_in_parallel(server: StorageStandIn, report: Path) -> None:
    part_size = 512 * 1024
    data = report.read_bytes()
    count = -(-len(data) // part_size)
    parts = [(n, f"{server.url}/obj?part={n}") for n in range(count, 0, -1)]
    etags = upload_parts(parts, report, part_size, workers=3)
    assert [n for n, _ in etags] == list(range(1, count + 1))
    for n, etag in etags:
        chunk = data[(n - 1) * part_size : n * part_size]
        assert server.bodies[f"/obj?part={n}"] == chunk
        assert etag == md5(chunk)


def test_503_is_retried_until_the_server_recovers(server: StorageStandIn, report: Path) -> None:
    server.fail_first = 3
    etag = upload_single(f"{server.url}/k", report, retries=5, backoff=0.01)
    assert server.requests == 4
    assert etag == md5(report.read_bytes())


@pytest.mark.parametrize("status", [408, 429, 500, 502])
def test_retryable_statuses(server: StorageStandIn, report: Path, status: int) -> None:
    server.fail_first, server.fail_status = 1, status
    upload_single(f"{server.url}/k", report, retries=2, backoff=0.01)
    assert server.requests == 2


def test_retry_after_is_honoured(server: StorageStandIn, report: Path) -> None:
    server.fail_first, server.fail_status, server.retry_after = 1, 429, "0.5"
    started = time.monotonic()
    upload_single(f"{server.url}/k", report, retries=2, backoff=0.001)
    assert time.monotonic() - started >= 0.5


@pytest.mark.parametrize("status", [400, 403, 404])
def test_client_errors_are_not_retried(server: StorageStandIn, report: Path, status: int) -> None:
    server.fail_first, server.fail_status = 10, status
    with pytest.raises(TransferError, match=f"answered {status}.*SlowDown") as info:
        upload_single(f"{server.url}/k", report, retries=5, backoff=0.01)
    assert info.value.status == status
    assert server.requests == 1


def test_a_refusal_before_the_body_is_read_is_reported_not_retried(
    server: StorageStandIn, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(48 * 1024 * 1024))
    server.refuse_unread = 403
    with pytest.raises(TransferError, match=r"answered 403.*Request has expired") as info:
        upload_single(f"{server.url}/k", big, retries=3, backoff=0.01)
    assert info.value.status == 403
    assert server.requests == 1


def test_giving_up_after_the_retry_budget(server: StorageStandIn, report: Path) -> None:
    server.fail_first = 100
    with pytest.raises(TransferError, match="answered 503") as info:
        upload_single(f"{server.url}/k", report, retries=2, backoff=0.01)
    assert info.value.retryable
    assert server.requests == 3


def test_connection_refused_is_retried_then_reported(report: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}/k"
    started = time.monotonic()
    with pytest.raises(TransferError, match="ConnectionRefusedError"):
        upload_single(closed, report, retries=3, backoff=0.05)
    # Three backoffs of at least 0.025, 0.05 and 0.1 s: it did wait between tries.
    assert time.monotonic() - started >= 0.175


def test_a_part_that_fails_for_good_fails_the_upload(server: StorageStandIn, report: Path) -> None:
    server.fail_first, server.fail_status = 1, 403
    parts = [(n, f"{server.url}/obj?part={n}") for n in (1, 2, 3)]
    with pytest.raises(TransferError, match="answered 403"):
        upload_parts(parts, report, 1024 * 1024, workers=1, retries=3)


def test_part_numbers_beyond_the_file_are_refused(report: Path) -> None:
    with pytest.raises(ValueError, match="part 4 starts at byte"):
        upload_parts([(4, "http://127.0.0.1:1/x")], report, 1024 * 1024)
    with pytest.raises(ValueError, match="part 0 starts"):
        upload_parts([(0, "http://127.0.0.1:1/x")], report, 1024 * 1024)


def test_an_unreadable_file_is_reported_without_retrying(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        upload_single("http://127.0.0.1:1/x", tmp_path / "missing")


def test_transfer_imports_only_the_standard_library(repo_root: Path) -> None:
    """It is loaded into profiled processes whose environment we do not own."""
    probe = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import nsight_lab.agent.transfer\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(sorted(new - set(sys.stdlib_module_names) - {'nsight_lab'}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=repo_root,
        env={**os.environ, "PYTHONPATH": str(repo_root)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == "[]"
