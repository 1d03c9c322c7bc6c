"""A report's Timeline layout kept in storage beside its converted trace, laid out once.

Laying out ten million events takes about ten CPU-seconds, which a viewer would
otherwise pay on the first open on every Jupyter server. So the analysis side runs
``python -m nsight_lab.jupyter.widgets.stored_layout CONVERTED FOLDER`` right after
it converts a report (the same :class:`ReportTimeline` code, in a child process of
its own) and stores the folder under ``traces/<sha256>/<layout_name(layers)>/``:

- one object per level and array (the ``.npy`` files :meth:`ReportTimeline.save`
  writes, coarse levels being small), and ``refs.npy``;
- ``head.json``, written last (its presence means the rest is there): the layout's
  description (rows, names, time range, metadata), the summary's level index, and
  each object's size and sha256.

A viewer reads the head, fetches the coarse levels its first view needs (a few
hundred KB), answers from them, and fetches the finer ones in the background,
checking every object against the head before it is used (:func:`verified_level`):
a corrupt or truncated object is an error, never a wrong tile. A head of another
:data:`LAYOUT_VERSION` or for other layers is not this layout (:meth:`StoredHead.parse`
says ``None``), and the viewer lays the report out itself as before.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nsight_lab.jupyter.widgets.lanes import LAYERS, RowKey
from nsight_lab.jupyter.widgets.lod import (
    SUMMARY_MANIFEST,
    Level,
    LodSummary,
    level_files,
    level_index,
    load_level,
)
from nsight_lab.jupyter.widgets.trace_view import (
    LAYOUT_FILE,
    LAYOUT_VERSION,
    LevelsArriving,
    ReportTimeline,
)
from nsight_lab.trace.model import TraceMetadata

HEAD_FILE = "head.json"
#: Written instead of the head when the layout could not be built (the reason inside).
FAILED_FILE = "failed.json"
REFS_FILE = "refs.npy"
#: The first view is answered from the levels a view of the whole report this many
#: pixels wide picks (wider than any screen's timeline), so its tiles never wait.
FIRST_VIEW_PX = 4096


#: What an object of a stored layout may be called (no paths: they become local file names).
_OBJECT = re.compile(r"^[0-9a-z_-]{1,40}\.npy$")


class StoredLayoutError(ValueError):
    """A stored layout that cannot be used as it is; the message says which object and why."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_head(folder: Path) -> dict[str, Any]:
    """Add ``head.json`` to a folder :meth:`ReportTimeline.save` wrote; returns the head."""
    layout = json.loads((folder / LAYOUT_FILE).read_text())
    summary = json.loads((folder / SUMMARY_MANIFEST).read_text())
    objects: dict[str, dict[str, Any]] = {
        path.name: {"bytes": path.stat().st_size, "sha256": sha256_of(path)}
        for path in sorted(folder.glob("*.npy"))
    }
    levels = []
    for i, entry in enumerate(summary["levels"]):
        files = level_files(i, entry)
        levels.append(
            {"gap_ns": entry["gap_ns"], "n": entry["n"], "files": files,
             "bytes": sum(objects[f]["bytes"] for f in files)}
        )  # fmt: skip
    head = {
        "version": LAYOUT_VERSION,
        "layout": layout,
        "summary": summary,
        "levels": levels,
        "objects": objects,
    }
    (folder / HEAD_FILE).write_text(json.dumps(head))
    return head


def upload_order(folder: Path) -> list[str]:
    """The files of a layout folder to store, the head last (readers trust it last)."""
    names = sorted(p.name for p in folder.glob("*.npy"))
    return [*names, HEAD_FILE]


