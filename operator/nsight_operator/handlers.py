"""The kopf handlers: when to reconcile, for every kind the operator serves.

Reconciles are triggered by a change of the resource (or the operator starting), by
a periodic resync (``resync_s``, which also repairs drift no event announced), by the deletion
or status change of an object the operator made (a deleted Service comes back within
moments), and by a dependency turning Ready (storage before coordinator before
analysis before gateway), so a fresh install converges without waiting for timers.
Every trigger runs the same idempotent :meth:`Reconciler.reconcile` on a fresh read.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections.abc import Mapping
from typing import Any

import kopf

from nsight_lab.cluster.api import Kube
from nsight_lab.cluster.resources import GROUP, Kind, Kinds, all_kinds
from nsight_operator.builders.common import MANAGED_BY
from nsight_operator.conditions import READY, find
from nsight_operator.reconcile import Reconciler
from nsight_operator.settings import OperatorSettings

log = logging.getLogger("nsight_operator")

#: Which kinds read which: a change in Ready of the key reconciles the values.
DEPENDENTS: dict[str, tuple[str, ...]] = {
    "NsightCloudStorageConfig": ("NsightCoordinator", "NsightAnalysis", "NsightGateway"),
    "NsightCoordinator": ("NsightAnalysis", "NsightGateway"),
    "NsightAnalysis": ("NsightGateway",),
    "NsightCloudUI": ("NsightGateway",),
    "NsightGateway": ("NsightCloudUI", "NsightCoordinator", "NsightAnalysis"),
}
#: Kinds of objects the operator makes, watched so that deletion or drift is repaired.
CHILD_KINDS = (
    ("apps", "v1", "deployments"),
    ("", "v1", "services"),
    ("", "v1", "secrets"),
    ("", "v1", "configmaps"),
)


def _ready(body: Mapping[str, Any] | None) -> str | None:
    if not body:
        return None
    cond = find((body.get("status") or {}).get("conditions") or [], READY)
    return cond.get("status") if cond else None


class Handlers:
    """Registers the handlers of every kind on a kopf registry."""

    def __init__(self, kube: Kube, reconciler: Reconciler, settings: OperatorSettings) -> None:
        self.kube = kube
        self.reconciler = reconciler
        self.settings = settings
        self.kinds = {k.kind: k for k in all_kinds()}
        # kopf runs sync handlers in threads; one lock per object keeps two triggers
        # of the same resource from interleaving their applies and status writes.
        self._locks: dict[tuple[str, str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        #: Per child uid, what was last seen of it (see :meth:`_worth_it`).
        self._seen: dict[str, tuple[Any, ...]] = {}

    def _lock(self, key: tuple[str, str, str]) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def reconcile(self, kind: Kind, namespace: str, name: str, *, cascade: bool = True) -> None:
        """Reconcile the current version of one resource (no-op once it is gone or going)."""
        with self._lock((kind.kind, namespace, name)):
            body = self.kube.get(kind.api_version, kind.kind, name, namespace)
            if body is None or body["metadata"].get("deletionTimestamp"):
                return
            before = _ready(body)
            outcome = self.reconciler.reconcile(body)
        after = "True" if outcome.ready else "False"
        if cascade and before != after:
            self.kick_dependents(kind.kind, namespace)

    def kick_dependents(self, kind_name: str, namespace: str) -> None:
        for dependent in DEPENDENTS.get(kind_name, ()):
            kind = self.kinds.get(dependent)
            if kind is None:
                continue
            for item in self.kube.list(kind.api_version, kind.kind, namespace):
                self.reconcile(kind, namespace, item["metadata"]["name"], cascade=False)

    def _worth_it(self, event: Mapping[str, Any]) -> bool:
        """Whether a child's event can change what its owner reports or needs.

        A deletion always does; so does an edit of a Deployment's spec (its generation
        moves) or a change in how many of its replicas are available. The stream of
        other status updates does not, and reacting to each would keep the operator
        busy reconciling owners that need nothing.
        """
        kind = event.get("type")
        obj = event.get("object") or {}
        meta = obj.get("metadata") or {}
        uid = meta.get("uid", "")
        if kind == "DELETED":
            self._seen.pop(uid, None)
            return True
        summary: tuple[Any, ...] = (meta.get("resourceVersion"),)
        if obj.get("kind") == "Deployment":
            status = obj.get("status") or {}
            summary = (meta.get("generation"), status.get("availableReplicas") or 0)
        with self._locks_guard:
            before = self._seen.get(uid)
            self._seen[uid] = summary
        # The first sighting (the watch's initial listing) is the periodic resync's job.
        return before is not None and before != summary

    def on_child_event(self, event: Mapping[str, Any], **_: Any) -> None:
        """A Deployment, Service, Secret or ConfigMap we made changed or went away."""
        if not self._worth_it(event):
            return
        obj = event.get("object") or {}
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
            api_version = ref.get("apiVersion", "")
            if not api_version.startswith(GROUP + "/"):
                continue
            kind = self.kinds.get(ref.get("kind", ""))
            if kind is None:
                continue
            if event.get("type") == "DELETED":
                log.info(
                    "%s %s/%s was deleted; reconciling %s %s",
                    obj.get("kind"),
                    obj["metadata"].get("namespace"),
                    obj["metadata"].get("name"),
                    kind.kind,
                    ref.get("name"),
                )
            self.reconcile(kind, obj["metadata"]["namespace"], ref["name"])

    def register(self, registry: kopf.OperatorRegistry) -> None:
        for kind in all_kinds():
            self._register_kind(registry, kind)
        for group, version, plural in CHILD_KINDS:
            kopf.on.event(
                group,
                version,
                plural,
                labels={"app.kubernetes.io/managed-by": MANAGED_BY},
                registry=registry,
                id=f"child-{plural}",
            )(self.on_child_event)

    def _register_kind(self, registry: kopf.OperatorRegistry, kind: Kind) -> None:
        def changed(body: Mapping[str, Any], **_: Any) -> None:
            meta = body["metadata"]
            self.reconcile(kind, meta["namespace"], meta["name"])

        for decorator, suffix in (
            (kopf.on.resume, "resume"),
            (kopf.on.create, "create"),
            (kopf.on.update, "update"),
        ):
            decorator(
                group=GROUP,
                version=kind.storage_version,
                plural=kind.plural,
                registry=registry,
                id=f"{kind.singular}-{suffix}",
            )(changed)

    def resync_all(self) -> int:
        """Reconcile every resource once (the periodic repair of drift no event announced).

        A loop of our own rather than kopf timers: those put a finalizer on every
        resource, and a resource with a finalizer cannot be deleted while the operator
        is down (``helm uninstall`` would hang on its own resources).
        """
        count = 0
        patterns = self.settings.namespaces
        for kind in all_kinds():
            for item in self.kube.list(kind.api_version, kind.kind):
                ns = item["metadata"]["namespace"]
                if patterns and not any(fnmatch.fnmatchcase(ns, p) for p in patterns):
                    continue
                try:
                    self.reconcile(kind, ns, item["metadata"]["name"])
                    count += 1
                except Exception:
                    log.exception(
                        "resync of %s %s/%s failed", kind.kind, ns, item["metadata"]["name"]
                    )
        return count


def configure(settings: kopf.OperatorSettings, operator: OperatorSettings) -> None:
    """kopf's own settings: state in our annotations, no peering (our Lease elects the leader)."""
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="nsight-lab.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="nsight-lab.io", key="last-handled-configuration"
    )
    settings.peering.standalone = True
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.execution.max_workers = 8
    settings.networking.request_timeout = 60


__all__ = ["DEPENDENTS", "Handlers", "Kinds", "configure"]
