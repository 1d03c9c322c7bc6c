"""One small report through ``nsight-lab recipe run`` with notebook and HTML: target < 5 s.

Each run is a fresh process (as a user would run it), on the CloverLeaf nsys export.
Prints the median wall time and the median of each phase from the run record
(import, map, reduce, write, notebook, html), and as baseline the same command
with ``--no-notebook`` measured in the same session.

    python benchmarks/bench_recipe_run.py [--repeat 5] [--recipe cuda_gpu_kern_sum]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT.parent / "shared" / "fixtures" / "nsys-sqlite" / "cloverleaf-a100.sqlite"


def run_once(recipe: str, out: Path, notebook: bool) -> tuple[float, dict[str, float]]:
    cmd = [
        sys.executable,
        "-m",
        "nsight_lab.cli.main",
        "recipe",
        "run",
        recipe,
        "--input",
        str(FIXTURE),
        "--output",
        str(out),
        "--force-overwrite",
        "--json",
    ]
    if not notebook:
        cmd.append("--no-notebook")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT), str(ROOT / "services"), os.environ.get("PYTHONPATH", "")]
        ),
    }
    began = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"recipe run failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    return wall, json.loads(proc.stdout)["timings"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--recipe", default="cuda_gpu_kern_sum")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_once(opts.recipe, Path(tmp) / "warm", True)  # first kernel start warms caches
        full = [run_once(opts.recipe, Path(tmp) / "o", True) for _ in range(opts.repeat)]
        bare = [run_once(opts.recipe, Path(tmp) / "b", False) for _ in range(opts.repeat)]
    wall = statistics.median(w for w, _ in full)
    base = statistics.median(w for w, _ in bare)
    phases = ["setup", "import", "map", "reduce", "write", "notebook", "html", "total"]
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, python {platform.python_version()}"
    )
    print(f"{opts.recipe} on {FIXTURE.name}, median of {opts.repeat} fresh processes")
    print(
        f"wall time with notebook + HTML: {wall:.2f} s (target < 5 s: {'met' if wall < 5 else 'NOT met'})"
    )
    print(f"baseline, --no-notebook:        {base:.2f} s (ratio {wall / base:.2f}x)")
    for phase in phases:
        print(f"  {phase:<9} {statistics.median(t.get(phase, 0.0) for _, t in full):7.3f} s")


if __name__ == "__main__":
    main()
