"""Which collector records this process, and why a better one was not available.

``auto`` prefers what sees the most: torch when the process has imported torch (CPU
ops, and CUDA through CUPTI), else cupti when a CUDA device and ``cupti-python``
exist, else nsys when installed and the process runs under ``nsys launch``, else
py-spy, else the annotation log alone. The choice is made again while the agent runs
(torch is usually imported after the agent starts), and every step down is
explained in one line that ``status`` shows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from nsight_lab.agent.annotate import RANGES
from nsight_lab.agent.collectors.base import Collector, CollectorError
from nsight_lab.agent.config import AgentConfig

#: Best first.
AUTO_ORDER = ("torch", "cupti", "nsys", "pyspy", "annotations")


@dataclass
class Choice:
    collector: Collector | None
    name: str
    #: Why each better collector was passed over ("torch: not imported ...").
    passed_over: list[str] = field(default_factory=list)
    #: Set when nothing could be built; the start ack carries it.
    error: str | None = None

    @property
    def note(self) -> str:
        return "; ".join(self.passed_over)


def build(name: str, config: AgentConfig) -> Collector:
    """One collector by name; :class:`CollectorError` says why it cannot work here."""
    # Ranges belong to the process they were recorded in; beside another process
    # (attach) this process has none worth writing.
    ranges = RANGES if config.target_pid == os.getpid() else None
    if name == "torch":
        from nsight_lab.agent.collectors.torch import TorchCollector

        if config.target_pid != os.getpid():
            raise CollectorError("the torch collector runs inside the process; attach uses py-spy")
        return TorchCollector(config.process_name)
    if name == "cupti":
        from nsight_lab.agent.collectors.cupti import CuptiCollector

        if config.target_pid != os.getpid():
            raise CollectorError("the cupti collector runs inside the process; attach uses py-spy")
        return CuptiCollector(config.process_name)
    if name == "nsys":
        from nsight_lab.agent.collectors.nsys import NsysCollector

        return NsysCollector(
            config.nsys_session, config.process_name, nsys_path=config.nsys_path, ranges=ranges
        )
    if name == "pyspy":
        from nsight_lab.agent.collectors.pyspy import PySpyCollector

        return PySpyCollector(
            config.target_pid, config.process_name, pyspy_path=config.pyspy_path, ranges=ranges
        )
    if name == "annotations":
        from nsight_lab.agent.collectors.annotations import AnnotationsCollector

        return AnnotationsCollector(config.process_name)
    raise CollectorError(f"unknown collector {name!r}; known: {', '.join(AUTO_ORDER)}, auto")


class Chooser:
    """Remembers the slow findings (cupti, nsys) so re-choosing costs a dict lookup."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self._refused: dict[str, str] = {}

    def torch_ready(self) -> bool:
        import sys

        return "torch" in sys.modules and self.config.target_pid == os.getpid()

    def choose(self) -> Choice:
        wanted = self.config.collector
        if wanted != "auto":
            try:
                return Choice(build(wanted, self.config), wanted)
            except CollectorError as exc:
                return Choice(None, wanted, error=str(exc))
            except Exception as exc:
                return Choice(None, wanted, error=f"collector {wanted!r} failed to load: {exc!r}")
        passed: list[str] = []
        for name in AUTO_ORDER:
            if name == "torch" and not self.torch_ready():
                passed.append("torch: this process has not imported torch")
                continue
            if name in self._refused:
                passed.append(f"{name}: {self._refused[name]}")
                continue
            try:
                return Choice(build(name, self.config), name, passed)
            except CollectorError as exc:
                reason = str(exc)
            except Exception as exc:
                reason = f"failed to load: {exc!r}"
            if name != "torch":  # torch may work later; the others will not
                self._refused[name] = reason
            passed.append(f"{name}: {reason}")
        return Choice(None, "annotations", passed, error="no collector can run here")
