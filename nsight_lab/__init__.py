"""nsight-lab: an open, Jupyter-first workbench for profiling GPU workloads.

This module stays standard-library only: the agent (``nsight_lab.agent``) is
injected into processes whose environment we do not own, and importing it imports
this file first. ``annotate`` is therefore resolved lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from nsight_lab.agent.annotate import annotate

__all__ = ["__version__", "annotate", "load_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext nsight_lab``: the ``%nsight`` and ``%%nsight_profile`` magics."""
    from nsight_lab.jupyter.magics import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str) -> Any:
    if name == "annotate":
        from nsight_lab.agent.annotate import annotate

        return annotate
    raise AttributeError(f"module 'nsight_lab' has no attribute {name!r}")
