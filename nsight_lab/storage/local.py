"""Object storage in a local folder, for ``nsight-lab up`` on one machine.

It behaves like S3 where the rest of the system can tell: objects appear whole or
not at all (temp file + rename), multipart uploads assemble parts in order and
check each part's ETag (the MD5 of its bytes), and agents reach it only through
presigned URLs. Those URLs are relative to the coordinator's API root
(``storage/o/<key>?exp=..&sig=..``) because the coordinator serves them: its route
calls :meth:`LocalStore.handle_put` / :meth:`LocalStore.open_put` and
:meth:`LocalStore.handle_get`, which check the signature and the key before
touching the disk.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import BinaryIO
from urllib.parse import quote, urlencode

from nsight_lab.storage.base import (
    DEFAULT_EXPIRY_S,
    MAX_PARTS,
    MIN_PART_SIZE,
    InvalidKey,
    ObjectExists,
    ObjectInfo,
    ObjectNotFound,
    StorageError,
    validate_key,
)
from nsight_lab.storage.disposition import content_disposition
from nsight_lab.storage.signing import UrlSigner

#: Top-level folder under the root that holds unfinished uploads and temp files; no
#: object key may start with it.
RESERVED_DIR = ".uploads"
#: Route prefix, relative to the coordinator's ``/api/v1/`` root (no leading slash,
#: so ``urljoin(api_root, url)`` lands under the API root).
URL_PREFIX = "storage/o/"
MAX_PART_NUMBER = MAX_PARTS
#: What an exclusive PUT URL signs in place of the method.
_EXCLUSIVE_PUT = "PUT-NEW"
_CHUNK = 1024 * 1024
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_ETAG = re.compile(r"^[0-9a-f]{32}$")


class PutWriter:
    """One streaming write to a temp file that becomes visible only on :meth:`commit`.

    Lets an async HTTP route copy a request body chunk by chunk without holding it
    in memory; leaving the ``with`` block without committing discards the bytes.
    """

    def __init__(self, tmp_dir: Path, finish: _Finisher) -> None:
        tmp_dir.mkdir(parents=True, exist_ok=True)
        self._tmp = tmp_dir / f"put-{uuid.uuid4().hex}"
        self._file: BinaryIO | None = open(self._tmp, "wb")  # noqa: SIM115 - closed in commit/abort
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._finish = finish
        self.size = 0

    def write(self, chunk: bytes) -> None:
        if self._file is None:
            raise StorageError("write after commit or abort")
        self._file.write(chunk)
        self._md5.update(chunk)
        self.size += len(chunk)

    def commit(self) -> str:
        """Make the bytes visible under their key (or part) and return the MD5 ETag."""
        if self._file is None:
            raise StorageError("commit after commit or abort")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        etag = self._md5.hexdigest()
        try:
            self._finish(self._tmp, etag)
        finally:
            self._tmp.unlink(missing_ok=True)
        return etag

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> PutWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()


class _Finisher:
    """Moves a finished temp file into place (an object, or a multipart part)."""

    def __init__(
        self, target: Path, *, part_dir: Path | None = None, part: int = 0, exclusive: bool = False
    ) -> None:
        self.target = target
        self.part_dir = part_dir
        self.part = part
        self.exclusive = exclusive

    def __call__(self, tmp: Path, etag: str) -> None:
        if self.part_dir is None:
            _place(tmp, self.target, exclusive=self.exclusive)
            return
        # Parts are named "<part>-<md5>" so the ETag travels with the bytes in one
        # atomic rename: two racing retries of the same part can never leave one
        # part's bytes beside the other's checksum.
        final = self.part_dir / f"{self.part:05d}-{etag}"
        os.replace(tmp, final)
        for stale in self.part_dir.glob(f"{self.part:05d}-*"):
            if stale != final:
                stale.unlink(missing_ok=True)


def _place(tmp: Path, target: Path, *, exclusive: bool = False) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            raise StorageError(
                f"cannot store an object at {target}: a folder of other objects is there"
            )
        if exclusive:
            # link() fails if the target exists: of two racing exclusive PUTs exactly
            # one lands, and nothing stored is ever replaced.
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise ObjectExists(
                    f"{target.name} is stored already and this URL may not replace it"
                ) from None
            return
        os.replace(tmp, target)
    except (NotADirectoryError, FileExistsError) as exc:
        raise StorageError(
            f"cannot store an object at {target}: a parent path is already an object ({exc})"
        ) from exc


class LocalStore:
    """Objects as files under ``root``; presigned URLs signed with ``signing_key``."""

    kind = "local"

    def __init__(
        self, root: Path, signing_key: bytes, *, min_part_size: int = MIN_PART_SIZE
    ) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._signer = UrlSigner(signing_key)
        #: S3 refuses non-final parts under 5 MiB; refusing them here too means a
        #: part-size bug shows up on a laptop, not first in a cluster. Tests lower it.
        self.min_part_size = min_part_size

    # -- paths -------------------------------------------------------------------

    @property
    def _uploads(self) -> Path:
        return self.root / RESERVED_DIR

    @property
    def _tmp_dir(self) -> Path:
        return self._uploads / ".tmp"

    def _path(self, key: str) -> Path:
        validate_key(key)
        if key.split("/", 1)[0] == RESERVED_DIR:
            raise InvalidKey(f"invalid storage key {key!r}: {RESERVED_DIR!r} is reserved")
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise InvalidKey(f"invalid storage key {key!r}: it resolves outside the storage folder")
        return path

    def _upload_dir(self, key: str, upload_id: str) -> Path:
        if not _UPLOAD_ID.match(upload_id):
            raise StorageError(f"malformed upload id {upload_id!r} for {key!r}")
        folder = self._uploads / upload_id
        try:
            owner = (folder / "key").read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ObjectNotFound(
                f"no multipart upload {upload_id} for {key!r}: it was completed, aborted or never started"
            ) from None
        if owner != key:
            raise StorageError(f"multipart upload {upload_id} belongs to {owner!r}, not {key!r}")
        return folder

    def _url(self, key: str, params: dict[str, str]) -> str:
        return f"{URL_PREFIX}{quote(key, safe='/')}?{urlencode(params)}"

    # -- presigning ----------------------------------------------------------------

    def presign_put(
        self, key: str, *, expires_s: int = DEFAULT_EXPIRY_S, exclusive: bool = False
    ) -> str:
        self._path(key)
        exp = int(time.time()) + expires_s
        if exclusive:
            # Signed as another method, so dropping ``new=1`` breaks the signature.
            sig = self._signer.sign(_EXCLUSIVE_PUT, key, exp)
            return self._url(key, {"exp": str(exp), "new": "1", "sig": sig})
        return self._url(key, {"exp": str(exp), "sig": self._signer.sign("PUT", key, exp)})

    def exclusive_put_headers(self) -> dict[str, str]:
        return {}

    def presign_part(
        self, key: str, upload_id: str, part_number: int, *, expires_s: int = DEFAULT_EXPIRY_S
    ) -> str:
        self._upload_dir(key, upload_id)
        _check_part_number(key, part_number)
        exp = int(time.time()) + expires_s
        sig = self._signer.sign("PUT", key, exp, upload_id, part_number)
        params = {"exp": str(exp), "sig": sig, "upload_id": upload_id, "part": str(part_number)}
        return self._url(key, params)

    def presign_get(
        self, key: str, *, expires_s: int = DEFAULT_EXPIRY_S, download_name: str | None = None
    ) -> str:
        self._path(key)
        exp = int(time.time()) + expires_s
        params = {"exp": str(exp), "sig": self._signer.sign("GET", key, exp)}
        if download_name:
            # Not signed: it only names the saved file, and the route sanitizes it.
            params["name"] = download_name
        return self._url(key, params)

    # -- multipart -------------------------------------------------------------------

    def create_multipart(self, key: str) -> str:
        self._path(key)
        upload_id = uuid.uuid4().hex
        folder = self._uploads / upload_id
        folder.mkdir(parents=True)
        (folder / "key").write_text(key, encoding="utf-8")
        return upload_id

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        target = self._path(key)
        folder = self._upload_dir(key, upload_id)
        if not parts:
            raise StorageError(f"completing {key!r} (upload {upload_id}) needs at least one part")
        ordered = sorted((int(n), etag.strip('"').lower()) for n, etag in parts)
        numbers = [n for n, _ in ordered]
        if len(set(numbers)) != len(numbers):
            raise StorageError(f"completing {key!r}: part numbers repeat in {numbers}")
        files: list[Path] = []
        for number, etag in ordered:
            _check_part_number(key, number)
            part_file = folder / f"{number:05d}-{etag}"
            if not _ETAG.match(etag) or not part_file.is_file():
                uploaded = sorted(p.name for p in folder.glob(f"{number:05d}-*"))
                found = uploaded[0].split("-", 1)[1] if uploaded else "nothing"
                raise StorageError(
                    f"completing {key!r}: part {number} has ETag {etag!r} but the stored part "
                    f"has {found}; upload the part again"
                )
            files.append(part_file)
        for number, part_file in zip(numbers[:-1], files[:-1], strict=True):
            size = part_file.stat().st_size
            if size < self.min_part_size:
                raise StorageError(
                    f"completing {key!r}: part {number} is {size} bytes; every part but the last "
                    f"must be at least {self.min_part_size} bytes"
                )

        def parts_in_order() -> Iterator[bytes]:
            for part_file in files:
                with part_file.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        yield chunk

        self._write(target, parts_in_order())
        shutil.rmtree(folder, ignore_errors=True)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            folder = self._upload_dir(key, upload_id)
        except ObjectNotFound:
            return
        shutil.rmtree(folder, ignore_errors=True)

    # -- server-side operations ---------------------------------------------------------

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not path.is_file():
            return None
        return ObjectInfo(key=key, size=stat.st_size)

    def open_read(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return open(path, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(f"no object {key!r} in {self.root}") from None

    def open_ranged(self, key: str) -> BinaryIO:
        return self.open_read(key)  # a file is seekable already

    def local_path(self, key: str) -> Path:
        """Where the object's bytes are (whether or not it exists yet).

        Readers on this machine (the analysis service's workers, a Dask worker
        beside it) open converted traces here directly: no copy, memory-mapped.
        """
        return self._path(key)

    def put_file(self, key: str, path: Path) -> ObjectInfo:
        target = self._path(key)
        with Path(path).open("rb") as src:
            size = self._write(target, iter(lambda: src.read(_CHUNK), b""))
        return ObjectInfo(key=key, size=size)

    def put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        size = self._write(self._path(key), [data])
        return ObjectInfo(key=key, size=size)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return
        # Prune folders the object left empty so list() and the tree stay tidy.
        parent = path.parent
        while parent != self.root:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        found: list[ObjectInfo] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            here = Path(dirpath)
            if here == self.root and RESERVED_DIR in dirnames:
                dirnames.remove(RESERVED_DIR)
            for name in filenames:
                key = (here / name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    found.append(ObjectInfo(key=key, size=(here / name).stat().st_size))
        yield from sorted(found, key=lambda info: info.key)

    def _write(self, target: Path, chunks: Iterable[bytes]) -> int:
        with PutWriter(self._tmp_dir, _Finisher(target)) as writer:
            for chunk in chunks:
                writer.write(chunk)
            writer.commit()
            return writer.size

    # -- what the coordinator's /storage/o/{key} route calls -------------------------------

    def open_put(self, key: str, query: Mapping[str, str]) -> PutWriter:
        """Check a presigned PUT and return a writer for its body.

        ``key`` is the URL path after ``storage/o/``, percent-decoded; ``query`` the
        decoded query parameters. Raises :class:`~nsight_lab.storage.base.InvalidKey`
        (answer 400), :class:`~nsight_lab.storage.signing.SignatureError` (403) or
        :class:`~nsight_lab.storage.base.ObjectNotFound` (404, unknown upload id).
        Use it as ``with store.open_put(key, q) as w: ...; etag = w.commit()`` and
        answer 200 with an ``ETag: "<etag>"`` header.
        """
        target = self._path(key)
        exclusive = query.get("new") == "1"
        upload_id, part = self._signer.verify(_EXCLUSIVE_PUT if exclusive else "PUT", key, query)
        if upload_id is None and part is None:
            if exclusive and target.exists():
                raise ObjectExists(
                    f"{key!r} is stored already and this URL may not replace it; "
                    "request a new upload to send another file"
                )
            return PutWriter(self._tmp_dir, _Finisher(target, exclusive=exclusive))
        if upload_id is None or part is None:
            raise StorageError(f"a part upload for {key!r} needs both 'upload_id' and 'part'")
        _check_part_number(key, part)
        folder = self._upload_dir(key, upload_id)
        return PutWriter(self._tmp_dir, _Finisher(target, part_dir=folder, part=part))

    def handle_put(
        self, key: str, query: Mapping[str, str], body: bytes | Iterable[bytes] | BinaryIO
    ) -> str:
        """Store a presigned PUT's ``body`` (bytes, chunks, or a readable file) and return its ETag.

        Same checks and errors as :meth:`open_put`; for async routes prefer
        :meth:`open_put` and feed it the request stream.
        """
        with self.open_put(key, query) as writer:
            if isinstance(body, bytes | bytearray | memoryview):
                writer.write(bytes(body))
            elif isinstance(body, Iterable) and not hasattr(body, "read"):
                for chunk in body:
                    writer.write(chunk)
            else:
                while chunk := body.read(_CHUNK):
                    writer.write(chunk)
            return writer.commit()

    def handle_get(self, key: str, query: Mapping[str, str]) -> Path:
        """Check a presigned GET and return the file to send.

        Raises ``InvalidKey`` (400), ``SignatureError`` (403) or ``ObjectNotFound`` (404).
        Send :meth:`download_disposition` as ``Content-Disposition`` when not None.
        """
        path = self._path(key)
        self._signer.verify("GET", key, query)
        if not path.is_file():
            raise ObjectNotFound(f"no object {key!r} in {self.root}")
        return path

    @staticmethod
    def download_disposition(query: Mapping[str, str]) -> str | None:
        """The ``Content-Disposition`` header a presigned GET asked for, made header-safe."""
        name = query.get("name")
        return content_disposition(name) if name else None


def _check_part_number(key: str, part: int) -> None:
    if not 1 <= part <= MAX_PART_NUMBER:
        raise StorageError(f"part number {part} for {key!r} is outside 1..{MAX_PART_NUMBER}")
