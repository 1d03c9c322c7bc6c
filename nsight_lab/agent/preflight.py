"""What can record on this machine, checked by the agent when it starts (standard library only).

The injector decides what it can from a Pod's spec (``nsight-lab.io/preflight``);
the rest only the node knows: whether ptrace is allowed (py-spy), the
``perf_event_paranoid`` level (nsys CPU sampling), whether GPU performance counters
are restricted to admins. The agent sends this with its registration, so ``status``
shows, per process, which collectors can record and the exact change that fixes
the ones that cannot.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

CAP_SYS_PTRACE = 19
CAP_SYS_ADMIN = 21
CAP_PERFMON = 38


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def _int(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


def effective_capabilities(status: str | None) -> int:
    for line in (status or "").splitlines():
        if line.startswith("CapEff:"):
            try:
                return int(line.split()[1], 16)
            except (IndexError, ValueError):
                return 0
    return 0


def check(
    *,
    pyspy: str | None,
    nsys: str | None,
    read: Callable[[str], str | None] = _read,
) -> dict[str, Any]:
    """Per collector: ``{"ok": bool, "missing": [...], "fix": "..."}``."""
    caps = effective_capabilities(read("/proc/self/status"))
    has = lambda bit: bool(caps & (1 << bit))  # noqa: E731
    scope = _int(read("/proc/sys/kernel/yama/ptrace_scope"))
    paranoid = _int(read("/proc/sys/kernel/perf_event_paranoid"))
    params = read("/proc/driver/nvidia/params") or ""
    out: dict[str, Any] = {}

    missing, fixes = [], []
    if not pyspy:
        missing.append("py-spy is not installed")
        fixes.append("pip install py-spy (the injector copies it in a cluster)")
    if scope is not None and scope >= 1 and not has(CAP_SYS_PTRACE):
        missing.append(
            f"ptrace is restricted (kernel.yama.ptrace_scope={scope}) and SYS_PTRACE is not granted"
        )
        fixes.append("add securityContext.capabilities.add: [SYS_PTRACE] to the container")
    out["pyspy"] = {"ok": not missing, "missing": missing, "fix": "; ".join(fixes)}

    missing, fixes = [], []
    if not nsys:
        missing.append("nsys is not installed")
        fixes.append("install Nsight Systems in the image, or set NSIGHT_LAB_NSYS")
    if paranoid is not None and paranoid > 2 and not (has(CAP_PERFMON) or has(CAP_SYS_ADMIN)):
        missing.append(f"CPU sampling is forbidden (kernel.perf_event_paranoid={paranoid})")
        fixes.append(
            "on the node: sysctl -w kernel.perf_event_paranoid=2 (the chart's machineConfig), "
            "or add --sample=none --cpuctxsw=none to nsightToolArgs"
        )
    out["nsys"] = {"ok": not missing, "missing": missing, "fix": "; ".join(fixes)}

    restricted = "RmProfilingAdminOnly: 1" in params
    gpu_missing = []
    if restricted and not has(CAP_SYS_ADMIN):
        gpu_missing.append("GPU performance counters are restricted to admins")
    out["gpu-metrics"] = {
        "ok": not gpu_missing,
        "missing": gpu_missing,
        "fix": (
            "on the node: load nvidia with NVreg_RestrictProfilingToAdminUsers=0, or add "
            "securityContext.capabilities.add: [SYS_ADMIN]"
            if gpu_missing
            else ""
        ),
    }
    out["annotations"] = {"ok": True, "missing": [], "fix": ""}
    return out
