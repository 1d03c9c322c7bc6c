"""Putting an agent into a new process (``run``) or beside a running one (``attach``).

``run`` works through the environment: the child's ``PYTHONPATH`` starts with the
bootstrap folder, whose ``sitecustomize`` starts the agent before user code runs,
and ``NSIGHT_LAB_*`` variables carry the settings. Every Python process the child
starts inherits them and joins too (each one uploads its own report), as in the
cluster, where the injector sets the same variables.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

from nsight_lab.agent.collectors.base import CollectorError
from nsight_lab.agent.collectors.nsys import find_nsys
from nsight_lab.agent.collectors.pyspy import PySpyCollector
from nsight_lab.agent.config import (
    COLLECTORS,
    AgentConfig,
    command_line,
    derive_process_name,
    normalize_url,
    spool_root,
)
from nsight_lab.agent.runtime import Agent, configure_logging

BOOTSTRAP_DIR = Path(__file__).resolve().parent / "bootstrap"
#: The folder holding the ``nsight_lab`` package, for interpreters without it installed.
PACKAGE_PARENT = Path(__file__).resolve().parents[2]
#: Tracing set up by ``nsys launch`` unless ``NSIGHT_LAB_NSYS_ARGS`` says otherwise.
DEFAULT_NSYS_LAUNCH_ARGS = ("--trace=cuda,nvtx,osrt",)
#: Signals passed on to the child. SIGINT is not among them: Ctrl-C in a terminal
#: reaches the whole foreground process group, child included, and forwarding it
#: again would interrupt the child a second time while it cleans up.
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


class LaunchError(RuntimeError):
    """The command cannot be started as asked; the message says what to fix."""


def build_run_environment(
    base_env: Mapping[str, str],
    *,
    coordinator_url: str,
    tag: str,
    instance: str | None = None,
    process_name: str | None = None,
    collector: str = "auto",
    api_key: str | None = None,
) -> dict[str, str]:
    """The environment for ``nsight-lab run``'s child: agent settings plus bootstrap path.

    ``instance`` and ``process_name`` are only set when given: otherwise every process
    in the tree names itself (``host-pid``, script name), which keeps reports of
    sibling processes from sharing a file name.
    """
    if collector not in COLLECTORS:
        raise LaunchError(f"--collector {collector!r}: must be one of {', '.join(COLLECTORS)}")
    env = dict(base_env)
    env["NSIGHT_LAB_COORDINATOR_URL"] = normalize_url(coordinator_url)
    env["NSIGHT_LAB_TAG"] = tag
    env["NSIGHT_LAB_COLLECTOR"] = collector
    for key, value in (
        ("NSIGHT_LAB_INSTANCE", instance),
        ("NSIGHT_LAB_PROCESS_NAME", process_name),
        ("NSIGHT_LAB_API_KEY", api_key),
    ):
        if value:
            env[key] = value
    env["NSIGHT_LAB_AGENT_PATH"] = str(PACKAGE_PARENT)
    existing = [
        p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(BOOTSTRAP_DIR)
    ]
    env["PYTHONPATH"] = os.pathsep.join([str(BOOTSTRAP_DIR), *existing])
    if collector == "nsys" and not env.get("NSIGHT_LAB_NSYS_SESSION"):
        env["NSIGHT_LAB_NSYS_SESSION"] = f"nsight-lab-{uuid.uuid4().hex[:12]}"
    return env


def nsys_launch_argv(argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """``nsys launch --session-new=<session> <tracing> --wait=all <argv>``.

    Launch configures tracing and names the session but records nothing; the agent
    in the child opens each capture window with ``nsys start --session=<session>``.
    """
    nsys = find_nsys(env.get("NSIGHT_LAB_NSYS"))
    if nsys is None:
        raise LaunchError(
            "--collector nsys needs Nsight Systems: `nsys` is not on PATH "
            "(set NSIGHT_LAB_NSYS to its path, or use --collector pyspy)"
        )
    session = env.get("NSIGHT_LAB_NSYS_SESSION")
    if not session:
        raise LaunchError(
            "NSIGHT_LAB_NSYS_SESSION is unset; build the environment with build_run_environment"
        )
    extra = env.get("NSIGHT_LAB_NSYS_ARGS")
    tracing = shlex.split(extra) if extra is not None else list(DEFAULT_NSYS_LAUNCH_ARGS)
    return [nsys, "launch", f"--session-new={session}", *tracing, "--wait=all", *argv]


def run_command(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Run the user's command with ``env`` and return its exit status (128+N if killed by N).

    Under ``NSIGHT_LAB_COLLECTOR=nsys`` the command runs inside ``nsys launch``.
    """
    if not argv:
        raise LaunchError("no command given: use `nsight-lab run -- python train.py`")
    command = list(argv)
    if env.get("NSIGHT_LAB_COLLECTOR") == "nsys":
        command = nsys_launch_argv(command, env)
    try:
        child = subprocess.Popen(command, env=dict(env))
    except OSError as exc:
        raise LaunchError(f"cannot run {command[0]!r}: {exc.strerror or exc}") from exc

    def forward(signum: int, _frame: FrameType | None) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous: dict[int, object] = {}
    try:
        try:
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
            for sig in FORWARDED_SIGNALS:
                previous[sig] = signal.signal(sig, forward)
        except ValueError:
            pass  # not the main thread: signals cannot be handled here; just wait
        status = child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
    return status if status >= 0 else 128 - status


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rpartition(")")[2].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def attach(
    pid: int,
    *,
    coordinator_url: str,
    tag: str = "default",
    instance: str | None = None,
    process_name: str | None = None,
    api_key: str | None = None,
    token_file: str | None = None,
    spool_dir: Path | None = None,
    pyspy_path: str | None = None,
    wait: bool = True,
    log_file: str | None = None,
) -> Agent:
    """Run an agent in this process for the already-running Python process ``pid``.

    It records with py-spy (from outside, so the target needs no change) and joins
    the coordinator under the target's name. With ``wait`` it returns once the
    target exits or on Ctrl-C, after stopping the agent; otherwise it returns the
    running agent and the caller stops it.
    """
    if pid <= 0 or not process_alive(pid):
        raise LaunchError(f"no running process with pid {pid}")
    name = process_name or derive_process_name(command_line(pid))
    configure_logging(log_file)
    config = AgentConfig(
        coordinator_url=normalize_url(coordinator_url),
        tag=tag,
        instance=instance or f"{socket.gethostname()}-{pid}",
        process_name=name,
        collector="pyspy",
        spool_dir=spool_dir or spool_root() / str(os.getpid()),
        adopt_orphan_spools=spool_dir is None,
        api_key=api_key,
        token_file=token_file,
        target_pid=pid,
        pyspy_path=pyspy_path,
    )
    try:
        collector = PySpyCollector(pid, name, pyspy_path=pyspy_path, ranges=None)
    except CollectorError as exc:
        raise LaunchError(str(exc)) from exc
    agent = Agent(config, collector)
    agent.start()
    if not wait:
        return agent
    try:
        while process_alive(pid):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        agent.stop(timeout=max(config.exit_grace_s, 30.0))
    return agent
