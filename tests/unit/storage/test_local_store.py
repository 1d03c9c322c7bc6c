"""LocalStore: a folder that behaves like S3 where the rest of nsight-lab can tell."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urljoin, urlsplit

import pytest

from nsight_lab.storage import (
    InvalidKey,
    LocalStore,
    ObjectNotFound,
    SignatureError,
    StorageError,
)

KEY = "sessions/s1/c1/train_default_0_report.nsys-rep"
SECRET = b"0123456789abcdef0123456789abcdef"
SMALL_PART = 1024


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "objects", SECRET, min_part_size=SMALL_PART)


def split_url(url: str) -> tuple[str, dict[str, str]]:
    """What the coordinator's route receives: the decoded key and query."""
    parts = urlsplit(url)
    assert parts.path.startswith("storage/o/")
    return unquote(parts.path[len("storage/o/") :]), dict(parse_qsl(parts.query))


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# -- objects --------------------------------------------------------------------------


def test_put_head_read_list_delete_round_trip(store: LocalStore) -> None:
    info = store.put_bytes(KEY, b"report bytes")
    assert (info.key, info.size) == (KEY, 12)
    assert store.head(KEY) == info
    with store.open_read(KEY) as f:
        assert f.read() == b"report bytes"
    store.put_bytes("sessions/s2/other.bin", b"x")
    assert [o.key for o in store.list("sessions/s1/")] == [KEY]
    assert [o.key for o in store.list()] == [KEY, "sessions/s2/other.bin"]

    store.delete(KEY)
    assert store.head(KEY) is None
    assert not (store.root / "sessions" / "s1").exists(), "emptied folders are pruned"
    store.delete(KEY)  # deleting twice is not an error, as in S3


