"""From one custom resource to its objects in the cluster, and back to its status.

Every reconcile is level-triggered and idempotent: read what the resource depends
on, build the desired objects (pure builders), server-side apply them (which also
undoes edits and recreates deleted objects), prune what is no longer wanted, and
write conditions that say what is missing and how to fix it. The kopf handlers
(:mod:`.handlers`) call :meth:`Reconciler.reconcile` on every change, on a timer
and whenever an object we own is deleted.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from nsight_lab.cluster.api import Kube, KubeError, iter_owned
from nsight_lab.cluster.resources import (
    DEFAULT_STORAGE_SECRET_KEY,
    AnalysisSpec,
    CloudStorageConfigSpec,
    CloudUISpec,
    CoordinatorSpec,
    Kind,
    Kinds,
    ProfileConfigSpec,
)
from nsight_lab.gateway import (
    GatewaySpec,
    OidcEndpoints,
    RenderError,
    Upstream,
    Upstreams,
    discover_oidc,
)
from nsight_lab.storage.config import StorageConfigError, parse_storage_config
from nsight_operator.builders import gateway as gw
from nsight_operator.builders import services as svc
from nsight_operator.builders import storage as st
from nsight_operator.builders.common import MANAGED_BY, Manifest, Owner
from nsight_operator.conditions import READY, Check, find, merge
from nsight_operator.settings import OperatorSettings
from nsight_operator.webhook.injector import AgentAuth

log = logging.getLogger("nsight_operator")

#: Kinds the operator prunes when a resource no longer wants them.
PRUNABLE = (
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
)
CONFIG_HASH_ANNOTATION = "nsight-lab.io/config-hash"


class DependencyNotReady(Exception):
    """Something the resource needs is missing or not ready yet; the check says what."""

    def __init__(self, check: Check) -> None:
        super().__init__(check.message)
        self.check = check


@dataclass
class Outcome:
    """What one reconcile found: the checks behind Ready and the status fields to publish."""

    checks: list[Check] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)

    def waiting_on(self) -> Check | None:
        return next((c for c in self.checks if not c.ok), None)


@dataclass(frozen=True)
class StorageRef:
    """A resolved NsightCloudStorageConfig: the Secret to mount and what it holds."""

    name: str
    secret_name: str
    storage_type: str
    managed_minio: bool
    config_hash: str


def _hash(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
    return digest.hexdigest()[:16]


def _deployment_check(found: Mapping[str, Any] | None, name: str) -> Check:
    if found is None:
        return Check(
            "Available", False, "DeploymentMissing", f"Deployment {name} does not exist yet"
        )
    status = found.get("status") or {}
    want = (found.get("spec") or {}).get("replicas", 1)
    available = status.get("availableReplicas") or 0
    if available >= max(1, want):
        return Check(
            "Available", True, "DeploymentAvailable", f"Deployment {name}: {available} available"
        )
    for cond in status.get("conditions") or []:
        if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
            return Check("Available", False, "ReplicaFailure", cond.get("message", ""))
    return Check(
        "Available",
        False,
        "DeploymentProgressing",
        f"Deployment {name}: {available} of {want} replicas available",
    )


def _with_config_hash(objects: list[Manifest], config_hash: str) -> list[Manifest]:
    """Roll Deployments when the configuration they read at start changes."""
    for obj in objects:
        if obj["kind"] == "Deployment":
            template = obj["spec"]["template"]["metadata"]
            template.setdefault("annotations", {})[CONFIG_HASH_ANNOTATION] = config_hash
    return objects


class Reconciler:
    def __init__(self, kube: Kube, settings: OperatorSettings) -> None:
        self.kube = kube
        self.settings = settings
        self.images = svc.Images(settings.image, settings.image_pull_policy)
        self._handlers: dict[str, Callable[[Owner, Mapping[str, Any], Outcome], None]] = {
            Kinds.STORAGE.kind: self._storage,
            Kinds.COORDINATOR.kind: self._coordinator,
            Kinds.ANALYSIS.kind: self._analysis,
            Kinds.CLOUD_UI.kind: self._cloud_ui,
            Kinds.GATEWAY.kind: self._gateway,
            Kinds.PROFILE_CONFIG.kind: self._profile_config,
            Kinds.TENANT_OPERATOR.kind: self._unsupported,
            Kinds.STREAMER.kind: self._unsupported,
        }

    def register(
        self, kind: str, handler: Callable[[Owner, Mapping[str, Any], Outcome], None]
    ) -> None:
        self._handlers[kind] = handler

    # --- the entry point ---------------------------------------------------------------

    def reconcile(self, body: Mapping[str, Any]) -> Outcome:
        """Bring the cluster in line with ``body`` and publish its status."""
        owner = Owner.of(body)
        outcome = Outcome()
        try:
            self._handlers[owner.kind](owner, body, outcome)
        except DependencyNotReady as exc:
            outcome.checks.append(exc.check)
        except ValidationError as exc:
            outcome.checks.append(Check("SpecValid", False, "InvalidSpec", _describe(exc)))
        except KubeError as exc:
            outcome.checks.append(
                Check("Applied", False, "ApiError", f"the Kubernetes API refused a change: {exc}")
            )
        self.write_status(body, outcome)
        return outcome

    def write_status(self, body: Mapping[str, Any], outcome: Outcome) -> None:
        owner = Owner.of(body)
        previous = (body.get("status") or {}).get("conditions") or []
        conditions = merge(previous, outcome.checks, generation=owner.generation)
        status = {
            **outcome.status,
            "conditions": conditions,
            "observedGeneration": owner.generation,
        }
        old = body.get("status") or {}
        if {k: old.get(k) for k in status} == status:
            return
        try:
            self.kube.merge_patch(
                owner.api_version,
                owner.kind,
                owner.name,
                {"status": status},
                owner.namespace,
                subresource="status",
            )
        except KubeError as exc:
            if exc.status != 404:  # deleted meanwhile: nothing to report on
                raise

    # --- shared steps ------------------------------------------------------------------

    def apply(self, objects: Sequence[Manifest]) -> None:
        for obj in objects:
            self.kube.apply(obj)

    def prune(self, owner: Owner, keep: Sequence[Manifest]) -> None:
        """Delete objects we made for ``owner`` that the current spec no longer wants."""
        wanted = {(o["kind"], o["metadata"]["name"]) for o in keep}
        selector = (
            f"app.kubernetes.io/managed-by={MANAGED_BY},app.kubernetes.io/instance={owner.name}"
        )
        for api_version, kind in PRUNABLE:
            for obj in iter_owned(
                self.kube.list(api_version, kind, owner.namespace, label_selector=selector),
                owner.uid,
            ):
                name = obj["metadata"]["name"]
                if (kind, name) not in wanted:
                    log.info("pruning %s %s/%s (no longer wanted)", kind, owner.namespace, name)
                    self.kube.delete(api_version, kind, name, owner.namespace)

    def roll_out(
        self, owner: Owner, desired: list[Manifest], config_hash: str, out: Outcome
    ) -> None:
        """Apply ``desired`` (rolling its Pods when the configuration changed), prune the
        rest, and report whether the Deployment named after ``owner`` is available."""
        self.apply(_with_config_hash(desired, config_hash))
        self.prune(owner, desired)
        out.checks.append(self.deployment_check(owner.namespace, owner.name))

    def deployment_check(self, namespace: str, name: str) -> Check:
        return _deployment_check(self.kube.get("apps/v1", "Deployment", name, namespace), name)

    def find_one(
        self, kind: Kind, namespace: str, name: str | None, needed_by: str
    ) -> Mapping[str, Any]:
        """The resource ``name``, or the only one of ``kind`` in ``namespace``."""
        if name:
            found = self.kube.get(kind.api_version, kind.kind, name, namespace)
            if found is None:
                raise DependencyNotReady(
                    Check(
                        f"{kind.kind.removeprefix('Nsight')}Found",
                        False,
                        "ReferenceNotFound",
                        f"{needed_by} names {kind.kind} {name!r}, which does not exist in {namespace}",
                    )
                )
            return found
        items = self.kube.list(kind.api_version, kind.kind, namespace)
        short = kind.kind.removeprefix("Nsight")
        if not items:
            raise DependencyNotReady(
                Check(f"{short}Found", False, "NotFound", f"create an {kind.kind} in {namespace}")
            )
        if len(items) > 1:
            names = ", ".join(sorted(i["metadata"]["name"] for i in items))
            ref = kind.kind[len("Nsight") :]
            raise DependencyNotReady(
                Check(
                    f"{short}Found",
                    False,
                    "Ambiguous",
                    f"{namespace} has several {kind.kind} ({names}); name one in the spec "
                    f"({ref[0].lower() + ref[1:]}Ref)",
                )
            )
        return items[0]

    def storage(self, namespace: str, ref: str | None, needed_by: str) -> StorageRef:
        found = self.find_one(Kinds.STORAGE, namespace, ref, needed_by)
        name = found["metadata"]["name"]
        if (found.get("spec") or {}).get("storage_type") == "pod":
            raise DependencyNotReady(
                Check(
                    "StorageReady",
                    False,
                    "NeedsObjectStorage",
                    f"NsightCloudStorageConfig {name} is storage_type pod (reports stay in "
                    f"the profiled Pods): {needed_by} needs s3 or local storage; name one in "
                    "its cloudStorageRef and select the pod one from a tool config's "
                    "cloudStorageConfigRef",
                )
            )
        status = found.get("status") or {}
        ready = find(status.get("conditions") or [], READY)
        secret_name = status.get("secretName")
        if not ready or ready.get("status") != "True" or not secret_name:
            why = ready.get("message") if ready else "not reconciled yet"
            raise DependencyNotReady(
                Check(
                    "StorageReady",
                    False,
                    "StorageNotReady",
                    f"NsightCloudStorageConfig {name}: {why}",
                )
            )
        spec = CloudStorageConfigSpec.model_validate(found.get("spec") or {})
        return StorageRef(
            name=name,
            secret_name=secret_name,
            storage_type=spec.storage_type,
            managed_minio=spec.secret_ref is None and spec.storage_type == "s3",
            config_hash=status.get("configHash") or "",
        )

    # --- the kinds -----------------------------------------------------------------------

    def _storage(self, owner: Owner, body: Mapping[str, Any], out: Outcome) -> None:
        spec = CloudStorageConfigSpec.model_validate(body.get("spec") or {})
        out.checks.append(Check("SpecValid", True, "Valid"))
        desired: list[Manifest] = []
        if not spec.enabled:
            self.prune(owner, desired)
            out.checks.append(Check("StorageReady", False, "Disabled", "spec.enabled is false"))
            return
        if spec.storage_type == "pod":
            self.prune(owner, desired)
            out.checks.append(
                Check(
                    "StorageReady",
                    True,
                    "InPod",
                    "reports stay in each profiled Pod (tool configs naming this one in "
                    "cloudStorageConfigRef); the coordinator relays downloads from their agents",
                )
            )
            return
        if spec.storage_type == "local":
            desired = st.local_objects(spec, owner)
            self.apply(desired)
            self.prune(owner, desired)
            text = desired[0]["stringData"][DEFAULT_STORAGE_SECRET_KEY]
            out.status.update(secretName=st.storage_secret_name(owner), configHash=_hash(text))
            out.checks.append(
                Check(
                    "StorageReady",
                    True,
                    "LocalFolder",
                    "reports stay on the coordinator's data volume and download through it",
                )
            )
            return
        if spec.secret_ref is not None:
            self._external_s3(owner, spec, out)
            self.prune(owner, desired)
            return
        if not spec.minio.enabled:
            out.checks.append(
                Check(
                    "StorageReady",
                    False,
                    "NoBackend",
                    "minio.enabled is false and no secretRef is set: name a Secret with "
                    "storage-config.yaml in spec.secretRef, or enable minio",
                )
            )
            self.prune(owner, desired)
            return
        self.kube.create_if_absent(st.new_credentials(owner))
        creds = self.kube.secret_data(st.credentials_secret_name(owner), owner.namespace) or {}
        user = creds.get(st.ROOT_USER_KEY, b"").decode()
        password = creds.get(st.ROOT_PASSWORD_KEY, b"").decode()
        if not user or not password:
            out.checks.append(
                Check(
                    "StorageReady",
                    False,
                    "CredentialsInvalid",
                    f"Secret {st.credentials_secret_name(owner)} lacks {st.ROOT_USER_KEY} or "
                    f"{st.ROOT_PASSWORD_KEY}; delete it and the operator makes a new one",
                )
            )
            return
        desired = st.minio_objects(spec, owner, user, password)
        self.apply(desired)
        self.prune(owner, desired)
        available = self.deployment_check(owner.namespace, st.minio_name(owner))
        out.checks.append(available)
        out.checks.append(
            Check("StorageReady", True, "OperatorMinio", f"MinIO at {st.minio_endpoint(owner)}")
        )
        out.status.update(
            secretName=st.storage_secret_name(owner),
            endpoint=st.minio_endpoint(owner),
            configHash=_hash(user, password, spec.bucket_name),
        )

    def _external_s3(self, owner: Owner, spec: CloudStorageConfigSpec, out: Outcome) -> None:
        assert spec.secret_ref is not None
        name = spec.secret_ref.name
        data = self.kube.secret_data(name, owner.namespace)
        if data is None:
            out.checks.append(
                Check(
                    "StorageReady",
                    False,
                    "SecretNotFound",
                    f"Secret {name} does not exist in {owner.namespace}",
                )
            )
            return
        raw = data.get(DEFAULT_STORAGE_SECRET_KEY)
        if raw is None:
            out.checks.append(
                Check(
                    "StorageReady",
                    False,
                    "SecretKeyMissing",
                    f"Secret {name} has no key {DEFAULT_STORAGE_SECRET_KEY} "
                    f"(it has: {', '.join(sorted(data)) or 'no keys'})",
                )
            )
            return
        try:
            import yaml

            parse_storage_config(
                yaml.safe_load(raw.decode()),
                source=f"Secret {name} key {DEFAULT_STORAGE_SECRET_KEY}",
            )
        except (StorageConfigError, ValueError, UnicodeDecodeError) as exc:
            out.checks.append(Check("StorageReady", False, "InvalidStorageConfig", str(exc)))
            return
        out.checks.append(
            Check("StorageReady", True, "ExternalS3", f"S3 described by Secret {name}")
        )
        out.status.update(secretName=name, endpoint=None, configHash=_hash(raw))

    def _coordinator(self, owner: Owner, body: Mapping[str, Any], out: Outcome) -> None:
        spec = CoordinatorSpec.model_validate(body.get("spec") or {})
        out.checks.append(Check("SpecValid", True, "Valid"))
        storage = self.storage(
            owner.namespace, spec.cloud_storage_ref, f"NsightCoordinator {owner.name}"
        )
        out.checks.append(Check("StorageReady", True, "Resolved", f"storage from {storage.name}"))
        self.kube.create_if_absent(svc.new_signing_key(owner))
        desired = svc.coordinator_objects(
            spec,
            owner,
            storage_secret=storage.secret_name,
            create_bucket=storage.managed_minio,
            images=self.images,
            trust=self.gateway_trust(owner.namespace, "coordinator"),
            listen=self.settings.listen_address,
        )
        self.roll_out(owner, desired, storage.config_hash, out)
        out.status["url"] = svc.service_url(owner, spec.port) + "/api/v1/"

    def _analysis(self, owner: Owner, body: Mapping[str, Any], out: Outcome) -> None:
        spec = AnalysisSpec.model_validate(body.get("spec") or {})
        out.checks.append(Check("SpecValid", True, "Valid"))
        storage = self.storage(
            owner.namespace, spec.cloud_storage_ref, f"NsightAnalysis {owner.name}"
        )
        if storage.storage_type == "local":
            raise DependencyNotReady(
                Check(
                    "StorageReady",
                    False,
                    "NeedsObjectStorage",
                    f"NsightCloudStorageConfig {storage.name} keeps reports on the coordinator's "
                    "volume, which the analysis service cannot read; use s3 (MinIO or external)",
                )
            )
        out.checks.append(Check("StorageReady", True, "Resolved", f"storage from {storage.name}"))
        coordinator = self.find_one(
            Kinds.COORDINATOR, owner.namespace, spec.coordinator_ref, f"NsightAnalysis {owner.name}"
        )
        url = (coordinator.get("status") or {}).get("url")
        if not url:
            raise DependencyNotReady(
                Check(
                    "CoordinatorFound",
                    False,
                    "CoordinatorNotReady",
                    f"NsightCoordinator {coordinator['metadata']['name']} has no URL yet",
                )
            )
        out.checks.append(Check("CoordinatorFound", True, "Resolved", url))
        desired = svc.analysis_objects(
            spec,
            owner,
            storage_secret=storage.secret_name,
            coordinator_url=url,
            images=self.images,
            trust=self.gateway_trust(owner.namespace, "analysis"),
            listen=self.settings.listen_address,
        )
        self.roll_out(owner, desired, storage.config_hash, out)
        out.status["url"] = svc.service_url(owner, spec.port) + "/api/v1/"

    def _cloud_ui(self, owner: Owner, body: Mapping[str, Any], out: Outcome) -> None:
        spec = CloudUISpec.model_validate(body.get("spec") or {})
        out.checks.append(Check("SpecValid", True, "Valid"))
        desired: list[Manifest] = []
        if spec.enabled:
            desired = svc.cloud_ui_objects(
                spec,
                owner,
                gateway_url=self.gateway_url(owner.namespace),
                images=self.images,
                api_key_secret=self.ui_api_key(owner.namespace),
                listen=self.settings.listen_address,
            )
            self.apply(desired)
        self.prune(owner, desired)
        if not spec.enabled:
            out.checks.append(Check("Enabled", False, "Disabled", "spec.enabled is false"))
            return
        out.checks.append(self.deployment_check(owner.namespace, owner.name))
        out.status["url"] = svc.service_url(owner, spec.port) + "/"

    def _profile_config(self, owner: Owner, body: Mapping[str, Any], out: Outcome) -> None:
        spec = ProfileConfigSpec.model_validate(body.get("spec") or {})
        problems = profile_config_problems(spec)
        if problems:
            out.checks.append(Check("SpecValid", False, "InvalidToolConfig", "; ".join(problems)))
        else:
            names = ", ".join(t.name for t in spec.nsight_tool_configs) or "none (defaults apply)"
            out.checks.append(Check("SpecValid", True, "Valid", f"tool configs: {names}"))

    def _unsupported(self, owner: Owner, body: Mapping[str, Any], out: Outcome) -> None:
        out.checks.append(
            Check(
                "Supported",
                False,
                "NotSupported",
                f"nsight-lab has no {owner.kind}: there is no streamer; open reports in "
                "JupyterLab (NsightCloudUI) or download them",
            )
        )

    # --- the gateway -----------------------------------------------------------------

    def _gateway(self, owner: Owner, body: Mapping[str, Any], out: Outcome) -> None:
        spec = GatewaySpec.model_validate(body.get("spec") or {})
        out.checks.append(Check("SpecValid", True, "Valid"))
        ns = owner.namespace
        needed_by = f"NsightGateway {owner.name}"
        coordinator = self.find_one(Kinds.COORDINATOR, ns, None, needed_by)
        analysis = self.find_one(Kinds.ANALYSIS, ns, None, needed_by)
        upstreams = Upstreams(
            coordinator=self._upstream(coordinator, CoordinatorSpec),
            analysis=self._upstream(analysis, AnalysisSpec),
            ui=self._ui_upstream(ns),
        )
        out.checks.append(
            Check(
                "UpstreamsFound",
                True,
                "Discovered",
                f"coordinator {coordinator['metadata']['name']}, analysis "
                f"{analysis['metadata']['name']}"
                + (f", UI {upstreams.ui.host.split('.')[0]}" if upstreams.ui else ""),
            )
        )
        spec, mounts = self._resolve_gateway_secrets(owner, spec, out)
        self.kube.create_if_absent(gw.new_shared_secret(owner))
        shared = (self.kube.secret_data(gw.shared_secret_name(owner.name), ns) or {}).get(
            gw.SHARED_SECRET_KEY, b""
        )
        oidc = self._oidc(spec, out)
        try:
            desired = gw.gateway_objects(
                spec,
                owner,
                upstreams=upstreams,
                shared_secret=shared.decode(),
                mounts=mounts,
                images=self.images,
                oidc=oidc,
                listen_address=self.settings.listen_address,
            )
        except RenderError as exc:
            raise DependencyNotReady(
                Check("ConfigRendered", False, "InvalidGatewayConfig", str(exc))
            ) from None
        out.checks.append(Check("ConfigRendered", True, "Rendered", "Envoy bootstrap rendered"))
        self.apply(desired)
        self.prune(owner, desired)
        out.checks.append(self.deployment_check(ns, owner.name))
        out.status["url"] = gw.gateway_url(spec, owner.name, ns)

    def _upstream(
        self, found: Mapping[str, Any], model: type[CoordinatorSpec] | type[AnalysisSpec]
    ) -> Upstream:
        meta = found["metadata"]
        port = model.model_validate(found.get("spec") or {}).port
        return Upstream(f"{meta['name']}.{meta['namespace']}.svc", port)

    def _ui_upstream(self, namespace: str) -> Upstream | None:
        kind = Kinds.CLOUD_UI
        for item in self.kube.list(kind.api_version, kind.kind, namespace):
            spec = CloudUISpec.model_validate(item.get("spec") or {})
            if spec.enabled:
                return Upstream(f"{item['metadata']['name']}.{namespace}.svc", spec.port)
        return None

    def _secret_keys(
        self, namespace: str, name: str, keys: Sequence[str], check: str, field: str
    ) -> dict[str, bytes]:
        data = self.kube.secret_data(name, namespace)
        if data is None:
            raise DependencyNotReady(
                Check(
                    check,
                    False,
                    "SecretNotFound",
                    f"{field}: Secret {name} does not exist in {namespace}",
                )
            )
        missing = [k for k in keys if not data.get(k)]
        if missing:
            raise DependencyNotReady(
                Check(
                    check,
                    False,
                    "SecretKeyMissing",
                    f"{field}: Secret {name} has no {' or '.join(missing)} "
                    f"(it has: {', '.join(sorted(data)) or 'no keys'})",
                )
            )
        return data

    def _resolve_gateway_secrets(
        self, owner: Owner, spec: GatewaySpec, out: Outcome
    ) -> tuple[GatewaySpec, gw.Mounts]:
        """Check every referenced Secret and turn references into what the renderer reads."""
        ns = owner.namespace
        tls_secret = jwks_secret = oauth2_secret = None
        jwks_key = gw.DEFAULT_JWKS_KEY
        if spec.tls_secret_ref is not None:
            name = spec.tls_secret_ref.name
            data = self._secret_keys(ns, name, ["tls.crt", "tls.key"], "TLSReady", "tlsSecretRef")
            problem = tls_problem(data["tls.crt"], data["tls.key"])
            if problem:
                raise DependencyNotReady(
                    Check("TLSReady", False, "InvalidCertificate", f"Secret {name}: {problem}")
                )
            tls_secret = name
            out.checks.append(
                Check("TLSReady", True, "SecretValid", f"serving the certificate in {name}")
            )
        auth = spec.authentication
        apikey = auth.apikey
        if apikey.enabled and apikey.key_secret_ref is not None:
            ref = apikey.key_secret_ref
            key_name = ref.key or gw.DEFAULT_APIKEY_KEY
            data = self._secret_keys(
                ns, ref.name, [key_name], "AuthReady", "authentication.apikey.keySecretRef"
            )
            value = data[key_name].decode().strip()
            try:
                apikey = apikey.model_copy(update={"key": value, "key_secret_ref": None})
                type(apikey).model_validate(apikey.model_dump(by_alias=True))
            except ValidationError as exc:
                raise DependencyNotReady(
                    Check(
                        "AuthReady",
                        False,
                        "InvalidApiKey",
                        f"Secret {ref.name} key {key_name}: {_describe(exc)}",
                    )
                ) from None
            auth = auth.model_copy(update={"apikey": apikey})
        if auth.jwt.enabled:
            text = auth.jwt.verification_jwks
            where = "authentication.jwt.verificationJwks"
            if auth.jwt.jwks_secret_ref is not None:
                ref = auth.jwt.jwks_secret_ref
                jwks_key = ref.key or gw.DEFAULT_JWKS_KEY
                data = self._secret_keys(
                    ns, ref.name, [jwks_key], "AuthReady", "authentication.jwt.jwksSecretRef"
                )
                text, where, jwks_secret = (
                    data[jwks_key].decode(errors="replace"),
                    f"Secret {ref.name} key {jwks_key}",
                    ref.name,
                )
            if text is not None:
                problem = jwks_problem(text)
                if problem:
                    raise DependencyNotReady(
                        Check("AuthReady", False, "InvalidJWKS", f"{where}: {problem}")
                    )
        if auth.oauth2.enabled and auth.oauth2.client_secret_ref is not None:
            oauth_ref = auth.oauth2.client_secret_ref
            self._secret_keys(
                ns,
                oauth_ref.name,
                ["client_secret.key", "hmac.key"],
                "AuthReady",
                "authentication.oauth2.clientSecretRef",
            )
            oauth2_secret = oauth_ref.name
        spec = spec.model_copy(update={"authentication": auth})
        modes = ", ".join(auth.modes) or "none (open: development only)"
        out.checks.append(Check("AuthReady", True, "Resolved", f"authentication: {modes}"))
        mounts = gw.Mounts(
            tls_secret=tls_secret, jwks_secret=jwks_secret, oauth2_secret=oauth2_secret
        )
        return gw.with_files(spec, mounts, jwks_key=jwks_key), mounts

    def _oidc(self, spec: GatewaySpec, out: Outcome) -> OidcEndpoints | None:
        oauth2 = spec.authentication.oauth2
        if not oauth2.enabled or (
            oauth2.authorization_endpoint and oauth2.token_endpoint and oauth2.jwks_uri
        ):
            return None
        if not oauth2.issuer:
            raise DependencyNotReady(
                Check(
                    "AuthReady", False, "IssuerMissing", "authentication.oauth2.issuer is required"
                )
            )
        try:
            return discover_oidc(oauth2.issuer)
        except Exception as exc:
            raise DependencyNotReady(
                Check(
                    "OIDCDiscovered",
                    False,
                    "DiscoveryFailed",
                    f"{oauth2.issuer}/.well-known/openid-configuration: {exc}; or set "
                    "authorizationEndpoint, tokenEndpoint and jwksUri in the spec",
                )
            ) from None

    def gateway(self, namespace: str) -> tuple[str, GatewaySpec] | None:
        """The namespace's NsightGateway (name, spec), if it has one (the first by name)."""
        kind = Kinds.GATEWAY
        items = sorted(
            self.kube.list(kind.api_version, kind.kind, namespace),
            key=lambda i: i["metadata"]["name"],
        )
        for item in items:
            try:
                return item["metadata"]["name"], GatewaySpec.model_validate(item.get("spec") or {})
            except ValidationError:
                continue
        return None

    def gateway_trust(self, namespace: str, service: str) -> svc.GatewayTrust | None:
        found = self.gateway(namespace)
        if found is None:
            return None
        name, spec = found
        prefix = (
            spec.routing.coordinator_prefix
            if service == "coordinator"
            else spec.routing.analysis_prefix
        )
        return svc.GatewayTrust(
            env_name=gw.SHARED_SECRET_ENV,
            secret_name=gw.shared_secret_name(name),
            secret_key=gw.SHARED_SECRET_KEY,
            root_path=prefix.rstrip("/"),
        )

    def gateway_url(self, namespace: str) -> str | None:
        found = self.gateway(namespace)
        return gw.gateway_url(found[1], found[0], namespace) if found else None

    def ui_api_key(self, namespace: str) -> tuple[str, str] | None:
        """(Secret, key) of the namespace's gateway API key, when it asks for one."""
        found = self.gateway(namespace)
        if found is None:
            return None
        apikey = found[1].authentication.apikey
        if not apikey.enabled or apikey.key_secret_ref is None:
            return None
        return apikey.key_secret_ref.name, apikey.key_secret_ref.key or gw.DEFAULT_APIKEY_KEY

    def agent_coordinator_url(self) -> str | None:
        """The coordinator URL injected agents use (the chart's override, else the gateway's)."""
        if self.settings.agent_coordinator_url:
            return self.settings.agent_coordinator_url
        namespace = self.settings.gateway_namespace or self.settings.namespace
        found = self.gateway(namespace)
        if found is None:
            return None
        name, spec = found
        return gw.gateway_url(spec, name, namespace) + spec.routing.coordinator_prefix + "api/v1/"

    def agent_auth(self) -> AgentAuth | None:
        """The Secret holding the key agents present, when the gateway asks for one."""
        namespace = self.settings.gateway_namespace or self.settings.namespace
        ref = self.ui_api_key(namespace)
        return AgentAuth(ref[0], namespace, ref[1]) if ref else None


