"""The command line's surface: help, configure, JSON output, error wording and exit codes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from nsight_lab.cli.main import cli


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("NSIGHT_CLOUD_CONF", str(tmp_path / ".nsight-cloud.conf"))
    monkeypatch.delenv("NSIGHT_LAB_GW", raising=False)
    return CliRunner()


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["configure"],
        ["session-begin"],
        ["profiler-start"],
        ["profiler-stop"],
        ["session-end"],
        ["sessions"],
        ["ls"],
        ["download"],
        ["status"],
        ["run"],
        ["attach"],
        ["up"],
        ["demo"],
        ["recipe"],
    ],
)
def test_every_command_has_help(runner: CliRunner, command: list[str]) -> None:
    result = runner.invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_configure_writes_a_private_config_and_reports_json(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(
        cli, ["--output", "json", "configure", "--gw", "http://gw.example:8888/"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["gw"] == "http://gw.example:8888"
    conf = tmp_path / ".nsight-cloud.conf"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert json.loads(conf.read_text())["gw"] == "http://gw.example:8888"


def test_configure_refuses_a_url_without_scheme(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["configure", "--gw", "gw.example:8888"])
    assert result.exit_code == 2
    assert "http://" in result.output


def test_configure_needs_issuer_and_client_id_together(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["configure", "--gw", "http://x", "--issuer", "https://idp"])
    assert result.exit_code == 2
    assert "--clientid" in result.output


def test_unreachable_gateway_exits_4_and_says_how_to_start_one(runner: CliRunner) -> None:
    runner.invoke(cli, ["configure", "--gw", "http://127.0.0.1:9"])
    result = runner.invoke(cli, ["status"])
    assert result.exit_code == 4
    assert "nsight-lab up" in result.output


def test_tag_and_output_are_accepted_after_the_command_too(runner: CliRunner) -> None:
    result = runner.invoke(
        cli, ["configure", "--gw", "http://x:1", "--tag", "trainers", "--output", "json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["tag"] == "trainers"
