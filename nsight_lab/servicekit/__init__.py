"""Plumbing the services share: error bodies and SQLite state files.

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

__all__ = [
    "Conflict",
    "Invalid",
    "NotFound",
    "SQLiteFile",
    "ServiceError",
    "install_error_handlers",
]
