"""``Timeline``: kernels, memory operations, ranges and Python samples on one zoomable canvas.

The browser holds only what the current view needs. It asks for a window with a
``{"type": "view", "id", "t0", "t1", "width_px"}`` message; the kernel answers with
``{"type": "tiles", "id", "gap_ns", "n", ...}`` and six binary column buffers (see
:func:`~nsight_lab.jupyter.widgets.lod.tiles_to_buffers`) from the pre-computed
multi-resolution summary, so a million events cost a few thousand boxes per answer
and never a million JSON objects.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from nsight_lab.jupyter.widgets._static import STATIC
from nsight_lab.jupyter.widgets.lanes import LAYERS, ordered_rows, trace_events
from nsight_lab.jupyter.widgets.lod import LodSummary, build_summary, tiles_to_buffers
from nsight_lab.trace.model import Trace


class ViewRequestError(ValueError):
    """A view message from the browser that cannot be answered; the text says which field."""


def parse_view(content: Any) -> tuple[int, float, float, int]:
    """``(id, t0, t1, width_px)`` of a view message, or :class:`ViewRequestError`."""
    if not isinstance(content, dict) or content.get("type") != "view":
        raise ViewRequestError(f"not a view message: {content!r}")
    try:
        request = int(content.get("id", 0))
        t0, t1 = float(content["t0"]), float(content["t1"])
        width = int(content["width_px"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ViewRequestError(f"view message needs numeric t0, t1 and width_px: {exc}") from exc
    if not (np.isfinite(t0) and np.isfinite(t1)) or t1 <= t0:
        raise ViewRequestError(f"view message: t1 ({t1}) must be a number greater than t0 ({t0})")
    if width < 1 or width > 100_000:
        raise ViewRequestError(f"view message: width_px must be in 1..100000, got {width}")
    return request, t0, t1, width


class Timeline(anywidget.AnyWidget):
    """A trace laid out by device, stream and thread; wheel zooms, drag pans, hover explains.

    ``Timeline(path)`` loads any report :func:`~nsight_lab.trace.load_trace` reads;
    ``Timeline.from_trace(trace)`` shows one already in memory. ``view`` (ns from
    ``origin_ns``) follows the browser and can be set from Python to move it.
    """

    _esm = STATIC / "timeline.js"
    _css = STATIC / "widgets.css"

    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    gaps = traitlets.List(traitlets.Int()).tag(sync=True)
    origin_ns = traitlets.Int(0).tag(sync=True)
    span_ns = traitlets.Float(1.0).tag(sync=True)
    view = traitlets.Tuple(traitlets.Float(), traitlets.Float(), default_value=(0.0, 1.0)).tag(
        sync=True
    )
    title = traitlets.Unicode("").tag(sync=True)
    height = traitlets.Int(420).tag(sync=True)
    event_count = traitlets.Int(0).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        source: str | Path | Trace | None = None,
        *,
        layers: Sequence[str] = LAYERS,
        title: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.summary: LodSummary | None = None
        #: Seconds the last layout and summary took, and per view answer (for benchmarks).
        self.build_s = 0.0
        self.last_answer_s = 0.0
        if source is not None:
            trace = source if isinstance(source, Trace) else _load(Path(source))
            self.show(trace, layers=layers, title=title)
        self.on_msg(self._on_custom_msg)

    @classmethod
    def from_trace(
        cls, trace: Trace, *, layers: Sequence[str] = LAYERS, title: str | None = None
    ) -> Timeline:
        return cls(trace, layers=layers, title=title)

    def show(
        self, trace: Trace, *, layers: Sequence[str] = LAYERS, title: str | None = None
    ) -> None:
        """Replace what the widget shows with ``trace``."""
        began = time.perf_counter()
        cols = trace_events(trace, layers)
        start, end, row, name = cols.concat()
        keys, remap = ordered_rows(cols)
        row = remap[row] if len(row) else row
        origin = int(start.min()) if len(start) else 0
        last = int(end.max()) if len(end) else origin + 1
        self.summary = build_summary(start, end, row, name, len(keys))
        self.build_s = time.perf_counter() - began
        with self.hold_sync():
            self.names = list(cols.names)
            self.rows = [
                {"group": k.group, "label": k.label, "depth": k.depth, "kind": k.kind} for k in keys
            ]
            self.gaps = self.summary.gaps
            self.origin_ns = origin
            self.span_ns = float(max(last - origin, 1))
            self.view = (0.0, self.span_ns)
            self.event_count = len(start)
            self.title = title if title is not None else Path(trace.metadata.path).name

    def answer_view(self, content: Any) -> tuple[dict[str, Any], list[bytes]]:
        """The reply to one view message: header and column buffers (relative to ``origin_ns``)."""
        request, t0, t1, width = parse_view(content)
        if self.summary is None:
            raise ViewRequestError("the timeline has no trace yet")
        began = time.perf_counter()
        origin = self.origin_ns
        tiles = self.summary.query(origin + t0, origin + t1, width)
        buffers = tiles_to_buffers(tiles, origin)
        self.last_answer_s = time.perf_counter() - began
        header = {
            "type": "tiles",
            "id": request,
            "t0": t0,
            "t1": t1,
            "width_px": width,
            "gap_ns": tiles.gap_ns,
            "n": len(tiles),
        }
        return header, buffers

    def _on_custom_msg(self, _widget: Any, content: Any, _buffers: Sequence[bytes]) -> None:
        try:
            header, buffers = self.answer_view(content)
        except ViewRequestError as exc:
            self.error = str(exc)
            return
        self.error = ""
        self.send(header, buffers)


def _load(path: Path) -> Trace:
    from nsight_lab.trace import load_trace

    return load_trace(path)
