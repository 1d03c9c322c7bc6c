"""Real processes for end-to-end tests: ``nsight-lab up``, workloads under agents, the CLI.

Everything here starts real subprocesses on 127.0.0.1 and stops them itself; loops
that wait are bounded so a broken build fails a test instead of hanging CI.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.support.minio import MinioServer, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment our subprocesses get: the repo importable, fast expiry for faults."""
    paths = [str(REPO_ROOT), str(REPO_ROOT / "services")]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(paths),
        "PYTHONUNBUFFERED": "1",
        "NSIGHT_LAB_COORDINATOR_AGENT_EXPIRY_S": "4",
        "NSIGHT_LAB_COORDINATOR_HEARTBEAT_INTERVAL_S": "1",
        "NSIGHT_LAB_COORDINATOR_POLL_TIMEOUT_S": "2",
    }
    env.update(extra or {})
    return env


class UpServer:
    """``nsight-lab up`` as a subprocess; can be killed and restarted on the same port and data.

    Storage is the local folder by default, a bucket on ``minio`` when given, or any
    ``storage_config`` file; ``env`` tunes the services (``NSIGHT_LAB_*`` settings).
    ``auth`` puts the Envoy gateway in front (``"apikey"``, ``"jwt"``, ``("jwt",
    "oauth2")``...) with ``auth_args`` as further ``up`` flags (``--apikey-file``...);
    with ``--tls-cert`` among them the URL is ``https``.
    """

    def __init__(
        self,
        data_dir: Path,
        minio: MinioServer | None = None,
        bucket: str | None = None,
        *,
        storage_config: Path | None = None,
        env: dict[str, str] | None = None,
        auth: str | tuple[str, ...] | None = None,
        auth_args: list[str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.auth = (auth,) if isinstance(auth, str) else tuple(auth or ())
        self.auth_args = list(auth_args or [])
        self.host = host
        scheme = "https" if "--tls-cert" in self.auth_args else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.coordinator_url = f"{self.url}/coordinator/api/v1/"
        self.analysis_url = f"{self.url}/analysis/api/v1/"
        self.env = env or {}
        self.storage_config = storage_config
        if minio is not None:
            config = minio.storage_config(bucket).model_dump(mode="json", exclude_none=True)
            self.storage_config = data_dir / "storage-config.yaml"
            data_dir.mkdir(parents=True, exist_ok=True)
            self.storage_config.write_text(yaml.safe_dump(config))
        self.log = data_dir / "up.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> UpServer:
        cmd = [
            sys.executable,
            "-m",
            "nsight_lab",
            "up",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--host",
            self.host,
        ]
        for mode in self.auth:
            cmd += ["--auth", mode]
        cmd += self.auth_args
        if self.storage_config:
            cmd += ["--storage-config", str(self.storage_config)]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                cmd, cwd=REPO_ROOT, env=base_env(self.env), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"nsight-lab up exited: {self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(
                    self.url + "/healthz", timeout=1, context=_unverified()
                ) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise RuntimeError(
            f"nsight-lab up did not answer within {timeout}s: {self.log.read_text()[-3000:]}"
        )

    def log_line(self, marker: str, timeout: float = 15.0) -> str:
        """The first line of ``up.log`` holding ``marker``, waiting for it to be written.

        ``/healthz`` answers as soon as the gateway is ready, a moment before ``up``
        prints where everything is, so a reader of the log must wait for the line.
        """
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log.read_text().splitlines():
                if marker in line:
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"{marker!r} never appeared in {self.log}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: the hardest crash; nothing gets to clean up."""
        if self._proc and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(10)

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self._proc

    def __enter__(self) -> UpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _unverified() -> ssl.SSLContext:
    """Only for the readiness probe of a gateway with a self-signed test certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Workload:
    """The bundled demo workload started through ``nsight-lab run``."""

    def __init__(
        self,
        gw: str,
        tag: str,
        instance: str | None,
        *,
        collector: str = "pyspy",
        process_name: str | None = None,
        seconds: float = 120.0,
        env: dict[str, str] | None = None,
        command: list[str] | None = None,
        log: Path | None = None,
    ) -> None:
        cmd = [
            sys.executable,
            "-m",
            "nsight_lab",
            "run",
            "--tag",
            tag,
            "--collector",
            collector,
        ]
        if instance:  # else every process of the tree names itself (host-pid)
            cmd += ["--instance", instance]
        if process_name:
            cmd += ["--process-name", process_name]
        cmd += ["--", *(command or [sys.executable, "-m", "nsight_lab.demo.workload",
                                    "--seconds", str(seconds)])]  # fmt: skip
        self.instance = instance
        output = log.open("ab") if log is not None else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            cmd,
            env=base_env({"NSIGHT_LAB_GW": gw, **(env or {})}),
            stdout=output,
            stderr=subprocess.STDOUT if log is not None else subprocess.DEVNULL,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the workload and everything it started: the agent gets no goodbye."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


class Cli:
    """Runs ``python -m nsight_lab`` against one gateway, with its own config file."""

    def __init__(self, gw: str, home: Path) -> None:
        self.env = base_env(
            {"NSIGHT_LAB_GW": gw, "NSIGHT_CLOUD_CONF": str(home / ".nsight-cloud.conf")}
        )

    def run(
        self, *args: str, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "nsight_lab", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"nsight-lab {' '.join(args)} exited {result.returncode}:\n{result.stderr}\n{result.stdout}"
            )
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run("--output", "json", *args).stdout)


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")
