"""Status conditions, merged the Kubernetes way.

``lastTransitionTime`` changes only when a condition's status flips, so watchers
(``kubectl wait``, dashboards) see real transitions and not one per reconcile.
``Ready`` is derived: true only when every other condition is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

READY = "Ready"


@dataclass(frozen=True)
class Check:
    """One condition as a reconcile found it."""

    type: str
    ok: bool
    reason: str
    message: str = ""


def now_rfc3339() -> str:
    return (
        dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    )


def ready_of(checks: Sequence[Check], ready_reason: str = "Reconciled") -> Check:
    """``Ready`` from the other checks: the first failing one explains why not."""
    for check in checks:
        if not check.ok:
            return Check(READY, False, check.reason, check.message)
    return Check(READY, True, ready_reason, "all parts are in place and available")


def merge(
    previous: Iterable[Mapping[str, Any]],
    checks: Sequence[Check],
    *,
    generation: int,
    now: str | None = None,
) -> list[dict[str, Any]]:
    """The new ``status.conditions``: ``checks`` plus Ready, keeping unchanged transition times."""
    now = now or now_rfc3339()
    before = {c.get("type"): c for c in previous}
    out = []
    all_checks = [*checks, ready_of(checks)] if not any(c.type == READY for c in checks) else checks
    for check in all_checks:
        status = "True" if check.ok else "False"
        old = before.get(check.type)
        changed = old is None or old.get("status") != status
        out.append(
            {
                "type": check.type,
                "status": status,
                "reason": check.reason,
                "message": check.message,
                "lastTransitionTime": now if changed else old.get("lastTransitionTime", now),  # type: ignore[union-attr]
                "observedGeneration": generation,
            }
        )
    return out


def find(conditions: Iterable[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)
