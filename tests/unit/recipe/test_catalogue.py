"""docs/RECIPES.md is what the recipe specs say, and the catalogue covers nsys's."""

from __future__ import annotations

import pytest

from nsight_lab.recipe.catalogue import DOC, builtin_recipes, render

#: The nsys recipe catalogue (nsys recipe --help, 2024-2025 releases).
NSYS_CATALOGUE = [
    "cuda_api_sum",
    "cuda_api_sync",
    "cuda_gpu_kern_hist",
    "cuda_gpu_kern_pace",
    "cuda_gpu_kern_sum",
    "cuda_gpu_mem_size_sum",
    "cuda_gpu_mem_time_sum",
    "cuda_gpu_time_util_map",
    "cuda_memcpy_async",
    "cuda_memcpy_sync",
    "cuda_memset_sync",
    "diff",
    "dx12_mem_ops",
    "file_access_sum",
    "gfx_hotspot",
    "gpu_gaps",
    "gpu_metric_util_map",
    "gpu_metric_util_sum",
    "gpu_time_util",
    "gpu_vram_usage_trace",
    "mpi_gpu_time_util_map",
    "mpi_sum",
    "nccl_gpu_overlap_trace",
    "nccl_gpu_proj_sum",
    "nccl_gpu_time_util_map",
    "nccl_straggler",
    "nccl_sum",
    "network_map_aws",
    "network_sum",
    "network_traffic_map",
    "nvlink_sum",
    "nvtx_cpu_topdown",
    "nvtx_gpu_proj_pace",
    "nvtx_gpu_proj_sum",
    "nvtx_gpu_proj_trace",
    "nvtx_pace",
    "nvtx_sum",
    "osrt_sum",
    "s3_access_sum",
    "storage_util_map",
    "ucx_gpu_time_util_map",
]
HTA = {"temporal_breakdown", "idle_time_breakdown", "comm_comp_overlap", "critical_path",
       "straggler_sum", "memory_timeline"}  # fmt: skip


def test_recipes_md_is_generated_from_the_specs() -> None:
    expected = render(builtin_recipes())
    if DOC.read_text(encoding="utf-8") != expected:
        pytest.fail(
            "docs/RECIPES.md is out of date with the recipes: run "
            "`python -m nsight_lab.recipe.catalogue --write` and commit the result"
        )


def test_every_nsys_recipe_and_hta_analysis_is_there() -> None:
    recipes = {r.name: r for r in builtin_recipes()}
    assert set(NSYS_CATALOGUE) | HTA <= set(recipes)
    runnable = [r for r in recipes.values() if r.spec.runnable]
    assert len(runnable) >= 35
    for recipe in recipes.values():
        spec = recipe.spec
        assert spec.question, f"{spec.name}: no question"
        assert spec.counterpart, f"{spec.name}: no counterpart"
        if spec.runnable:
            assert spec.sources, f"{spec.name}: no sources"
        else:
            assert "nsys" in spec.unavailable or "trac" in spec.unavailable, spec.name  # type: ignore[operator]
    for name in NSYS_CATALOGUE:
        assert recipes[name].spec.counterpart == f"nsys {name}", name
