"""py-spy: samples Python stacks from outside the process; works everywhere, CPU only.

``py-spy record --pid`` runs as a child of the agent for the length of a collection
and is stopped with SIGINT, which makes it write its speedscope file and exit.
``--nonblocking`` keeps the profiled process running while it is sampled: the agent
must never slow its host, and a few torn stacks are a fair price.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from nsight_lab.agent.annotate import RANGES, RangeLog
from nsight_lab.agent.collectors.base import CollectorError, ProducedFile, RangeWindow

log = logging.getLogger("nsight_lab.agent")

REPORT_FILENAME = "profile.speedscope.json"
#: How long to wait for py-spy to confirm it is sampling (or to fail: bad pid, no ptrace).
_STARTUP_CHECK_S = 3.0
#: What py-spy prints once it is attached and sampling.
_SAMPLING_BANNER = b"Sampling process"
_STOP_TIMEOUT_S = 15.0


def find_pyspy(explicit: str | None = None) -> str | None:
    """The py-spy executable: explicit setting, this interpreter's scripts, then PATH.

    The interpreter's own scripts folder comes before PATH because the ``py-spy``
    wheel installs there, and a PATH entry may be a slow shim or another version.
    """
    if explicit:
        return explicit if os.path.isfile(explicit) and os.access(explicit, os.X_OK) else None
    candidates: list[str] = []
    scripts = sysconfig.get_path("scripts")
    if scripts:
        candidates.append(os.path.join(scripts, "py-spy"))
    candidates.append(os.path.join(os.path.dirname(sys.executable), "py-spy"))
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("py-spy")


class PySpyCollector:
    name = "pyspy"
    inline = False
    capabilities = ["python", "cpu"]

    def __init__(
        self,
        target_pid: int,
        process_name: str,
        *,
        pyspy_path: str | None = None,
        rate: int = 100,
        ranges: RangeLog | None = RANGES,
    ) -> None:
        executable = find_pyspy(pyspy_path)
        if executable is None:
            where = (
                f"NSIGHT_LAB_PYSPY={pyspy_path}" if pyspy_path else "PATH or beside the interpreter"
            )
            raise CollectorError(
                f"py-spy not found ({where}); install it with `pip install py-spy`"
            )
        self.executable = executable
        self.target_pid = target_pid
        self.rate = rate
        self._window = RangeWindow(process_name, ranges)
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self._options: dict[str, object] = {}

    def configure(self, options: dict[str, object]) -> None:
        """``rate``, ``native``, ``idle``, ``gil`` for the next collection, already checked."""
        self._options = dict(options)

    def set_report_metadata(self, metadata: dict[str, object]) -> None:
        self._window.metadata = dict(metadata)

    def halt(self) -> None:
        """A step capture ended: its ranges end here, the tool stops in ``stop``."""
        self._window.mark_end()

    def start(self, collection_dir: Path, collection_index: int) -> None:
        if self._proc is not None:
            raise CollectorError("py-spy is already recording a collection")
        collection_dir.mkdir(parents=True, exist_ok=True)
        output = collection_dir / REPORT_FILENAME
        argv = [
            self.executable, "record",
            "--pid", str(self.target_pid),
            "--format", "speedscope",
            "--rate", str(self._options.get("rate", self.rate)),
            "--output", str(output),
            # py-spy reads native stacks only from a paused process; that is the
            # price the user asked for with --native.
            *([] if self._options.get("native") else ["--nonblocking"]),
            *(f"--{flag}" for flag in ("native", "idle", "gil") if self._options.get(flag)),
        ]  # fmt: skip
        log_path = collection_dir / "py-spy.log"
        with open(log_path, "wb") as log_file:
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # the host's Ctrl-C must not stop py-spy early
                )
            except OSError as exc:
                raise CollectorError(f"cannot run {self.executable}: {exc}") from exc
        if not _attached(proc, log_path):
            raise CollectorError(
                f"py-spy exited at once with status {proc.returncode}: {_tail(log_path)}"
            )
        self._proc = proc
        self._dir = collection_dir
        self._window.open(collection_dir)

    def stop(self) -> list[ProducedFile]:
        proc, directory = self._proc, self._dir
        if proc is None or directory is None:
            raise CollectorError("py-spy is not recording")
        self._proc = None
        ranges = self._window.close()
        _interrupt(proc)
        output = directory / REPORT_FILENAME
        if not output.is_file() or output.stat().st_size == 0:
            raise CollectorError(
                f"py-spy wrote no profile (exit status {proc.returncode}): "
                f"{_tail(directory / 'py-spy.log')}"
            )
        return [ProducedFile(output, "report"), *ranges]

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            _interrupt(proc)


def _attached(proc: subprocess.Popen[bytes], log_path: Path) -> bool:
    """Wait until py-spy says it samples (True) or exits (False), at most a few seconds.

    Returning on the banner keeps the start command's latency at py-spy's attach time
    instead of a fixed wait; a silent py-spy that is still running counts as started.
    """
    deadline = time.monotonic() + _STARTUP_CHECK_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if _SAMPLING_BANNER in log_path.read_bytes():
                return True
        except OSError:
            pass
        time.sleep(0.02)
    return proc.poll() is None


def _interrupt(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT (py-spy then writes its file), then SIGKILL if it does not exit in time."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGINT)
        proc.wait(_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        log.warning("py-spy did not exit %ss after SIGINT; killing it", _STOP_TIMEOUT_S)
        proc.kill()
        proc.wait(5)
    except OSError:
        pass


def _tail(path: Path, limit: int = 600) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no output)"
    lines = [line for line in text.splitlines() if line.strip() and "backtrace" not in line.lower()]
    # py-spy prints a Rust backtrace after the message; the message is what helps.
    message = " | ".join(lines[:3])
    return message[:limit] or "(no output)"
