"""Ground truth from a Kineto trace by reading its JSON directly (no importer involved)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any


def kernels(path: Path) -> list[dict[str, Any]]:
    """Kernel events as (name, device, stream, start ns, end ns), times from the raw µs."""
    with gzip.open(path, "rt") as fh:
        doc = json.load(fh)
    out = []
    for ev in doc["traceEvents"]:
        if ev.get("ph") == "X" and ev.get("cat") == "kernel":
            start = round(ev["ts"] * 1000)
            out.append(
                {
                    "name": ev["name"],
                    "device": ev["args"]["device"],
                    "stream": ev["args"]["stream"],
                    "start": start,
                    "end": start + round(ev["dur"] * 1000),
                }
            )
    return out


def collective(name: str) -> str:
    match = re.match(r"nccl(?:Dev)?Kernel_([A-Za-z]+)", name)
    assert match, name
    return match.group(1)


def events(path: Path) -> list[dict[str, Any]]:
    """Every complete ("X") event of a Kineto trace, as written."""
    with gzip.open(path, "rt") as fh:
        return [e for e in json.load(fh)["traceEvents"] if e.get("ph") == "X"]


def ns_span(ev: dict[str, Any]) -> tuple[int, int]:
    """(start, end) in ns, rounded from the µs the trace holds, as the importer rounds."""
    start = round(ev["ts"] * 1000)
    return start, start + round(ev["dur"] * 1000)


GPU_CATEGORIES = ("kernel", "gpu_memcpy", "gpu_memset")
