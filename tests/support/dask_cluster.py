"""A real Dask cluster for tests: ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1.

Each process runs in a session of its own so a test can kill one worker (its nanny
and the worker process together) the way a node is lost. The scheduler is started
with ``distributed.scheduler.allowed-failures = 0``: a task whose worker dies fails
at once with ``KilledWorker``, so the single retry that nsight-lab itself makes is
what the tests observe. Every process stops by itself if left behind (scheduler idle
timeout, workers' death timeout), and every wait here is bounded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.minio import free_port
from tests.support.stack import base_env

START_TIMEOUT_S = 90.0


class DaskCluster:
    def __init__(self, log_dir: Path, *, workers: int = 2, env: dict[str, str] | None = None):
        self.log_dir = log_dir
        self.workers = workers
        self.env = base_env({"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0", **(env or {})})
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self._scheduler: subprocess.Popen[bytes] | None = None
        self._workers: dict[int, subprocess.Popen[bytes]] = {}

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "dask", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )

    def start(self) -> DaskCluster:
        self._scheduler = self._spawn(
            "scheduler",
            [
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-dashboard",
                "--idle-timeout",
                "1800",
            ],
        )
        for i in range(self.workers):
            self.start_worker(i)
        self.wait_for_workers(self.workers)
        return self

    def start_worker(self, index: int) -> None:
        self._workers[index] = self._spawn(
            f"worker-{index}",
            [
                "worker",
                self.address,
                "--host",
                "127.0.0.1",
                "--nthreads",
                "1",
                "--name",
                f"w{index}",
                "--no-dashboard",
                "--death-timeout",
                "60",
            ],
        )

    def client(self) -> Any:
        from distributed import Client

        return Client(self.address, timeout=30)

    def wait_for_workers(self, count: int, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while time.monotonic() < deadline:
                if len(client.scheduler_info(n_workers=-1)["workers"]) >= count:
                    return
                time.sleep(0.2)
        raise AssertionError(
            f"{count} Dask worker(s) not up within {timeout} s; logs in {self.log_dir}"
        )

    def worker_name(self, address: str, client: Any) -> str:
        return str(client.scheduler_info(n_workers=-1)["workers"][address]["name"])

    def busy_worker(self, client: Any, timeout: float = 60.0) -> int:
        """The index of a worker running a task now (waits until one is)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for address, keys in client.processing().items():
                if keys:
                    name = self.worker_name(address, client)
                    return int(name.lstrip("w").split("-")[0])
            time.sleep(0.05)
        raise AssertionError(f"no Dask worker got a task within {timeout} s")

    def kill_worker(self, index: int) -> None:
        """SIGKILL the worker's whole process group: nanny and worker, like a lost node."""
        proc = self._workers.pop(index)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        procs = [*self._workers.values(), *([self._scheduler] if self._scheduler else [])]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        self._workers.clear()
        self._scheduler = None

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for path in sorted(self.log_dir.glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(out)

    def __enter__(self) -> DaskCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
