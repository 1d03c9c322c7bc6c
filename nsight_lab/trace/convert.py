"""``python -m nsight_lab.trace.convert REPORT FOLDER``: one conversion in its own process.

The analysis service converts every report through this, one child process per
report, so that the memory a conversion takes is the child's alone (bounded by the
sorted sink's window) and a report that crashes its importer cannot take the
service with it. The last line on stdout is one JSON object::

    {"ok": true, "seconds": 9.1, "peak_rss_mb": 612.0, "tables": {"kernels": 10000064, ...}}
    {"ok": false, "error": "not a SQLite database (no 'SQLite format 3' header)"}

Errors name what is wrong with the report, not the scratch path it was read from:
the service records them on the file, where users read them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any


def peak_rss_mb() -> float:
    """Peak resident memory of this process and of the children it waited for (nsys)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024  # Linux reports KiB


def convert(
    source: Path, folder: Path, *, sha256: str | None, filename: str | None
) -> dict[str, Any]:
    from nsight_lab.trace import TraceFormatError, convert_trace
    from nsight_lab.trace.converted import ConvertedTrace

    began = time.perf_counter()
    try:
        convert_trace(
            source,
            folder,
            sha256=sha256,
            source={"filename": filename or source.name},
        )
    except TraceFormatError as exc:
        return {"ok": False, "error": exc.problem}
    except MemoryError:
        return {"ok": False, "error": "ran out of memory while converting"}
    except Exception as exc:  # an importer bug: say so, and what it was
        return {"ok": False, "error": f"the importer failed: {type(exc).__name__}: {exc}"}
    manifest = ConvertedTrace.from_folder(folder).manifest
    return {
        "ok": True,
        "seconds": round(time.perf_counter() - began, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "tables": {name: info.rows for name, info in manifest.tables.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--sha256", default=None)
    parser.add_argument("--filename", default=None, help="the report's own name, for the manifest")
    parser.add_argument("--nice", type=int, default=0, help="lower this process's CPU priority")
    args = parser.parse_args(argv)
    if args.nice:
        os.nice(args.nice)  # background work: uploads and jobs beside it go first
    answer = convert(args.report, args.folder, sha256=args.sha256, filename=args.filename)
    answer.setdefault("peak_rss_mb", round(peak_rss_mb(), 1))
    print(json.dumps(answer), flush=True)
    return 0 if answer["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
