"""verify_object: a truncated or altered upload is refused, naming the key."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from nsight_lab.storage import LocalStore, ObjectNotFound, StorageError, verify_object

KEY = "sessions/s/c/report.bin"
DATA = bytes(range(256)) * 5000


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path, b"s" * 32)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_intended_object_passes(store: LocalStore) -> None:
    store.put_bytes(KEY, DATA)
    verify_object(store, KEY, len(DATA), sha(DATA))
    verify_object(store, KEY, len(DATA), sha(DATA).upper())


def test_a_truncated_object_is_refused_with_both_sizes(store: LocalStore) -> None:
    store.put_bytes(KEY, DATA[:-1])
    with pytest.raises(
        StorageError, match=rf"{KEY}.*expected {len(DATA)} bytes, found {len(DATA) - 1}"
    ):
        verify_object(store, KEY, len(DATA), sha(DATA))


def test_an_altered_object_is_refused_with_both_hashes(store: LocalStore) -> None:
    altered = bytearray(DATA)
    altered[1234] ^= 0xFF
    store.put_bytes(KEY, bytes(altered))
    with pytest.raises(
        StorageError, match=rf"{KEY}.*expected sha256 {sha(DATA)}, found {sha(bytes(altered))}"
    ):
        verify_object(store, KEY, len(DATA), sha(DATA))


def test_a_missing_object_is_not_found(store: LocalStore) -> None:
    with pytest.raises(ObjectNotFound, match=KEY):
        verify_object(store, KEY, 1, sha(b"x"))
