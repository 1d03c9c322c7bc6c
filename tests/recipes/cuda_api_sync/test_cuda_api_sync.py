"""cuda_api_sync: only the synchronising calls, with their SQL totals."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

from nsight_lab.recipe import run_recipe
from tests.recipes.expect import assert_summary


def test_matches_sql_on_nsys_export(fixtures_dir: Path, tmp_path: Path) -> None:
    sqlite = fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite"
    groups: dict[str, list[int]] = {}
    with sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True) as con:
        for name, dur in con.execute(
            "SELECT s.value, r.end - r.start FROM CUPTI_ACTIVITY_KIND_RUNTIME r"
            " JOIN StringIds s ON s.id = r.nameId"
            " WHERE s.value IN ('cudaDeviceSynchronize_v3020', 'cudaMemcpy_v3020')"
        ):
            groups.setdefault(name.removesuffix("_v3020"), []).append(dur)
    stats = run_recipe("cuda_api_sync", [sqlite], tmp_path / "o", notebook=False).tables["stats"]
    # cudaMalloc, cudaFree, cudaLaunchKernel do not wait for the GPU and must not appear.
    assert_summary(stats, groups)


def test_kineto_async_copies_are_not_sync(fixtures_dir: Path, tmp_path: Path) -> None:
    path = (
        fixtures_dir
        / "kineto/critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz"
    )
    with gzip.open(path) as fh:
        events = json.load(fh)["traceEvents"]
    counts: dict[str, int] = {}
    for ev in events:
        if (
            ev.get("ph") == "X"
            and ev.get("cat") == "cuda_runtime"
            and ev["name"] in ("cudaStreamSynchronize", "cudaDeviceSynchronize")
        ):
            counts[ev["name"]] = counts.get(ev["name"], 0) + 1
    stats = run_recipe("cuda_api_sync", [path], tmp_path / "o", notebook=False).tables["stats"]
    assert {r["Name"]: r["Instances"] for r in stats.to_pylist()} == counts
