"""The custom resources' specs and statuses: one definition for CRDs, operator and CLI.

Field names follow the product's manifests (camelCase, and ``storage_type`` /
``bucket_name`` in the storage config as its secret file spells them), so manifests
written for it apply here. Attribute docstrings become the CRD's field descriptions
(``kubectl explain``), defaults become the CRD's defaults, and constraints its
validation, all through :mod:`nsight_operator.crds`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from nsight_lab.gateway.spec import GatewaySpec

#: The product's API group, so its manifests apply unchanged (docs/ARCHITECTURE.md).
GROUP = "nvidia.com"
VERSION = "v1alpha1"
#: The profile config's version in the product (v1alpha1 is also served).
PROFILE_CONFIG_VERSION = "v1"
#: A Pod, or a Namespace, carrying this label with value ``enabled`` is profiled.
PROFILE_LABEL = "nvidia-nsight-profile"
PROFILE_ENABLED = "enabled"
#: Our own annotations on Pods (inputs) and the ones the injector writes (outputs).
ANNOTATION_PREFIX = "nsight-lab.io/"
DEFAULT_PROFILE_CONFIG = "default-profile-config"
DEFAULT_GATEWAY_SERVICE = "nsight-operator-gateway"
DEFAULT_STORAGE_SECRET_KEY = "storage-config.yaml"


class CrdModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields refused (a typo is an error)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
    )


# --- shared pieces -------------------------------------------------------------------


class SecretRef(CrdModel):
    name: str = Field(min_length=1, max_length=253)
    """Name of a Secret in the resource's namespace."""


class SecretKeyRef(CrdModel):
    name: str = Field(min_length=1, max_length=253)
    """Name of a Secret in the resource's namespace."""
    key: str = Field(min_length=1, max_length=253)
    """The key inside the Secret."""


class Persistence(CrdModel):
    enabled: bool = False
    """Keep data on a PersistentVolumeClaim instead of an emptyDir (lost on restart)."""
    storage_class_name: str | None = None
    """StorageClass of the claim; the cluster default when unset."""
    size: str = Field("10Gi", pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P)?$")
    """Requested capacity, a Kubernetes quantity such as 20Gi."""


class ServiceSpec(CrdModel):
    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    """How the Service is exposed."""
    node_port: int | None = Field(None, ge=30000, le=32767)
    """Fixed node port for type NodePort (otherwise the cluster picks one)."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations for the Service (load-balancer settings of your cloud)."""


class Resources(CrdModel):
    requests: dict[str, str] = Field(default_factory=dict)
    """Resource requests, e.g. cpu: 500m."""
    limits: dict[str, str] = Field(default_factory=dict)
    """Resource limits, e.g. memory: 2Gi."""


class Workload(CrdModel):
    """What every resource that runs a Deployment can set."""

    image: str | None = None
    """Container image; the operator's own nsight-lab image when unset."""
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    """Pull policy of the image."""
    resources: Resources = Field(default_factory=Resources)
    """Requests and limits of the main container."""
    node_selector: dict[str, str] = Field(default_factory=dict)
    """Node labels the Pod must match."""


# --- status --------------------------------------------------------------------------


class Condition(CrdModel):
    """One aspect of a resource's state, the Kubernetes way (``kubectl wait --for=condition=Ready``)."""

    model_config = ConfigDict(extra="ignore")

    type: str
    """Ready, or the aspect named (StorageReady, SecretsResolved, ...)."""
    status: Literal["True", "False", "Unknown"]
    """Whether the aspect holds."""
    reason: str = ""
    """A CamelCase word for programs."""
    message: str = ""
    """A sentence for people: what is wrong and what to do."""
    last_transition_time: str | None = None
    """When status last changed (RFC 3339)."""
    observed_generation: int | None = None
    """The spec generation the condition describes."""


class ResourceStatus(CrdModel):
    """What the operator reports on every resource."""

    model_config = ConfigDict(extra="ignore")

    conditions: list[Condition] = Field(default_factory=list)
    """Ready and the conditions it depends on."""
    observed_generation: int | None = None
    """The spec generation last reconciled."""
    url: str | None = None
    """Where the resource is reached inside the cluster, when it serves HTTP."""


# --- storage ---------------------------------------------------------------------------


