"""Plumbing the services share: error bodies, SQLite state files, gateway trust.

Services never import each other (DESIGN.md), so what they have in common lives
here in ``nsight_lab``: every error answers ``{"detail": "..."}`` in the same words,
and every state file is opened the same crash-safe way.
"""

from nsight_lab.servicekit.errors import (
    Conflict,
    Invalid,
    NotFound,
    ServiceError,
    install_error_handlers,
)
from nsight_lab.servicekit.sqlite import SQLiteFile
from nsight_lab.servicekit.trust import (
    CallerDep,
    GatewaySettings,
    Tally,
    caller_of,
    install_gateway_guard,
)

__all__ = [
    "CallerDep",
    "Conflict",
    "GatewaySettings",
    "Invalid",
    "NotFound",
    "SQLiteFile",
    "ServiceError",
    "Tally",
    "caller_of",
    "install_error_handlers",
    "install_gateway_guard",
]
