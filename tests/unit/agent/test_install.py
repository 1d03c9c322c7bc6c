"""``nsight_lab.agent.install`` copies an agent that a Python without nsight-lab can run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nsight_lab.agent.install import install

FOREIGN_PYTHON = "/usr/bin/python3"


def test_the_copy_holds_the_bootstrap_the_agent_py_spy_and_a_writable_spool(tmp_path: Path) -> None:
    written = install(tmp_path / "agent")
    root = tmp_path / "agent"
    assert (root / "bootstrap" / "sitecustomize.py").is_file()
    assert (root / "python" / "nsight_lab" / "agent" / "runtime.py").is_file()
    assert not (root / "python" / "nsight_lab" / "cli").exists(), "only the agent is copied"
    assert not list((root / "python").rglob("__pycache__"))
    pyspy = root / "bin" / "py-spy"
    if pyspy.exists():
        assert pyspy.read_bytes()[:4] == b"\x7fELF" and os.access(pyspy, os.X_OK)
    assert (root / "spool").stat().st_mode & 0o1777 == 0o1777
    assert root / "spool" in written
    # Installing again over an old copy replaces it.
    install(root)


@pytest.mark.skipif(
    not Path(FOREIGN_PYTHON).exists() and not os.environ.get("CI"),
    reason=f"{FOREIGN_PYTHON} is not installed (in CI its absence fails the test)",
)
def test_an_interpreter_without_nsight_lab_imports_the_copied_agent(tmp_path: Path) -> None:
    root = tmp_path / "agent"
    install(root)
    code = "import nsight_lab.agent.runtime as r; print(r.__file__)"

    def run(python_path: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": python_path}
        return subprocess.run(
            [FOREIGN_PYTHON, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            cwd=tmp_path,
        )

    assert run("").returncode != 0, f"{FOREIGN_PYTHON} must not have nsight-lab installed"
    done = run(f"{root / 'bootstrap'}:{root / 'python'}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(str(root / "python"))
    assert sys.executable != FOREIGN_PYTHON
