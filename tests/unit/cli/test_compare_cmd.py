"""``nsight-lab compare``: the gate finds a planted slowdown, passes the same workload twice,
takes folders as sides, and speaks JSON for scripts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from nsight_lab.cli.main import cli
from tests.recipes.conftest import ALEXNET, SIMPLE_ADD
from tests.recipes.diff.test_diff import SLOWED, planted


def compare(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["compare", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def slower(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return planted(fixtures_dir / SIMPLE_ADD, tmp_path_factory.mktemp("slow") / "slower.json.gz")


def test_gate_fails_on_the_planted_regression_with_json(
    fixtures_dir: Path, slower: Path, tmp_path: Path
) -> None:
    code, out, err = compare(
        str(fixtures_dir / ALEXNET), str(slower), "--fail-on-regression", "5", "--output", "json",
        "--no-notebook", "--report-dir", str(tmp_path / "r"),
    )  # fmt: skip
    assert code == 1
    report = json.loads(out)
    assert report["passed"] is False and report["fail_on_regression"] == 5
    assert [(r["Kind"], r["Name"]) for r in report["regressions"]] == [("kernel", SLOWED)]
    assert report["verdicts"] == {"slower": 1, "unchanged": len(report["rows"]) - 1}
    assert "regression: 1 slower by 5% or more" in err
    assert (tmp_path / "r" / "comparison.parquet").is_file()
    assert (tmp_path / "r" / "diff.nsys-analysis").is_file()


def test_gate_passes_two_runs_of_the_same_workload(fixtures_dir: Path, tmp_path: Path) -> None:
    code, out, _ = compare(
        str(fixtures_dir / ALEXNET), str(fixtures_dir / SIMPLE_ADD), "--fail-on-regression", "5",
        "--no-notebook", "--report-dir", str(tmp_path / "r"),
    )  # fmt: skip
    assert code == 0
    assert "No significant change" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_threshold_above_the_change_passes(
    fixtures_dir: Path, slower: Path, tmp_path: Path
) -> None:
    code, _, _ = compare(
        str(fixtures_dir / ALEXNET), str(slower), "--fail-on-regression", "50", "--no-notebook",
        "--report-dir", str(tmp_path / "r"),
    )  # fmt: skip
    assert code == 0


def test_folders_of_runs_pair_run_by_run(fixtures_dir: Path, slower: Path, tmp_path: Path) -> None:
    base, cand = tmp_path / "base", tmp_path / "cand"
    base.mkdir()
    cand.mkdir()
    shutil.copy(fixtures_dir / ALEXNET, base / "run1.json.gz")
    shutil.copy(fixtures_dir / SIMPLE_ADD, base / "run2.json.gz")
    planted(fixtures_dir / ALEXNET, cand / "run1.json.gz")
    shutil.copy(slower, cand / "run2.json.gz")
    code, out, _ = compare(
        str(base),
        str(cand),
        "--output",
        "json",
        "--no-notebook",
        "--report-dir",
        str(tmp_path / "r"),
    )
    report = json.loads(out)
    assert code == 0 and len(report["base"]) == len(report["candidate"]) == 2
    flagged = [(r["Name"], r["Verdict"]) for r in report["rows"] if r["Verdict"] != "unchanged"]
    assert flagged == [(SLOWED, "slower")]


def test_missing_side_is_a_usage_error(fixtures_dir: Path, tmp_path: Path) -> None:
    code, _, err = compare(str(fixtures_dir / ALEXNET), str(tmp_path / "nope.json.gz"))
    assert code == 2 and "does not exist" in err
