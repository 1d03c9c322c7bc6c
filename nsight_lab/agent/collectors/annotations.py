"""The collector that needs no profiler: only the ``annotate`` ranges of the window.

It is the fallback that works in every process (no py-spy permission, no nsys), and
still answers the first question users ask: how long did each phase take?
"""

from __future__ import annotations

from pathlib import Path

from nsight_lab.agent.annotate import RANGES, RangeLog
from nsight_lab.agent.collectors.base import CollectorError, ProducedFile, RangeWindow


class AnnotationsCollector:
    name = "annotations"
    inline = True
    capabilities = ["ranges"]

    def __init__(self, process_name: str, ranges: RangeLog = RANGES) -> None:
        self._window = RangeWindow(process_name, ranges)
        self._running = False

    def set_report_metadata(self, metadata: dict[str, object]) -> None:
        self._window.metadata = dict(metadata)

    def halt(self) -> None:
        """A step capture ended: its ranges end here, the tool stops in ``stop``."""
        self._window.mark_end()

    def start(self, collection_dir: Path, collection_index: int) -> None:
        if self._running:
            raise CollectorError("annotations collector is already recording a collection")
        collection_dir.mkdir(parents=True, exist_ok=True)
        self._window.open(collection_dir)
        self._running = True

    def stop(self) -> list[ProducedFile]:
        if not self._running:
            raise CollectorError("annotations collector is not recording")
        self._running = False
        return self._window.close()

    def close(self) -> None:
        self._running = False
