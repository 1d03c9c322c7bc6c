"""Every summary recipe's notebook executes on a real report and renders a plot to HTML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nsight_lab.recipe import run_recipe

ALEXNET = "kineto/critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz"
CASES = [
    ("cuda_api_sum", "nsys-sqlite/cloverleaf-a100.sqlite", {}),
    ("cuda_api_sync", "nsys-sqlite/cloverleaf-a100.sqlite", {}),
    ("cuda_gpu_kern_hist", "nsys-sqlite/cloverleaf-a100.sqlite", {"bins": 20}),
    ("cuda_gpu_kern_pace", ALEXNET, {"name": "vectorized_elementwise_kernel"}),
    ("cuda_gpu_mem_size_sum", "nsys-sqlite/cloverleaf-a100.sqlite", {}),
    ("cuda_gpu_mem_time_sum", "nsys-sqlite/cloverleaf-a100.sqlite", {}),
    ("cuda_memcpy_async", ALEXNET, {}),
    ("cuda_memcpy_sync", "nsys-sqlite/cloverleaf-a100.sqlite", {}),
    ("nvtx_sum", ALEXNET, {}),
    ("osrt_sum", "nsys-sqlite/cloverleaf-a100.sqlite", {}),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "report", "args"), CASES, ids=[c[0] for c in CASES])
def test_notebook_renders_a_plot(
    fixtures_dir: Path, tmp_path: Path, name: str, report: str, args: dict[str, object]
) -> None:
    result = run_recipe(name, [fixtures_dir / report], tmp_path / "o", args=args)
    assert result.html is not None
    html = result.html.read_text()
    assert "data:image/png;base64" in html, f"{name}: no plot in the HTML"
    assert "Traceback" not in html
    # Readers get results first: the summary opens the page, code waits behind a toggle.
    assert 'id="nl-code-toggle"' in html and "Summary." in html
    assert html.index("Summary.") < html.index("table_loader(")
    assert not re.search(r">\s*-?\d+(\.\d+)?e[+-]\d+\s*<", html), f"{name}: scientific notation"
