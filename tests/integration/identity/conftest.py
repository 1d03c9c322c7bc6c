"""A CLI home per test: its own config file, token file and environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli_home import CliHome, make_cli_home


@pytest.fixture
def cli_home(tmp_path: Path) -> CliHome:
    return make_cli_home(tmp_path / "home")
