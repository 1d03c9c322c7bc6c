"""Keeping ``kubectl port-forward`` running for a ClusterIP gateway, between commands.

``autoconfigure`` starts each forward as a detached process (its own session, output
to a log beside the config) and records its command and pid; every later command
checks the pid and starts the forward again when it has died (a laptop slept, the
Pod restarted), so users never run port-forwards by hand.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from nsight_lab.agent.launcher import process_alive
from nsight_lab.config import CliConfig, PortForwardSpec, config_path

READY_TIMEOUT_S = 15.0


class PortForwardError(RuntimeError):
    """kubectl is missing, or the forward did not come up; the message says what to do."""


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def log_path() -> Path:
    return config_path().with_name(config_path().name + ".port-forward.log")


def start(spec: PortForwardSpec, *, wait: bool = True) -> PortForwardSpec:
    """Start ``spec.command`` detached; with ``wait``, until its local port accepts connections."""
    program = spec.command[0]
    if shutil.which(program) is None:
        raise PortForwardError(
            f"{program!r} is not on PATH: install kubectl, or run the port-forward yourself:\n  "
            + " ".join(spec.command)
        )
    with log_path().open("ab") as log:
        proc = subprocess.Popen(
            spec.command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started = spec.model_copy(update={"pid": proc.pid})
    if wait:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _listening(spec.local_port):
            if proc.poll() is not None:
                raise PortForwardError(
                    f"kubectl port-forward exited ({proc.returncode}); see {log_path()}"
                )
            if time.monotonic() > deadline:
                proc.terminate()
                raise PortForwardError(
                    f"the port-forward to 127.0.0.1:{spec.local_port} did not open within "
                    f"{READY_TIMEOUT_S:.0f} s; see {log_path()}"
                )
            time.sleep(0.1)
    return started


def ensure(config: CliConfig) -> tuple[CliConfig, bool]:
    """Start the forwards of ``config`` that are not running; (config, whether any restarted)."""
    changed = False
    specs = []
    for spec in config.port_forwards:
        if spec.pid and process_alive(spec.pid):
            specs.append(spec)
            continue
        specs.append(start(spec))
        changed = True
    return config.model_copy(update={"port_forwards": specs}), changed


def stop(config: CliConfig) -> CliConfig:
    """End the forwards ``config`` records (before a new autoconfigure replaces them)."""
    for spec in config.port_forwards:
        if spec.pid and process_alive(spec.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(spec.pid, 15)
    return config.model_copy(update={"port_forwards": []})
