"""Object storage for reports and analysis outputs: one interface, two backends.

``open_store`` turns a :class:`StorageConfig` into an :class:`ObjectStore`:
:class:`S3Store` for MinIO/AWS, :class:`LocalStore` for a folder on one machine.
"""

from __future__ import annotations

from nsight_lab.storage.base import (
    DEFAULT_EXPIRY_S,
    DEFAULT_PART_SIZE,
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    InvalidKey,
    ObjectExists,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectTooLarge,
    StorageError,
    part_size_for,
    validate_key,
)
from nsight_lab.storage.config import (
    StorageConfig,
    StorageConfigError,
    load_storage_config,
    parse_storage_config,
)
from nsight_lab.storage.factory import open_store
from nsight_lab.storage.local import LocalStore
from nsight_lab.storage.signing import SignatureError, UrlSigner
from nsight_lab.storage.verify import verify_object

__all__ = [
    "DEFAULT_EXPIRY_S",
    "DEFAULT_PART_SIZE",
    "MAX_OBJECT_SIZE",
    "MAX_PARTS",
    "MAX_PART_SIZE",
    "MIN_PART_SIZE",
    "InvalidKey",
    "LocalStore",
    "ObjectExists",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectTooLarge",
    "SignatureError",
    "StorageConfig",
    "StorageConfigError",
    "StorageError",
    "UrlSigner",
    "load_storage_config",
    "open_store",
    "parse_storage_config",
    "part_size_for",
    "validate_key",
    "verify_object",
]
