"""Clock anchors: this host's clocks against the coordinator's, measured NTP-style.

Reports of one collection come from many hosts whose wall clocks disagree by
milliseconds or more, which is the length of a step. Each report therefore carries
an anchor: one instant read on this host's monotonic and wall clocks, and the
coordinator's wall clock at that instant, estimated from a request's round trip as
NTP does (the server's time is taken to be read half-way through the round trip;
the error is at most half the round-trip time, which the anchor records too).
Importers turn it into ``TraceMetadata.clock_offset_ns`` (docs/TRACE_MODEL.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

#: Round trips per measurement; the one with the shortest round trip wins.
SAMPLES = 3


@dataclass(frozen=True)
class ClockAnchor:
    monotonic_ns: int
    wall_ns: int
    #: The coordinator's wall clock at the same instant (estimated).
    coordinator_ns: int
    rtt_ns: int
    #: ``registration`` or ``start``: when it was measured.
    measured_at: str

    @property
    def offset_ns(self) -> int:
        """Coordinator wall clock minus this host's wall clock."""
        return self.coordinator_ns - self.wall_ns

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["offset_ns"] = self.offset_ns
        return data


def anchor_from(t0_wall: int, t0_mono: int, t3_wall: int, t3_mono: int, server_ns: int,
                measured_at: str) -> ClockAnchor:  # fmt: skip
    """The anchor of one round trip that left at t0 and came back at t3."""
    mid_mono = (t0_mono + t3_mono) // 2
    mid_wall = (t0_wall + t3_wall) // 2
    return ClockAnchor(mid_mono, mid_wall, server_ns, t3_mono - t0_mono, measured_at)


def measure(
    fetch_server_ns: Callable[[], int], measured_at: str, samples: int = SAMPLES
) -> ClockAnchor:
    """Best of ``samples`` round trips; ``fetch_server_ns`` returns the server's time_ns."""
    best: ClockAnchor | None = None
    for _ in range(max(1, samples)):
        t0_wall, t0_mono = time.time_ns(), time.monotonic_ns()
        server = fetch_server_ns()
        t3_wall, t3_mono = time.time_ns(), time.monotonic_ns()
        anchor = anchor_from(t0_wall, t0_mono, t3_wall, t3_mono, server, measured_at)
        if best is None or anchor.rtt_ns < best.rtt_ns:
            best = anchor
    assert best is not None
    return best
