"""``.nsys-rep`` reports: readable only through ``nsys export``, so we run it.

The binary is found as NSIGHT_LAB_NSYS, else ``nsys`` on PATH. Without it the error
says exactly which command turns the report into the SQLite export we read. The
export is always forced: a stale ``.sqlite`` beside a report is otherwise silently
reused by nsys.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from nsight_lab.trace.errors import TraceFormatError, nsys_rep_howto

NSYS_ENV = "NSIGHT_LAB_NSYS"
EXPORT_TIMEOUT_S = 3600


def find_nsys(explicit: str | None = None) -> str | None:
    for candidate in (explicit, os.environ.get(NSYS_ENV)):
        if candidate:
            return candidate if Path(candidate).is_file() else shutil.which(candidate)
    return shutil.which("nsys")


def export_sqlite(report: Path, out_dir: Path, *, nsys_binary: str | None = None) -> Path:
    """Export ``report`` to ``out_dir/<stem>.sqlite`` with nsys; return that path."""
    nsys = find_nsys(nsys_binary)
    if nsys is None:
        raise TraceFormatError(
            report,
            f"an .nsys-rep needs the nsys binary (not found on PATH or in ${NSYS_ENV}); "
            + nsys_rep_howto(report),
        )
    out = out_dir / (report.with_suffix("").name + ".sqlite")
    cmd = [
        nsys,
        "export",
        "--type",
        "sqlite",
        "--force-overwrite",
        "true",
        "--output",
        str(out),
        str(report),
    ]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TraceFormatError(report, f"running {' '.join(cmd)} failed: {exc}") from exc
    if done.returncode != 0 or not out.is_file():
        detail = (done.stderr or done.stdout).strip()[-2000:]
        raise TraceFormatError(
            report, f"nsys export failed (exit {done.returncode}): {detail or 'no output file'}"
        )
    return out
