"""Where jobs run: local worker processes (their map phase here or on Dask), or Kubernetes Jobs."""

from __future__ import annotations

from nsight_analysis.executors.base import Executor, ExecutorContext

__all__ = ["Executor", "ExecutorContext", "build_executor"]


def build_executor(context: ExecutorContext) -> Executor:
    """The executor ``context.settings.executor`` names; Kubernetes is imported only when asked for."""
    if context.settings.executor == "kubernetes":
        from nsight_analysis.executors.kubernetes import KubernetesExecutor

        return KubernetesExecutor(context)
    if context.settings.executor == "dask":
        from nsight_analysis.executors.local import DaskExecutor

        return DaskExecutor(context)
    from nsight_analysis.executors.local import LocalExecutor

    return LocalExecutor(context)
