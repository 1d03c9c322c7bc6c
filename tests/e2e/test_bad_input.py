"""Bad input through the CLI and the API: clear errors, non-zero exits, nothing written astray."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import start_workloads
from tests.support.stack import Cli, UpServer

pytestmark = [pytest.mark.e2e]


def test_unknown_session_is_a_clear_error(cli: Cli) -> None:
    missing = str(uuid.uuid4())
    result = cli.run("ls", "--session", missing, check=False)
    assert result.returncode == 3
    assert f"no session '{missing}'" in result.stderr
    assert "nsight-lab sessions" in result.stderr


def test_ending_an_ended_session_is_refused(cli: Cli) -> None:
    session = cli.json("--tag", "twice", "session-begin")
    cli.run("--tag", "twice", "session-end", "--session", session["session_id"])
    again = cli.run(
        "--tag", "twice", "session-end", "--session", session["session_id"], check=False
    )
    assert again.returncode == 3 and "ended" in again.stderr.lower()


def test_starting_with_no_agents_says_how_to_start_one(cli: Cli) -> None:
    result = cli.run("--tag", "empty", "profiler-start", check=False)
    assert result.returncode == 3
    assert "nsight-lab run" in result.stderr


def test_unreachable_gateway_says_what_to_do(tmp_path: Path) -> None:
    result = Cli("http://127.0.0.1:9", tmp_path).run("status", check=False)
    assert result.returncode == 4
    assert "nsight-lab up" in result.stderr


@pytest.mark.parametrize("title", ["nul\x00byte", "x" * 10_240, "bell\x07"])
def test_titles_with_control_characters_or_10kb_are_refused(stack: UpServer, title: str) -> None:
    answer = httpx.post(
        stack.url + "/coordinator/api/v1/sessions", json={"tag": "titles", "title": title}
    )
    assert answer.status_code == 422
    assert "title" in answer.text


@pytest.mark.slow
def test_path_tricks_in_titles_and_names_never_escape_the_download_folder(
    stack: UpServer, cli: Cli, tmp_path: Path
) -> None:
    workloads = start_workloads(stack, cli, "tricks", 1, process_name="../../evil")
    try:
        cli.json("--tag", "tricks", "session-begin", "--title", "../../../escape/me")
        cli.json("--tag", "tricks", "profiler-start")
        stopped = cli.json("--tag", "tricks", "profiler-stop", "--timeout", "60")
        assert stopped["state"] == "COMPLETED"
    finally:
        for w in workloads:
            w.stop()
    out = tmp_path / "nested" / "out"
    cli.run("--tag", "tricks", "download", "-o", str(out))
    written = [
        p
        for p in tmp_path.rglob("*")
        if p.is_file() and "up" not in p.relative_to(tmp_path).parts[:1]
    ]
    downloads = [p for p in written if out in p.parents]
    assert downloads, "nothing was downloaded"
    stray = [p for p in written if out not in p.parents and p.name != ".nsight-cloud.conf"]
    assert stray == []
    for path in downloads:
        assert ".." not in path.relative_to(out).parts