class MinioSpec(CrdModel):
    enabled: bool = True
    """Run an operator-managed MinIO when no secretRef is given."""
    image: str = "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z"
    """The MinIO server image."""
    persistence: Persistence = Field(default_factory=Persistence)
    """Where MinIO keeps objects; an emptyDir (lost on restart) unless enabled."""
    resources: Resources = Field(default_factory=Resources)
    """Requests and limits of the MinIO container."""


class CloudStorageConfigSpec(CrdModel):
    """Where reports are stored: operator-managed MinIO, external S3, the coordinator's
    volume, or each profiled Pod (pod: named by a tool config's cloudStorageConfigRef)."""

    enabled: bool = True
    """Whether this storage is in use."""
    storage_type: Literal["s3", "local", "pod"] = Field("s3", alias="storage_type")
    """s3 (MinIO or any S3-compatible service), local (a folder on the coordinator's volume), or pod (reports stay in the profiled Pod; downloads are relayed from its agent)."""
    bucket_name: str = Field("nsight-reports", alias="bucket_name", min_length=3, max_length=63)
    """The bucket reports go to (created in operator-managed MinIO)."""
    secret_ref: SecretRef | None = None
    """A Secret whose key storage-config.yaml describes external S3; disables MinIO."""
    minio: MinioSpec = Field(default_factory=MinioSpec)
    """The operator-managed MinIO used when secretRef is unset."""
    local_cache_dir: str = Field("/var/lib/nsight-lab/reports", alias="local_cache_dir")
    """For storage_type local: the folder on the coordinator's data volume that keeps reports."""


class CloudStorageConfigStatus(ResourceStatus):
    secret_name: str | None = None
    """The Secret (key storage-config.yaml) the services mount."""
    endpoint: str | None = None
    """The S3 endpoint inside the cluster."""


# --- services --------------------------------------------------------------------------


class CoordinatorSpec(Workload):
    """The coordinator: agents register here, sessions and collections live here."""

    port: int = Field(8080, ge=1, le=65535)
    """Container and Service port."""
    cloud_storage_ref: str | None = None
    """NsightCloudStorageConfig (same namespace) for reports; the only one there when unset."""
    persistence: Persistence = Field(default_factory=Persistence)
    """Where the state database lives; an emptyDir unless enabled."""
    agent_expiry_seconds: float = Field(15.0, gt=0)
    """An agent silent for this long is marked lost."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Log level of the service."""


class AnalysisSpec(Workload):
    """The analysis service: recipe jobs over sessions, as Kubernetes Jobs or in its own Pod."""

    port: int = Field(8080, ge=1, le=65535)
    """Container and Service port."""
    cloud_storage_ref: str | None = None
    """NsightCloudStorageConfig for reports and outputs; the only one there when unset."""
    coordinator_ref: str | None = None
    """The NsightCoordinator whose sessions it analyses; the only one there when unset."""
    executor: Literal["kubernetes", "local"] = "kubernetes"
    """kubernetes runs each job as a Job; local runs them in the service's own Pod."""
    workers: int = Field(2, ge=1, le=64)
    """Worker processes (local executor)."""
    job_resources: Resources = Field(default_factory=Resources)
    """Requests and limits of each job's Pod (kubernetes executor)."""
    job_ttl_seconds: int = Field(3600, ge=0)
    """How long finished job Pods are kept."""
    persistence: Persistence = Field(default_factory=Persistence)
    """Where the job table lives; an emptyDir unless enabled."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Log level of the service."""


class CloudUISpec(Workload):
    """JupyterLab with the nsight-lab extension, served at the gateway's root."""

    enabled: bool = True
    """Whether the UI runs."""
    port: int = Field(8888, ge=1, le=65535)
    """Container and Service port."""
    persistence: Persistence = Field(default_factory=Persistence)
    """The notebooks' folder; an emptyDir unless enabled."""


# --- profiling -------------------------------------------------------------------------


