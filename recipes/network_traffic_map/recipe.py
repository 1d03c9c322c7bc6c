"""network_traffic_map: catalogue entry for nsys's recipe of that name; its input is not one we read.

Listed so that ``recipe list`` shows the whole nsys catalogue and ``recipe info`` and
``recipe run`` say what would record the data, instead of "unknown recipe".
"""

from __future__ import annotations

from nsight_lab.recipe import RecipeSpec

SPEC = RecipeSpec(
    name="network_traffic_map",
    display_name="Network Devices Traffic Heatmap",
    description="Heatmaps of sent and received traffic and congestion events per network device.",
    question="When did network devices send, receive and see congestion?",
    counterpart="nsys network_traffic_map",
    unavailable="NIC and InfiniBand switch metrics (nsys profile --nic-metrics=true, --ib-switch-metrics-devices=...)",
)
