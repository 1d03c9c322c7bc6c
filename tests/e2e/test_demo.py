"""The README's first command: ``nsight-lab demo`` walks the whole journey by itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.support.stack import base_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_profiles_downloads_and_analyses(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "nsight_lab",
            "--output",
            "json",
            "demo",
            "-o",
            str(out),
            "--collections",
            "1",
            "--seconds",
            "1.5",
        ],
        env=base_env({"NSIGHT_CLOUD_CONF": str(tmp_path / "conf")}),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    downloads = [Path(p) for p in result["downloads"]]
    # Two workload processes, one collection: a py-spy profile and a range log each.
    assert sorted(
        p.name.rsplit(".", 2)[-2] + "." + p.name.rsplit(".", 1)[-1] for p in downloads
    ) == ["ranges.jsonl", "ranges.jsonl", "speedscope.json", "speedscope.json"]
    assert all(p.is_file() and out in p.parents for p in downloads)

    by_recipe = {a["recipe"]: a for a in result["analyses"]}
    assert set(by_recipe) == {"python_sampling_sum", "nvtx_sum"}
    for analysis in by_recipe.values():
        html = Path(analysis["html"]).read_text()
        assert "<img" in html and "cdn." not in html
        assert Path(analysis["notebook"]).is_file()
    # The workload's phases appear in the range summary, its hot code in the samples.
    phases = pd.read_parquet(Path(by_recipe["nvtx_sum"]["output_dir"]) / "stats.parquet")
    assert {"step", "load_batch", "forward", "backward"} <= set(phases["Range"])
    hot = pd.read_parquet(Path(by_recipe["python_sampling_sum"]["output_dir"]) / "stats.parquet")
    assert hot["Function"].str.contains("workload.py").any()
