"""The collector interface, and the range log every collector adds to its output.

The runtime drives a collector strictly in order: ``start`` then ``stop`` (any
number of times, one collection at a time), then ``close`` once. A collector that
cannot do what was asked raises :class:`CollectorError` with a message meant for
the person who issued the command: the runtime sends it back in the command's ack.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from nsight_lab.agent.annotate import RANGES, RangeLog, now_epoch_ns

RANGES_FILENAME = "annotations.ranges.jsonl"


class CollectorError(RuntimeError):
    """The collector could not start or stop; the message says why and what to do."""


@dataclass(frozen=True)
class ProducedFile:
    path: Path
    #: ``report`` (the primary profile), ``sqlite`` or ``ranges`` (see UploadRequest.kind).
    kind: str


@runtime_checkable
class Collector(Protocol):
    """What the runtime needs. Optional, looked up with ``getattr``:

    * ``inline: bool``: ``start`` and ``halt`` are cheap enough to run on the thread
      that enters a step (step-aligned captures start exactly at the boundary);
    * ``capabilities: list[str]``: what it records (``cuda``, ``cpu``, ``python``...);
    * ``configure(options)``: the checked options of the next collection;
    * ``set_report_metadata(meta)``: what the report should say about itself;
    * ``halt()``: stop recording now (cheap: it runs on the thread entering a step),
      write the files in ``stop``; window-only collectors just end their range window;
    * ``warnings`` / ``findings``: problems met while writing / before starting.
    """

    name: str

    def start(self, collection_dir: Path, collection_index: int) -> None: ...

    def stop(self) -> list[ProducedFile]: ...

    def close(self) -> None: ...


class RangeWindow:
    """Remembers when a collection started and writes its annotation ranges at stop.

    Collectors hold one of these so that every report travels with the ranges of
    the same window, whichever tool recorded it.
    """

    def __init__(self, process_name: str, ranges: RangeLog | None = RANGES) -> None:
        self.process_name = process_name
        self.ranges = ranges
        self._start_ns: int | None = None
        self._end_ns: int | None = None
        self._dir: Path | None = None
        #: The agent's report metadata, written into the log's header.
        self.metadata: dict[str, Any] = {}

    def open(self, collection_dir: Path) -> None:
        self._dir = collection_dir
        self._start_ns = now_epoch_ns()
        self._end_ns = None

    def mark_end(self) -> None:
        """The window ends now (a step boundary), though the file is written later."""
        if self._start_ns is not None and self._end_ns is None:
            self._end_ns = now_epoch_ns()

    def close(self) -> list[ProducedFile]:
        """Write the ranges of the window just ended (nothing if ranges are off)."""
        if self.ranges is None or self._dir is None or self._start_ns is None:
            return []
        path = self._dir / RANGES_FILENAME
        end = self._end_ns or now_epoch_ns()
        self.ranges.write_jsonl(path, self._start_ns, end, self.process_name, self.metadata)
        self._start_ns = self._end_ns = None
        return [ProducedFile(path, "ranges")]
