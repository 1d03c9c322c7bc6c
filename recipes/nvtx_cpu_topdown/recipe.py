"""nvtx_cpu_topdown: catalogue entry for nsys's recipe of that name; its input is not one we read.

Listed so that ``recipe list`` shows the whole nsys catalogue and ``recipe info`` and
``recipe run`` say what would record the data, instead of "unknown recipe".
"""

from __future__ import annotations

from nsight_lab.recipe import RecipeSpec

SPEC = RecipeSpec(
    name="nvtx_cpu_topdown",
    display_name="CPU Topdown Metrics per NVTX Range",
    description="CPU Topdown methodology metrics for NVTX push/pop ranges from PMU core events.",
    question="What limited the CPU (frontend, backend, bad speculation) inside each range?",
    counterpart="nsys nvtx_cpu_topdown",
    unavailable="CPU core PMU events on NVIDIA Arm CPUs (nsys profile --cpu-core-events=... on Grace)",
)
