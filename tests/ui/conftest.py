"""Browser tests: Debian's Chromium driven by Playwright; no browser is ever downloaded."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Kept after the run (printed) so a person can look at what the browser showed."""
    folder = Path(tempfile.mkdtemp(prefix="nsight-ui-screens-"))
    print(f"\nUI screenshots: {folder}")
    return folder


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            "Chromium is missing: apt-get install -y chromium (scripts/bootstrap.sh --dev)"
        )
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 900},
        )
        context.set_default_timeout(30_000)
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


@pytest.fixture
def lab(tmp_path: Path, stack: Any) -> Iterator[Any]:
    """A fresh JupyterLab in front of the test module's ``stack`` (its ``nsight-lab up``)."""
    from tests.ui.lab_server import JupyterLabServer

    server = JupyterLabServer(tmp_path / "lab", stack.url).start()
    try:
        yield server
    finally:
        server.stop()
