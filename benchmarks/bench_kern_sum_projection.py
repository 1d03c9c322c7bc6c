"""``recipe run cuda_gpu_kern_sum --no-notebook`` on the 10M-kernel export vs one sqlite3 GROUP BY.

What a new user runs, against the cheapest thing that answers nearly the same
question from the same file: the ``sqlite3`` shell computing, per kernel name, the
count, sum, average, min, max and sample standard deviation of the durations (from
the sum of squares: SQLite has no STDDEV; and no median, which the recipe computes
too). Both run as fresh processes on the same file, one after the other, ``--repeat``
times, so the page cache and the load of other processes fall on both alike; peak RSS
is each child's own (``wait4``). Before any time is printed the two results are
compared: per name, count/sum/min/max exactly, average and standard deviation to
1e-9 relative.

    python benchmarks/make_fixtures.py sqlite --kernels 10000000
    python benchmarks/bench_kern_sum_projection.py [--kernels 10000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _measure import machine  # noqa: E402
from make_fixtures import make_nsys_sqlite  # noqa: E402

QUERY = """
SELECT s.value AS name, g.n, g.total, g.mean, g.lo, g.hi,
       CASE WHEN g.n > 1 THEN sqrt((g.sq - g.total * 1.0 * g.total / g.n) / (g.n - 1)) ELSE 0 END AS sd
FROM (SELECT demangledName AS id, count(*) AS n, sum("end" - start) AS total,
             avg("end" - start) AS mean, min("end" - start) AS lo, max("end" - start) AS hi,
             sum(("end" - start) * ("end" - start)) AS sq
      FROM CUPTI_ACTIVITY_KIND_KERNEL GROUP BY demangledName) g
JOIN StringIds s ON s.id = g.id
"""


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str, float]:
    """(seconds, peak RSS MB, stdout, CPU seconds) of one child process.

    CPU time (user + system, the child's own) is printed beside wall time because the
    cores are often shared: it moves far less with other processes' load.
    """
    began = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{command[:3]} failed:\n{err.decode()[-2000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, usage.ru_maxrss / 1024, out.decode(), cpu


def sqlite_command(path: Path) -> list[str]:
    shell = shutil.which("sqlite3")
    if shell:
        return [shell, "-json", str(path), QUERY]
    code = (
        "import json, sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.row_factory = sqlite3.Row;"
        f" print(json.dumps([dict(r) for r in c.execute({QUERY!r})]))"
    )
    return [sys.executable, "-c", code, str(path)]


def ours_command(path: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "nsight_lab", "recipe", "run", "cuda_gpu_kern_sum",
        "--input", str(path), "--no-notebook", "--force-overwrite", "--output", str(out), "--json",
    ]  # fmt: skip


def check(ours_dir: Path, baseline: list[dict[str, Any]]) -> int:
    stats = pq.read_table(ours_dir / "stats.parquet").to_pylist()
    mine = {r["Name"]: r for r in stats}
    assert set(mine) == {r["name"] for r in baseline}, "different kernel names"
    for row in baseline:
        m = mine[row["name"]]
        assert (m["Instances"], m["Total Time (ns)"], m["Min (ns)"], m["Max (ns)"]) == (
            row["n"], row["total"], row["lo"], row["hi"],
        ), row["name"]  # fmt: skip
        assert math.isclose(m["Avg (ns)"], row["mean"], rel_tol=1e-9), row["name"]
        assert math.isclose(m["StdDev (ns)"], row["sd"], rel_tol=1e-9, abs_tol=1e-6), row["name"]
    return len(baseline)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--kernels", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    path = make_nsys_sqlite(args.kernels)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(prefix="nsight-proj-") as tmp:
        out = Path(tmp) / "out"
        # One untimed run of each: imports compiled, file in the page cache.
        _, _, text, _ = timed(sqlite_command(path))
        timed(ours_command(path, out), env)
        names = check(out, json.loads(text))
        ours_s, ours_mb, ours_cpu, base_s, base_mb, base_cpu = [], [], [], [], [], []
        for _ in range(args.repeat):
            s, mb, _, cpu = timed(ours_command(path, out), env)
            ours_s.append(s)
            ours_mb.append(mb)
            ours_cpu.append(cpu)
            s, mb, _, cpu = timed(sqlite_command(path))
            base_s.append(s)
            base_mb.append(mb)
            base_cpu.append(cpu)
    o, b = statistics.median(ours_s), statistics.median(base_s)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(
        f"input: {path} ({path.stat().st_size / 1e6:.0f} MB), {names} kernel names; results equal"
    )
    print(f"recipe run --no-notebook: median {o:.2f} s (runs {', '.join(f'{x:.2f}' for x in ours_s)}),"
          f" CPU {statistics.median(ours_cpu):.2f} s, peak RSS {max(ours_mb):.0f} MB")  # fmt: skip
    print(f"sqlite3 GROUP BY:         median {b:.2f} s (runs {', '.join(f'{x:.2f}' for x in base_s)}),"
          f" CPU {statistics.median(base_cpu):.2f} s, peak RSS {max(base_mb):.0f} MB")  # fmt: skip
    oc, bc = statistics.median(ours_cpu), statistics.median(base_cpu)
    print(f"ratio recipe/sqlite3: {o / b:.2f} wall, {oc / bc:.2f} CPU (target <= 1.0, under 1 GB)")


if __name__ == "__main__":
    main()
