"""Domain errors the state layer raises; the app turns each into one HTTP status.

Keeping HTTP out of ``db.py`` lets the same checks run inside one transaction, and
the message of each error is what the user reads in ``{"detail": ...}``, so it says
what to do next.
"""

from __future__ import annotations

from nsight_lab.servicekit import Conflict, Invalid, NotFound
from nsight_lab.servicekit import ServiceError as CoordinatorError

__all__ = ["Conflict", "CoordinatorError", "Invalid", "NotFound"]

SESSIONS_HINT = "list sessions with GET /api/v1/sessions (CLI: nsight-lab sessions)"


def unknown_session(session_id: str) -> NotFound:
    return NotFound(f"no session {session_id!r}; {SESSIONS_HINT}")


def unknown_collection(collection_id: str) -> NotFound:
    return NotFound(
        f"no collection {collection_id!r}; collections are listed in each session: {SESSIONS_HINT}"
    )


def unknown_agent(agent_id: str) -> NotFound:
    return NotFound(
        f"no agent {agent_id!r}: the coordinator does not know it; register again with "
        "POST /api/v1/agents, passing the same agent_id"
    )
