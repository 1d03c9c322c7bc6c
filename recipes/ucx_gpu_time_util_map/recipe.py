"""ucx_gpu_time_util_map: catalogue entry for nsys's recipe of that name; its input is not one we read.

Listed so that ``recipe list`` shows the whole nsys catalogue and ``recipe info`` and
``recipe run`` say what would record the data, instead of "unknown recipe".
"""

from __future__ import annotations

from nsight_lab.recipe import RecipeSpec

SPEC = RecipeSpec(
    name="ucx_gpu_time_util_map",
    display_name="UCX and GPU Time Utilization Heatmap",
    description="Percentage of time CUDA kernels ran and UCX communication was active, and their overlap.",
    question="When was UCX communication active beside GPU kernels?",
    counterpart="nsys ucx_gpu_time_util_map",
    unavailable="UCX API tracing (nsys profile --trace=ucx); nsight-lab's importers do not read UCX events yet",
)
