"""The ingest's Timeline layout of a converted report: built once, stored head last, failures recorded.

Against a real MinIO (the S3 path: objects uploaded from the child's folder); the
local-folder path and the whole flow through ``nsight-lab up`` are in
``tests/integration/analysis/test_ingest.py``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from nsight_analysis.ingest import Ingester, layout_key
from nsight_analysis.scope import CoordinatorScopes, ScopeFile
from nsight_analysis.settings import AnalysisSettings
from nsight_lab.jupyter.widgets.stored_layout import FAILED_FILE, HEAD_FILE, StoredHead
from nsight_lab.models import ConversionState
from nsight_lab.storage.base import ObjectInfo
from nsight_lab.storage.s3 import S3Store
from nsight_lab.trace import convert_trace
from nsight_lab.trace.converted import table_file
from tests.support.minio import MinioServer
from tests.support.stack import wait_until

SHA = "ab" * 32


@pytest.fixture
def store(minio_server: MinioServer) -> S3Store:
    bucket = "ingest-layout"
    found = minio_server.s3_store(bucket)
    found.ensure_bucket()
    for old in list(found.list(f"traces/{SHA}/")):
        found.delete(old.key)
    return found


@pytest.fixture(scope="module")
def converted(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ingest-layout") / "trace"
    convert_trace(fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite", folder)
    return folder


def ingester(store: S3Store, tmp_path: Path) -> Ingester:
    settings = AnalysisSettings(work_dir=tmp_path / "work", ingest=False)
    # The layout step never asks the coordinator anything: nothing listens there.
    return Ingester(settings, store, CoordinatorScopes("http://127.0.0.1:9/"))


def test_the_layout_is_stored_object_by_object_with_the_head_last(
    store: S3Store, converted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys: list[str] = []
    real = store.put_file

    def recorded(key: str, path: Path) -> ObjectInfo:
        keys.append(key)
        return real(key, path)

    monkeypatch.setattr(store, "put_file", recorded)
    ingest = ingester(store, tmp_path)
    ingest.lay_out(SHA, converted, tmp_path / "scratch")
    assert ingest.counts.laid_out == 1 and ingest.counts.layout_failed == 0
    assert keys[-1] == layout_key(SHA, HEAD_FILE), "readers trust a layout once its head is there"
    with store.open_read(layout_key(SHA, HEAD_FILE)) as stream:
        head = StoredHead.parse(json.loads(stream.read()))
    assert head is not None
    assert sorted(keys[:-1]) == sorted(layout_key(SHA, n) for n in head.data["objects"])
    for name, spec in head.data["objects"].items():
        info = store.head(layout_key(SHA, name))
        assert info is not None and info.size == spec["bytes"]
    last = ingest.last_layout
    assert last is not None and last["ok"] and last["sha256"] == SHA
    assert last["bytes"] == sum(int(o["bytes"]) for o in head.data["objects"].values())
    assert last["seconds"] > 0 and last["cpu_s"] > 0 and last["peak_rss_mb"] > 0
    assert ingest.status()["laid_out"] == 1


def test_a_layout_that_fails_is_recorded_and_stores_no_head(
    store: S3Store, converted: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in converted.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    (broken / table_file("kernels")).write_bytes(b"PAR1 this is not a parquet file")
    ingest = ingester(store, tmp_path)
    ingest.lay_out(SHA, broken, tmp_path / "scratch")
    assert ingest.counts.laid_out == 0 and ingest.counts.layout_failed == 1
    assert store.head(layout_key(SHA, HEAD_FILE)) is None
    with store.open_read(layout_key(SHA, FAILED_FILE)) as stream:
        failure = json.loads(stream.read())
    assert "laying the timeline out failed" in failure["error"]
    assert ingest.last_layout is not None and ingest.last_layout["ok"] is False


@pytest.mark.parametrize("layout", [True, False])
def test_a_report_in_s3_is_converted_and_laid_out_unless_that_is_off(
    store: S3Store, fixtures_dir: Path, tmp_path: Path, layout: bool
) -> None:
    report = fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite"
    sha = hashlib.sha256(report.read_bytes()).hexdigest()
    for old in list(store.list(f"traces/{sha}/")):
        store.delete(old.key)
    key = f"sessions/s/c/{report.name}"
    store.put_file(key, report)
    settings = AnalysisSettings(work_dir=tmp_path / "work", ingest=False, ingest_layout=layout)
    ingest = Ingester(settings, store, CoordinatorScopes("http://127.0.0.1:9/"))
    outcome = ingest.ensure(ScopeFile(key, report.name, 0, report.stat().st_size, sha))
    assert outcome.state == ConversionState.CONVERTED
    assert ingest.counts.parsed == 1
    # The layout runs after the conversion is recorded, in the ingest's layout thread.
    wait_until(lambda: ingest.status()["layouts_pending"] == 0 and (
        ingest.counts.laid_out + ingest.counts.layout_failed == int(layout)), 120,
        "the layout thread")  # fmt: skip
    head = store.head(layout_key(sha, HEAD_FILE))
    assert (head is not None) is layout
    assert ingest.counts.laid_out == int(layout)
    wait_until(lambda: not (tmp_path / "work" / "ingest" / sha).exists(), 10, "scratch removal")
    again = ingest.ensure(ScopeFile(key, report.name, 0, report.stat().st_size, sha))
    assert again.state == ConversionState.CONVERTED
    assert (ingest.counts.parsed, ingest.counts.laid_out) == (1, int(layout)), "once"
