"""``nsight-lab compare collection:A collection:B`` on reports a real coordinator stores.

Both sides go up through the coordinator's upload API, come back through the CLI's
verified download, and the gate finds the planted slowdown.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.recipes.conftest import ALEXNET, SIMPLE_ADD
from tests.recipes.diff.test_diff import SLOWED, planted
from tests.support.analysis_stack import AnalysisStack, upload_reports
from tests.support.stack import Cli


def test_compare_two_stored_collections(
    stack: AnalysisStack, fixtures_dir: Path, tmp_path: Path
) -> None:
    base = upload_reports(stack.coordinator_url, [fixtures_dir / ALEXNET], tag="cmp")
    slower = planted(fixtures_dir / SIMPLE_ADD, tmp_path / "candidate.json.gz")
    cand = upload_reports(stack.coordinator_url, [slower], tag="cmp")
    cli = Cli(stack.url, tmp_path)
    cli.env["NSIGHT_LAB_COMPARE_CACHE"] = str(tmp_path / "cache")
    result = cli.run(
        "--output", "json", "compare", f"collection:{base.collection_id}",
        f"collection:{cand.collection_id}", "--fail-on-regression", "5", "--no-notebook",
        "--report-dir", str(tmp_path / "report"), check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert [r["Name"] for r in report["regressions"]] == [SLOWED]
    assert all(str(tmp_path / "cache") in p for p in report["base"] + report["candidate"])
    session = cli.run(
        "--output", "json", "compare", f"session:{base.session_id}", f"session:{base.session_id}",
        "--no-notebook", "--report-dir", str(tmp_path / "same"),
    )  # fmt: skip
    assert json.loads(session.stdout)["passed"] is True
