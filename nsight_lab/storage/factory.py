"""From a configuration to a ready store.

The S3 backend (and boto3 with it) is imported only when asked for, so a laptop
running the local backend never pays boto3's import time.
"""

from __future__ import annotations

from nsight_lab.storage.base import ObjectStore, StorageError
from nsight_lab.storage.config import StorageConfig
from nsight_lab.storage.local import LocalStore


def open_store(config: StorageConfig, *, signing_key: bytes | None = None) -> ObjectStore:
    """The store ``config`` describes.

    ``signing_key`` is the coordinator's secret for the local backend's URLs; it is
    required there (URLs signed with a throwaway key would die with the process) and
    ignored for S3, which signs with its credentials.
    """
    if config.storage_type == "local":
        if signing_key is None:
            raise StorageError(
                "storage_type 'local' needs a signing_key to presign URLs (the coordinator's secret)"
            )
        return LocalStore(config.local_cache_dir, signing_key)
    from nsight_lab.storage.s3 import S3Store

    return S3Store.from_config(config)
