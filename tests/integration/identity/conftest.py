"""A CLI home per test: its own config file, token file and environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import base_env


@dataclass
class CliHome:
    """Runs ``nsight-lab`` as a user would, in a subprocess, against one config file."""

    folder: Path

    @property
    def config(self) -> Path:
        return self.folder / ".nsight-cloud.conf"

    @property
    def tokens(self) -> Path:
        return self.folder / ".nsight-cloud.tokens.json"

    def env(self, **extra: str) -> dict[str, str]:
        env = base_env({"NSIGHT_CLOUD_CONF": str(self.config), **extra})
        for name in ("NSIGHT_API_KEY", "NSIGHT_LAB_GW", "NSIGHT_LAB_TOKEN_FILE"):
            if name not in extra:
                env.pop(name, None)
        return env

    def run(
        self, *args: str, timeout: float = 60, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "nsight_lab", *args],
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, *args: str, **extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "nsight_lab", *args],
            env=self.env(**extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def stored_tokens(self) -> dict[str, Any]:
        return dict(json.loads(self.tokens.read_text()))


@pytest.fixture
def cli_home(tmp_path: Path) -> CliHome:
    home = tmp_path / "home"
    home.mkdir()
    os.chmod(home, 0o700)
    return CliHome(home)
