"""``ls``, ``status`` and ``sessions`` in an 80-column terminal, against a real ``nsight-lab up``.

Real reports with long process and instance names go up through the coordinator's
upload API; the commands run as a user runs them (a subprocess, COLUMNS=80).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.analysis_stack import AnalysisStack, Uploaded, upload_reports
from tests.support.stack import Cli, wait_until

pytestmark = pytest.mark.slow

TAG = "width"
INSTANCE = "rank-0-of-a-very-long-distributed-training-job-name"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnalysisStack]:
    with AnalysisStack(tmp_path_factory.mktemp("up"), workers=1, warm=False) as up:
        yield up


@pytest.fixture(scope="module")
def uploaded(
    stack: AnalysisStack, fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Uploaded:
    broken = tmp_path_factory.mktemp("bad") / "broken.json"
    broken.write_text('{"traceEvents": [')
    files = [fixtures_dir / "kineto" / "trace_filter__sampled_rank-0.json.gz", broken]
    done = upload_reports(stack.coordinator_url, files, tag=TAG, instance=INSTANCE)

    def settled() -> bool:
        listed = httpx.get(
            stack.coordinator_url + "files", params={"session_id": done.session_id}
        ).json()
        return all(f["conversion"]["state"] in ("converted", "failed") for f in listed)

    wait_until(settled, 120, "both reports' conversions to settle", interval=0.3)
    return done


def run(stack: AnalysisStack, tmp_path: Path, *args: str) -> str:
    cli = Cli(stack.url, tmp_path)
    cli.env["COLUMNS"] = "80"
    return cli.run("--tag", TAG, *args).stdout


def test_ls_puts_each_file_on_one_line_of_at_most_80_columns(
    stack: AnalysisStack, uploaded: Uploaded, tmp_path: Path
) -> None:
    out = run(stack, tmp_path, "ls")
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), out
    files = json.loads(run(stack, tmp_path, "--output", "json", "ls"))
    for f in files:
        row = next(line for line in lines if line.split()[1:2] == [f["file_id"]])
        assert f["process_name"] in row and f["collector"] in row
        assert "KiB" in row or " B " in row
        assert f["sha256"][:12] not in out  # the sha256 belongs to --long and JSON
    states = {f["filename"].rsplit(".", 1)[-1]: f["conversion"]["state"] for f in files}
    assert states == {"gz": "converted", "json": "failed"}
    assert "ready" in out and "FAILED" in out
    broken = next(f for f in files if f["conversion"]["state"] == "failed")
    assert f"{broken['file_id']}: cannot be converted:" in out


def test_ls_long_adds_names_sha256_and_times(
    stack: AnalysisStack, uploaded: Uploaded, tmp_path: Path
) -> None:
    out = run(stack, tmp_path, "ls", "--long")
    files: list[dict[str, Any]] = json.loads(run(stack, tmp_path, "--output", "json", "ls"))
    for f in files:
        assert f["sha256"] in out
        assert all(k in f for k in ("sha256", "filename", "conversion", "created_at"))


def test_status_and_sessions_fit_80_columns_too(
    stack: AnalysisStack, uploaded: Uploaded, tmp_path: Path
) -> None:
    status = run(stack, tmp_path, "status")
    assert all(len(line) <= 80 for line in status.splitlines()), status
    agent = next(line for line in status.splitlines() if "probe" in line)
    assert "ONLINE" in agent and "ago" in agent
    sessions = run(stack, tmp_path, "sessions")
    assert all(len(line) <= 80 for line in sessions.splitlines()), sessions
    assert uploaded.session_id in sessions
