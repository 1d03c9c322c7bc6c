"""Where reports are stored, read from ``storage-config.yaml``.

The same file shape serves a laptop (``storage_type: local``) and a cluster
(``storage_type: s3`` against MinIO or AWS), so moving between them changes a file,
not code. Mistakes in it surface when the services start, naming the file and the
field, rather than later as a failed upload inside some profiled process.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

CONFIG_FILENAME = "storage-config.yaml"


class StorageConfigError(ValueError):
    """The storage configuration is missing or wrong; the message names file and field."""


def default_local_dir() -> Path:
    """``$NSIGHT_LAB_CACHE/storage`` (default ``~/.cache/nsight-lab/storage``)."""
    cache = os.environ.get("NSIGHT_LAB_CACHE") or str(Path.home() / ".cache" / "nsight-lab")
    return Path(cache) / "storage"


class StorageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    storage_type: Literal["s3", "local"]
    bucket_name: str = Field("nsight-reports", min_length=3, max_length=63)
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    region_name: str = "us-east-1"
    #: MinIO or another S3-compatible endpoint the services use; None means AWS.
    endpoint_url: str | None = None
    #: The endpoint agents and clients reach, when it differs from ``endpoint_url``
    #: (e.g. an in-cluster service name vs an ingress); presigned URLs name it.
    public_endpoint_url: str | None = None
    #: Root folder of the ``local`` backend.
    local_cache_dir: Path = Field(default_factory=default_local_dir)

    @model_validator(mode="after")
    def _s3_needs_credentials(self) -> StorageConfig:
        if self.storage_type == "s3":
            missing = [
                name
                for name in ("aws_access_key_id", "aws_secret_access_key")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(
                    f"storage_type 's3' needs {' and '.join(missing)} "
                    "(the services presign URLs with them; agents never see them)"
                )
        return self


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


def parse_storage_config(data: Any, *, source: str = "<storage config>") -> StorageConfig:
    """Validate an already-parsed mapping; ``source`` names it in errors."""
    if not isinstance(data, dict):
        raise StorageConfigError(
            f"{source}: expected a mapping of storage settings, found {type(data).__name__}"
        )
    try:
        return StorageConfig.model_validate(data)
    except ValidationError as exc:
        raise StorageConfigError(
            f"{source}: invalid storage configuration:\n{_describe(exc)}"
        ) from None


def load_storage_config(path: Path | str) -> StorageConfig:
    """Read and validate ``storage-config.yaml``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StorageConfigError(
            f"{path}: storage configuration file not found; create it with at least "
            "'storage_type: local' or 'storage_type: s3'"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StorageConfigError(f"{path}: cannot read storage configuration: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise StorageConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_storage_config(data, source=str(path))
