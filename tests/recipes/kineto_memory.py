"""A real Kineto trace with PyTorch's ``[memory]`` events added, as profile_memory writes them.

No Kineto fixture was captured with ``profile_memory=True``. This copies the real
AlexNet trace and adds, for every ``aten::conv2d`` op, an allocation at its start and
a free at its end (each event carrying the allocator's running total, as PyTorch
writes it), plus a host allocation that is never freed.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any


def add_memory_events(src: Path, dst: Path) -> list[dict[str, Any]]:
    """Write ``dst``; return the added events (ts in µs, bytes signed)."""
    with gzip.open(src) as fh:
        doc = json.load(fh)
    ops = sorted(
        (e for e in doc["traceEvents"] if e.get("ph") == "X" and e.get("name") == "aten::conv2d"),
        key=lambda e: e["ts"],
    )
    added: list[dict[str, Any]] = []
    total = 0
    timeline: list[tuple[float, int, int, int]] = []  # (ts, signed bytes, address, device type)
    for k, op in enumerate(ops):
        size = (k % 5 + 1) * 2_097_152
        address = 0x7F00_0000_0000 + k * 0x100_0000
        timeline.append((op["ts"], size, address, 1))
        timeline.append((op["ts"] + op["dur"], -size, address, 1))
    timeline.append((ops[0]["ts"] + 1, 4096, 0x5500_0000, 0))  # host, never freed
    timeline.sort()
    totals = {0: 0, 1: 0}
    for ts, signed, address, device_type in timeline:
        totals[device_type] += signed
        total = totals[device_type]
        event = {
            "ph": "i",
            "s": "t",
            "name": "[memory]",
            "pid": ops[0]["pid"],
            "tid": ops[0]["tid"],
            "ts": ts,
            "args": {
                "Addr": address,
                "Bytes": signed,
                "Total Allocated": total,
                "Total Reserved": max(total, 64 * 1_048_576),
                "Device Id": 0 if device_type else -1,
                "Device Type": device_type,
            },
        }
        added.append(event)
        doc["traceEvents"].append(event)
    with gzip.open(dst, "wt") as fh:
        json.dump(doc, fh)
    return added
