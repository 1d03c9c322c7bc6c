"""Executing a recipe's notebook with papermill and turning it into offline HTML.

Papermill runs the template with the ``python3`` kernel; if no such kernelspec is
installed, run ``python -m ipykernel install --user`` once. Logging and the
progress bar are switched off (they cost time and clutter CLI output). The HTML is
self-contained: plots are inline PNG, and the MathJax/require.js script tags that
point at CDNs are dropped, since clusters are often air-gapped.

Readers of the HTML want results, not code: code cells start hidden behind a
"Show code" toggle, and the page opens with the run's summary (also the first
thing in the executed notebook, right under its title).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nsight_lab.recipe.errors import RecipeRunError

KERNEL = "python3"
_KERNEL_HINT = "install one with: python -m ipykernel install --user"


def execute_notebook(template: Path, output: Path, parameters: Mapping[str, Any]) -> float:
    """Run ``template`` into ``output`` with ``parameters``; return seconds taken."""
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel

    began = time.perf_counter()
    logging.getLogger("papermill").setLevel(logging.WARNING)
    try:
        papermill.execute_notebook(
            str(template),
            str(output),
            parameters=dict(parameters),
            kernel_name=KERNEL,
            log_output=False,
            progress_bar=False,
            report_mode=False,
            cwd=str(output.parent),
        )
    except NoSuchKernel as exc:
        raise RecipeRunError(f"no Jupyter kernel named {KERNEL!r}: {_KERNEL_HINT}") from exc
    except papermill.PapermillExecutionError as exc:
        raise RecipeRunError(
            f"notebook {template.name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue} "
            f"(the partly executed notebook is at {output})"
        ) from exc
    except ValueError as exc:
        # papermill refuses templates it cannot place (no kernelspec language, no
        # parameters cell it can use) with a bare ValueError; name the notebook.
        raise RecipeRunError(
            f"notebook template {template} cannot be executed: {exc}. Give it a Python "
            'kernelspec (metadata.kernelspec.language = "python") and a cell tagged "parameters"'
        ) from exc
    return time.perf_counter() - began


SUMMARY_CELL_TAG = "nsight-lab-summary"


def prepend_summary(notebook: Path, summary: str) -> None:
    """Put ``summary`` in a Markdown cell right after the notebook's title cell."""
    if not summary.strip():
        return
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    cell = nbformat.v4.new_markdown_cell(f"**Summary.** {summary}")
    cell.metadata["tags"] = [SUMMARY_CELL_TAG]
    first = nb.cells[0] if nb.cells else None
    at = 1 if first is not None and first.cell_type == "markdown" else 0
    nb.cells.insert(at, cell)
    nbformat.write(nb, str(notebook))


_TOGGLE = """
<style>
body.nl-hide-code .jp-CodeCell .jp-Cell-inputWrapper,
body.nl-hide-code .jp-CodeCell .jp-InputPrompt { display: none; }
#nl-code-toggle { position: fixed; top: 0.6em; right: 0.8em; z-index: 100;
  font: 13px sans-serif; padding: 0.3em 0.8em; cursor: pointer; }
</style>
<button id="nl-code-toggle" type="button" aria-pressed="false">Show code</button>
<script>
(function () {
  var body = document.body, button = document.getElementById("nl-code-toggle");
  body.classList.add("nl-hide-code");
  button.addEventListener("click", function () {
    var hidden = body.classList.toggle("nl-hide-code");
    button.textContent = hidden ? "Show code" : "Hide code";
    button.setAttribute("aria-pressed", hidden ? "false" : "true");
  });
})();
</script>
"""


def notebook_to_html(notebook: Path, html: Path) -> float:
    """Write ``notebook`` as standalone HTML with images embedded; return seconds taken.

    Code cells start hidden (a button shows them); without JavaScript they stay visible.
    """
    import nbformat
    from nbconvert import HTMLExporter

    began = time.perf_counter()
    exporter = HTMLExporter(embed_images=True)
    exporter.mathjax_url = ""
    exporter.require_js_url = ""
    nb = nbformat.read(str(notebook), as_version=4)
    body, _ = exporter.from_notebook_node(nb)
    body = _strip_remote_scripts(body)
    body = body.replace("</body>", _TOGGLE + "</body>", 1) if "</body>" in body else body + _TOGGLE
    html.write_text(body, encoding="utf-8")
    return time.perf_counter() - began


_EMPTY_SRC = re.compile(r"<script[^>]*\bsrc=\"(https?://[^\"]*)?\"[^>]*>\s*</script>")
_REMOTE_MODULE = re.compile(
    r"<script type=\"module\">(?:(?!</script>).)*https?://(?:(?!</script>).)*</script>", re.S
)


def _strip_remote_scripts(body: str) -> str:
    """Drop scripts that load from the network (CDN MathJax, require.js, mermaid).

    They cannot load offline, and our notebooks need none of them: plots are PNG.
    """
    return _REMOTE_MODULE.sub("", _EMPTY_SRC.sub("", body))
