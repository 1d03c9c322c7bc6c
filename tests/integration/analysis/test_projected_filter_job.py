"""--filter-projected-nvtx through the analysis service: request, job, record, result."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import httpx
import pyarrow.parquet as pq

from tests.integration.analysis.conftest import wait_job
from tests.recipes.nvtx_db import add_ranges, expected_projection
from tests.support.analysis_stack import AnalysisStack, upload_reports


def test_a_job_keeps_the_gpu_work_of_one_range(
    stack: AnalysisStack, api: httpx.Client, fixtures_dir: Path, tmp_path: Path
) -> None:
    db = tmp_path / "cloverleaf-nvtx.sqlite"
    ranges = add_ranges(fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite", db)
    uploaded = upload_reports(stack.coordinator_url, [db], tag="projected")
    refused = api.post(
        "jobs",
        json={"recipe": "cuda_gpu_kern_sum", "tag": "projected", "filter_nvtx": "a",
              "filter_projected_nvtx": "inner_a"},
    )  # fmt: skip
    assert refused.status_code == 422 and "exclude each other" in refused.json()["detail"]
    created = api.post(
        "jobs",
        json={
            "recipe": "cuda_gpu_kern_sum",
            "tag": "projected",
            "session_id": uploaded.session_id,
            "filter_projected_nvtx": "inner_a",
            "notebook": False,
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["filter_projected_nvtx"] == "inner_a"
    done = wait_job(api, created.json()["job_id"])
    assert done["state"] == "succeeded", done
    outputs = {o["name"]: o for o in api.get(f"jobs/{done['job_id']}/outputs").json()}
    record = httpx.get(outputs["cuda_gpu_kern_sum.nsys-analysis"]["url"]).json()
    assert record["Filters"]["filter_projected_nvtx"] == "inner_a"
    stats = pq.read_table(io.BytesIO(httpx.get(outputs["stats.parquet"]["url"]).content))
    start, end, gtid = ranges["inner_a"]
    p_start, p_end, _ = expected_projection(db, start, end, gtid)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        (kernels,) = con.execute(
            "SELECT COUNT(*) FROM CUPTI_ACTIVITY_KIND_KERNEL WHERE start >= ? AND end <= ?",
            (p_start, p_end),
        ).fetchone()
    assert sum(stats["Instances"].to_pylist()) == kernels > 0


def test_a_recipe_without_a_source_is_refused_saying_what_records_it(api: httpx.Client) -> None:
    refused = api.post("jobs", json={"recipe": "nvlink_sum", "tag": "projected"})
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("recipe: recipe nvlink_sum cannot run")
    assert "--gpu-metrics-devices" in refused.json()["detail"]
