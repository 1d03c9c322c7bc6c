"""The analysis service's ``dask`` executor on a real cluster, storage in a real MinIO.

Map tasks get presigned URLs of each report's converted trace and read it from MinIO
themselves; the service's warm worker only reduces and runs the notebook.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
import yaml

from nsight_lab.recipe import run_recipe
from tests.integration.analysis.conftest import wait_job
from tests.integration.dask.conftest import RECIPES
from tests.support.analysis_stack import AnalysisStack, Uploaded, upload_reports
from tests.support.dask_cluster import DaskCluster
from tests.support.minio import MinioServer
from tests.support.reports import many_reports
from tests.support.stack import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPORTS = 12


@pytest.fixture(scope="module")
def stack(
    minio_server: MinioServer, _cluster: DaskCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AnalysisStack]:
    bucket = f"dask-{uuid.uuid4().hex[:8]}"
    minio_server.s3_store(bucket).ensure_bucket()
    data = tmp_path_factory.mktemp("dask-stack")
    config = data / "storage-config.yaml"
    config.write_text(
        yaml.safe_dump(
            minio_server.storage_config(bucket).model_dump(mode="json", exclude_none=True)
        )
    )
    env = {
        "NSIGHT_LAB_ANALYSIS_EXECUTOR": "dask",
        "NSIGHT_LAB_ANALYSIS_DASK_SCHEDULER": _cluster.address,
        "NSIGHT_LAB_ANALYSIS_INGEST_POLL_S": "0.5",
        "NSIGHT_LAB_RECIPE_PATH": str(RECIPES),
    }
    with AnalysisStack(data, storage_config=config, workers=1, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def local_reports(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return many_reports(fixtures_dir, tmp_path_factory.mktemp("reports"), REPORTS)


@pytest.fixture(scope="module")
def uploaded(stack: AnalysisStack, local_reports: list[Path]) -> Uploaded:
    up = upload_reports(stack.coordinator_url, local_reports, tag="dask")

    def converted() -> list[dict[str, Any]] | None:
        files = httpx.get(
            f"{stack.coordinator_url}files", params={"collection_id": up.collection_id}
        ).json()
        states = [f["conversion"]["state"] for f in files]
        return files if states.count("converted") == REPORTS else None

    wait_until(converted, 180, "every report converted")
    return up


@pytest.fixture
def api(stack: AnalysisStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.analysis_url, timeout=30) as client:
        yield client


def test_a_job_maps_on_the_cluster_and_renders_its_notebook_here(
    api: httpx.Client,
    uploaded: Uploaded,
    local_reports: list[Path],
    dask_cluster: DaskCluster,
    tmp_path: Path,
) -> None:
    job = api.post(
        "jobs", json={"recipe": "cuda_gpu_kern_sum", "collection_id": uploaded.collection_id}
    ).json()
    done = wait_job(api, job["job_id"], timeout=300)
    assert done["state"] == "succeeded", done
    assert done["mode"] == "none" and done["worker"].startswith("dask:")
    assert done["warnings"] == []
    outputs = {o["name"]: o for o in api.get(f"jobs/{job['job_id']}/outputs").json()}
    assert {"stats.parquet", "stats.html", "stats.ipynb"} <= set(outputs)
    stats = pq.read_table(io.BytesIO(httpx.get(outputs["stats.parquet"]["url"]).content))
    here = run_recipe("cuda_gpu_kern_sum", local_reports, tmp_path / "here", notebook=False)
    assert stats.equals(here.tables["stats"])
    record = httpx.get(outputs["cuda_gpu_kern_sum.nsys-analysis"]["url"]).json()
    assert record["Mode"] == "dask-futures"
    assert record["Sources"] == {"raw": 0, "converted": REPORTS}  # nothing parsed again
    log = api.get(f"jobs/{job['job_id']}/logs").text
    assert f"{REPORTS} report(s) read from their converted traces" in log
    assert "staged" not in log  # no report was copied to the service's disk


def test_a_worker_killed_mid_job_loses_no_report(
    api: httpx.Client, uploaded: Uploaded, dask_cluster: DaskCluster
) -> None:
    job = api.post(
        "jobs",
        json={
            "recipe": "kills_worker",
            "args": {"seconds": 1.0},
            "collection_id": uploaded.collection_id,
            "notebook": False,
        },
    ).json()
    with dask_cluster.client() as client:
        victim = dask_cluster.busy_worker(client, timeout=120)
    dask_cluster.kill_worker(victim)
    done = wait_job(api, job["job_id"], timeout=300)
    assert done["state"] == "succeeded", done
    assert done["warnings"] == []
    assert done["progress"]["done"] == REPORTS
    outputs = {o["name"]: o for o in api.get(f"jobs/{job['job_id']}/outputs").json()}
    counts = pq.read_table(io.BytesIO(httpx.get(outputs["counts.parquet"]["url"]).content))
    assert counts.num_rows == REPORTS
