"""End-to-end fixtures: a real ``nsight-lab up`` on real MinIO, real workloads, the CLI."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.minio import MinioServer
from tests.support.stack import Cli, UpServer, Workload, wait_until

_buckets = itertools.count()


@pytest.fixture
def stack(tmp_path: Path, minio_server: MinioServer) -> Iterator[UpServer]:
    """``nsight-lab up`` with its own bucket on the session's MinIO."""
    bucket = f"e2e-{next(_buckets)}"
    minio_server.s3_store(bucket).ensure_bucket()
    server = UpServer(tmp_path / "up", minio_server, bucket).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cli(stack: UpServer, tmp_path: Path) -> Cli:
    return Cli(stack.url, tmp_path)


def start_workloads(
    stack: UpServer, cli: Cli, tag: str, count: int, **kwargs: object
) -> list[Workload]:
    kwargs.setdefault("process_name", "trainer")
    workloads = [Workload(stack.url, tag, f"w{i}", **kwargs) for i in range(count)]  # type: ignore[arg-type]
    wait_until(
        lambda: (
            len([a for a in cli.json("--tag", tag, "status")["agents"] if a["state"] == "ONLINE"])
            >= count
        ),
        60,
        f"{count} agents online on tag {tag}",
    )
    return workloads
