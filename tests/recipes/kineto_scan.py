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
