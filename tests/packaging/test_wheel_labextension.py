"""The wheel carries the prebuilt lab extension: installing it needs no Node.js.

``pip wheel`` builds nsight-lab (only; its dependencies come from the system), a fresh
virtual environment installs it with every dependency taken from the system
site-packages, and ``jupyter labextension list`` (its module, as the venv's
scripts folder holds no ``jupyter-labextension`` of its own) — run with a PATH that has no
``node`` — must show nsight-lab enabled and OK, with the server extension enabled too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.stack import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=500, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, (
        f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )
    return result


def test_wheel_installs_an_enabled_labextension_without_node(tmp_path: Path) -> None:
    build = REPO_ROOT / "nsight_lab" / "jupyter" / "labextension" / "package.json"
    assert build.is_file(), "build the extension first: bash scripts/build-labextension.sh"
    wheels = tmp_path / "wheels"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-w",
            str(wheels),
            str(REPO_ROOT),
        ]
    )
    (wheel,) = wheels.glob("nsight_lab-*.whl")

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)])
    python = venv / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)])
    assert (venv / "share/jupyter/labextensions/nsight-lab/package.json").is_file()
    assert (venv / "etc/jupyter/jupyter_server_config.d/nsight_lab.json").is_file()

    # A PATH with the venv and the basic tools but no node: nothing may need Node.js.
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("sh", "env", "uname"):
        if found := shutil.which(tool):
            (bare / tool).symlink_to(found)
    env = {
        "PATH": f"{venv / 'bin'}:{bare}",
        "HOME": str(tmp_path / "home"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    assert shutil.which("node", path=env["PATH"]) is None
    outside = tmp_path / "elsewhere"  # not the repo: the installed package must be used
    outside.mkdir()
    listed = run([str(python), "-m", "jupyterlab.labextensions", "list"], env=env, cwd=outside)
    text = listed.stdout + listed.stderr
    line = next((x for x in text.splitlines() if "nsight-lab" in x), "")
    assert "enabled" in line and "OK" in line, text
    assert str(venv) in text.split("nsight-lab")[0].rsplit("\n\n", 1)[-1] or str(venv) in text
    server = run(
        [str(python), "-m", "jupyter_server.extension.serverextension", "list"],
        env=env,
        cwd=outside,
    )
    server_text = server.stdout + server.stderr
    assert "nsight_lab.jupyter" in server_text and "enabled" in server_text, server_text
    origin = run(
        [str(python), "-c", "import nsight_lab, os; print(os.path.dirname(nsight_lab.__file__))"],
        env=env,
        cwd=outside,
    )
    assert str(venv) in origin.stdout, f"the venv imported nsight_lab from {origin.stdout}"
