"""The PyTorch profiler, inside the process, driven from the agent's own thread.

Nothing here imports torch: the collector exists only in a process that already
imported it (``sys.modules``), and uses that process's own torch. The profiler is
configured to record every thread (``profile_all_threads``), so the agent's thread
can start and stop it while the training loop runs elsewhere; CUDA kernels, memcpy,
memset and runtime calls come through CUPTI when CUDA is available.

Output: one Kineto trace, gzip-compressed (``trace.pt.trace.json.gz``), which
TensorBoard, Perfetto, HolisticTraceAnalysis and our importer all read. Its top-level
``nsight_lab`` object carries the clock anchor, the captured steps and the measured
overhead (docs/TRACE_MODEL.md); PyTorch itself adds ``distributedInfo`` (rank and
world size) when ``torch.distributed`` is initialised. ``annotate()`` ranges are
``record_function`` ranges in the trace, so no separate range log is written.

Stopping has two halves: :meth:`halt` disables recording (cheap; at a step
boundary it runs on the training thread) and :meth:`stop` writes the file (seconds
for big traces; always on the agent's thread).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from nsight_lab.agent.collectors.base import CollectorError, ProducedFile

log = logging.getLogger("nsight_lab.agent")

REPORT_FILENAME = "trace.pt.trace.json.gz"
METADATA_KEY = "nsight_lab"


def imported_torch() -> Any:
    """The host's torch module if the process imported it, else None (never imports)."""
    return sys.modules.get("torch")


def cuda_available(torch: Any) -> bool:
    try:
        return bool(torch.cuda.is_available())
    except Exception:
        return False


class TorchCollector:
    name = "torch"
    #: Starting and halting are cheap enough to run on the thread that enters a step.
    inline = True

    def __init__(self, process_name: str) -> None:
        torch = imported_torch()
        if torch is None:
            raise CollectorError(
                "this process has not imported torch, so the torch collector has nothing to "
                "profile; use --collector auto (it picks cupti, nsys or pyspy) or import torch"
            )
        self._torch = torch
        self.process_name = process_name
        self._prof: Any = None
        self._dir: Path | None = None
        self._halted = False
        self._options: dict[str, Any] = {}
        self._metadata: dict[str, Any] = {}

    @property
    def capabilities(self) -> list[str]:
        return ["cuda", "cpu"] if cuda_available(self._torch) else ["cpu"]

    def configure(self, options: dict[str, Any]) -> None:
        """Options of the next collection, already checked against the catalog."""
        self._options = dict(options)

    def set_report_metadata(self, metadata: dict[str, Any]) -> None:
        self._metadata = dict(metadata)

    def _profiler(self) -> Any:
        profiler = self._torch.profiler
        activities = [profiler.ProfilerActivity.CPU]
        if cuda_available(self._torch):
            activities.append(profiler.ProfilerActivity.CUDA)
        kwargs: dict[str, Any] = {
            "activities": activities,
            "record_shapes": bool(self._options.get("record_shapes", False)),
            "with_stack": bool(self._options.get("with_stack", False)),
            "profile_memory": bool(self._options.get("profile_memory", False)),
            "with_flops": bool(self._options.get("with_flops", False)),
        }
        config_type = getattr(profiler, "_ExperimentalConfig", None)
        if config_type is not None:
            try:
                kwargs["experimental_config"] = config_type(profile_all_threads=True)
            except TypeError:
                log.warning(
                    "torch %s cannot profile all threads; only the thread that starts the "
                    "profiler is recorded (use --steps, which starts it on the training thread)",
                    getattr(self._torch, "__version__", "?"),
                )
        return profiler.profile(**kwargs)

    def start(self, collection_dir: Path, collection_index: int) -> None:
        if self._prof is not None:
            raise CollectorError("the torch profiler is already recording a collection")
        collection_dir.mkdir(parents=True, exist_ok=True)
        try:
            prof = self._profiler()
            prof.start()
        except Exception as exc:
            raise CollectorError(f"torch.profiler could not start: {exc!r}") from exc
        self._prof, self._dir, self._halted = prof, collection_dir, False

    def halt(self) -> None:
        """Stop recording now; the file is written by :meth:`stop`."""
        prof = self._prof
        if prof is None or self._halted:
            return
        self._halted = True
        if self._metadata:
            try:
                prof.add_metadata_json(METADATA_KEY, json.dumps(self._metadata))
            except Exception:
                log.warning("cannot add nsight-lab metadata to the trace", exc_info=True)
        try:
            prof.stop()
        except Exception as exc:
            raise CollectorError(f"torch.profiler could not stop: {exc!r}") from exc

    def stop(self) -> list[ProducedFile]:
        prof, directory = self._prof, self._dir
        if prof is None or directory is None:
            raise CollectorError("the torch profiler is not recording")
        try:
            self.halt()
            path = directory / REPORT_FILENAME
            try:
                prof.export_chrome_trace(str(path))
            except Exception as exc:
                raise CollectorError(f"torch.profiler could not write its trace: {exc!r}") from exc
        finally:
            self._prof, self._dir, self._metadata = None, None, {}
        if not path.is_file() or path.stat().st_size == 0:
            raise CollectorError(f"torch.profiler wrote no trace at {path}")
        return [ProducedFile(path, "report")]

    def close(self) -> None:
        if self._prof is not None and not self._halted:
            try:
                self._prof.stop()
            except Exception:
                log.debug("torch profiler stop at exit failed", exc_info=True)
        self._prof = None
