"""Clock anchors: NTP's estimate of the server's clock, best round trip wins."""

from __future__ import annotations

import itertools

from nsight_lab.agent.clock import anchor_from, measure


def test_server_time_is_taken_half_way_through_the_round_trip() -> None:
    anchor = anchor_from(1_000, 50, 1_400, 450, 5_000, "start")
    assert anchor.wall_ns == 1_200 and anchor.monotonic_ns == 250
    assert anchor.rtt_ns == 400 and anchor.offset_ns == 3_800
    assert anchor.to_json()["offset_ns"] == 3_800


def test_measure_keeps_the_sample_with_the_shortest_round_trip() -> None:
    import time

    delays = itertools.cycle([0.02, 0.0, 0.01])

    def server() -> int:
        time.sleep(next(delays))
        return time.time_ns() + 5_000_000  # a server 5 ms ahead

    anchor = measure(server, "registration", samples=3)
    assert anchor.rtt_ns < 10_000_000
    assert abs(anchor.offset_ns - 5_000_000) <= anchor.rtt_ns
    assert anchor.measured_at == "registration"
