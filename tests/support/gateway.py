"""What gateway tests need around a real Envoy: keys, tokens, certificates, specs.

Keys and certificates are made fresh per test session with ``cryptography``;
tokens are signed with ``joserfc``, or assembled by hand where the test needs a
token no honest library would produce (``alg: none``, HS256 over the public key,
a tampered signature).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

ISSUER = "https://issuer.nsight.test"
AUDIENCE = "nsight-lab"
SHARED_SECRET = "gateway-secret-for-tests-0123456789abcdef"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SigningKey:
    """A private key the tests sign with and its public JWK (what Envoy trusts)."""

    kid: str
    alg: str
    key: RSAKey | ECKey

    @classmethod
    def rsa(cls, kid: str) -> SigningKey:
        return cls(kid, "RS256", RSAKey.generate_key(2048, parameters={"kid": kid}))

    @classmethod
    def ec(cls, kid: str) -> SigningKey:
        return cls(kid, "ES256", ECKey.generate_key("P-256", parameters={"kid": kid}))

    def public_jwk(self) -> dict[str, Any]:
        jwk = self.key.as_dict(private=False)
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return jwk

    def public_pem(self) -> bytes:
        return self.key.as_pem(private=False)

    def sign(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        header = {"alg": self.alg, "kid": kid or self.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self.key, algorithms=[self.alg])


def jwks(*keys: SigningKey) -> str:
    return json.dumps({"keys": [k.public_jwk() for k in keys]})


def claims(
    *,
    sub: str = "alice",
    iss: str = ISSUER,
    aud: str | list[str] = AUDIENCE,
    lifetime: int = 600,
    not_before: int | None = None,
    issued: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    now = int(time.time())
    out: dict[str, Any] = {
        "iss": iss,
        "sub": sub,
        "aud": aud,
        "iat": issued if issued is not None else now,
        "exp": now + lifetime,
    }
    if not_before is not None:
        out["nbf"] = not_before
    out.update(extra)
    return out


def unsigned_token(payload: dict[str, Any], header: dict[str, Any]) -> str:
    """``header.payload.`` with an empty signature (for ``alg: none``)."""
    return ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode()), ""])


def hs256_with_public_key(key: SigningKey, payload: dict[str, Any]) -> str:
    """The classic key-confusion forgery: HMAC-SHA256 keyed with the public key's PEM."""
    header = {"alg": "HS256", "kid": key.kid, "typ": "JWT"}
    signing_input = ".".join(
        [b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode())]
    )
    mac = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(mac)


def tamper(token: str) -> str:
    """The same token with one payload claim changed and the old signature kept."""
    head, body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["sub"] = "mallory"
    payload.pop("nsight_tags", None)
    return ".".join([head, b64url(json.dumps(payload).encode()), sig])


def self_signed_cert(folder: Path, host: str = "localhost") -> tuple[Path, Path]:
    """A certificate for ``host`` and 127.0.0.1, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.timezone.utc)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(host), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "tls.crt", folder / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def unused_rsa_public_pem() -> bytes:
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
