"""cuda_gpu_kern_sum's map+reduce vs. the same summary as one DuckDB query, over 10M kernels.

Input: the real CloverLeaf fixture's kernels table (via ``load_trace``) replicated in
time to ``--rows`` rows (default 10M) and written once as Parquet into the bench
cache, so name distribution and column widths are those of a real run. Both sides
start from that Parquet file: ours reads it with pyarrow and runs the recipe's
``map_report`` + ``reduce``; DuckDB runs one GROUP BY with MEDIAN and STDDEV_SAMP.
Results are compared (counts, totals, min, max exactly; mean, median, stddev to 1e-9
relative) before any time is reported. Each side runs once untimed (imports, page
cache), then the two alternate, so load from other processes falls on both alike;
nothing is kept between runs but the Parquet file.

    python benchmarks/bench_kern_sum_vs_duckdb.py [--rows 10000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nsight_lab.recipe import ReportContext, ReportInfo  # noqa: E402
from nsight_lab.recipe.registry import get_recipe  # noqa: E402
from nsight_lab.trace import Trace, TraceMetadata, load_trace  # noqa: E402

FIXTURE = ROOT.parent / "shared" / "fixtures" / "nsys-sqlite" / "cloverleaf-a100.sqlite"
QUERY = """
WITH k AS (SELECT name, "end" - start AS d FROM read_parquet('{path}'))
SELECT 100.0 * SUM(d) / SUM(SUM(d)) OVER () AS "Time (%)", SUM(d) AS "Total Time (ns)",
       COUNT(*) AS "Instances", AVG(d) AS "Avg (ns)", MEDIAN(d) AS "Med (ns)",
       MIN(d) AS "Min (ns)", MAX(d) AS "Max (ns)", COALESCE(STDDEV_SAMP(d), 0) AS "StdDev (ns)",
       name AS "Name"
FROM k GROUP BY name ORDER BY "Total Time (ns)" DESC, name
"""


def cache_dir() -> Path:
    folder = Path(os.environ.get("NSIGHT_LAB_BENCH_CACHE", Path.home() / ".cache/nsight-lab/bench"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def make_kernels_parquet(rows: int) -> Path:
    out = cache_dir() / f"kernels-{rows}.parquet"
    if out.exists():
        return out
    kernels = load_trace(FIXTURE).tables["kernels"]
    n = kernels.num_rows
    span = int(np.max(kernels["end"].to_numpy()) - np.min(kernels["start"].to_numpy())) + 1
    index = np.tile(np.arange(n), math.ceil(rows / n))[:rows]
    shift = (np.arange(rows) // n).astype(np.int64) * span
    big = kernels.take(pa.array(index))
    big = big.set_column(0, "start", pa.array(big["start"].to_numpy() + shift))
    big = big.set_column(1, "end", pa.array(big["end"].to_numpy() + shift))
    tmp = out.with_suffix(".partial")
    pq.write_table(big, tmp, row_group_size=1_000_000)
    tmp.rename(out)
    return out


def ours(path: Path) -> pa.Table:
    """Read what map_report uses without --base (as DuckDB reads only what its query
    names), names kept dictionary-encoded as the trace store holds them; pyarrow
    decodes the columns on all cores, from a memory map (no copy of the file bytes)."""
    recipe = get_recipe("cuda_gpu_kern_sum")
    kernels = pq.read_table(
        path,
        columns=["start", "end", "name"],
        read_dictionary=["name"],
        use_threads=True,
        memory_map=True,
    )
    trace = Trace({"kernels": kernels}, TraceMetadata(source="nsys-sqlite", path=str(path)))
    info = ReportInfo(name="bench", path=str(path), rank=None, index=0)
    mapped = recipe.map_report(ReportContext(trace=trace, report=info), {"base": False})
    return recipe.reduce([(info, mapped)], {"base": False})["stats"]


def duck(path: Path) -> pa.Table:
    import duckdb

    con = duckdb.connect()
    try:
        return con.sql(QUERY.format(path=path)).to_arrow_table()
    finally:
        con.close()


def same(a: pa.Table, b: pa.Table) -> None:
    ra = {r["Name"]: r for r in a.to_pylist()}
    rb = {r["Name"]: r for r in b.to_pylist()}
    assert set(ra) == set(rb), "different kernel names"
    for name, x in ra.items():
        y = rb[name]
        for col in ("Instances", "Total Time (ns)", "Min (ns)", "Max (ns)"):
            assert int(x[col]) == int(y[col]), (name, col, x[col], y[col])
        for col in ("Avg (ns)", "Med (ns)", "StdDev (ns)", "Time (%)"):
            assert math.isclose(float(x[col]), float(y[col]), rel_tol=1e-9, abs_tol=1e-6), (
                name,
                col,
                x[col],
                y[col],
            )
    assert a["Name"].to_pylist() == [str(n) for n in b["Name"].to_pylist()], "different order"


def timed(fn, path: Path) -> tuple[float, float, pa.Table]:  # type: ignore[no-untyped-def]
    """Wall seconds, CPU seconds of this process (all threads, user + system), result.

    CPU time is reported too because on a shared machine other processes stretch
    wall time; both sides run in this process, so their CPU times compare directly.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(path)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def alternate(path: Path, repeat: int) -> tuple[dict[str, list[float]], pa.Table, pa.Table]:
    """Wall and CPU seconds of each run of both sides, taking turns after one warm-up each."""
    a, b = ours(path), duck(path)
    runs: dict[str, list[float]] = {"ours": [], "ours cpu": [], "duck": [], "duck cpu": []}
    for _ in range(repeat):
        wall, cpu, a = timed(ours, path)
        runs["ours"].append(wall)
        runs["ours cpu"].append(cpu)
        wall, cpu, b = timed(duck, path)
        runs["duck"].append(wall)
        runs["duck cpu"].append(cpu)
    return runs, a, b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    opts = parser.parse_args()
    import duckdb

    path = make_kernels_parquet(opts.rows)
    runs, a, b = alternate(path, opts.repeat)
    same(a, b)
    med = {name: statistics.median(values) for name, values in runs.items()}
    t_ours, t_duck = med["ours"], med["duck"]
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, python {platform.python_version()}, duckdb {duckdb.__version__}"
    )
    print(
        f"input: {path} ({opts.rows:,} kernels, {a.num_rows} names), median of {opts.repeat} runs"
    )
    print(
        f"nsight-lab cuda_gpu_kern_sum map+reduce: {t_ours:.3f} s (min {min(runs['ours']):.3f}),"
        f" cpu {med['ours cpu']:.3f} s"
    )
    print(
        f"duckdb GROUP BY (baseline):              {t_duck:.3f} s (min {min(runs['duck']):.3f}),"
        f" cpu {med['duck cpu']:.3f} s"
    )
    print(f"ratio duckdb/ours: {t_duck / t_ours:.2f} (target >= 1.0); results equal: yes")


if __name__ == "__main__":
    main()
