"""Object storage on S3 or an S3-compatible server (MinIO), through boto3.

Only the services hold credentials; what leaves them is presigned URLs. When the
services reach storage at one address and agents/clients at another (an in-cluster
service name vs an ingress), URLs are signed for the public address: SigV4 signs the
host, so a URL cannot be rewritten after signing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from nsight_lab.storage.base import (
    DEFAULT_EXPIRY_S,
    DEFAULT_PART_SIZE,
    ObjectInfo,
    ObjectNotFound,
    StorageError,
    validate_key,
)
from nsight_lab.storage.config import StorageConfig
from nsight_lab.storage.disposition import content_disposition

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchBucket", "NoSuchUpload"}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def make_client(
    *,
    endpoint_url: str | None,
    access_key: str | None,
    secret_key: str | None,
    region: str,
    max_pool_connections: int = 16,
) -> S3Client:
    """A boto3 S3 client; path-style addressing whenever an endpoint is given.

    MinIO (and most S3-compatible servers reached by IP or service name) cannot serve
    virtual-hosted buckets (``bucket.host``), so path style is the only style that
    works everywhere outside AWS.
    """
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        retries={"max_attempts": 5, "mode": "standard"},
        max_pool_connections=max_pool_connections,
    )
    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=config,
    )
    return cast("S3Client", client)


class S3Store:
    """One bucket as an :class:`~nsight_lab.storage.base.ObjectStore`."""

    kind = "s3"

    def __init__(
        self,
        bucket: str,
        client: S3Client,
        *,
        presign_client: S3Client | None = None,
        region: str = "us-east-1",
        transfer_config: TransferConfig | None = None,
    ) -> None:
        self.bucket = bucket
        self.client = client
        self._presigner = presign_client or client
        self._region = region
        self._transfer = transfer_config or TransferConfig(
            multipart_threshold=DEFAULT_PART_SIZE,
            multipart_chunksize=DEFAULT_PART_SIZE // 4,
            max_concurrency=8,
        )

    @classmethod
    def from_config(cls, config: StorageConfig) -> S3Store:
        def client_for(endpoint: str | None) -> S3Client:
            return make_client(
                endpoint_url=endpoint,
                access_key=config.aws_access_key_id,
                secret_key=config.aws_secret_access_key,
                region=config.region_name,
            )

        client = client_for(config.endpoint_url)
        presigner = (
            client_for(config.public_endpoint_url)
            if config.public_endpoint_url and config.public_endpoint_url != config.endpoint_url
            else None
        )
        return cls(config.bucket_name, client, presign_client=presigner, region=config.region_name)

    def _fail(self, action: str, key: str, exc: Exception) -> StorageError:
        if isinstance(exc, ClientError) and _code(exc) in _NOT_FOUND:
            return ObjectNotFound(f"{action} s3://{self.bucket}/{key}: not found ({_code(exc)})")
        return StorageError(f"{action} s3://{self.bucket}/{key} failed: {exc}")

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (idempotent; races are fine)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _code(exc) not in _NOT_FOUND:
                raise StorageError(f"checking bucket {self.bucket!r} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"checking bucket {self.bucket!r} failed: {exc}") from exc
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self._region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
        try:
            self.client.create_bucket(**kwargs)
        except ClientError as exc:
            if _code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise StorageError(f"creating bucket {self.bucket!r} failed: {exc}") from exc

    # -- presigning ---------------------------------------------------------------------

    def _presign(self, operation: str, params: dict[str, Any], expires_s: int) -> str:
        return self._presigner.generate_presigned_url(
            operation, Params={"Bucket": self.bucket, **params}, ExpiresIn=expires_s
        )

    def presign_put(
        self, key: str, *, expires_s: int = DEFAULT_EXPIRY_S, exclusive: bool = False
    ) -> str:
        params: dict[str, Any] = {"Key": validate_key(key)}
        if exclusive:
            # A conditional write: the signature covers the header, so a client cannot
            # drop it, and S3/MinIO answer 412 once the object exists.
            params["IfNoneMatch"] = "*"
        return self._presign("put_object", params, expires_s)

    def exclusive_put_headers(self) -> dict[str, str]:
        return {"If-None-Match": "*"}

    def presign_part(
        self, key: str, upload_id: str, part_number: int, *, expires_s: int = DEFAULT_EXPIRY_S
    ) -> str:
        params = {"Key": validate_key(key), "UploadId": upload_id, "PartNumber": part_number}
        return self._presign("upload_part", params, expires_s)

    def presign_get(
        self, key: str, *, expires_s: int = DEFAULT_EXPIRY_S, download_name: str | None = None
    ) -> str:
        params: dict[str, Any] = {"Key": validate_key(key)}
        if download_name:
            params["ResponseContentDisposition"] = content_disposition(download_name)
        return self._presign("get_object", params, expires_s)

    # -- multipart ----------------------------------------------------------------------

    def create_multipart(self, key: str) -> str:
        try:
            answer = self.client.create_multipart_upload(Bucket=self.bucket, Key=validate_key(key))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("starting multipart upload of", key, exc) from exc
        return answer["UploadId"]

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        ordered = sorted((int(n), etag.strip('"')) for n, etag in parts)
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=validate_key(key),
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": n, "ETag": f'"{etag}"'} for n, etag in ordered]
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(f"completing upload {upload_id} of", key, exc) from exc

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=validate_key(key), UploadId=upload_id
            )
        except ClientError as exc:
            if _code(exc) != "NoSuchUpload":
                raise self._fail(f"aborting upload {upload_id} of", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail(f"aborting upload {upload_id} of", key, exc) from exc

    # -- server-side operations ---------------------------------------------------------

    def head(self, key: str) -> ObjectInfo | None:
        try:
            answer = self.client.head_object(Bucket=self.bucket, Key=validate_key(key))
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                return None
            raise self._fail("head of", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("head of", key, exc) from exc
        return ObjectInfo(key=key, size=int(answer["ContentLength"]))

    def open_read(self, key: str) -> BinaryIO:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=validate_key(key))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("reading", key, exc) from exc
        # StreamingBody reads like a binary file (read(n), iteration, close).
        return cast(BinaryIO, answer["Body"])

    def open_ranged(self, key: str) -> BinaryIO:
        from nsight_lab.storage.ranged import RangedReader

        info = self.head(key)
        if info is None:
            raise ObjectNotFound(f"reading s3://{self.bucket}/{key}: not found")

        def fetch(start: int, stop: int) -> bytes:
            try:
                answer = self.client.get_object(
                    Bucket=self.bucket, Key=key, Range=f"bytes={start}-{stop - 1}"
                )
                return answer["Body"].read()
            except (ClientError, BotoCoreError) as exc:
                raise self._fail("reading", key, exc) from exc

        return cast(BinaryIO, RangedReader(info.size, fetch, name=f"s3://{self.bucket}/{key}"))

    def put_file(self, key: str, path: Path) -> ObjectInfo:
        try:
            self.client.upload_file(
                str(path), self.bucket, validate_key(key), Config=self._transfer
            )
        except (ClientError, BotoCoreError, S3UploadFailedError) as exc:
            raise self._fail(f"uploading {path} to", key, exc) from exc
        return ObjectInfo(key=key, size=Path(path).stat().st_size)

    def put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        try:
            self.client.put_object(Bucket=self.bucket, Key=validate_key(key), Body=data)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("writing", key, exc) from exc
        return ObjectInfo(key=key, size=len(data))

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=validate_key(key))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("deleting", key, exc) from exc

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield ObjectInfo(key=item["Key"], size=int(item["Size"]))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("listing", prefix + "*", exc) from exc
