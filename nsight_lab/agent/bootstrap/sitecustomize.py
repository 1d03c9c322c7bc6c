"""Starts the nsight-lab agent in every Python process launched by ``nsight-lab run``.

``nsight-lab run`` puts this folder first on ``PYTHONPATH``. Python imports
``sitecustomize`` at start-up, finds this one, and this one first runs the
``sitecustomize`` it shadows (if the environment has one), then starts the agent.
Nothing here may raise or print: a failure only means the process runs unprofiled.
"""

from __future__ import annotations

import contextlib
import os
import sys


def _chain_previous() -> None:
    """Run the ``sitecustomize`` that this file hides, so the host's set-up still happens."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    paths = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", paths)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["_nsight_lab_previous_sitecustomize"] = module
    spec.loader.exec_module(module)


def _start_agent() -> None:
    try:
        from nsight_lab.agent.runtime import start_agent_from_env
    except ImportError:
        # The profiled interpreter may not have nsight-lab installed: use the copy
        # that launched it, appended last so it never shadows the host's packages.
        extra = os.environ.get("NSIGHT_LAB_AGENT_PATH")
        if not extra or extra in sys.path:
            return
        sys.path.append(extra)
        from nsight_lab.agent.runtime import start_agent_from_env
    start_agent_from_env()


with contextlib.suppress(Exception):
    _chain_previous()
try:
    if os.environ.get("NSIGHT_LAB_COORDINATOR_URL"):
        _start_agent()
except Exception:
    pass
