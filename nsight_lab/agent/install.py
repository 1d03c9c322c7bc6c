"""``python -m nsight_lab.agent.install DEST``: copy the agent where another image can use it.

The Kubernetes injector runs this in an init container of the nsight-lab image; DEST
is an emptyDir that the profiled containers then mount. It writes:

  DEST/bootstrap/sitecustomize.py   first on PYTHONPATH: starts the agent
  DEST/python/nsight_lab/...        the agent (standard library only) for NSIGHT_LAB_AGENT_PATH
  DEST/bin/py-spy                   the sampler, when this image has it
  DEST/spool/                       writable room for reports waiting for upload

The profiled image keeps its own Python and packages: the bootstrap appends the copy
last on ``sys.path``, so it never shadows anything the workload imports.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
BOOTSTRAP = Path(__file__).resolve().parent / "bootstrap"


def find_pyspy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    if beside.is_file():
        return str(beside)
    return shutil.which("py-spy")


def install(dest: Path) -> list[Path]:
    """Copy the agent, its bootstrap and py-spy into ``dest``; returns what was written."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    package = dest / "python" / "nsight_lab"
    if package.exists():
        shutil.rmtree(package)
    package.mkdir(parents=True)
    shutil.copy2(PACKAGE / "__init__.py", package / "__init__.py")
    shutil.copytree(
        PACKAGE / "agent",
        package / "agent",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "install.py"),
    )
    written.append(package)
    boot = dest / "bootstrap"
    boot.mkdir(exist_ok=True)
    shutil.copy2(BOOTSTRAP / "sitecustomize.py", boot / "sitecustomize.py")
    written.append(boot / "sitecustomize.py")
    pyspy = find_pyspy()
    if pyspy:
        (dest / "bin").mkdir(exist_ok=True)
        target = dest / "bin" / "py-spy"
        shutil.copy2(pyspy, target)
        target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        written.append(target)
    spool = dest / "spool"
    spool.mkdir(exist_ok=True)
    # Profiled containers may run as any user; the spool must be writable by them.
    os.chmod(spool, 0o1777)
    written.append(spool)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nsight_lab.agent.install",
        description="Copy the nsight-lab agent into a folder other images mount.",
    )
    parser.add_argument("dest", type=Path, help="Folder to fill (an emptyDir in Kubernetes).")
    args = parser.parse_args(argv)
    for path in install(args.dest):
        print(f"installed {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
