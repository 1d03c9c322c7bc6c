"""Agent uploads (stdlib, presigned parts) against boto3's own TransferManager, like for like.

The agent cannot use boto3 (it runs inside profiled processes and holds no
credentials), so its presigned multipart path must not be the slow way to move a
multi-GiB nsys report. This starts a real MinIO on loopback, writes a random file,
and alternates:

  (a) the agent's path: ``sha256_file`` of the report (the agent hashes every report
      once, for the coordinator's check, before uploading), then
      S3Store.create_multipart, presign every part, PUT them on worker threads
      (``upload_parts``), complete; the whole sequence is timed;
  (b) boto3 ``upload_file`` with a TransferConfig of the same part size and concurrency.

Both sides do the same hashing work (``--hashing``):
  both    (default) the agent's SHA-256 of the file is timed, and boto3 SHA-256 signs
          every part's payload (``payload_signing_enabled=True``): one SHA-256 pass each;
  neither the agent skips its hash; boto3 sends UNSIGNED-PAYLOAD
          (``payload_signing_enabled=False``).
In both modes boto3's CRC checksums are off (``request_checksum_calculation=
"when_required"``), since the agent computes none.

Prints the median of ``--runs`` runs each, MiB/s, the ratio a/b (target >= 0.8) and
the machine. Run: ``python benchmarks/bench_upload_multipart.py [--size-mib 256]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import boto3  # noqa: E402
from boto3.s3.transfer import TransferConfig  # noqa: E402
from botocore.config import Config  # noqa: E402

from nsight_lab.agent.transfer import sha256_file, upload_parts  # noqa: E402
from nsight_lab.storage.base import DEFAULT_PART_SIZE  # noqa: E402
from nsight_lab.storage.s3 import S3Store  # noqa: E402
from tests.support.minio import MinioServer, find_minio_binary  # noqa: E402

MIB = 1024 * 1024


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def make_file(path: Path, size: int) -> None:
    """Random bytes, so neither side gains from compression or zero-page tricks."""
    block = 16 * MIB
    with path.open("wb") as f:
        left = size
        while left:
            n = min(block, left)
            f.write(os.urandom(n))
            left -= n


def run_agent(
    store: S3Store, path: Path, key: str, part_size: int, workers: int, hashing: bool
) -> float:
    size = path.stat().st_size
    count = max(1, -(-size // part_size))
    started = time.perf_counter()
    if hashing:
        sha256_file(path)
    upload_id = store.create_multipart(key)
    parts = [(n, store.presign_part(key, upload_id, n)) for n in range(1, count + 1)]
    etags = upload_parts(parts, path, part_size, workers=workers)
    store.complete_multipart(key, upload_id, etags)
    return time.perf_counter() - started


def boto3_client(minio: MinioServer, hashing: bool, workers: int) -> Any:
    """A client for the MinIO with the payload hashing chosen, and no extra CRC checksums."""
    config = Config(
        signature_version="s3v4",
        s3={"payload_signing_enabled": hashing, "addressing_style": "path"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        max_pool_connections=max(16, workers),
    )
    return boto3.client(
        "s3",
        endpoint_url=minio.endpoint_url,
        aws_access_key_id=minio.access_key,
        aws_secret_access_key=minio.secret_key,
        region_name="us-east-1",
        config=config,
    )


def run_boto3(
    minio: MinioServer, path: Path, key: str, part_size: int, workers: int, hashing: bool
) -> float:
    client = boto3_client(minio, hashing, workers)
    config = TransferConfig(
        multipart_threshold=part_size,
        multipart_chunksize=part_size,
        max_concurrency=workers,
        use_threads=True,
    )
    started = time.perf_counter()
    client.upload_file(str(path), minio.bucket, key, Config=config)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each method (median reported)")
    parser.add_argument("--size-mib", type=int, default=1024, help="file size in MiB")
    parser.add_argument(
        "--part-mib",
        type=int,
        default=DEFAULT_PART_SIZE // MIB,
        help="part size in MiB, both methods (default: what the coordinator hands agents)",
    )
    parser.add_argument("--workers", type=int, default=4, help="parallel parts, both methods")
    parser.add_argument(
        "--hashing",
        choices=["both", "neither"],
        default="both",
        help="both: the agent's sha256 and boto3's signed payloads; neither: no hashing",
    )
    args = parser.parse_args()
    hashing = args.hashing == "both"
    if find_minio_binary() is None:
        sys.exit("MinIO binary not found: run scripts/install-minio.sh or set NSIGHT_LAB_MINIO")

    size = args.size_mib * MIB
    part_size = args.part_mib * MIB
    print(
        f"machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {platform.python_version()}, "
        f"boto3 {boto3.__version__}"
    )
    print(
        f"file: {args.size_mib} MiB random; parts {args.part_mib} MiB; {args.workers} workers; "
        f"{args.runs} runs each, alternating; MinIO on 127.0.0.1 (same machine); hashing: "
        + ("agent sha256 + boto3 signed payloads" if hashing else "none on either side")
    )

    with tempfile.TemporaryDirectory(prefix="nsight-bench-") as tmp, MinioServer() as minio:
        path = Path(tmp) / "report.bin"
        make_file(path, size)
        store = minio.s3_store()
        times: dict[str, list[float]] = {"agent": [], "boto3": []}
        for i in range(args.runs):
            # Alternate which goes first so page-cache and MinIO warm-up favour neither.
            order = ["agent", "boto3"] if i % 2 == 0 else ["boto3", "agent"]
            for method in order:
                key = f"bench/{method}-{i}.bin"
                if method == "agent":
                    seconds = run_agent(store, path, key, part_size, args.workers, hashing)
                else:
                    seconds = run_boto3(minio, path, key, part_size, args.workers, hashing)
                info = store.head(key)
                if info is None or info.size != size:
                    sys.exit(f"{method} run {i}: stored object has the wrong size: {info}")
                store.delete(key)
                times[method].append(seconds)
                print(
                    f"  run {i + 1} {method:5s}: {seconds:6.2f} s  {size / MIB / seconds:7.1f} MiB/s"
                )

    median = {m: statistics.median(t) for m, t in times.items()}
    rate = {m: size / MIB / s for m, s in median.items()}
    print(
        f"(a) agent {'sha256 + ' if hashing else ''}upload_parts (presigned, stdlib): "
        f"median {median['agent']:.2f} s = "
        f"{rate['agent']:.1f} MiB/s"
    )
    print(
        f"(b) boto3 TransferManager upload_file:      median {median['boto3']:.2f} s = "
        f"{rate['boto3']:.1f} MiB/s"
    )
    ratio = rate["agent"] / rate["boto3"]
    print(f"ratio a/b: {ratio:.2f} (target >= 0.8) {'OK' if ratio >= 0.8 else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
