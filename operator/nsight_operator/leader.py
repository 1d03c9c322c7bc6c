"""Leader election over a ``coordination.k8s.io/v1`` Lease, as client-go does it.

Of several operator replicas only the Lease holder reconciles; all of them serve the
webhook. A follower takes the Lease once its holder has not renewed it for
``lease_duration_s`` of the follower's own clock (measured from when the follower
last saw the record change, so clock skew between nodes does not matter). Updates
carry the resourceVersion read, so two followers racing for an expired Lease cannot
both win. A leader that cannot renew within ``renew_deadline_s`` steps down.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nsight_lab.cluster.api import Kube, KubeError

log = logging.getLogger("nsight_operator.leader")


def _micro_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Observed:
    holder: str | None
    renew_time: str | None
    seen_at: float


class LeaderElector:
    """``elector.run(on_started, on_stopped)`` blocks, calling back on each change of role."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        identity: str,
        *,
        lease_duration_s: float = 15.0,
        renew_deadline_s: float = 10.0,
        retry_period_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not retry_period_s < renew_deadline_s < lease_duration_s:
            raise ValueError(
                "leader election needs retry_period_s < renew_deadline_s < lease_duration_s"
            )
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration_s = lease_duration_s
        self.renew_deadline_s = renew_deadline_s
        self.retry_period_s = retry_period_s
        self.clock = clock
        self._observed: _Observed | None = None
        self._stop = threading.Event()
        self.is_leader = False

    # --- one attempt ----------------------------------------------------------------------

    def _lease(self, holder: str, transitions: int, acquired: str | None) -> dict[str, Any]:
        now = _micro_time(dt.datetime.now(dt.timezone.utc))
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": max(1, round(self.lease_duration_s)),
                "acquireTime": acquired or now,
                "renewTime": now,
                "leaseTransitions": transitions,
            },
        }

    def try_acquire_or_renew(self) -> bool:
        """One round: True when this replica holds the Lease afterwards."""
        try:
            current = self.kube.get("coordination.k8s.io/v1", "Lease", self.name, self.namespace)
        except KubeError as exc:
            log.warning("reading Lease %s/%s failed: %s", self.namespace, self.name, exc)
            return False
        if current is None:
            try:
                self.kube.create(self._lease(self.identity, 0, None))
            except KubeError as exc:
                if exc.status != 409:
                    log.warning("creating Lease failed: %s", exc)
                return False
            self._observed = _Observed(self.identity, None, self.clock())
            return True
        spec = current.get("spec") or {}
        holder = spec.get("holderIdentity") or None
        renew = spec.get("renewTime")
        now = self.clock()
        if (
            self._observed is None
            or self._observed.holder != holder
            or self._observed.renew_time != renew
        ):
            self._observed = _Observed(holder, renew, now)
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration_s)
        expired = now >= self._observed.seen_at + duration
        if holder not in (None, self.identity) and not expired:
            return False
        transitions = int(spec.get("leaseTransitions") or 0)
        if holder != self.identity:
            transitions += 1
        lease = self._lease(
            self.identity,
            transitions,
            spec.get("acquireTime") if holder == self.identity else None,
        )
        lease["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        try:
            updated = self.kube.replace(lease)
        except KubeError as exc:
            if exc.status != 409:  # 409: someone else wrote first; try again next round
                log.warning("updating Lease failed: %s", exc)
            return False
        self._observed = _Observed(self.identity, updated["spec"].get("renewTime"), self.clock())
        return True

    def release(self) -> None:
        """Give the Lease up at shutdown so a follower takes over at once, not after expiry."""
        try:
            current = self.kube.get("coordination.k8s.io/v1", "Lease", self.name, self.namespace)
            if current and (current.get("spec") or {}).get("holderIdentity") == self.identity:
                current["spec"]["holderIdentity"] = None
                current["spec"]["leaseDurationSeconds"] = 1
                self.kube.replace(current)
        except KubeError as exc:
            log.warning("releasing Lease failed: %s", exc)

    # --- the loop -------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def run(self, on_started: Callable[[], None], on_stopped: Callable[[], None]) -> None:
        """Campaign until :meth:`stop`; ``on_started`` when elected, ``on_stopped`` when not."""
        last_renew = 0.0
        try:
            while not self._stop.is_set():
                held = self.try_acquire_or_renew()
                now = self.clock()
                if held:
                    last_renew = now
                    if not self.is_leader:
                        self.is_leader = True
                        log.info(
                            "%s became the leader (Lease %s/%s)",
                            self.identity,
                            self.namespace,
                            self.name,
                        )
                        on_started()
                elif self.is_leader and now - last_renew > self.renew_deadline_s:
                    self.is_leader = False
                    log.warning(
                        "%s lost the Lease (no renewal for %.0f s)", self.identity, now - last_renew
                    )
                    on_stopped()
                self._stop.wait(self.retry_period_s)
        finally:
            if self.is_leader:
                self.is_leader = False
                self.release()
                on_stopped()
