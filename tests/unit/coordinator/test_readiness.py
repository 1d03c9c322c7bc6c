"""Readiness: what each collector can record on an agent's machine, sent at registration.

The agent checks every collector (``nsight_lab.agent.preflight``), not only the one
it runs; the coordinator keeps the answer with the agent, and ``status`` names the
collector that cannot record and the setting that fixes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from nsight_coordinator import CoordinatorSettings
from nsight_lab.cli.main import cli
from nsight_lab.storage.local import LocalStore
from tests.unit.coordinator.live_server import LiveCoordinator

PTRACE_FIX = "add securityContext.capabilities.add: [SYS_PTRACE] to the container"
READINESS = {
    "pyspy": {
        "ok": False,
        "missing": [
            "ptrace is restricted (kernel.yama.ptrace_scope=1) and SYS_PTRACE is not granted"
        ],
        "fix": PTRACE_FIX,
    },
    "annotations": {"ok": True, "missing": [], "fix": ""},
}


def registration(readiness: Any, instance: str = "w0") -> dict[str, Any]:
    return {
        "tag": "default",
        "process_name": "train",
        "instance": instance,
        "pid": 1,
        "collector": "pyspy",
        "readiness": readiness,
    }


def test_readiness_is_kept_with_the_agent_and_shown_in_status(client: TestClient) -> None:
    answer = client.post("agents", json=registration(READINESS))
    assert answer.status_code == 200, answer.text
    (agent,) = client.get("tags/default/status").json()["agents"]
    assert agent["readiness"] == READINESS


def test_a_re_registration_replaces_the_readiness(client: TestClient) -> None:
    agent_id = client.post("agents", json=registration(READINESS)).json()["agent_id"]
    fixed = {**READINESS, "pyspy": {"ok": True, "missing": [], "fix": ""}}
    again = client.post("agents", json={**registration(fixed), "agent_id": agent_id})
    assert again.status_code == 200, again.text
    (agent,) = client.get("tags/default/status").json()["agents"]
    assert agent["readiness"]["pyspy"]["ok"] is True


def test_an_agent_that_sends_none_has_an_empty_readiness(client: TestClient) -> None:
    body = registration(READINESS)
    del body["readiness"]
    assert client.post("agents", json=body).status_code == 200
    (agent,) = client.get("tags/default/status").json()["agents"]
    assert agent["readiness"] == {}


@pytest.mark.parametrize(
    ("readiness", "problem"),
    [
        ({"pyspy": {"missing": ["x" * 20000]}}, "at most 16 KiB"),
        (["pyspy"], "readiness"),
    ],
    ids=["too-big", "not-an-object"],
)
def test_a_bad_readiness_is_refused_naming_it(
    client: TestClient, readiness: Any, problem: str
) -> None:
    answer = client.post("agents", json=registration(readiness))
    assert answer.status_code == 422
    assert problem in answer.text
    assert client.get("tags/default/status").json()["agents"] == []


def test_status_names_the_collector_that_cannot_record_and_the_fix(
    settings: CoordinatorSettings,
    store: LocalStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = LiveCoordinator(settings, store, mount="/coordinator").start()
    try:
        registered = httpx.post(server.url + "/agents", json=registration(READINESS), timeout=10)
        assert registered.status_code == 200, registered.text
        monkeypatch.setenv("NSIGHT_CLOUD_CONF", str(tmp_path / ".nsight-cloud.conf"))
        monkeypatch.setenv("COLUMNS", "200")
        runner = CliRunner()
        gw = f"http://127.0.0.1:{server.port}"
        assert runner.invoke(cli, ["configure", "--gw", gw]).exit_code == 0
        result = runner.invoke(cli, ["status"])
    finally:
        server.stop()
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "cannot record" in line)
    assert "w0: pyspy cannot record: ptrace is restricted" in line
    assert f"Fix: {PTRACE_FIX}" in line
