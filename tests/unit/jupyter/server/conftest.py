"""A real Jupyter server with the nsight-lab extension, and a real ``nsight-lab up`` behind it.

pytest-jupyter's fixtures (``jp_fetch`` & co.) are imported here rather than loaded as a
plugin, so only these tests run under its event loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403

from tests.support.analysis_stack import AnalysisStack


@pytest.fixture(scope="module")
def up_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnalysisStack]:
    stack = AnalysisStack(tmp_path_factory.mktemp("up"), workers=1, warm=False)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def nsight_traitlets() -> dict[str, Any]:
    """``c.NsightLabExtension`` settings; a test class overrides this to test them."""
    return {}


@pytest.fixture
def jp_server_config(nsight_traitlets: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-redef]
    return {
        "ServerApp": {"jpserver_extensions": {"nsight_lab.jupyter": True}},
        "NsightLabExtension": nsight_traitlets,
    }


@pytest.fixture
def gateway(
    up_stack: AnalysisStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AnalysisStack:
    """Point the extension at the stack the way a user does: env over an absent config file."""
    monkeypatch.setenv("NSIGHT_CLOUD_CONF", str(tmp_path / "absent.conf"))
    monkeypatch.setenv("NSIGHT_LAB_GW", up_stack.url)
    monkeypatch.delenv("NSIGHT_API_KEY", raising=False)
    return up_stack
