"""network_sum: catalogue entry for nsys's recipe of that name; its input is not one we read.

Listed so that ``recipe list`` shows the whole nsys catalogue and ``recipe info`` and
``recipe run`` say what would record the data, instead of "unknown recipe".
"""

from __future__ import annotations

from nsight_lab.recipe import RecipeSpec

SPEC = RecipeSpec(
    name="network_sum",
    display_name="Network Traffic Summary",
    description="Summary of the network traffic over NICs and InfiniBand switches.",
    question="How much traffic went over each NIC and InfiniBand switch?",
    counterpart="nsys network_sum",
    unavailable="NIC and InfiniBand switch metrics (nsys profile --nic-metrics=true, --ib-switch-metrics-devices=...)",
)
