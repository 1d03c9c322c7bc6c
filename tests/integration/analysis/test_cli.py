"""``nsight-lab analysis`` against the real stack, as a user types it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from nsight_lab.cli.analysis_cmd import analysis_group
from nsight_lab.cli.context import CliContext
from tests.support.analysis_stack import AnalysisStack, Uploaded

pytestmark = pytest.mark.integration


@click.group()
@click.pass_context
def _root(ctx: click.Context) -> None:
    """Stands in for the top-level ``nsight-lab`` group, which registers ``analysis``."""
    ctx.obj = CliContext()


_root.add_command(analysis_group)


@pytest.fixture
def cli(stack: AnalysisStack, session: Uploaded, tmp_path: Path) -> Any:
    runner = CliRunner()
    env = {"NSIGHT_LAB_GW": stack.url, "NSIGHT_CLOUD_CONF": str(tmp_path / "conf.json"), "PATH": ""}

    def run(*args: str) -> Result:
        return runner.invoke(_root, ["analysis", *args], env=env, catch_exceptions=False)

    return run


def test_run_wait_download_and_open(cli: Any, tmp_path: Path) -> None:
    listed = cli("list", "--output", "json")
    assert listed.exit_code == 0
    assert "kernel_count" in [r["name"] for r in json.loads(listed.stdout)["recipes"]]

    ran = cli("run", "kernel_count", "--top", "2", "--wait", "--output", "json")
    assert ran.exit_code == 0, ran.output
    job = json.loads(ran.stdout)
    assert job["state"] == "succeeded" and job["args"]["top"] == 2

    info = json.loads(cli("reports", "info", job["job_id"], "--output", "json").stdout)
    assert {o["name"] for o in info["outputs"]} >= {"counts.html", "counts.ipynb", "job.log"}

    target = tmp_path / "out"
    downloaded = cli("reports", "download", job["job_id"], "-o", str(target), "--output", "json")
    assert downloaded.exit_code == 0, downloaded.output
    assert (target / "counts.parquet").stat().st_size > 0
    assert "succeeded" in (target / "job.log").read_text()

    # No `jupyter` on PATH here, so no JupyterLab server: the HTML is what opens.
    opened = json.loads(cli("reports", "open", job["job_id"], "--output", "json").stdout)
    assert opened["how"] == "browser" and "counts.html" in opened["url"]

    listed_jobs = json.loads(
        cli("reports", "list", "--status", "succeeded", "--output", "json").stdout
    )
    assert job["job_id"] in [j["job_id"] for j in listed_jobs]
    logs = cli("reports", "logs", job["job_id"], "-f")
    assert logs.exit_code == 0 and "mapped 1/1" in logs.stdout

    assert cli("reports", "delete", job["job_id"], "--output", "json").exit_code == 0
    gone = cli("reports", "info", job["job_id"])
    assert gone.exit_code == 3 and "no analysis job" in gone.output


def test_bad_arguments_and_cancel(cli: Any) -> None:
    bad = cli("run", "kernel_count", "--top", "0")
    assert bad.exit_code == 3 and "args.top" in bad.output
    queued = json.loads(
        cli("run", "slow_map", "--seconds", "60", "--no-notebook", "--output", "json").stdout
    )
    cancelled = json.loads(cli("reports", "cancel", queued["job_id"], "--output", "json").stdout)
    assert cancelled["state"] == "cancelled"
    ui = json.loads(cli("ui", "--output", "json").stdout)
    assert ui["url"].endswith("/analysis/api/v1/docs")
