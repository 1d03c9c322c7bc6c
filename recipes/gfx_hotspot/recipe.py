"""gfx_hotspot: catalogue entry for nsys's recipe of that name; its input is not one we read.

Listed so that ``recipe list`` shows the whole nsys catalogue and ``recipe info`` and
``recipe run`` say what would record the data, instead of "unknown recipe".
"""

from __future__ import annotations

from nsight_lab.recipe import RecipeSpec

SPEC = RecipeSpec(
    name="gfx_hotspot",
    display_name="Graphics Hotspot Analysis",
    description="CPU hotspots of graphics applications, per frame.",
    question="Where do DX12/Vulkan frames spend CPU time?",
    counterpart="nsys gfx_hotspot",
    unavailable="graphics API tracing with CPU sampling (nsys profile --trace=dx12,vulkan --sample=cpu)",
)