@dataclass(frozen=True)
class StoredHead:
    """A stored layout's ``head.json``, checked: what a viewer needs before any level."""

    data: dict[str, Any]

    @classmethod
    def parse(cls, data: Any, layers: tuple[str, ...] | list[str] = LAYERS) -> StoredHead | None:
        """The head, or ``None`` when it is of another layout version or other layers."""
        if not isinstance(data, dict):
            raise StoredLayoutError("the stored layout's head is not a JSON object")
        if data.get("version") != LAYOUT_VERSION:
            return None
        try:
            layout, objects, levels = data["layout"], data["objects"], data["levels"]
            if layout.get("version") != LAYOUT_VERSION or list(layout["layers"]) != list(layers):
                return None
            for name in objects:
                if not _OBJECT.match(name):
                    raise ValueError(f"a bad object name {name[:40]!r}")
            for level in levels:
                for name in level["files"]:
                    spec = objects[name]
                    int(spec["bytes"]), str(spec["sha256"])
                int(level["gap_ns"]), int(level["n"])
            objects[REFS_FILE]["bytes"]
            if len(data["summary"]["levels"]) != len(levels) or not levels:
                raise ValueError("its level index and its summary disagree")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StoredLayoutError(f"the stored layout's head is malformed: {exc!r}") from exc
        return cls(data)

    @property
    def gaps(self) -> list[int]:
        return [int(level["gap_ns"]) for level in self.data["levels"]]

    @property
    def span_ns(self) -> int:
        layout = self.data["layout"]
        return max(int(layout["end_ns"]) - int(layout["origin_ns"]), 1)

    def first_levels(self, width_px: int = FIRST_VIEW_PX) -> list[int]:
        """The levels the first view needs, coarsest first: the one a view of the whole
        report ``width_px`` wide picks, and every coarser one."""
        chosen = level_index(self.gaps, self.span_ns / width_px)
        return list(range(len(self.gaps) - 1, chosen - 1, -1))

    def later_levels(self, width_px: int = FIRST_VIEW_PX) -> list[int]:
        """The rest, coarsest first (the order zooming in needs them)."""
        first = set(self.first_levels(width_px))
        return [i for i in range(len(self.gaps) - 1, -1, -1) if i not in first]

    def files(self, index: int) -> list[str]:
        return list(self.data["levels"][index]["files"])

    def bytes_of(self, names: list[str]) -> int:
        return sum(int(self.data["objects"][n]["bytes"]) for n in names)

    def write_manifests(self, folder: Path) -> None:
        """``layout.json`` and ``summary.json``: with every object fetched, the folder is
        then a saved layout :meth:`ReportTimeline.load` maps."""
        (folder / SUMMARY_MANIFEST).write_text(json.dumps(self.data["summary"]))
        (folder / LAYOUT_FILE).write_text(json.dumps(self.data["layout"]))

    def timeline(self, levels: dict[int, Level], label: str) -> ReportTimeline:
        """The layout answering from ``levels`` (the coarse ones) while the rest arrives."""
        layout = self.data["layout"]
        n_rows = int(self.data["summary"]["n_rows"])
        arriving = LevelsArriving(self.gaps, n_rows, label)
        for index, level in levels.items():
            arriving.add(index, level)
        present = tuple(levels[i] for i in sorted(levels))
        return ReportTimeline(
            rows=[RowKey(g, lbl, int(d), kind) for g, lbl, d, kind in layout["rows"]],
            names=list(layout["names"]),
            summary=LodSummary(present, n_rows),
            refs=np.zeros(0, np.int64),
            origin_ns=int(layout["origin_ns"]),
            end_ns=int(layout["end_ns"]),
            event_count=int(layout["event_count"]),
            metadata=TraceMetadata.from_json(layout["metadata"]),
            layers=tuple(layout["layers"]),
            arriving=arriving,
        )

    def verify(self, folder: Path, name: str) -> None:
        """Raise :class:`StoredLayoutError` unless ``folder/name`` is the object the head names."""
        spec = self.data["objects"][name]
        path = folder / name
        size = path.stat().st_size
        if size != int(spec["bytes"]):
            raise StoredLayoutError(
                f"stored layout object {name} has {size} bytes, its head says {spec['bytes']} "
                "(truncated or replaced)"
            )
        digest = sha256_of(path)
        if digest != spec["sha256"]:
            raise StoredLayoutError(
                f"stored layout object {name} has sha256 {digest[:12]}…, its head says "
                f"{str(spec['sha256'])[:12]}… (corrupt)"
            )

    def verified_level(self, folder: Path, index: int) -> Level:
        """Level ``index`` from its fetched files, each checked against the head first."""
        for name in self.files(index):
            self.verify(folder, name)
        try:
            return load_level(folder, index, self.data["summary"]["levels"][index])
        except (OSError, ValueError, TypeError) as exc:
            raise StoredLayoutError(f"stored layout level {index} cannot be read: {exc}") from exc


# --- the analysis side's child process ----------------------------------------------


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def build(converted: Path, folder: Path, layers: tuple[str, ...] = LAYERS) -> dict[str, Any]:
    """Lay out the converted trace in ``converted`` and save it, with its head, to ``folder``."""
    began, cpu = time.perf_counter(), time.process_time()
    try:
        timeline = ReportTimeline.from_folder(converted, layers)
        timeline.save(folder)
        del timeline
        head = write_head(folder)
    except MemoryError:
        return {"ok": False, "error": "ran out of memory while laying the timeline out"}
    except Exception as exc:  # a layout bug or an unreadable conversion: say which
        return {
            "ok": False,
            "error": f"laying the timeline out failed: {type(exc).__name__}: {exc}",
        }
    return {
        "ok": True,
        "seconds": round(time.perf_counter() - began, 3),
        "cpu_s": round(time.process_time() - cpu, 3),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "events": head["layout"]["event_count"],
        "levels": len(head["levels"]),
        "bytes": sum(int(o["bytes"]) for o in head["objects"].values()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("converted", type=Path, help="a converted trace's folder")
    parser.add_argument("folder", type=Path, help="where the layout goes")
    parser.add_argument("--layers", default=",".join(LAYERS))
    parser.add_argument("--nice", type=int, default=0, help="lower this process's CPU priority")
    args = parser.parse_args(argv)
    if args.nice:
        os.nice(args.nice)
    answer = build(args.converted, args.folder, tuple(args.layers.split(",")))
    answer.setdefault("peak_rss_mb", round(_peak_rss_mb(), 1))
    print(json.dumps(answer), flush=True)
    return 0 if answer["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
