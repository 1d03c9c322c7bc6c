"""The agent's own pre-flight: what the node allows, with the change that fixes the rest."""

from __future__ import annotations

from nsight_lab.agent.preflight import CAP_SYS_PTRACE, check


def reader(files: dict[str, str]):  # type: ignore[no-untyped-def]
    return lambda path: files.get(path)


def status(caps: int) -> str:
    return f"Name:\tpython\nCapEff:\t{caps:016x}\n"


def test_restricted_ptrace_without_the_capability_blocks_py_spy_and_says_how_to_fix_it() -> None:
    found = check(
        pyspy="/bin/py-spy",
        nsys=None,
        read=reader({"/proc/self/status": status(0), "/proc/sys/kernel/yama/ptrace_scope": "1\n"}),
    )
    assert found["pyspy"]["ok"] is False
    assert "ptrace_scope=1" in found["pyspy"]["missing"][0]
    assert "SYS_PTRACE" in found["pyspy"]["fix"]
    granted = check(
        pyspy="/bin/py-spy",
        nsys=None,
        read=reader(
            {
                "/proc/self/status": status(1 << CAP_SYS_PTRACE),
                "/proc/sys/kernel/yama/ptrace_scope": "1",
            }
        ),
    )
    assert granted["pyspy"]["ok"] is True


def test_perf_event_paranoid_above_two_blocks_nsys_cpu_sampling() -> None:
    found = check(
        pyspy=None,
        nsys="/usr/bin/nsys",
        read=reader({"/proc/self/status": status(0), "/proc/sys/kernel/perf_event_paranoid": "4"}),
    )
    assert found["nsys"]["ok"] is False
    assert "perf_event_paranoid=4" in found["nsys"]["missing"][0]
    assert "--sample=none --cpuctxsw=none" in found["nsys"]["fix"]
    assert found["pyspy"]["missing"] == ["py-spy is not installed"]


def test_gpu_counters_restricted_to_admins_are_reported() -> None:
    found = check(
        pyspy=None,
        nsys=None,
        read=reader(
            {
                "/proc/self/status": status(0),
                "/proc/driver/nvidia/params": "RmProfilingAdminOnly: 1\n",
            }
        ),
    )
    assert found["gpu-metrics"]["ok"] is False
    assert "NVreg_RestrictProfilingToAdminUsers=0" in found["gpu-metrics"]["fix"]


def test_this_machine_gives_an_answer_for_every_collector() -> None:
    assert set(check(pyspy=None, nsys=None)) == {"pyspy", "nsys", "gpu-metrics", "annotations"}
