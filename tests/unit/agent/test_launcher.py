"""``nsight-lab run``'s plumbing: the child gets an agent through sitecustomize."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nsight_lab.agent.launcher import (
    BOOTSTRAP_DIR,
    LaunchError,
    attach,
    build_run_environment,
    run_command,
)
from tests.unit.agent.stand_in_coordinator import StandIn, serve
from tests.unit.agent.test_runtime import wait_for

FAKE_NSYS = Path(__file__).resolve().parents[2] / "support" / "fake_nsys.py"


@pytest.fixture
def stand_in() -> Iterator[tuple[StandIn, str]]:
    state = StandIn()
    server, url = serve(state)
    yield state, url
    server.shutdown()
    server.server_close()


def test_environment_puts_the_bootstrap_first_and_carries_settings() -> None:
    env = build_run_environment(
        {"PYTHONPATH": "/user/lib", "HOME": "/h"},
        coordinator_url="http://h:1/coordinator/api/v1",
        tag="train",
        instance=None,
        process_name=None,
        collector="pyspy",
        api_key="k",
    )
    assert env["PYTHONPATH"].split(os.pathsep) == [str(BOOTSTRAP_DIR), "/user/lib"]
    assert env["NSIGHT_LAB_COORDINATOR_URL"] == "http://h:1/coordinator/api/v1/"
    assert (env["NSIGHT_LAB_TAG"], env["NSIGHT_LAB_COLLECTOR"], env["NSIGHT_LAB_API_KEY"]) == (
        "train",
        "pyspy",
        "k",
    )
    assert "NSIGHT_LAB_INSTANCE" not in env and "NSIGHT_LAB_NSYS_SESSION" not in env
    assert env["HOME"] == "/h"


def test_bad_collector_is_refused() -> None:
    with pytest.raises(LaunchError, match="--collector 'perf'"):
        build_run_environment({}, coordinator_url="http://h/", tag="t", collector="perf")


def test_run_starts_an_agent_in_the_child_and_chains_its_sitecustomize(
    stand_in: tuple[StandIn, str], tmp_path: Path
) -> None:
    state, url = stand_in
    previous = tmp_path / "previous"
    previous.mkdir()
    marker = tmp_path / "previous-ran"
    (previous / "sitecustomize.py").write_text(f"open({str(marker)!r}, 'w').write('yes')\n")
    script = tmp_path / "child_job.py"
    script.write_text(
        "import time\n"
        "from nsight_lab.agent import current_agent\n"
        "agent = current_agent()\n"
        "assert agent is not None and agent.wait_registered(5)\n"
        "print('registered', agent.agent_id)\n"
    )
    env = build_run_environment(
        {
            **os.environ,
            "PYTHONPATH": str(previous),
            "NSIGHT_LAB_SPOOL_DIR": str(tmp_path / "spool"),
        },
        coordinator_url=url,
        tag="t",
        collector="annotations",
    )
    assert run_command([sys.executable, str(script)], env) == 0
    assert marker.read_text() == "yes"
    (registration,) = state.registrations
    assert registration["process_name"] == "child_job"
    assert registration["collector"] == "annotations"
    wait_for(lambda: len(state.byes) == 1)


def test_exit_status_and_signal_death_are_returned() -> None:
    assert run_command([sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ)) == 3
    code = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    assert run_command([sys.executable, "-c", code], dict(os.environ)) == 128 + 15


def test_missing_command_is_a_clear_error() -> None:
    with pytest.raises(LaunchError, match="no command"):
        run_command([], {})
    with pytest.raises(LaunchError, match="cannot run"):
        run_command(["/no/such/program"], dict(os.environ))


def test_nsys_collector_wraps_the_command_in_nsys_launch(tmp_path: Path) -> None:
    """FAKE nsys stands in for Nsight Systems: it logs argv and execs the program."""
    log = tmp_path / "calls.jsonl"
    env = build_run_environment(
        {**os.environ, "NSIGHT_LAB_NSYS": str(FAKE_NSYS), "FAKE_NSYS_LOG": str(log)},
        coordinator_url="http://127.0.0.1:9/api/v1/",
        tag="t",
        collector="nsys",
    )
    env["NSIGHT_LAB_COORDINATOR_URL"] = ""  # the child needs no agent for this check
    session = env["NSIGHT_LAB_NSYS_SESSION"]
    assert run_command([sys.executable, "-c", "raise SystemExit(0)"], env) == 0
    (call,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert call == [
        "launch",
        f"--session-new={session}",
        "--trace=cuda,nvtx,osrt",
        "--wait=all",
        sys.executable,
        "-c",
        "raise SystemExit(0)",
    ]


def test_nsys_collector_without_nsys_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    env = build_run_environment(
        {"PATH": "/nonexistent"}, coordinator_url="http://h/", tag="t", collector="nsys"
    )
    with pytest.raises(LaunchError, match="nsys"):
        run_command(["python"], env)


def test_attach_records_another_process_with_pyspy(
    stand_in: tuple[StandIn, str], tmp_path: Path
) -> None:
    state, url = stand_in
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nend=time.time()+8\nwhile time.time()<end: sum(range(1000))",
        ]
    )
    try:
        time.sleep(0.5)
        agent = attach(
            child.pid, coordinator_url=url, tag="t", spool_dir=tmp_path / "spool", wait=False
        )
        assert agent.wait_registered(5)
        assert agent.agent_id
        assert state.registrations[0]["pid"] == child.pid
        assert state.registrations[0]["collector"] == "pyspy"
        state.push(agent.agent_id, "start")
        wait_for(lambda: len(state.acks) == 1)
        time.sleep(0.5)
        state.push(agent.agent_id, "stop")
        wait_for(lambda: len(state.files) == 1)
        assert state.files[0]["filename"] == "profile.speedscope.json"
        agent.stop(timeout=2)
    finally:
        child.kill()
        child.wait()


def test_attach_to_a_missing_process_is_a_clear_error() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with pytest.raises(LaunchError, match=f"no running process with pid {child.pid}"):
        attach(child.pid, coordinator_url="http://h/", wait=False)
