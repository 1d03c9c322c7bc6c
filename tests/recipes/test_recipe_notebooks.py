"""Every runnable recipe's notebook executes on a real report and opens as a reader wants it.

The HTML opens with the run's summary, hides the code behind a toggle, draws a plot,
and prints no number in scientific notation.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nsight_lab.recipe import run_recipe
from nsight_lab.recipe.registry import list_recipes
from tests.recipes.conftest import ALEXNET, CLOVERLEAF, NCCL, RANKS, SIMPLE_ADD
from tests.recipes.rich_export import STEP, Rich

RICH = "rich"
#: recipe -> (reports, arguments); RICH is the enriched CloverLeaf export.
CASES: dict[str, tuple[tuple[str, ...], dict[str, object]]] = {
    "comm_comp_overlap": ((NCCL,), {}),
    "critical_path": ((ALEXNET,), {}),
    "cuda_api_sum": ((CLOVERLEAF,), {}),
    "cuda_api_sync": ((CLOVERLEAF,), {}),
    "cuda_gpu_kern_hist": ((CLOVERLEAF,), {"bins": 20}),
    "cuda_gpu_kern_pace": ((ALEXNET,), {"name": "vectorized_elementwise_kernel"}),
    "cuda_gpu_kern_sum": ((CLOVERLEAF,), {}),
    "cuda_gpu_mem_size_sum": ((CLOVERLEAF,), {}),
    "cuda_gpu_mem_time_sum": ((CLOVERLEAF,), {}),
    "cuda_gpu_time_util_map": ((CLOVERLEAF,), {}),
    "cuda_memcpy_async": ((ALEXNET,), {}),
    "cuda_memcpy_sync": ((CLOVERLEAF,), {}),
    "cuda_memset_sync": ((RICH,), {}),
    "diff": ((ALEXNET, SIMPLE_ADD), {}),
    "file_access_sum": ((CLOVERLEAF,), {}),
    "gpu_gaps": ((CLOVERLEAF,), {"min_gap": 10_000}),
    "gpu_time_util": ((CLOVERLEAF,), {}),
    "gpu_vram_usage_trace": ((RICH,), {}),
    "idle_time_breakdown": ((ALEXNET,), {}),
    "memory_timeline": ((RICH,), {}),
    "mpi_gpu_time_util_map": ((RICH,), {}),
    "mpi_sum": ((RICH,), {}),
    "nccl_gpu_overlap_trace": ((NCCL,), {}),
    "nccl_gpu_proj_sum": ((NCCL,), {}),
    "nccl_gpu_time_util_map": ((NCCL,), {}),
    "nccl_straggler": (RANKS, {}),
    "nccl_sum": ((NCCL,), {}),
    "nvtx_gpu_proj_pace": ((RICH,), {"name": STEP}),
    "nvtx_gpu_proj_sum": ((RICH,), {}),
    "nvtx_gpu_proj_trace": ((RICH,), {}),
    "nvtx_pace": ((RICH,), {"name": STEP}),
    "nvtx_sum": ((ALEXNET,), {}),
    "osrt_sum": ((CLOVERLEAF,), {}),
    "python_sampling_sum": ((CLOVERLEAF,), {}),
    "step_time_sum": (RANKS, {}),
    "straggler_sum": (RANKS, {}),
    "temporal_breakdown": ((NCCL,), {}),
    "torch_op_sum": ((ALEXNET,), {}),
}
_SCIENTIFIC = re.compile(r">\s*-?\d+(\.\d+)?e[+-]\d+\s*<")


def test_every_runnable_recipe_has_a_notebook_case() -> None:
    runnable = {r.name for r in list_recipes()[0] if r.spec.runnable}
    assert runnable == set(CASES)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_notebook_renders_for_readers(
    name: str, fixtures_dir: Path, rich: Rich, tmp_path: Path
) -> None:
    reports, args = CASES[name]
    inputs = [rich.path if r == RICH else fixtures_dir / r for r in reports]
    result = run_recipe(name, inputs, tmp_path / "o", args=args)
    assert result.html is not None
    html = result.html.read_text()
    assert "Traceback" not in html
    assert "data:image/png;base64" in html, f"{name}: no plot in the HTML"
    assert 'id="nl-code-toggle"' in html and "Summary." in html
    assert html.index("Summary.") < html.index("jp-Cell jp-CodeCell")  # before the first code cell
    assert not _SCIENTIFIC.search(html), f"{name}: a number in scientific notation"
