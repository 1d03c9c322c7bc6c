"""network_map_aws: catalogue entry for nsys's recipe of that name; its input is not one we read.

Listed so that ``recipe list`` shows the whole nsys catalogue and ``recipe info`` and
``recipe run`` say what would record the data, instead of "unknown recipe".
"""

from __future__ import annotations

from nsight_lab.recipe import RecipeSpec

SPEC = RecipeSpec(
    name="network_map_aws",
    display_name="AWS Metrics Heatmap",
    description="Heatmaps of AWS EFA network metrics.",
    question="How much EFA traffic did each node send and receive over time?",
    counterpart="nsys network_map_aws",
    unavailable="AWS EFA NIC metrics (nsys profile --nic-metrics=true on EFA hosts)",
)
