"""A real JupyterLab for browser tests, with the built nsight-lab extension and no user state.

Every Jupyter folder (config, data, settings, workspaces, root) is a fresh temporary
one, so a developer's own JupyterLab settings never change what a test sees; the lab
extension comes from the build folder through ``JUPYTER_PATH``, as an installed one would.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.minio import free_port
from tests.support.stack import REPO_ROOT, base_env

BUILD = REPO_ROOT / "nsight_lab" / "jupyter" / "labextension"


class JupyterLabServer:
    def __init__(
        self,
        home: Path,
        gateway: str,
        env: dict[str, str] | None = None,
        *,
        server_config: dict[str, Any] | None = None,
    ) -> None:
        """``server_config``: more of ``jupyter_server_config.json``, by section
        (``{"NsightLabExtension": {...}}``)."""
        if not (BUILD / "package.json").is_file():
            raise RuntimeError(
                f"{BUILD} has no build; run `bash scripts/build-labextension.sh` first"
            )
        self.home = home
        self.root = home / "root"
        self.settings = home / "settings"
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / "jupyterlab.log"
        data = home / "jupyter-path"
        (data / "labextensions").mkdir(parents=True)
        (data / "labextensions" / "nsight-lab").symlink_to(BUILD)
        config = home / "config"
        config.mkdir()
        (config / "jupyter_server_config.json").write_text(
            json.dumps(
                {
                    "ServerApp": {"jpserver_extensions": {"nsight_lab.jupyter": True}},
                    **(server_config or {}),
                }
            )
        )
        # JupyterLab's "get Jupyter news?" toast would cover the panel in screenshots.
        (config / "labconfig").mkdir()
        (config / "labconfig" / "page_config.json").write_text(
            json.dumps(
                {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
            )
        )
        for folder in (self.root, self.settings):
            folder.mkdir()
        self.env = base_env(
            {
                "JUPYTER_CONFIG_DIR": str(config),
                "JUPYTER_DATA_DIR": str(home / "data"),
                "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
                "JUPYTER_PATH": str(data),
                "JUPYTERLAB_SETTINGS_DIR": str(self.settings),
                "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
                "NSIGHT_LAB_GW": gateway,
                "NSIGHT_CLOUD_CONF": str(home / "absent.conf"),
                "NSIGHT_LAB_TRACE_CACHE": str(home / "trace-cache"),
                **(env or {}),
            }
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> JupyterLabServer:
        cmd = [
            sys.executable, "-m", "jupyter", "lab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--allow-root",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
            "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd, env=self.env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: {self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(
                    f"{self.url}/api/status?token={self.token}", timeout=2
                ) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        raise RuntimeError(
            f"jupyter lab did not answer in {timeout}s: {self.log.read_text()[-3000:]}"
        )

    def use_theme(self, theme: str) -> None:
        """What Settings > Theme writes; the next page load applies it."""
        target = self.settings / "@jupyterlab" / "apputils-extension" / "themes.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({"theme": theme}))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def open_panel(page: Any, lab: JupyterLabServer) -> Any:
    """A fresh JupyterLab page with the Nsight sidebar open and connected."""
    page.goto(f"{lab.url}/lab?token={lab.token}&reset")
    page.locator('.lm-TabBar-tab[data-id="nsight-lab-panel"]').click()
    panel = page.locator("#nsight-lab-panel")
    panel.get_by_text("connected", exact=True).wait_for()
    return panel


def choose_tag(panel: Any, tag: str) -> Any:
    """Pick ``tag`` in the panel's choice of known tags, once the coordinator knows it."""
    choice = panel.get_by_label("Tag", exact=True)
    choice.locator(f'option[value="{tag}"]').wait_for(state="attached")
    choice.select_option(tag)
    return choice


def enter_tag(panel: Any, tag: str) -> None:
    """Use ``tag`` whether or not the coordinator knows it yet: pick it when it is a
    choice, else choose "New tag…" and type it, as a user starting a new tag does."""
    choice = panel.get_by_label("Tag", exact=True)
    if choice.locator(f'option[value="{tag}"]').count():
        choice.select_option(tag)
        return
    choice.select_option(label="New tag…")
    field = panel.get_by_label("New tag", exact=True)
    field.fill(tag)
    field.press("Tab")  # the panel reloads on change, as when a user leaves the field
