"""Nsight Systems with a deferred start: one ``nsys start``/``nsys stop`` per collection.

The process runs under ``nsys launch --session-new=<session>`` (``nsight-lab run
--collector nsys`` or the Kubernetes injector arranges it), which sets up tracing
but records nothing. Each collection then opens and closes a capture window on that
named session from inside the process. After ``stop`` the report is exported to
SQLite (forced, so a stale export beside the report is never reused) for analysis;
both files are uploaded, the SQLite one only when the export worked.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from nsight_lab.agent.annotate import RANGES, RangeLog
from nsight_lab.agent.collectors.base import CollectorError, ProducedFile, RangeWindow

log = logging.getLogger("nsight_lab.agent")

REPORT_STEM = "report"
_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 300.0
_EXPORT_TIMEOUT_S = 900.0


def find_nsys(explicit: str | None = None) -> str | None:
    if explicit:
        return explicit if os.path.isfile(explicit) and os.access(explicit, os.X_OK) else None
    return shutil.which("nsys")


def preflight(executable: str | None, environ: dict[str, str] | None = None) -> list[str]:
    """What nsys needs on this host, said plainly before a start rather than after.

    Each finding is one sentence; an empty list means nothing stands in the way.
    """
    env = os.environ if environ is None else environ
    findings: list[str] = []
    if executable is None:
        return ["nsys is not installed (not on PATH, NSIGHT_LAB_NSYS unset)"]
    try:
        done = subprocess.run(
            [executable, "--version"], capture_output=True, timeout=30, check=False
        )
        version = (done.stdout or done.stderr).decode("utf-8", "replace").strip()
        if done.returncode != 0 or not version:
            findings.append(f"`nsys --version` failed with status {done.returncode}")
        else:
            findings.append(f"version: {version.splitlines()[0][:120]}")
    except (OSError, subprocess.TimeoutExpired) as exc:
        findings.append(f"`{executable} --version` cannot run: {exc}")
    try:
        paranoid = int(Path("/proc/sys/kernel/perf_event_paranoid").read_text().strip())
        if paranoid > 2:
            findings.append(
                f"kernel.perf_event_paranoid is {paranoid}: CPU sampling and context switches "
                "are unavailable (set it to 2 or lower: sysctl -w kernel.perf_event_paranoid=2)"
            )
    except (OSError, ValueError):
        findings.append("kernel.perf_event_paranoid cannot be read; CPU sampling may fail")
    tmp = env.get("TMPDIR") or "/tmp"
    if not os.path.isdir(tmp) or not os.access(tmp, os.W_OK | os.X_OK):
        findings.append(f"TMPDIR {tmp} is not a writable folder; nsys keeps its session there")
    else:
        try:
            if os.statvfs(tmp).f_flag & getattr(os, "ST_NOEXEC", 8):
                findings.append(
                    f"TMPDIR {tmp} is mounted noexec; nsys injects libraries from it, so set "
                    "TMPDIR to an exec-capable folder"
                )
        except OSError:
            pass
    return findings


def blocking(findings: list[str]) -> list[str]:
    """The findings that stop nsys from recording at all (the rest are warnings)."""
    return [f for f in findings if f.startswith("TMPDIR")]


class NsysCollector:
    name = "nsys"
    inline = False
    capabilities = ["cuda", "cpu"]

    def __init__(
        self,
        session: str | None,
        process_name: str,
        *,
        nsys_path: str | None = None,
        export_sqlite: bool = True,
        ranges: RangeLog | None = RANGES,
    ) -> None:
        executable = find_nsys(nsys_path)
        if executable is None:
            where = f"NSIGHT_LAB_NSYS={nsys_path}" if nsys_path else "PATH"
            raise CollectorError(
                f"nsys not found on {where}; install Nsight Systems or use --collector pyspy"
            )
        if not session:
            raise CollectorError(
                "this process was not started under `nsys launch` (NSIGHT_LAB_NSYS_SESSION is "
                "unset); start it with `nsight-lab run --collector nsys -- ...`"
            )
        self.executable = executable
        self.session = session
        self.export_sqlite = export_sqlite
        self._window = RangeWindow(process_name, ranges)
        self._dir: Path | None = None
        self._options: dict[str, object] = {}
        self.findings = preflight(executable)
        #: Said in the report metadata: what went wrong but did not stop the upload.
        self.warnings: list[str] = []

    def configure(self, options: dict[str, object]) -> None:
        """`nsys start` switches for the next collection, already checked."""
        self._options = dict(options)

    def _run(self, args: list[str], timeout: float) -> None:
        argv = [self.executable, *args]
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise CollectorError(f"`nsys {args[0]}` did not finish within {timeout:.0f}s") from exc
        except OSError as exc:
            raise CollectorError(f"cannot run {self.executable}: {exc}") from exc
        if done.returncode != 0:
            output = (done.stderr or done.stdout).decode("utf-8", "replace").strip()
            raise CollectorError(
                f"`nsys {args[0]}` failed with status {done.returncode}: {output[-600:]}"
            )

    def set_report_metadata(self, metadata: dict[str, object]) -> None:
        self._window.metadata = dict(metadata)

    def halt(self) -> None:
        """A step capture ended: its ranges end here, the tool stops in ``stop``."""
        self._window.mark_end()

    def start(self, collection_dir: Path, collection_index: int) -> None:
        if self._dir is not None:
            raise CollectorError("nsys is already recording a collection")
        stopper = blocking(self.findings)
        if stopper:
            raise CollectorError("nsys cannot record here: " + "; ".join(stopper))
        self.warnings = []
        collection_dir.mkdir(parents=True, exist_ok=True)
        self._run(
            [
                "start",
                f"--session={self.session}",
                f"--output={collection_dir / REPORT_STEM}",
                "--force-overwrite=true",
                *(f"--{name}={value}" for name, value in self._options.items()),
            ],
            _START_TIMEOUT_S,
        )
        self._dir = collection_dir
        self._window.open(collection_dir)

    def stop(self) -> list[ProducedFile]:
        directory, self._dir = self._dir, None
        if directory is None:
            raise CollectorError("nsys is not recording")
        ranges = self._window.close()
        self._run(["stop", f"--session={self.session}"], _STOP_TIMEOUT_S)
        report = directory / f"{REPORT_STEM}.nsys-rep"
        if not report.is_file():
            raise CollectorError(f"`nsys stop` succeeded but wrote no report at {report}")
        produced = [ProducedFile(report, "report")]
        if self.export_sqlite:
            sqlite = directory / f"{REPORT_STEM}.sqlite"
            try:
                self._run(
                    [
                        "export",
                        "--type=sqlite",
                        "--force-overwrite=true",
                        f"--output={sqlite}",
                        str(report),
                    ],
                    _EXPORT_TIMEOUT_S,
                )
            except CollectorError as exc:
                # The report itself is still worth uploading; analysis can export later.
                log.warning("SQLite export failed, uploading the report alone: %s", exc)
                self.warnings.append(f"nsys export to SQLite failed; report uploaded alone: {exc}")
            else:
                if sqlite.is_file():
                    produced.append(ProducedFile(sqlite, "sqlite"))
        return produced + ranges

    def close(self) -> None:
        # Nothing to do: when the process exits, nsys finalises an open capture itself,
        # and running `nsys stop` here could hold the host's exit for minutes.
        self._dir = None
