"""``/nsight-lab/status``: the connection the panel shows first."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.analysis_stack import AnalysisStack
from tests.unit.jupyter.server.fetching import fetch_json


async def test_reachable_stack(jp_fetch: Any, gateway: AnalysisStack) -> None:
    code, status = await fetch_json(jp_fetch, "nsight-lab", "status")
    assert code == 200
    assert status["gateway"] == gateway.url
    assert status["reachable"] is True
    assert status["error"] is None
    assert status["auth"] == "none"
    assert status["workspace"] == "nsight-lab"


async def test_unreachable_gateway_is_reported_not_raised(
    jp_fetch: Any, gateway: AnalysisStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NSIGHT_LAB_GW", "http://127.0.0.1:9")
    code, status = await fetch_json(jp_fetch, "nsight-lab", "status")
    assert code == 200
    assert status["reachable"] is False
    assert "cannot reach the nsight-lab gateway at http://127.0.0.1:9" in status["error"]


async def test_an_unsafe_config_file_is_explained(
    jp_fetch: Any, gateway: AnalysisStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "shared.conf"
    conf.write_text('{"gw": "http://127.0.0.1:1"}')
    os.chmod(conf, 0o644)
    monkeypatch.setenv("NSIGHT_CLOUD_CONF", str(conf))
    code, status = await fetch_json(jp_fetch, "nsight-lab", "status")
    assert code == 200
    assert status["reachable"] is False
    assert "chmod 600" in status["error"]
    assert str(conf) in status["error"]


async def test_the_config_file_is_read_per_request(
    jp_fetch: Any, gateway: AnalysisStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "nsight.conf"
    conf.write_text(f'{{"gw": "{gateway.url}", "tag": "team-a"}}')
    os.chmod(conf, 0o600)
    monkeypatch.setenv("NSIGHT_CLOUD_CONF", str(conf))
    monkeypatch.delenv("NSIGHT_LAB_GW")
    code, status = await fetch_json(jp_fetch, "nsight-lab", "status")
    assert (code, status["gateway"], status["tag"], status["reachable"]) == (
        200,
        gateway.url,
        "team-a",
        True,
    )


class TestServerConfigWins:
    @pytest.fixture
    def nsight_traitlets(self) -> dict[str, Any]:
        return {"gateway_url": "http://127.0.0.1:9", "workspace_dir": "reports"}

    async def test_traitlets_override_environment(
        self, jp_fetch: Any, gateway: AnalysisStack
    ) -> None:
        code, status = await fetch_json(jp_fetch, "nsight-lab", "status")
        assert code == 200
        assert status["gateway"] == "http://127.0.0.1:9"
        assert status["reachable"] is False
        assert status["workspace"] == "reports"
