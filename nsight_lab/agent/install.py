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

from nsight_lab.agent.collectors.pyspy import find_pyspy as collector_pyspy

PACKAGE = Path(__file__).resolve().parents[1]
BOOTSTRAP = Path(__file__).resolve().parent / "bootstrap"


def find_pyspy() -> str | None:
    """The py-spy binary itself: a copied launcher script (a pyenv shim) would not run
    in another image, so only an ELF executable counts."""
    candidates = [
        collector_pyspy(),
        str(Path(sys.base_prefix) / "bin" / "py-spy"),
        str(Path(sys.executable).resolve().with_name("py-spy")),
    ]
    for candidate in candidates:
        if not candidate:
            continue
        try:
            with open(candidate, "rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    return candidate
        except OSError:
            continue
    return None


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
