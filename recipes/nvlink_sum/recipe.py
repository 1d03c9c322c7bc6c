"""nvlink_sum: catalogue entry for nsys's recipe of that name; its input is not one we read.

Listed so that ``recipe list`` shows the whole nsys catalogue and ``recipe info`` and
``recipe run`` say what would record the data, instead of "unknown recipe".
"""

from __future__ import annotations

from nsight_lab.recipe import RecipeSpec

SPEC = RecipeSpec(
    name="nvlink_sum",
    display_name="NVLink Network Throughput Summary",
    description="Summary of the NVLink network throughput.",
    question="How much NVLink bandwidth did each GPU use?",
    counterpart="nsys nvlink_sum",
    unavailable="NVLink counters in GPU metrics sampling (nsys profile --gpu-metrics-devices=all with an NVLink metric set)",
)
