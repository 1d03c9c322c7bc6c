"""Numbers as nsys prints them, human time units, and the HTML a reader opens."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import pytest

from nsight_lab.recipe.display import fmt_number, human_bytes, human_ns, styled
from nsight_lab.recipe.notebook import notebook_to_html, prepend_summary
from nsight_lab.recipe.summary import default_summary


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3481709, "3,481,709"),
        (167993715.5, "167,993,715.5"),
        (233376198.54, "233,376,198.5"),
        (1.5e20, "150,000,000,000,000,000,000.0"),
        (0.04, "0.0"),
        (float("nan"), ""),
        (None, ""),
        ("cudaMalloc", "cudaMalloc"),
    ],
)
def test_numbers_print_like_nsys_stats(value: object, text: str) -> None:
    assert fmt_number(value) == text


def test_human_units() -> None:
    assert human_ns(3_481_709) == "3.48 ms"
    assert human_ns(999) == "999 ns"
    assert human_ns(2_500_000_000) == "2.50 s"
    assert human_bytes(12_500_000) == "12.50 MB"


def test_styled_table_has_separators_and_a_human_time_column() -> None:
    df = pd.DataFrame(
        {"Total Time (ns)": [335987431], "Avg (ns)": [167993715.5], "Name": ["sem_wait"]}
    )
    html = styled(df).to_html()
    assert "335,987,431" in html and "167,993,715.5" in html and "e+" not in html
    assert "Total Time (human)" in html and "335.99 ms" in html


def test_html_hides_code_behind_a_toggle_and_opens_with_the_summary(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "P"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("secret_code_line = 1"),
    ]
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, str(path))
    prepend_summary(path, "**3 kernels**; the largest is `k`.")
    cells = nbformat.read(str(path), as_version=4).cells
    assert [c.cell_type for c in cells] == ["markdown", "markdown", "code"]
    assert cells[1].source.startswith("**Summary.**")
    notebook_to_html(path, tmp_path / "n.html")
    html = (tmp_path / "n.html").read_text()
    assert 'id="nl-code-toggle"' in html and "nl-hide-code" in html
    assert html.index("Summary.") < html.index("secret_code_line")
    assert "https://cdn" not in html


def test_default_summary_names_the_largest_entry() -> None:
    import pyarrow as pa

    from nsight_lab.recipe.stats import summary_table

    stats = summary_table(pa.array(["a", "b", "a"]), pa.array([5_000_000, 1, 5_000_000]))
    text = default_summary({"stats": stats}, {})
    assert text.startswith("**2 entries**; the largest is `a`") and "10.00 ms" in text
    assert default_summary({"gaps": pa.table({"x": pa.array([], pa.int64())})}, {}).startswith(
        "Nothing found"
    )