class ToolConfig(CrdModel):
    name: str = Field(min_length=1, max_length=63)
    """Name a Pod selects with the annotation nsight-lab.io/tool-config."""
    nsight_tool_args: str = ""
    """Nsight Systems arguments for the nsys collector, e.g. -t cuda,nvtx,osrt."""
    collector: Literal["auto", "nsys", "pyspy", "annotations"] = "auto"
    """What records: nsys where installed, py-spy otherwise (auto), or one of them."""
    cloud_storage_config_ref: str | None = None
    """NsightCloudStorageConfig in the Pod's namespace for this tool's reports."""
    injection_include_patterns: list[str] = Field(default_factory=list)
    """Regular expressions over the process command line; only matching processes are profiled."""
    tag: str | None = Field(None, min_length=1, max_length=128)
    """Tag the agents join (default: the Pod's nsight-lab.io/tag annotation, else default)."""


class ProfileConfigSpec(CrdModel):
    """How injected processes are profiled; Pods pick one by annotation."""

    nsight_tool_configs: list[ToolConfig] = Field(default_factory=list)
    """Named tool settings; the first is used when a Pod names none."""


class TenantOperatorSpec(CrdModel):
    """Accepted for the product's manifests; nsight-lab has no per-session streamer."""

    model_config = ConfigDict(extra="allow")

    streamer_launch: dict[str, Any] = Field(default_factory=dict)
    """Streamer limits of the product (unused: reports open in JupyterLab)."""


class StreamerSpec(CrdModel):
    """Accepted for the product's manifests; nsight-lab has no streamer."""

    model_config = ConfigDict(extra="allow")

    session_id: str | None = None
    """Session whose reports the product's streamer would show."""


# --- the kinds -------------------------------------------------------------------------


class Kind:
    """One custom resource kind: names, versions, spec and status models, columns."""

    def __init__(
        self,
        kind: str,
        spec: type[BaseModel],
        status: type[BaseModel] = ResourceStatus,
        *,
        short_names: tuple[str, ...] = (),
        versions: tuple[str, ...] = (VERSION,),
        columns: tuple[tuple[str, str, str], ...] = (),
        plural: str | None = None,
    ) -> None:
        self.kind = kind
        self._plural = plural
        self.spec = spec
        self.status = status
        self.short_names = short_names
        self.versions = versions
        self.storage_version = versions[-1]
        self.columns = columns

    @property
    def plural(self) -> str:
        return self._plural or self.kind.lower() + "s"

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"

    @property
    def api_version(self) -> str:
        return f"{GROUP}/{self.storage_version}"


_URL = ("URL", "string", ".status.url")


class Kinds:
    """Every kind the operator serves, in the order a release installs them."""

    STORAGE = Kind(
        "NsightCloudStorageConfig",
        CloudStorageConfigSpec,
        CloudStorageConfigStatus,
        short_names=("nscs",),
        columns=(
            ("Type", "string", ".spec.storage_type"),
            ("Secret", "string", ".status.secretName"),
        ),
    )
    COORDINATOR = Kind("NsightCoordinator", CoordinatorSpec, short_names=("nsco",), columns=(_URL,))
    ANALYSIS = Kind(
        "NsightAnalysis",
        AnalysisSpec,
        short_names=("nsan",),
        columns=(_URL,),
        plural="nsightanalyses",
    )
    PROFILE_CONFIG = Kind(
        "NsightOperatorProfileConfig",
        ProfileConfigSpec,
        short_names=("nspc",),
        versions=("v1alpha1", PROFILE_CONFIG_VERSION),
    )
    CLOUD_UI = Kind("NsightCloudUI", CloudUISpec, short_names=("nsui",), columns=(_URL,))
    TENANT_OPERATOR = Kind("NsightTenantOperator", TenantOperatorSpec, short_names=("nsto",))
    STREAMER = Kind("NsightStreamer", StreamerSpec, short_names=("nsst",))
    #: The gateway's spec is the renderer's input model (``nsight_lab.gateway``).
    GATEWAY = Kind(
        "NsightGateway",
        GatewaySpec,
        short_names=("nsgw",),
        columns=(("Service", "string", ".spec.service.type"), _URL),
    )


def all_kinds() -> list[Kind]:
    """Every kind, the gateway included (its spec model is the gateway renderer's input)."""
    return [
        Kinds.STORAGE,
        Kinds.COORDINATOR,
        Kinds.ANALYSIS,
        Kinds.GATEWAY,
        Kinds.PROFILE_CONFIG,
        Kinds.CLOUD_UI,
        Kinds.TENANT_OPERATOR,
        Kinds.STREAMER,
    ]
