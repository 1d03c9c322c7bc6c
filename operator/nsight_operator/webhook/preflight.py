"""What will record in a Pod, decided from its spec before it runs.

The product injects and hopes; users then learn from an empty report that
``perf_event_paranoid`` or a missing capability stopped the sampler. The injector
records this pre-flight on the Pod (annotation ``nsight-lab.io/preflight``) with the
exact change that fixes each problem. What only the node knows
(``perf_event_paranoid``, GPU counter access) the agent checks when it starts
(``nsight_lab.agent.preflight``) and reports to the coordinator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

#: Pod Security Standards levels that forbid adding SYS_PTRACE.
_PTRACE_FORBIDDEN = ("baseline", "restricted")
GPU_RESOURCES = ("nvidia.com/gpu",)


@dataclass
class CollectorCheck:
    ok: bool
    #: What stands in the way, one short phrase each.
    missing: list[str] = field(default_factory=list)
    #: The change that fixes it (a securityContext, a label, a node setting).
    fix: str = ""
    #: What the agent still checks at start (node settings invisible to the webhook).
    checked_at_start: list[str] = field(default_factory=list)


@dataclass
class Preflight:
    collector: str
    #: Whether the injector adds SYS_PTRACE (py-spy attaches to the process it samples).
    add_ptrace: bool
    collectors: dict[str, CollectorCheck]
    gpu: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "collector": self.collector,
            "gpu": self.gpu,
            "collectors": {name: asdict(check) for name, check in self.collectors.items()},
        }


def _wants_gpu(containers: Sequence[Mapping[str, Any]]) -> bool:
    for container in containers:
        res = container.get("resources") or {}
        for section in ("limits", "requests"):
            if any(k in (res.get(section) or {}) for k in GPU_RESOURCES):
                return True
    return False


def _privileged(container: Mapping[str, Any]) -> bool:
    return bool((container.get("securityContext") or {}).get("privileged"))


def check(
    pod: Mapping[str, Any],
    containers: Sequence[Mapping[str, Any]],
    *,
    collector: str,
    namespace_labels: Mapping[str, str],
) -> Preflight:
    """The pre-flight of ``pod`` for ``collector`` (auto, nsys, pyspy, annotations)."""
    enforce = namespace_labels.get("pod-security.kubernetes.io/enforce", "privileged")
    gpu = _wants_gpu(containers)
    wants_pyspy = collector in ("pyspy", "auto")
    ptrace_allowed = enforce not in _PTRACE_FORBIDDEN or all(_privileged(c) for c in containers)
    results: dict[str, CollectorCheck] = {}

    pyspy = CollectorCheck(ok=True, checked_at_start=["ptrace permission (Yama ptrace_scope)"])
    if not ptrace_allowed:
        pyspy = CollectorCheck(
            ok=False,
            missing=[f"SYS_PTRACE (the namespace enforces Pod Security level {enforce!r})"],
            fix=(
                "label the namespace pod-security.kubernetes.io/enforce=privileged, "
                "or choose the annotations collector (nsight-lab.io/collector: annotations)"
            ),
        )
    results["pyspy"] = pyspy

    nsys_start = [
        "nsys on PATH or NSIGHT_LAB_NSYS",
        "kernel.perf_event_paranoid <= 2 for CPU sampling",
    ]
    if gpu:
        nsys_start.append("GPU performance counters (NVreg_RestrictProfilingToAdminUsers=0)")
    results["nsys"] = CollectorCheck(
        ok=True,
        checked_at_start=nsys_start,
        fix=(
            "on nodes with perf_event_paranoid > 2 add '--sample=none --cpuctxsw=none' to "
            "nsightToolArgs, or set the sysctl: sysctl -w kernel.perf_event_paranoid=2"
        ),
    )
    results["annotations"] = CollectorCheck(ok=True)
    return Preflight(
        collector=collector,
        add_ptrace=wants_pyspy and ptrace_allowed,
        collectors=results,
        gpu=gpu,
    )
