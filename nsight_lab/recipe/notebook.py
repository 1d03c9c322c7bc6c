"""Executing a recipe's notebook with papermill and turning it into offline HTML.

Papermill runs the template with the ``python3`` kernel; if no such kernelspec is
installed, run ``python -m ipykernel install --user`` once. Logging and the
progress bar are switched off (they cost time and clutter CLI output). The HTML is
self-contained: plots are inline PNG, and the MathJax/require.js script tags that
point at CDNs are dropped, since clusters are often air-gapped.
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


def notebook_to_html(notebook: Path, html: Path) -> float:
    """Write ``notebook`` as standalone HTML with images embedded; return seconds taken."""
    import nbformat
    from nbconvert import HTMLExporter

    began = time.perf_counter()
    exporter = HTMLExporter(embed_images=True)
    exporter.mathjax_url = ""
    exporter.require_js_url = ""
    nb = nbformat.read(str(notebook), as_version=4)
    body, _ = exporter.from_notebook_node(nb)
    html.write_text(_strip_remote_scripts(body), encoding="utf-8")
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