def tls_problem(cert_pem: bytes, key_pem: bytes) -> str | None:
    """Why ``tls.crt``/``tls.key`` cannot serve TLS, or None."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return "tls.crt is not a PEM certificate"
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        return "tls.key is not an unencrypted PEM private key"
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.PEM
    if cert.public_key().public_bytes(encoding, public) != key.public_key().public_bytes(
        encoding, public
    ):
        return "tls.key does not belong to the certificate in tls.crt"
    return None


def jwks_problem(text: str) -> str | None:
    """Why a JWKS cannot verify tokens, or None."""
    import json

    try:
        data = json.loads(text)
    except ValueError as exc:
        return f"not JSON ({exc})"
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list) or not keys:
        return 'not a JWK set: expected {"keys": [...]} with at least one key'
    for i, key in enumerate(keys):
        if not isinstance(key, dict) or "kty" not in key:
            return f"keys[{i}] has no kty"
        if key["kty"] == "RSA" and not {"n", "e"} <= set(key):
            return f"keys[{i}]: an RSA key needs n and e"
        if key["kty"] == "EC" and not {"crv", "x", "y"} <= set(key):
            return f"keys[{i}]: an EC key needs crv, x and y"
    return None


def profile_config_problems(spec: ProfileConfigSpec) -> list[str]:
    """What is wrong in a profile config, one sentence each (empty when valid)."""
    problems = []
    seen: set[str] = set()
    for tool in spec.nsight_tool_configs:
        if tool.name in seen:
            problems.append(f"tool config name {tool.name!r} is used twice")
        seen.add(tool.name)
        for pattern in tool.injection_include_patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(f"{tool.name}: injectionIncludePatterns {pattern!r}: {exc}")
        try:
            shlex.split(tool.nsight_tool_args)
        except ValueError as exc:
            problems.append(f"{tool.name}: nsightToolArgs: {exc}")
    return problems


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"spec.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
    )
