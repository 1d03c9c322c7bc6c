"""cuda_gpu_kern_sum against plain SQL on the nsys export and a scan of a Kineto trace."""

from __future__ import annotations

import gzip
import json
import sqlite3
import statistics
from pathlib import Path

import pytest

from nsight_lab.recipe import run_recipe

SQL = """
SELECT s.value, k.end - k.start FROM CUPTI_ACTIVITY_KIND_KERNEL k
JOIN StringIds s ON s.id = k.{column}
"""


def durations_by_name(sqlite: Path, column: str) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    with sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True) as con:
        for name, dur in con.execute(SQL.format(column=column)):
            out.setdefault(name, []).append(dur)
    return out


@pytest.mark.parametrize(("base", "column"), [(False, "demangledName"), (True, "shortName")])
def test_matches_sql_on_nsys_export(
    fixtures_dir: Path, tmp_path: Path, base: bool, column: str
) -> None:
    sqlite = fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite"
    stats = run_recipe(
        "cuda_gpu_kern_sum", [sqlite], tmp_path / "o", args={"base": base}, notebook=False
    ).tables["stats"]
    expected = durations_by_name(sqlite, column)
    rows = {r["Name"]: r for r in stats.to_pylist()}
    assert set(rows) == set(expected)
    for name, durs in expected.items():
        row = rows[name]
        assert (row["Instances"], row["Total Time (ns)"], row["Min (ns)"], row["Max (ns)"]) == (
            len(durs),
            sum(durs),
            min(durs),
            max(durs),
        )
        assert row["Med (ns)"] == statistics.median(durs)
        assert row["StdDev (ns)"] == pytest.approx(statistics.stdev(durs) if len(durs) > 1 else 0.0)
    assert sum(r["Instances"] for r in rows.values()) == 1312


def test_matches_a_scan_of_kineto_json(fixtures_dir: Path, tmp_path: Path) -> None:
    path = (
        fixtures_dir
        / "kineto/critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz"
    )
    with gzip.open(path) as fh:
        events = json.load(fh)["traceEvents"]
    expected: dict[str, list[float]] = {}
    for ev in events:
        if ev.get("ph") == "X" and ev.get("cat") == "kernel":
            expected.setdefault(ev["name"], []).append(ev["dur"])
    stats = run_recipe("cuda_gpu_kern_sum", [path], tmp_path / "o", notebook=False).tables["stats"]
    rows = {r["Name"]: r for r in stats.to_pylist()}
    assert {n: r["Instances"] for n, r in rows.items()} == {n: len(d) for n, d in expected.items()}
    for name, durs in expected.items():
        assert rows[name]["Total Time (ns)"] == pytest.approx(sum(durs) * 1000, abs=len(durs))
