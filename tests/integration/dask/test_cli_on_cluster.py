"""``recipe run --mode dask-futures`` against a real scheduler and two real workers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from nsight_lab.recipe import run_recipe
from tests.integration.dask.conftest import RECIPES
from tests.support.dask_cluster import DaskCluster
from tests.support.stack import base_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _cli(cluster: DaskCluster, *args: str) -> subprocess.Popen[str]:
    env = base_env(
        {"NSIGHT_LAB_DASK_SCHEDULER": cluster.address, "NSIGHT_LAB_RECIPE_PATH": str(RECIPES)}
    )
    return subprocess.Popen(
        [sys.executable, "-m", "nsight_lab", "recipe", "run", *args, "--no-notebook", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 240) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{err}\n{out}"
    result: dict[str, Any] = json.loads(out)
    return result


def test_many_reports_map_on_the_cluster_and_match_mapping_here(
    dask_cluster: DaskCluster, reports_dir: Path, tmp_path: Path
) -> None:
    result = _finish(
        _cli(
            dask_cluster,
            "cuda_gpu_kern_sum",
            "--input",
            str(reports_dir),
            "--mode",
            "dask-futures",
            "--output",
            str(tmp_path / "on-dask"),
        )
    )
    assert result["warnings"] == [] and len(result["reports"]) == 24
    here = run_recipe("cuda_gpu_kern_sum", [reports_dir], tmp_path / "here", notebook=False)
    for table in ("stats", "rank_stats"):
        assert pq.read_table(tmp_path / "on-dask" / f"{table}.parquet").equals(
            here.tables[table]
        ), table
    record = json.loads((tmp_path / "on-dask" / "cuda_gpu_kern_sum.nsys-analysis").read_text())
    assert record["Mode"] == "dask-futures" and record["Sources"] == {"raw": 24, "converted": 0}


def test_the_maps_run_in_the_cluster_workers_and_dask_is_an_alias(
    dask_cluster: DaskCluster, reports_dir: Path, tmp_path: Path
) -> None:
    result = _finish(
        _cli(
            dask_cluster,
            "kills_worker",
            "--input",
            f"{reports_dir}:8",
            "--mode",
            "dask",
            "--output",
            str(tmp_path / "o"),
        )
    )
    assert result["warnings"] == [] and len(result["reports"]) == 8
    pids = set(pq.read_table(tmp_path / "o" / "counts.parquet")["PID"].to_pylist())
    with dask_cluster.client() as client:
        worker_pids = set(client.run(lambda: __import__("os").getpid()).values())
    assert pids and pids <= worker_pids


def test_a_worker_killed_mid_job_loses_no_report(
    dask_cluster: DaskCluster, reports_dir: Path, tmp_path: Path
) -> None:
    proc = _cli(dask_cluster, "kills_worker", "--input", f"{reports_dir}:12", "--seconds", "1.0",
                "--mode", "dask-futures", "--output", str(tmp_path / "o"))  # fmt: skip
    try:
        with dask_cluster.client() as client:
            victim = dask_cluster.busy_worker(client)
        dask_cluster.kill_worker(victim)  # nanny and worker: the node is gone
        result = _finish(proc)
    finally:
        proc.kill()
    assert result["warnings"] == [], result["warnings"]
    assert len(result["reports"]) == 12
    counts = pq.read_table(tmp_path / "o" / "counts.parquet")
    assert counts.num_rows == 12 and len(set(counts["Report"].to_pylist())) == 12


def test_a_report_that_kills_every_worker_is_retried_once_then_named(
    dask_cluster: DaskCluster, reports_dir: Path, tmp_path: Path
) -> None:
    victim = sorted(reports_dir.iterdir())[3]
    name = victim.name.removesuffix(".json.gz").removesuffix(".sqlite")
    result = _finish(
        _cli(
            dask_cluster,
            "kills_worker",
            "--input",
            f"{reports_dir}:6",
            "--victim",
            name,
            "--mode",
            "dask-futures",
            "--output",
            str(tmp_path / "o"),
        )
    )
    assert [w["file"] for w in result["warnings"]] == [str(victim)]
    assert "failed 2 times" in result["warnings"][0]["problem"]
    assert len(result["reports"]) == 5


def test_an_unreachable_scheduler_is_a_clear_error(reports_dir: Path, tmp_path: Path) -> None:
    from tests.support.minio import free_port

    env = base_env({"NSIGHT_LAB_DASK_SCHEDULER": f"tcp://127.0.0.1:{free_port()}"})
    done = subprocess.run(
        [sys.executable, "-m", "nsight_lab", "recipe", "run", "cuda_gpu_kern_sum", "--input",
         f"{reports_dir}:1", "--mode", "dask-futures", "--no-notebook", "--output", str(tmp_path / "o")],
        env={**env, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert (
        "cannot reach the Dask scheduler" in done.stderr
        and "NSIGHT_LAB_DASK_SCHEDULER" in done.stderr
    )
