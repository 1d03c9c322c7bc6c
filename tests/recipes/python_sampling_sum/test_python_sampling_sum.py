"""python_sampling_sum: self and inclusive time per Python function from stack samples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from nsight_lab.recipe import run_recipe

HOT_PROGRAM = """
import time

def spin():
    total = 0
    for i in range(20000):
        total += i * i
    return total

def nap():
    time.sleep(0.0005)

def main():
    end = time.time() + 1.5
    while time.time() < end:
        spin()
        spin()
        nap()

main()
"""


def _speedscope(path: Path, frames: list[str], samples: list[list[int]], weight_s: float) -> Path:
    """A speedscope document as py-spy writes it (sampled profile, seconds)."""
    doc = {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {
            "frames": [{"name": f, "file": "prog.py", "line": 10 + i} for i, f in enumerate(frames)]
        },
        "profiles": [
            {
                "type": "sampled",
                "name": 'Thread 1 "MainThread"',
                "unit": "seconds",
                "startValue": 0.0,
                "endValue": weight_s * len(samples),
                "samples": samples,
                "weights": [weight_s] * len(samples),
            }
        ],
        "exporter": "py-spy@0.3.14",
        "name": "prog",
    }
    path.write_text(json.dumps(doc))
    return path


def test_recursion_counts_once_per_sample_in_total_time(tmp_path: Path) -> None:
    # frames: 0 main, 1 walk (recursive), 2 leaf.  Four samples of 10 ms each.
    report = _speedscope(
        tmp_path / "hand.speedscope.json",
        ["main", "walk", "leaf"],
        [[0, 1, 1, 1, 2], [0, 1, 1, 2], [0, 1], [0]],
        0.01,
    )
    run_recipe("python_sampling_sum", [report], tmp_path / "out", notebook=False)
    stats = pd.read_parquet(tmp_path / "out" / "stats.parquet").set_index("Function")
    assert set(stats.index) == {"main (prog.py)", "walk (prog.py)", "leaf (prog.py)"}
    expected = {  # (self samples, total samples) by construction
        "main (prog.py)": (1, 4),
        "walk (prog.py)": (1, 3),
        "leaf (prog.py)": (2, 2),
    }
    for fn, (self_n, total_n) in expected.items():
        assert stats.loc[fn, "Self Samples"] == self_n
        assert stats.loc[fn, "Total Samples"] == total_n
        assert stats.loc[fn, "Total Time (ns)"] == total_n * 10_000_000
        assert stats.loc[fn, "Total (%)"] == pytest.approx(100.0 * total_n / 4)
    assert stats["Self Samples"].sum() == 4
    assert stats.index[0] == "leaf (prog.py)"


def test_by_line_keeps_lines_apart(tmp_path: Path) -> None:
    report = _speedscope(tmp_path / "hand.speedscope.json", ["main", "walk"], [[0, 1], [0]], 0.01)
    run_recipe(
        "python_sampling_sum", [report], tmp_path / "out", args={"by_line": True}, notebook=False
    )
    stats = pd.read_parquet(tmp_path / "out" / "stats.parquet")
    assert set(stats["Function"]) == {"main (prog.py:10)", "walk (prog.py:11)"}


@pytest.mark.slow
def test_real_py_spy_profile_finds_the_hot_function(tmp_path: Path) -> None:
    program = tmp_path / "hot.py"
    program.write_text(HOT_PROGRAM)
    report = tmp_path / "hot.speedscope.json"
    proc = subprocess.run(
        [
            "py-spy",
            "record",
            "--format",
            "speedscope",
            "-r",
            "200",
            "-o",
            str(report),
            "--",
            sys.executable,
            str(program),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    result = run_recipe("python_sampling_sum", [report], tmp_path / "out")
    stats = pd.read_parquet(tmp_path / "out" / "stats.parquet").set_index("Function")
    spin = f"spin ({program})"
    main = f"main ({program})"
    assert stats.index[0] == spin  # the busy loop owns the most self time
    # main encloses every call of spin, so its inclusive share is at least spin's,
    # while it is itself rarely the leaf (py-spy skips the idle nap by default).
    assert stats.loc[main, "Total Samples"] >= stats.loc[spin, "Total Samples"]
    assert stats.loc[main, "Self Samples"] < stats.loc[spin, "Self Samples"]
    assert stats.loc[spin, "Self Samples"] == stats.loc[spin, "Total Samples"]  # spin calls nothing
    assert result.html is not None and "<img" in result.html.read_text()
