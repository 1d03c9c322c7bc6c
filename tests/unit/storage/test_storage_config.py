"""storage-config.yaml: every mistake is reported with the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from nsight_lab.storage import LocalStore, StorageError, open_store
from nsight_lab.storage.config import StorageConfigError, load_storage_config
from nsight_lab.storage.s3 import S3Store


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "storage-config.yaml"
    path.write_text(text)
    return path


def test_s3_config_loads_with_defaults(tmp_path: Path) -> None:
    config = load_storage_config(
        write(
            tmp_path,
            "storage_type: s3\naws_access_key_id: AK\naws_secret_access_key: SK\n"
            "endpoint_url: http://minio:9000\n",
        )
    )
    assert config.storage_type == "s3"
    assert config.bucket_name == "nsight-reports"
    assert config.region_name == "us-east-1"
    assert config.endpoint_url == "http://minio:9000"


def test_local_config_defaults_its_folder_to_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NSIGHT_LAB_CACHE", str(tmp_path / "cache"))
    config = load_storage_config(write(tmp_path, "storage_type: local\n"))
    assert config.local_cache_dir == tmp_path / "cache" / "storage"


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "storage-config.yaml"
    with pytest.raises(StorageConfigError, match=r"nowhere/storage-config\.yaml: .*not found"):
        load_storage_config(missing)


def test_bad_yaml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "storage_type: [s3\n")
    with pytest.raises(StorageConfigError, match=r"storage-config\.yaml: not valid YAML"):
        load_storage_config(path)


@pytest.mark.parametrize("text", ["", "- s3\n", "just a string\n"])
def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(StorageConfigError, match="expected a mapping of storage settings"):
        load_storage_config(write(tmp_path, text))


def test_unknown_storage_type_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(StorageConfigError, match=r"storage_type: Input should be 's3' or 'local'"):
        load_storage_config(write(tmp_path, "storage_type: gcs\n"))


def test_s3_without_credentials_says_which_are_missing(tmp_path: Path) -> None:
    with pytest.raises(
        StorageConfigError, match="needs aws_access_key_id and aws_secret_access_key"
    ):
        load_storage_config(write(tmp_path, "storage_type: s3\n"))
    with pytest.raises(StorageConfigError, match="needs aws_secret_access_key"):
        load_storage_config(write(tmp_path, "storage_type: s3\naws_access_key_id: AK\n"))


def test_misspelled_fields_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageConfigError, match="bucket: Extra inputs are not permitted"):
        load_storage_config(write(tmp_path, "storage_type: local\nbucket: reports\n"))


def test_open_store_builds_the_configured_backend(tmp_path: Path) -> None:
    local = load_storage_config(
        write(tmp_path, f"storage_type: local\nlocal_cache_dir: {tmp_path / 'objects'}\n")
    )
    store = open_store(local, signing_key=b"s" * 32)
    assert isinstance(store, LocalStore)
    assert store.root == (tmp_path / "objects").resolve()
    with pytest.raises(StorageError, match="needs a signing_key"):
        open_store(local)

    s3 = load_storage_config(
        write(
            tmp_path,
            "storage_type: s3\naws_access_key_id: AK\naws_secret_access_key: SK\n"
            "endpoint_url: http://minio:9000\nbucket_name: reports\n",
        )
    )
    s3_store = open_store(s3)
    assert isinstance(s3_store, S3Store)
    assert s3_store.bucket == "reports"
    # Path-style addressing: MinIO cannot serve bucket.host names.
    assert s3_store.presign_put("a/b").startswith("http://minio:9000/reports/a/b?")


def test_presigned_urls_name_the_public_endpoint_when_one_is_set(tmp_path: Path) -> None:
    config = load_storage_config(
        write(
            tmp_path,
            "storage_type: s3\naws_access_key_id: AK\naws_secret_access_key: SK\n"
            "endpoint_url: http://minio.nsight.svc:9000\n"
            "public_endpoint_url: https://storage.example.org\n",
        )
    )
    store = open_store(config)
    assert store.presign_get("a/b").startswith("https://storage.example.org/nsight-reports/a/b?")
