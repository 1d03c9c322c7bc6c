"""py-spy ``--format speedscope`` profiles -> the ``samples`` table.

Speedscope keeps no timestamps, only each sample's weight (its share of time), one
profile per thread, each on its own clock from ``startValue``. A sample's timestamp
is therefore reconstructed as ``startValue`` plus the weights before it. py-spy names
profiles ``Thread <tid> "<name>"`` (with ``Process <pid> `` in front when it records
subprocesses); that is where pid, tid and thread names come from.

Sampled profiles are small (one entry per sample, frames shared), so the file is
decoded whole.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa

from nsight_lab.trace.errors import TraceFormatError
from nsight_lab.trace.model import TraceMetadata
from nsight_lab.trace.sink import TableSink

UNIT_NS = {"seconds": 1e9, "milliseconds": 1e6, "microseconds": 1e3, "nanoseconds": 1.0}
_PROFILE_NAME = re.compile(r'(?:Process (\d+)\s+)?Thread (\d+)(?:\s+"(.*)")?')


def _frame_label(frame: Any) -> str:
    if not isinstance(frame, dict):
        return str(frame)
    name = str(frame.get("name", "?"))
    file, line = frame.get("file"), frame.get("line")
    if file and line is not None:
        return f"{name} ({file}:{line})"
    return f"{name} ({file})" if file else name


def read(path: Path, sink: TableSink) -> TraceMetadata:
    try:
        doc = msgspec.json.decode(path.read_bytes())
    except msgspec.DecodeError as exc:
        raise TraceFormatError(path, f"malformed JSON: {exc}") from exc
    except OSError as exc:
        raise TraceFormatError(path, f"cannot read file: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("profiles"), list):
        raise TraceFormatError(path, "not a speedscope file (no 'profiles' list)")
    frames = (doc.get("shared") or {}).get("frames")
    if not isinstance(frames, list):
        raise TraceFormatError(path, "not a speedscope file (no 'shared.frames' list)")
    labels = pa.array([_frame_label(f) for f in frames], pa.string())
    threads: dict[tuple[int | None, int | None], str] = {}
    for number, profile in enumerate(doc["profiles"]):
        where = f"profiles[{number}]"
        if not isinstance(profile, dict) or profile.get("type") != "sampled":
            continue  # evented profiles carry no samples
        samples, weights = profile.get("samples"), profile.get("weights")
        if (
            not isinstance(samples, list)
            or not isinstance(weights, list)
            or len(samples) != len(weights)
        ):
            raise TraceFormatError(
                path, f"{where}: 'samples' and 'weights' must be lists of equal length"
            )
        scale = UNIT_NS.get(str(profile.get("unit", "none")))
        m = _PROFILE_NAME.search(str(profile.get("name", "")))
        pid = int(m.group(1)) if m and m.group(1) else None
        tid = int(m.group(2)) if m else None
        if m and m.group(3) is not None:
            threads[(pid, tid)] = m.group(3)
        try:
            w = np.asarray(weights, dtype=np.float64)
            flat = np.fromiter((i for stack in samples for i in stack), dtype=np.int64)
            lengths = np.fromiter(
                (len(stack) for stack in samples), dtype=np.int64, count=len(samples)
            )
        except (TypeError, ValueError) as exc:
            raise TraceFormatError(
                path, f"{where}: samples must be lists of frame indices ({exc})"
            ) from exc
        if len(flat) and (flat.min() < 0 or flat.max() >= len(frames)):
            raise TraceFormatError(
                path, f"{where}: a sample refers to a frame index outside shared.frames"
            )
        n = len(samples)
        if scale is not None:
            start = float(profile.get("startValue") or 0.0)
            stamps = np.rint(
                (start + np.concatenate([[0.0], np.cumsum(w)[:-1]]) if n else w) * scale
            )
            timestamp = pa.array(stamps.astype(np.int64)[:n])
            weight = pa.array(np.rint(w * scale).astype(np.int64))
        else:
            timestamp, weight = pa.nulls(n, pa.int64()), pa.nulls(n, pa.int64())
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        stack = pa.ListArray.from_arrays(
            pa.array(offsets),
            pa.DictionaryArray.from_arrays(pa.array(flat.astype(np.int32)), labels),
        )
        sink.add(
            "samples",
            pa.table(
                {
                    "timestamp": timestamp,
                    "pid": pa.array([pid] * n, pa.int64()),
                    "tid": pa.array([tid] * n, pa.int64()),
                    "weight": weight,
                    "stack": stack,
                }
            ),
        )
    if threads:
        sink.add(
            "threads",
            pa.table(
                {
                    "pid": pa.array([p for p, _ in threads], pa.int64()),
                    "tid": pa.array([t for _, t in threads], pa.int64()),
                    "name": pa.array(list(threads.values()), pa.string()).dictionary_encode(),
                }
            ),
        )
    exporter = str(doc.get("exporter", ""))
    tool, _, version = exporter.partition("@")
    return TraceMetadata(
        source="speedscope", path=str(path), tool=tool or "speedscope", tool_version=version,
        extra={"name": doc.get("name")} if doc.get("name") else {},
    )  # fmt: skip
