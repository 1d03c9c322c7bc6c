"""The host environments ``scripts/install-torch.sh`` builds: real PyTorch (CPU) and cupti-python.

Profiled processes run in their own Python environments, apart from nsight-lab, as
users' training environments do; the agent reaches them through ``nsight-lab run``.
These helpers find those interpreters (same defaults as the script, same variables).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

CACHE = Path(os.environ.get("NSIGHT_LAB_CACHE", str(Path.home() / ".cache" / "nsight-lab")))
TORCH_VENV = Path(os.environ.get("NSIGHT_LAB_TORCH_VENV", str(CACHE / "torch-2.15.0-cpu")))
CUPTI_VENV = Path(os.environ.get("NSIGHT_LAB_CUPTI_VENV", str(CACHE / "cupti-python-13.4.0")))


def _python(venv: Path, module: str) -> tuple[Path | None, str]:
    python = venv / "bin" / "python"
    if not python.is_file():
        return None, f"{python} not found; run `bash scripts/install-torch.sh`"
    done = subprocess.run(
        [str(python), "-c", f"import {module}"], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        return None, f"{python} cannot import {module}: {done.stderr.strip()[-300:]}"
    return python, ""


def torch_python() -> tuple[Path | None, str]:
    """The torch environment's interpreter, or None and why."""
    return _python(TORCH_VENV, "torch")


def cupti_python() -> tuple[Path | None, str]:
    """The cupti-python environment's interpreter, or None and why."""
    return _python(CUPTI_VENV, "cupti.cupti")


CUPTI_WHEELS = Path(
    os.environ.get("NSIGHT_LAB_CUPTI_WHEELS", str(CACHE / "wheels" / "cupti-python-13.4.0"))
)


def cupti_wheels() -> tuple[Path | None, str]:
    """The cupti-python wheel folder gpu-check.sh installs from, or None and why."""
    if not any(CUPTI_WHEELS.glob("cupti_python-*.whl")):
        return None, f"no cupti-python wheel in {CUPTI_WHEELS}; run `bash scripts/install-torch.sh`"
    return CUPTI_WHEELS, ""
