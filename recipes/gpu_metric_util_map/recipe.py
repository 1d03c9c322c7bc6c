"""gpu_metric_util_map: catalogue entry for nsys's recipe of that name; its input is not one we read.

Listed so that ``recipe list`` shows the whole nsys catalogue and ``recipe info`` and
``recipe run`` say what would record the data, instead of "unknown recipe".
"""

from __future__ import annotations

from nsight_lab.recipe import RecipeSpec

SPEC = RecipeSpec(
    name="gpu_metric_util_map",
    display_name="GPU Metric Utilization Heatmap",
    description="Heatmap of SM Active, SM Issue and Tensor Active GPU metrics per rank and time bin.",
    question="How busy were the SMs and tensor cores over time, per GPU?",
    counterpart="nsys gpu_metric_util_map",
    unavailable="GPU metrics sampling (nsys profile --gpu-metrics-devices=all); the GPU_METRICS table is not read by nsight-lab's importers",
)
