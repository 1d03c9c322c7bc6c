"""URL signatures: only the holder of the key can mint or alter a presigned URL."""

from __future__ import annotations

import pytest

from nsight_lab.storage.signing import SignatureError, UrlSigner

SECRET = b"k" * 32


def query(
    signer: UrlSigner,
    *,
    exp: int = 2_000_000_000,
    upload_id: str | None = None,
    part: int | None = None,
) -> dict[str, str]:
    q = {"exp": str(exp), "sig": signer.sign("PUT", "k/x", exp, upload_id, part)}
    if upload_id is not None:
        q["upload_id"] = upload_id
    if part is not None:
        q["part"] = str(part)
    return q


def test_verify_returns_the_signed_upload_id_and_part() -> None:
    signer = UrlSigner(SECRET)
    assert signer.verify("PUT", "k/x", query(signer), now=0) == (None, None)
    q = query(signer, upload_id="u1", part=7)
    assert signer.verify("put", "k/x", q, now=0) == ("u1", 7)


def test_signature_is_hex_sha256_and_differs_per_field() -> None:
    signer = UrlSigner(SECRET)
    base = signer.sign("PUT", "k/x", 100)
    assert len(base) == 64 and int(base, 16) >= 0
    variants = {
        signer.sign("GET", "k/x", 100),
        signer.sign("PUT", "k/y", 100),
        signer.sign("PUT", "k/x", 101),
        signer.sign("PUT", "k/x", 100, "u", None),
        signer.sign("PUT", "k/x", 100, None, 1),
        UrlSigner(b"q" * 32).sign("PUT", "k/x", 100),
    }
    assert base not in variants and len(variants) == 6


def test_expiry_is_checked_against_now() -> None:
    signer = UrlSigner(SECRET)
    q = query(signer, exp=1000)
    assert signer.verify("PUT", "k/x", q, now=999) == (None, None)
    with pytest.raises(SignatureError, match="expired at 1000"):
        signer.verify("PUT", "k/x", q, now=1001)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"exp": "soon"}, "non-integer 'exp'"),
        ({"part": "one"}, "non-integer 'part'"),
        ({"sig": "é" * 64}, "bad signature"),
        ({"sig": "00"}, "bad signature"),
    ],
)
def test_malformed_queries_are_signature_errors(change: dict[str, str], message: str) -> None:
    signer = UrlSigner(SECRET)
    with pytest.raises(SignatureError, match=message):
        signer.verify("PUT", "k/x", {**query(signer), **change}, now=0)


def test_signature_case_does_not_matter() -> None:
    signer = UrlSigner(SECRET)
    q = query(signer)
    q["sig"] = q["sig"].upper()
    assert signer.verify("PUT", "k/x", q, now=0) == (None, None)


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        UrlSigner(b"short")
