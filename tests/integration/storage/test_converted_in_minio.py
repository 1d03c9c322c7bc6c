"""A converted trace in a real MinIO, read two ways without downloading it whole:
with the store's own client (ranged GETs) and through presigned URLs (no credentials)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nsight_lab.storage import ObjectNotFound, StorageError
from nsight_lab.storage.ranged import UrlFiles, open_url
from nsight_lab.storage.s3 import S3Store
from nsight_lab.trace import convert_trace, load_trace
from nsight_lab.trace.converted import (
    ConvertedTrace,
    StoreFiles,
    trace_files,
    trace_key,
)
from tests.support.minio import MinioServer

pytestmark = pytest.mark.integration

KINETO = Path("kineto") / "nccl_parser_config__nccl_data.json.gz"
SHA = "5e" * 32


@pytest.fixture(scope="module")
def stored(
    minio_server: MinioServer, fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> S3Store:
    store = minio_server.s3_store()
    folder = tmp_path_factory.mktemp("conv") / "trace"
    convert_trace(fixtures_dir / KINETO, folder, sha256=SHA, row_group_rows=1000)
    for name in trace_files():
        store.put_file(trace_key(SHA, name), folder / name)
    return store


def test_the_store_client_reads_columns_and_windows(stored: S3Store, fixtures_dir: Path) -> None:
    trace = ConvertedTrace(StoreFiles(stored, SHA))
    direct = load_trace(fixtures_dir / KINETO).table("kernels")
    kernels = trace.read("kernels", ["start", "end", "name"])
    assert kernels.num_rows == direct.num_rows
    assert sorted(kernels["start"].to_pylist()) == sorted(direct["start"].to_pylist())
    lo, hi = trace.manifest.span or (0, 0)
    window = trace.read("ranges", ["start", "end"], start=lo, end=lo + (hi - lo) // 50)
    assert 0 < window.num_rows < trace.manifest.tables["ranges"].rows


def test_presigned_urls_read_the_same_trace_with_few_requests(stored: S3Store) -> None:
    urls = {name: stored.presign_get(trace_key(SHA, name)) for name in trace_files()}
    files = UrlFiles(urls)
    trace = ConvertedTrace(files)
    by_store = ConvertedTrace(StoreFiles(stored, SHA))
    assert trace.metadata == by_store.metadata
    assert trace.read("api", ["start", "name"]).equals(by_store.read("api", ["start", "name"]))
    reader = open_url(urls["ranges.parquet"], files.client)
    assert reader.size == stored.head(trace_key(SHA, "ranges.parquet")).size  # type: ignore[union-attr]


def test_missing_objects_and_bad_signatures_are_clear_errors(stored: S3Store) -> None:
    with pytest.raises(ObjectNotFound):
        stored.open_ranged(trace_key("00" * 32, "kernels.parquet"))
    url = stored.presign_get(trace_key(SHA, "kernels.parquet"))
    tampered = url.replace("Signature=", "Signature=0")
    with pytest.raises(StorageError, match="presigned URL expired or is not valid"):
        UrlFiles({"kernels.parquet": tampered}).open("kernels.parquet")
    with pytest.raises(FileNotFoundError):
        UrlFiles({}).open("kernels.parquet")
