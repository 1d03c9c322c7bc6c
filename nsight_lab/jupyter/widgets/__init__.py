"""Notebook widgets (anywidget): ``SessionControl``, ``JobMonitor`` and ``Timeline``.

Imported lazily so that ``nsight_lab.jupyter.widgets.lod`` and ``.lanes`` (pure
numpy) work without anywidget installed; the widgets themselves need the ``lab``
extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nsight_lab.jupyter.widgets.job_monitor import JobMonitor
    from nsight_lab.jupyter.widgets.session_control import SessionControl
    from nsight_lab.jupyter.widgets.timeline import Timeline

__all__ = ["JobMonitor", "SessionControl", "Timeline"]

_WHERE = {
    "JobMonitor": "nsight_lab.jupyter.widgets.job_monitor",
    "SessionControl": "nsight_lab.jupyter.widgets.session_control",
    "Timeline": "nsight_lab.jupyter.widgets.timeline",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'nsight_lab.jupyter.widgets' has no attribute {name!r}")
    import importlib

    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        if exc.name == "anywidget":
            raise ImportError(
                "the nsight-lab widgets need anywidget: pip install 'nsight-lab[lab]'"
            ) from exc
        raise
