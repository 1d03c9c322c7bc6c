"""Domain errors the state layer raises; the app turns each into one HTTP status.

Keeping HTTP out of ``db.py`` lets the same checks run inside one transaction, and
the message of each error is what the user reads in ``{"detail": ...}``, so it says
what to do next.
"""

from __future__ import annotations

SESSIONS_HINT = "list sessions with GET /api/v1/sessions (CLI: nsight-lab sessions)"


class CoordinatorError(Exception):
    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(CoordinatorError):
    status_code = 404


class Conflict(CoordinatorError):
    status_code = 409


class Invalid(CoordinatorError):
    status_code = 422


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
