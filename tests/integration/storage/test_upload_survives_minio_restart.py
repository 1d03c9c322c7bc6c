"""An agent's multipart upload rides out storage going away and coming back.

This test owns its MinIO (the session's shared one must not vanish under other
tests): it uploads the first part, stops MinIO, starts the remaining parts while
nothing listens, restarts MinIO on the same port and data folder, and expects the
retries to finish the upload and the part sent before the outage to still count.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from nsight_lab.agent.transfer import sha256_file, upload_parts
from nsight_lab.storage import MIN_PART_SIZE, verify_object
from tests.support.minio import MinioServer

pytestmark = [pytest.mark.integration]


@pytest.fixture(autouse=True)
def _needs_minio(minio_server: MinioServer) -> None:
    """Same rule as every MinIO test: skip on a laptop without it, fail under CI."""


def test_upload_resumes_after_minio_restarts(tmp_path: Path) -> None:
    report = tmp_path / "report.nsys-rep"
    report.write_bytes(os.urandom(3 * MIN_PART_SIZE + 999))
    key = "sessions/s/c/report.nsys-rep"

    with MinioServer() as minio:
        store = minio.s3_store()
        upload_id = store.create_multipart(key)
        urls = {n: store.presign_part(key, upload_id, n) for n in (1, 2, 3, 4)}
        before = upload_parts([(1, urls[1])], report, MIN_PART_SIZE)

        minio.stop()
        result: dict[str, object] = {}

        def finish() -> None:
            try:
                result["etags"] = upload_parts(
                    [(n, urls[n]) for n in (2, 3, 4)],
                    report,
                    MIN_PART_SIZE,
                    workers=2,
                    retries=12,
                    backoff=0.2,
                    max_backoff=2.0,
                )
            except Exception as exc:  # surfaced by the assertion below
                result["error"] = exc

        uploader = threading.Thread(target=finish)
        uploader.start()
        time.sleep(1.0)
        assert uploader.is_alive(), f"uploader gave up while MinIO was down: {result}"
        minio.start()
        uploader.join(timeout=60)

        assert "error" not in result, result.get("error")
        after = result["etags"]
        assert isinstance(after, list)
        store.complete_multipart(key, upload_id, before + after)
        digest, size = sha256_file(report)
        verify_object(store, key, size, digest)
