"""What actually records: one small interface, several implementations."""

from nsight_lab.agent.collectors.base import Collector, CollectorError, ProducedFile

__all__ = ["Collector", "CollectorError", "ProducedFile"]
