"""gpu_metric_util_sum: catalogue entry for nsys's recipe of that name; its input is not one we read.

Listed so that ``recipe list`` shows the whole nsys catalogue and ``recipe info`` and
``recipe run`` say what would record the data, instead of "unknown recipe".
"""

from __future__ import annotations

from nsight_lab.recipe import RecipeSpec

SPEC = RecipeSpec(
    name="gpu_metric_util_sum",
    display_name="GPU Metrics Utilization Summary",
    description="Summary of sampled GPU metrics per NVTX range.",
    question="What were the GPU hardware metrics inside each range?",
    counterpart="nsys gpu_metric_util_sum",
    unavailable="GPU metrics sampling (nsys profile --gpu-metrics-devices=all); the GPU_METRICS table is not read by nsight-lab's importers",
)
