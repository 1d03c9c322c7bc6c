"""The coordinator: agents, sessions, collections, uploads, and the long-poll hub.

``create_app(settings, store)`` builds the ASGI app; ``docs/PROTOCOL.md`` is its contract.
"""

from __future__ import annotations

from nsight_coordinator.app import create_app
from nsight_coordinator.settings import CoordinatorSettings

__all__ = ["CoordinatorSettings", "create_app"]
