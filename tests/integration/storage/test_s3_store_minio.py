"""S3Store against a real MinIO, with uploads done the way agents do them.

Agents hold no credentials: every byte here goes up through presigned URLs with
``nsight_lab.agent.transfer`` and comes back through presigned GETs with urllib.
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from nsight_lab.agent.transfer import TransferError, sha256_file, upload_parts, upload_single
from nsight_lab.storage import MIN_PART_SIZE, ObjectNotFound, StorageError, verify_object
from nsight_lab.storage.s3 import S3Store
from tests.support.minio import MinioServer

pytestmark = pytest.mark.integration


@pytest.fixture
def store(minio_server: MinioServer) -> S3Store:
    return minio_server.s3_store()


@pytest.fixture
def prefix() -> str:
    """A fresh key prefix per test: the MinIO server is shared by the session."""
    return f"sessions/{uuid.uuid4().hex}/c1"


def write_random(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def fetch(url: str) -> tuple[bytes, str | None]:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return answer.read(), answer.headers.get("Content-Disposition")


def test_single_presigned_put_then_get(store: S3Store, prefix: str, tmp_path: Path) -> None:
    report = write_random(tmp_path / "report.nsys-rep", 1_500_000)
    key = f"{prefix}/train_default_0_report.nsys-rep"
    etag = upload_single(store.presign_put(key), report, timeout=30)
    assert etag == hashlib.md5(report.read_bytes()).hexdigest()

    digest, size = sha256_file(report)
    verify_object(store, key, size, digest)
    body, disposition = fetch(
        store.presign_get(key, download_name="train_default_0_report.nsys-rep")
    )
    assert body == report.read_bytes()
    assert disposition is not None
    assert 'filename="train_default_0_report.nsys-rep"' in disposition


def test_multipart_presigned_upload_assembles_the_file(
    store: S3Store, prefix: str, tmp_path: Path
) -> None:
    report = write_random(tmp_path / "big.nsys-rep", 2 * MIN_PART_SIZE + 12345)
    key = f"{prefix}/big.nsys-rep"
    upload_id = store.create_multipart(key)
    parts = [(n, store.presign_part(key, upload_id, n)) for n in (1, 2, 3)]
    etags = upload_parts(parts, report, MIN_PART_SIZE, workers=3)
    store.complete_multipart(key, upload_id, list(reversed(etags)))

    digest, size = sha256_file(report)
    verify_object(store, key, size, digest)
    info = store.head(key)
    assert info is not None and info.size == size
    body, disposition = fetch(store.presign_get(key))
    assert body == report.read_bytes()
    assert disposition is None


def test_completion_with_a_wrong_etag_fails_naming_the_key(
    store: S3Store, prefix: str, tmp_path: Path
) -> None:
    report = write_random(tmp_path / "r.bin", 1000)
    key = f"{prefix}/wrong-etag.bin"
    upload_id = store.create_multipart(key)
    upload_parts([(1, store.presign_part(key, upload_id, 1))], report, MIN_PART_SIZE)
    with pytest.raises(StorageError, match=f"completing upload {upload_id} of .*{key}"):
        store.complete_multipart(key, upload_id, [(1, hashlib.md5(b"other").hexdigest())])
    store.abort_multipart(key, upload_id)
    store.abort_multipart(key, upload_id)  # aborting twice is harmless
    with pytest.raises(ObjectNotFound):
        store.complete_multipart(key, upload_id, [(1, "0" * 32)])


def test_head_list_read_delete(store: S3Store, prefix: str, tmp_path: Path) -> None:
    assert store.head(f"{prefix}/missing") is None
    with pytest.raises(ObjectNotFound, match="missing"):
        store.open_read(f"{prefix}/missing")

    store.put_bytes(f"{prefix}/a.txt", b"alpha")
    big = write_random(tmp_path / "b.bin", 3 * 1024 * 1024)
    assert store.put_file(f"{prefix}/b.bin", big).size == 3 * 1024 * 1024
    assert [(o.key, o.size) for o in store.list(prefix + "/")] == [
        (f"{prefix}/a.txt", 5),
        (f"{prefix}/b.bin", 3 * 1024 * 1024),
    ]
    stream = store.open_read(f"{prefix}/a.txt")
    try:
        assert stream.read() == b"alpha"
    finally:
        stream.close()

    store.delete(f"{prefix}/a.txt")
    store.delete(f"{prefix}/a.txt")
    assert [o.key for o in store.list(prefix + "/")] == [f"{prefix}/b.bin"]


def test_put_file_goes_multipart_for_large_files(
    minio_server: MinioServer, prefix: str, tmp_path: Path
) -> None:
    from boto3.s3.transfer import TransferConfig

    store = S3Store(
        minio_server.bucket,
        minio_server.client(),
        transfer_config=TransferConfig(
            multipart_threshold=MIN_PART_SIZE, multipart_chunksize=MIN_PART_SIZE
        ),
    )
    big = write_random(tmp_path / "big.bin", 2 * MIN_PART_SIZE + 1)
    store.put_file(f"{prefix}/big.bin", big)
    digest, size = sha256_file(big)
    verify_object(store, f"{prefix}/big.bin", size, digest)
    # A multipart object's ETag is "<md5 of part md5s>-<count>".
    head = minio_server.client().head_object(Bucket=minio_server.bucket, Key=f"{prefix}/big.bin")
    assert head["ETag"].strip('"').endswith("-3")


def test_verify_rejects_a_truncated_upload(store: S3Store, prefix: str, tmp_path: Path) -> None:
    report = write_random(tmp_path / "r.bin", 200_000)
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(report.read_bytes()[:-100])
    key = f"{prefix}/truncated.bin"
    upload_single(store.presign_put(key), truncated)
    digest, size = sha256_file(report)
    with pytest.raises(StorageError, match=f"{key}.*expected 200000 bytes, found 199900"):
        verify_object(store, key, size, digest)


def test_verify_rejects_an_altered_upload(store: S3Store, prefix: str, tmp_path: Path) -> None:
    report = write_random(tmp_path / "r.bin", 200_000)
    data = bytearray(report.read_bytes())
    data[100_000] ^= 0x01
    altered = tmp_path / "altered.bin"
    altered.write_bytes(bytes(data))
    key = f"{prefix}/altered.bin"
    upload_single(store.presign_put(key), altered)
    digest, size = sha256_file(report)
    with pytest.raises(StorageError, match=f"{key}.*expected sha256 {digest}, found "):
        verify_object(store, key, size, digest)


def test_an_expired_presigned_put_is_refused_without_retries(
    store: S3Store, prefix: str, tmp_path: Path
) -> None:
    report = write_random(tmp_path / "r.bin", 1000)
    url = store.presign_put(f"{prefix}/late.bin", expires_s=1)
    time.sleep(2.1)
    with pytest.raises(TransferError, match="answered 403") as info:
        upload_single(url, report, retries=5, backoff=5.0)
    assert info.value.status == 403
    assert store.head(f"{prefix}/late.bin") is None


def test_a_tampered_presigned_get_is_refused(store: S3Store, prefix: str) -> None:
    store.put_bytes(f"{prefix}/secret.bin", b"s")
    url = store.presign_get(f"{prefix}/secret.bin").replace("secret.bin", "other.bin")
    with pytest.raises(urllib.error.HTTPError) as info:
        fetch(url)
    assert info.value.code == 403


def test_ensure_bucket_creates_once_and_is_idempotent(minio_server: MinioServer) -> None:
    name = f"nsight-test-{uuid.uuid4().hex[:12]}"
    store = minio_server.s3_store(name)
    store.ensure_bucket()
    store.ensure_bucket()
    store.put_bytes("x", b"1")
    assert [o.key for o in store.list()] == ["x"]


def test_an_exclusive_put_url_never_replaces_a_stored_object(
    store: S3Store, prefix: str, tmp_path: Path
) -> None:
    """MinIO honours the signed ``If-None-Match: *``: a replayed URL gets 412 (which
    the agent takes as "already stored"), and leaving the header out breaks the
    signature."""
    first = write_random(tmp_path / "first.bin", 200_000)
    second = write_random(tmp_path / "second.bin", 200_000)
    key = f"{prefix}/exclusive.nsys-rep"
    url = store.presign_put(key, exclusive=True)
    headers = store.exclusive_put_headers()
    assert upload_single(url, first, timeout=30, headers=headers)
    assert upload_single(url, second, timeout=30, headers=headers) == ""
    with pytest.raises(TransferError) as refused:
        upload_single(url, second, timeout=30, retries=0)
    assert refused.value.status in (400, 403)  # MinIO: the signed header is missing
    body, _ = fetch(store.presign_get(key))
    assert body == first.read_bytes()
