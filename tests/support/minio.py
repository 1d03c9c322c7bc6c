"""A real MinIO server on loopback for tests and benchmarks.

Storage tests run against the real server, not a mock of S3, because the behaviour
that matters (presigned URL signing, multipart assembly, ETags, path-style addressing,
what happens when storage disappears mid-upload) is exactly what mocks get wrong.
The server can be stopped and started again on the same ports and data folder so
fault tests can pull storage away under a running upload.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from nsight_lab.storage.config import StorageConfig
from nsight_lab.storage.s3 import S3Store, make_client

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ROOT_USER = "nsightlab"
ROOT_PASSWORD = "nsightlab-secret-key"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def find_minio_binary() -> Path | None:
    """``$NSIGHT_LAB_MINIO``, else the cache folder ``scripts/install-minio.sh`` builds into, else PATH."""
    explicit = os.environ.get("NSIGHT_LAB_MINIO")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    cache = Path(os.environ.get("NSIGHT_LAB_CACHE") or Path.home() / ".cache" / "nsight-lab")
    built = cache / "bin" / "minio"
    if built.is_file():
        return built
    on_path = shutil.which("minio")
    return Path(on_path) if on_path else None


def minio_missing_reason() -> str | None:
    """Why MinIO tests cannot run here, or None. Under CI the binary is installed by
    ``scripts/bootstrap.sh --dev``, so its absence is a failure, not a skip."""
    if find_minio_binary() is not None:
        return None
    return "MinIO binary not found: run scripts/install-minio.sh or set NSIGHT_LAB_MINIO"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MinioServer:
    """``with MinioServer() as m:`` runs MinIO with bucket ``m.bucket`` until the block ends."""

    def __init__(
        self,
        binary: Path | None = None,
        *,
        bucket: str = "nsight-reports",
        data_dir: Path | None = None,
    ) -> None:
        found = binary or find_minio_binary()
        if found is None:
            raise FileNotFoundError(
                "MinIO binary not found: run scripts/install-minio.sh or set NSIGHT_LAB_MINIO"
            )
        self.binary = found
        self.bucket = bucket
        self._own_dir = data_dir is None
        self.base_dir = (
            Path(tempfile.mkdtemp(prefix="nsight-minio-")) if data_dir is None else data_dir
        )
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / "minio.log"
        self.port = free_port()
        self.console_port = free_port()
        self.access_key = ROOT_USER
        self.secret_key = ROOT_PASSWORD
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start (or restart, same ports and data) and wait until MinIO answers."""
        if self.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "MINIO_ROOT_USER": self.access_key,
            "MINIO_ROOT_PASSWORD": self.secret_key,
            "MINIO_UPDATE": "off",
            "MINIO_BROWSER": "off",
        }
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    str(self.binary),
                    "server",
                    str(self.data_dir),
                    "--address",
                    f"127.0.0.1:{self.port}",
                    "--console-address",
                    f"127.0.0.1:{self.console_port}",
                    "--quiet",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self._wait_live()
        self.s3_store().ensure_bucket()

    def _wait_live(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        url = f"{self.endpoint_url}/minio/health/live"
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"MinIO exited during start-up; log:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1.0) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"MinIO did not become live within {START_TIMEOUT_S}s; log:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Terminate (then kill); the data folder stays for a later :meth:`start`."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def client(self) -> S3Client:
        return make_client(
            endpoint_url=self.endpoint_url,
            access_key=self.access_key,
            secret_key=self.secret_key,
            region="us-east-1",
        )

    def storage_config(self, bucket: str | None = None) -> StorageConfig:
        return StorageConfig(
            storage_type="s3",
            bucket_name=bucket or self.bucket,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            endpoint_url=self.endpoint_url,
        )

    def s3_store(self, bucket: str | None = None) -> S3Store:
        return S3Store.from_config(self.storage_config(bucket))

    def __enter__(self) -> MinioServer:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