def test_put_file_copies_the_file(store: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "report.bin"
    data = os.urandom(3 * 1024 * 1024 + 7)
    src.write_bytes(data)
    assert store.put_file(KEY, src).size == len(data)
    with store.open_read(KEY) as f:
        assert f.read() == data


def test_missing_object_reads_as_not_found(store: LocalStore) -> None:
    assert store.head("nope/x") is None
    with pytest.raises(ObjectNotFound, match="nope/x"):
        store.open_read("nope/x")


def test_a_failed_write_leaves_neither_object_nor_temp_file(store: LocalStore) -> None:
    def body() -> Iterator[bytes]:
        yield b"first half"
        raise ConnectionResetError("client went away")

    _, query = split_url(store.presign_put(KEY))
    with pytest.raises(ConnectionResetError):
        store.handle_put(KEY, query, body())
    assert store.head(KEY) is None
    assert list(store.list()) == []
    assert [p for p in store.root.rglob("*") if p.is_file()] == []


def test_list_never_shows_unfinished_uploads(store: LocalStore) -> None:
    upload_id = store.create_multipart(KEY)
    _, query = split_url(store.presign_part(KEY, upload_id, 1))
    store.handle_put(KEY, query, b"part")
    assert list(store.list()) == []


# -- presigned single PUT and GET --------------------------------------------------------


def test_presigned_urls_are_relative_to_the_api_root(store: LocalStore) -> None:
    url = store.presign_put("sessions/a b/ü.bin")
    assert url.startswith("storage/o/sessions/a%20b/%C3%BC.bin?")
    api_root = "http://127.0.0.1:8888/coordinator/api/v1/"
    absolute = urljoin(api_root, url)
    assert absolute.startswith(api_root + "storage/o/sessions/a%20b/")
    key, query = split_url(url)
    assert key == "sessions/a b/ü.bin"
    assert set(query) == {"exp", "sig"}


def test_presigned_put_stores_the_body_and_returns_its_md5(store: LocalStore) -> None:
    key, query = split_url(store.presign_put(KEY))
    etag = store.handle_put(key, query, [b"ab", b"cd"])
    assert etag == md5(b"abcd")
    with store.open_read(KEY) as f:
        assert f.read() == b"abcd"


def test_handle_put_reads_a_file_like_body(store: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "body"
    src.write_bytes(b"z" * 3_000_000)
    key, query = split_url(store.presign_put(KEY))
    with src.open("rb") as body:
        assert store.handle_put(key, query, body) == md5(b"z" * 3_000_000)
    info = store.head(KEY)
    assert info is not None and info.size == 3_000_000


def test_open_put_streams_chunks_and_discards_them_without_commit(store: LocalStore) -> None:
    key, query = split_url(store.presign_put(KEY))
    with store.open_put(key, query) as writer:
        writer.write(b"never committed")
    assert store.head(KEY) is None
    with store.open_put(key, query) as writer:
        writer.write(b"kept")
        assert writer.commit() == md5(b"kept")
    assert store.head(KEY) is not None


def test_presigned_get_returns_the_file_and_a_safe_download_name(store: LocalStore) -> None:
    store.put_bytes(KEY, b"data")
    key, query = split_url(store.presign_get(KEY, download_name='evil"\r\nX-Injected: 1.nsys-rep'))
    assert store.handle_get(key, query).read_bytes() == b"data"
    disposition = store.download_disposition(query)
    assert disposition is not None
    assert "\r" not in disposition and "\n" not in disposition
    assert disposition.startswith('attachment; filename="evil_X-Injected_ 1.nsys-rep"')
    key, query = split_url(store.presign_get(KEY))
    assert store.download_disposition(query) is None


def test_presigned_get_of_a_missing_object_is_not_found(store: LocalStore) -> None:
    key, query = split_url(store.presign_get("sessions/gone.bin"))
    with pytest.raises(ObjectNotFound, match=r"sessions/gone\.bin"):
        store.handle_get(key, query)


# -- signatures ---------------------------------------------------------------------------


def test_tampered_signature_is_refused(store: LocalStore) -> None:
    key, query = split_url(store.presign_put(KEY))
    query["sig"] = ("0" if query["sig"][0] != "0" else "1") + query["sig"][1:]
    with pytest.raises(SignatureError, match="bad signature"):
        store.handle_put(key, query, b"x")
    assert store.head(KEY) is None


def test_a_url_signed_for_one_key_cannot_write_another(store: LocalStore) -> None:
    _, query = split_url(store.presign_put(KEY))
    with pytest.raises(SignatureError, match="bad signature"):
        store.handle_put("sessions/s1/c1/other.bin", query, b"x")


def test_extending_the_expiry_breaks_the_signature(store: LocalStore) -> None:
    key, query = split_url(store.presign_put(KEY, expires_s=60))
    query["exp"] = str(int(query["exp"]) + 3600)
    with pytest.raises(SignatureError, match="bad signature"):
        store.handle_put(key, query, b"x")


def test_expired_url_is_refused(store: LocalStore) -> None:
    key, query = split_url(store.presign_put(KEY, expires_s=-1))
    with pytest.raises(SignatureError, match="expired"):
        store.handle_put(key, query, b"x")


def test_a_get_url_cannot_be_used_to_put(store: LocalStore) -> None:
    store.put_bytes(KEY, b"original")
    key, query = split_url(store.presign_get(KEY))
    with pytest.raises(SignatureError, match="bad signature"):
        store.handle_put(key, query, b"overwritten")
    with store.open_read(KEY) as f:
        assert f.read() == b"original"


def test_a_url_without_signature_is_refused(store: LocalStore) -> None:
    with pytest.raises(SignatureError, match="lacks 'exp' or 'sig'"):
        store.handle_put(KEY, {}, b"x")
    with pytest.raises(SignatureError, match="lacks 'exp' or 'sig'"):
        store.handle_get(KEY, {"exp": "9999999999"})


def test_a_url_signed_with_another_key_is_refused(store: LocalStore, tmp_path: Path) -> None:
    other = LocalStore(store.root, b"another-secret-of-32-bytes-long!")
    key, query = split_url(other.presign_put(KEY))
    with pytest.raises(SignatureError, match="bad signature"):
        store.handle_put(key, query, b"x")


def test_a_part_url_cannot_be_moved_to_another_part_or_upload(store: LocalStore) -> None:
    upload_id = store.create_multipart(KEY)
    other_upload = store.create_multipart(KEY)
    key, query = split_url(store.presign_part(KEY, upload_id, 1))
    with pytest.raises(SignatureError):
        store.handle_put(key, {**query, "part": "2"}, b"x")
    with pytest.raises(SignatureError):
        store.handle_put(key, {**query, "upload_id": other_upload}, b"x")
    without_part = {k: v for k, v in query.items() if k not in ("upload_id", "part")}
    with pytest.raises(SignatureError):
        store.handle_put(key, without_part, b"x")


# -- key validation -------------------------------------------------------------------------

BAD_KEYS = [
    "../outside.bin",
    "sessions/../../outside.bin",
    "/etc/passwd",
    "sessions/a\x00b",
    "sessions//double",
    "sessions/./dot",
    "a\\b",
    "",
    ".uploads/0123456789abcdef0123456789abcdef/key",
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_path_tricks_are_refused_everywhere(store: LocalStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        store.presign_put(key)
    with pytest.raises(InvalidKey):
        store.presign_get(key)
    with pytest.raises(InvalidKey):
        store.put_bytes(key, b"x")
    good_query = split_url(store.presign_put(KEY))[1]
    with pytest.raises(InvalidKey):
        store.handle_put(key, good_query, b"x")
    with pytest.raises(InvalidKey):
        store.handle_get(key, good_query)


def test_a_symlink_out_of_the_folder_is_refused(store: LocalStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (store.root / "link").symlink_to(outside)
    with pytest.raises(InvalidKey, match="outside the storage folder"):
        store.put_bytes("link/escaped.bin", b"x")
    assert list(outside.iterdir()) == []


def test_an_object_cannot_sit_where_a_folder_of_objects_is(store: LocalStore) -> None:
    store.put_bytes("a/b", b"x")
    with pytest.raises(StorageError, match="folder of other objects"):
        store.put_bytes("a", b"y")
    with pytest.raises(StorageError, match="parent path is already an object"):
        store.put_bytes("a/b/c", b"y")


# -- multipart --------------------------------------------------------------------------------


def upload_part(store: LocalStore, upload_id: str, number: int, data: bytes) -> str:
    key, query = split_url(store.presign_part(KEY, upload_id, number))
    return store.handle_put(key, query, data)


def test_multipart_assembles_parts_in_order_whatever_order_they_came(store: LocalStore) -> None:
    chunks = [os.urandom(SMALL_PART), os.urandom(SMALL_PART), b"tail"]
    upload_id = store.create_multipart(KEY)
    etags = {n: upload_part(store, upload_id, n, chunks[n - 1]) for n in (3, 1, 2)}
    assert etags == {n: md5(chunks[n - 1]) for n in (1, 2, 3)}
    store.complete_multipart(KEY, upload_id, [(2, etags[2]), (3, f'"{etags[3]}"'), (1, etags[1])])
    with store.open_read(KEY) as f:
        assert f.read() == b"".join(chunks)
    assert not (store.root / ".uploads" / upload_id).exists()


def test_a_retried_part_replaces_the_earlier_one(store: LocalStore) -> None:
    upload_id = store.create_multipart(KEY)
    upload_part(store, upload_id, 1, b"a" * SMALL_PART)
    etag = upload_part(store, upload_id, 1, b"b" * SMALL_PART)
    last = upload_part(store, upload_id, 2, b"end")
    store.complete_multipart(KEY, upload_id, [(1, etag), (2, last)])
    with store.open_read(KEY) as f:
        assert f.read() == b"b" * SMALL_PART + b"end"


def test_completion_checks_each_parts_etag(store: LocalStore) -> None:
    upload_id = store.create_multipart(KEY)
    good = upload_part(store, upload_id, 1, b"a" * SMALL_PART)
    upload_part(store, upload_id, 2, b"end")
    with pytest.raises(
        StorageError, match=f"part 2 has ETag .* but the stored part has {md5(b'end')}"
    ):
        store.complete_multipart(KEY, upload_id, [(1, good), (2, md5(b"something else"))])
    assert store.head(KEY) is None


def test_completion_refuses_a_part_that_was_never_uploaded(store: LocalStore) -> None:
    upload_id = store.create_multipart(KEY)
    good = upload_part(store, upload_id, 1, b"a" * SMALL_PART)
    with pytest.raises(StorageError, match=r"part 2 .* stored part has nothing"):
        store.complete_multipart(KEY, upload_id, [(1, good), (2, md5(b"x"))])


def test_completion_refuses_small_parts_before_the_last(store: LocalStore) -> None:
    upload_id = store.create_multipart(KEY)
    first = upload_part(store, upload_id, 1, b"short")
    last = upload_part(store, upload_id, 2, b"end")
    with pytest.raises(StorageError, match="part 1 is 5 bytes; every part but the last"):
        store.complete_multipart(KEY, upload_id, [(1, first), (2, last)])


def test_completion_refuses_repeated_part_numbers_and_no_parts(store: LocalStore) -> None:
    upload_id = store.create_multipart(KEY)
    etag = upload_part(store, upload_id, 1, b"x")
    with pytest.raises(StorageError, match="repeat"):
        store.complete_multipart(KEY, upload_id, [(1, etag), (1, etag)])
    with pytest.raises(StorageError, match="at least one part"):
        store.complete_multipart(KEY, upload_id, [])


def test_abort_discards_parts_and_later_use_is_not_found(store: LocalStore) -> None:
    upload_id = store.create_multipart(KEY)
    key, query = split_url(store.presign_part(KEY, upload_id, 1))
    etag = store.handle_put(key, query, b"x")
    store.abort_multipart(KEY, upload_id)
    store.abort_multipart(KEY, upload_id)  # idempotent
    with pytest.raises(ObjectNotFound, match=upload_id):
        store.complete_multipart(KEY, upload_id, [(1, etag)])
    with pytest.raises(ObjectNotFound, match=upload_id):
        store.handle_put(key, query, b"x")


def test_an_upload_belongs_to_its_key(store: LocalStore) -> None:
    upload_id = store.create_multipart(KEY)
    with pytest.raises(StorageError, match="belongs to"):
        store.presign_part("sessions/other.bin", upload_id, 1)


@pytest.mark.parametrize("upload_id", ["../../etc", "ZZZ", "0123456789abcdef0123456789abcdeg"])
def test_malformed_upload_ids_are_refused(store: LocalStore, upload_id: str) -> None:
    with pytest.raises(StorageError, match="malformed upload id"):
        store.presign_part(KEY, upload_id, 1)


@pytest.mark.parametrize("part", [0, 10_001])
def test_part_numbers_outside_s3s_range_are_refused(store: LocalStore, part: int) -> None:
    upload_id = store.create_multipart(KEY)
    with pytest.raises(StorageError, match=r"outside 1\.\.10000"):
        store.presign_part(KEY, upload_id, part)
