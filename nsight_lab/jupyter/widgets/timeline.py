"""``Timeline``: kernels, memory operations, ranges and Python samples on one zoomable canvas.

The browser holds only what the current view needs. It asks for a window with a
``{"type": "view", "id", "t0", "t1", "width_px"}`` message; the kernel answers with
``{"type": "tiles", "id", "gap_ns", "n", ...}`` and six binary column buffers (see
:func:`~nsight_lab.jupyter.widgets.lod.tiles_to_buffers`) from the pre-computed
multi-resolution summary, so a million events cost a few thousand boxes per answer
and never a million JSON objects. A click asks ``{"type": "event", "id", "row",
"t", "tolerance_ns"}`` for every column of one event; a dragged range asks
``{"type": "summary", "id", "t0", "t1"}`` for the kernel summary of that window.

The same questions are answered by the JupyterLab server extension over HTTP for the
"View trace" tab; both answer with a :class:`~.trace_view.TraceView`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from nsight_lab.config import CliConfig
from nsight_lab.jupyter.widgets._static import STATIC
from nsight_lab.jupyter.widgets.lanes import LAYERS
from nsight_lab.jupyter.widgets.lod import LodSummary
from nsight_lab.jupyter.widgets.trace_view import (
    MemorySource,
    Part,
    ReportTimeline,
    TraceView,
    ViewRequestError,
    answer,
    parse_view,
)
from nsight_lab.models import FileInfo
from nsight_lab.trace.model import Trace

__all__ = ["Timeline", "ViewRequestError", "open_reports", "parse_view"]


class Timeline(anywidget.AnyWidget):
    """A trace laid out by device, stream and thread; wheel zooms, drag pans, click explains.

    ``Timeline(path)`` loads any report :func:`~nsight_lab.trace.load_trace` reads;
    ``Timeline.from_trace(trace)`` shows one already in memory; ``Timeline.from_report``
    shows reports stored by nsight-lab (by file id), several of them (a collection's
    ranks) on one axis. ``view`` (ns from ``origin_ns``) follows the browser and can
    be set from Python to move it.
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
    alignment = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        source: str | Path | Trace | TraceView | None = None,
        *,
        layers: Sequence[str] = LAYERS,
        title: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.trace_view: TraceView | None = None
        #: Seconds the last layout and summary took, and per view answer (for benchmarks).
        self.build_s = 0.0
        self.last_answer_s = 0.0
        if isinstance(source, TraceView):
            self.show_view(source, title=title)
        elif source is not None:
            trace = source if isinstance(source, Trace) else _load(Path(source))
            self.show(trace, layers=layers, title=title)
        self.on_msg(self._on_custom_msg)

    @classmethod
    def from_trace(
        cls, trace: Trace, *, layers: Sequence[str] = LAYERS, title: str | None = None
    ) -> Timeline:
        return cls(trace, layers=layers, title=title)

    @classmethod
    def from_report(
        cls,
        report: str | Path | FileInfo | Sequence[str | FileInfo],
        *,
        config: CliConfig | None = None,
        gw: str | None = None,
        layers: Sequence[str] = LAYERS,
        title: str | None = None,
    ) -> Timeline:
        """Reports stored by nsight-lab, by file id (or ``FileInfo``), or a local path.

        Several ids are drawn on one time axis, aligned by their clock anchors when the
        reports have them. Each report is downloaded, converted and laid out once into
        the local trace cache (``~/.cache/nsight-lab/traces``); later opens map it.
        """
        if isinstance(report, (str, Path)) and Path(report).exists():
            return cls(Path(report), layers=layers, title=title)
        items = [report] if isinstance(report, (str, Path, FileInfo)) else list(report)
        return cls(open_reports([str(i) if isinstance(i, Path) else i for i in items],
                                config=config, gw=gw, layers=layers), title=title)  # fmt: skip

    @classmethod
    def from_collection(
        cls,
        collection_id: str,
        *,
        config: CliConfig | None = None,
        gw: str | None = None,
        layers: Sequence[str] = LAYERS,
        title: str | None = None,
    ) -> Timeline:
        """Every rank of a collection on one axis (see :meth:`from_report`)."""
        return cls(
            open_reports([], collection_id=collection_id, config=config, gw=gw, layers=layers),
            title=title,
        )

    @property
    def summary(self) -> LodSummary | None:
        """The first report's multi-resolution summary (the only one for one report)."""
        return self.trace_view.parts[0].timeline.summary if self.trace_view else None

    def show(
        self, trace: Trace, *, layers: Sequence[str] = LAYERS, title: str | None = None
    ) -> None:
        """Replace what the widget shows with ``trace``."""
        began = time.perf_counter()
        timeline = ReportTimeline.build(trace.tables, trace.metadata, layers)
        view = TraceView([Part(timeline, MemorySource(trace), Path(trace.metadata.path).name)])
        self.build_s = time.perf_counter() - began
        self.show_view(view, title=title if title is not None else Path(trace.metadata.path).name)

    def show_view(self, view: TraceView, *, title: str | None = None) -> None:
        self.trace_view = view
        with self.hold_sync():
            self.names = view.names
            self.rows = view.rows
            self.gaps = view.gaps
            self.origin_ns = view.origin_ns
            self.span_ns = view.span_ns
            self.view = (0.0, view.span_ns)
            self.event_count = view.event_count
            self.alignment = view.alignment if len(view.parts) > 1 else ""
            self.title = title if title is not None else view.title

    def answer_view(self, content: Any) -> tuple[dict[str, Any], list[bytes]]:
        """The reply to one message: header and column buffers (relative to ``origin_ns``)."""
        if self.trace_view is None:
            parse_view(content)
            raise ViewRequestError("the timeline has no trace yet")
        began = time.perf_counter()
        reply = answer(self.trace_view, content)
        self.last_answer_s = time.perf_counter() - began
        return reply

    def _on_custom_msg(self, _widget: Any, content: Any, _buffers: Sequence[bytes]) -> None:
        try:
            header, buffers = self.answer_view(content)
        except ViewRequestError as exc:
            self.error = str(exc)
            return
        self.error = ""
        self.send(header, buffers)


def open_reports(
    reports: Sequence[str | FileInfo],
    *,
    collection_id: str | None = None,
    config: CliConfig | None = None,
    gw: str | None = None,
    layers: Sequence[str] = LAYERS,
) -> TraceView:
    """Stored reports (file ids or ``FileInfo``), or a collection's, as one view.

    The clients stay open with the view: a click on an event later reads that
    event's row through them (fresh presigned URLs when the old ones expired).
    """
    from nsight_lab.analysis_client import AnalysisClient
    from nsight_lab.client import ApiError, CoordinatorClient
    from nsight_lab.jupyter.stored_traces import open_stored, viewable_files
    from nsight_lab.jupyter.trace_cache import ReportUnreadable
    from nsight_lab.jupyter.widgets._connection import explain, resolve_config

    settings = resolve_config(config, gw)
    coordinator, analysis = CoordinatorClient(settings), AnalysisClient(settings)
    try:
        files = [r if isinstance(r, FileInfo) else coordinator.file(r) for r in reports]
        if collection_id:
            files += viewable_files(coordinator.files(collection_id=collection_id))
        if not files:
            raise ApiError(404, f"collection {collection_id} has no viewable reports yet", "")
        return open_stored(coordinator, analysis, files, layers=layers)
    except ReportUnreadable:
        raise
    except Exception as exc:
        raise ValueError(explain(exc, settings.gw)) from exc


def _load(path: Path) -> Trace:
    from nsight_lab.trace import load_trace

    return load_trace(path)
