"""Reading and verifying JWTs in tests, with ``cryptography`` only (no JWT library).

Tests check what the provider really issued (signature against its published JWKS,
audience, tags claim) instead of trusting the token's own say-so.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _int(value: str) -> int:
    return int.from_bytes(b64decode(value), "big")


def header_and_claims(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _sig = token.split(".")
    return json.loads(b64decode(header)), json.loads(b64decode(payload))


def verify(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """The claims, once the signature checks out against the key named by ``kid``."""
    header, claims = header_and_claims(token)
    keys = {key["kid"]: key for key in jwks["keys"]}
    if header.get("kid") not in keys:
        raise ValueError(f"kid {header.get('kid')!r} is not in the JWKS ({sorted(keys)})")
    jwk = keys[header["kid"]]
    signing_input = token.rsplit(".", 1)[0].encode()
    signature = b64decode(token.rsplit(".", 1)[1])
    if header["alg"] == "RS256":
        rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key().verify(
            signature, signing_input, padding.PKCS1v15(), hashes.SHA256()
        )
    elif header["alg"] == "ES256":
        public = ec.EllipticCurvePublicNumbers(
            _int(jwk["x"]), _int(jwk["y"]), ec.SECP256R1()
        ).public_key()
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        public.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    else:
        raise ValueError(f"unexpected alg {header['alg']}")
    return claims
