"""Executing recipe notebooks on a Jupyter kernel that stays up between jobs.

Papermill starts a fresh kernel for every notebook, and on a small report that
start-up (kernel process, ZMQ handshake, importing pandas and matplotlib) is most of
the job. A worker instead keeps one kernel: it is warmed once with the libraries
notebooks use, and between jobs its namespace is reset (``%reset -f``), figures are
closed and the working folder changed, so one job never sees another's variables.
Parameters are injected exactly as papermill does (``parameterize_notebook``), so a
notebook behaves the same warm or cold. A kernel that died is replaced before the
next job.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from nsight_lab.recipe.errors import RecipeRunError

KERNEL = "python3"
WARM_UP = (
    "import os, sys, json\n"
    "import numpy, pandas, pyarrow, pyarrow.parquet\n"
    "import matplotlib\n"
    "import matplotlib.pyplot as plt\n"
    "from IPython.display import display, Markdown\n"
)


def _reset_code(cwd: Path) -> list[str]:
    # chdir first: the previous job's folder is gone by now, and IPython's reset
    # reads the current directory.
    return [
        f"import os as _os\n_os.chdir({str(cwd)!r})\ndel _os\n",
        "%reset -f\nimport matplotlib.pyplot as _plt\n_plt.close('all')\ndel _plt\n",
    ]


class WarmKernel:
    """One long-lived kernel and client; :meth:`execute` has papermill's contract."""

    def __init__(
        self,
        *,
        cell_timeout_s: float = 600.0,
        startup_timeout_s: float = 60.0,
        on_start: Callable[[int | None], None] | None = None,
    ) -> None:
        self.cell_timeout_s = cell_timeout_s
        #: Told the new kernel's pid whenever one starts, so whoever may have to kill
        #: this worker's processes knows about the kernel's own process group.
        self.on_start = on_start
        self.startup_timeout_s = startup_timeout_s
        self._km: AsyncKernelManager | None = None
        self._kc: Any = None

    @property
    def pid(self) -> int | None:
        """The kernel's process id (it leads its own process group)."""
        if self._km is None:
            return None
        provisioner = getattr(self._km, "provisioner", None)
        process = getattr(provisioner, "process", None)
        pid = getattr(process, "pid", None)
        return int(pid) if pid is not None else None

    def start(self) -> None:
        self.shutdown()
        km = AsyncKernelManager(kernel_name=KERNEL)
        run_sync(km.start_kernel)()
        kc = km.client()
        kc.start_channels()
        run_sync(kc.wait_for_ready)(timeout=self.startup_timeout_s)
        kc.allow_stdin = False
        self._km, self._kc = km, kc
        if self.on_start is not None:
            self.on_start(self.pid)
        self._run_cells([WARM_UP], Path.cwd())

    def alive(self) -> bool:
        return self._km is not None and bool(run_sync(self._km.is_alive)())

    def shutdown(self) -> None:
        if self._kc is not None:
            self._kc.stop_channels()
            self._kc = None
        if self._km is not None:
            with contextlib.suppress(Exception):
                run_sync(self._km.shutdown_kernel)(now=True)
            self._km = None

    def _client(self, nb: Any, cwd: Path) -> NotebookClient:
        client = NotebookClient(
            nb,
            km=self._km,
            kernel_name=KERNEL,
            timeout=int(self.cell_timeout_s),
            allow_errors=False,
            resources={"metadata": {"path": str(cwd)}},
        )
        client.kc = self._kc
        return client

    def _run_cells(self, sources: list[str], cwd: Path) -> None:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
        self._client(nb, cwd).execute()

    def execute(self, template: Path, output: Path, parameters: Mapping[str, Any]) -> float:
        """Run ``template`` into ``output`` with ``parameters``; return seconds taken."""
        from papermill.iorw import load_notebook_node
        from papermill.parameterize import parameterize_notebook

        began = time.perf_counter()
        if not self.alive():
            self.start()
        cwd = output.parent
        try:
            self._run_cells(_reset_code(cwd), cwd)
        except (CellExecutionError, DeadKernelError, CellTimeoutError) as exc:
            # A kernel that cannot even be reset is not trusted with this job: replace it.
            self.start()
            try:
                self._run_cells(_reset_code(cwd), cwd)
            except CellExecutionError as again:
                raise RecipeRunError(
                    f"cannot prepare the notebook kernel: {again.ename}: {again.evalue}"
                ) from exc
        nb = load_notebook_node(str(template))
        nb = parameterize_notebook(nb, dict(parameters), kernel_name=KERNEL, language="python")
        client = self._client(nb, cwd)
        try:
            client.execute()
        except CellExecutionError as exc:
            nbformat.write(nb, str(output))
            raise RecipeRunError(
                f"notebook {template.name} failed: {exc.ename}: {exc.evalue} "
                f"(the partly executed notebook is at {output})"
            ) from exc
        except (DeadKernelError, CellTimeoutError) as exc:
            nbformat.write(nb, str(output))
            self.shutdown()  # replaced before the next job
            raise RecipeRunError(
                f"notebook {template.name} did not finish: {type(exc).__name__}: {exc}"
            ) from exc
        nbformat.write(nb, str(output))
        return time.perf_counter() - began
