"""The CLI as a user runs it, in a subprocess with its own home, and its OAuth2 logins.

Used by the identity, e2e and UI tests: ``CliHome`` has its own config and token file;
``configure_oauth``/``device_login``/``start_code_login`` drive ``nsight-lab login``
against the test OIDC provider, the person at the provider played by :class:`IdpUser`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.minio import free_port
from tests.support.oidc_provider import ALICE, CLI_CLIENT_ID, IdpUser, OidcProvider, TestUser
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


def make_cli_home(folder: Path) -> CliHome:
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    return CliHome(folder)


def configure_oauth(home: CliHome, idp: OidcProvider, gw: str, flow: str = "device") -> None:
    done = home.run(
        "configure", "--gw", gw, "--issuer", idp.issuer, "--clientid", CLI_CLIENT_ID,
        "--oauth-flow-type", flow,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def first_json_line(proc: Any, timeout: float = 30) -> dict[str, Any]:
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert line and line[0], f"no output from the CLI; stderr: {proc.stderr.read()}"
    return dict(json.loads(line[0]))


def device_login(home: CliHome, idp: OidcProvider, user: TestUser = ALICE) -> dict[str, Any]:
    """``nsight-lab --output json login`` (device flow), approved by ``user``; its result."""
    proc = home.start("--output", "json", "login")
    event = first_json_line(proc)
    assert event["event"] == "device_authorization"
    assert event["user_code"] and event["verification_uri"].startswith(idp.issuer)
    IdpUser(idp).approve_device(event["verification_uri_complete"], user)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return dict(json.loads(out))


def start_code_login(home: CliHome, idp: OidcProvider) -> tuple[Any, int, dict[str, Any]]:
    """``login`` with the code flow, up to the URL it asks the user to open."""
    configure_oauth(home, idp, "http://127.0.0.1:9", flow="code")
    port = free_port()
    proc = home.start("--output", "json", "login", "--no-browser", "--port", str(port))
    return proc, port, first_json_line(proc)
