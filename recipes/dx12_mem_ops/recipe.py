"""dx12_mem_ops: catalogue entry for nsys's recipe of that name; its input is not one we read.

Listed so that ``recipe list`` shows the whole nsys catalogue and ``recipe info`` and
``recipe run`` say what would record the data, instead of "unknown recipe".
"""

from __future__ import annotations

from nsight_lab.recipe import RecipeSpec

SPEC = RecipeSpec(
    name="dx12_mem_ops",
    display_name="DX12 Memory Operations",
    description="Flags DirectX 12 memory operations that nsys's expert rules consider problematic.",
    question="Which DirectX 12 memory operations are problematic?",
    counterpart="nsys dx12_mem_ops",
    unavailable="DirectX 12 API tracing (nsys profile --trace=dx12, on Windows targets)",
)
