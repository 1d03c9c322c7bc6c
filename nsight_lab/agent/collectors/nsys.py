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


class NsysCollector:
    name = "nsys"

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

    def start(self, collection_dir: Path, collection_index: int) -> None:
        if self._dir is not None:
            raise CollectorError("nsys is already recording a collection")
        collection_dir.mkdir(parents=True, exist_ok=True)
        self._run(
            [
                "start",
                f"--session={self.session}",
                f"--output={collection_dir / REPORT_STEM}",
                "--force-overwrite=true",
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
            else:
                if sqlite.is_file():
                    produced.append(ProducedFile(sqlite, "sqlite"))
        return produced + ranges

    def close(self) -> None:
        # Nothing to do: when the process exits, nsys finalises an open capture itself,
        # and running `nsys stop` here could hold the host's exit for minutes.
        self._dir = None
