"""Secret files and ``up``'s flags: what users write, turned into a spec or a clear
refusal that names the flag or the file line (and never the secret)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nsight_lab.embedded.gateway import GatewayOptions, build_spec, is_loopback
from nsight_lab.gateway import RenderError, read_api_keys, resolve_files
from nsight_lab.gateway.spec import GatewaySpec

KEY = "k" * 24


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "keys.txt"
    path.write_text(text)
    return path


class TestApiKeyFile:
    def test_the_three_line_shapes_and_comments(self, tmp_path: Path) -> None:
        keys = read_api_keys(
            write(tmp_path, f"# rotation in progress\n{KEY}\nci {KEY}b  # new\nteam {KEY}c a,b\n\n")
        )
        assert [(k.client, k.tags) for k in keys] == [
            ("key-1", None),
            ("ci", None),
            ("team", ["a", "b"]),
        ]

    def test_a_short_key_names_the_line_but_not_the_key(self, tmp_path: Path) -> None:
        with pytest.raises(RenderError) as refused:
            read_api_keys(write(tmp_path, f"ok {KEY}\nci tooshort\n"))
        message = str(refused.value)
        assert "keys.txt:2: the key is shorter than 16 characters" in message
        assert "tooshort" not in message

    def test_a_bad_client_name_is_explained(self, tmp_path: Path) -> None:
        with pytest.raises(RenderError, match=r"keys\.txt:1: client 'c!'"):
            read_api_keys(write(tmp_path, f"c! {KEY}\n"))

    def test_too_many_fields_and_empty_files_are_refused(self, tmp_path: Path) -> None:
        with pytest.raises(RenderError, match=r"keys\.txt:1"):
            read_api_keys(write(tmp_path, f"a {KEY} t extra\n"))
        with pytest.raises(RenderError, match="holds no API key"):
            read_api_keys(write(tmp_path, "# nothing\n"))

    def test_a_missing_file_says_so(self, tmp_path: Path) -> None:
        with pytest.raises(RenderError, match="cannot read API keys"):
            read_api_keys(tmp_path / "nope.txt")

    def test_resolve_files_inlines_key_files(self, tmp_path: Path) -> None:
        secret = tmp_path / "api-key"
        secret.write_text(KEY + "\n")
        spec = GatewaySpec.model_validate(
            {"authentication": {"apikey": {"enabled": True, "keyFile": str(secret)}}}
        )
        resolved = resolve_files(spec).authentication.apikey.all_keys()
        assert [(k.client, k.key, k.key_file) for k in resolved] == [("apikey", KEY, None)]


class TestUpFlags:
    def test_oauth2_without_tls_names_the_flags(self) -> None:
        with pytest.raises(RenderError, match="--tls-cert and --tls-key"):
            build_spec(GatewayOptions(modes=("oauth2",), issuer="https://i"), 8888)

    def test_each_mode_names_what_it_lacks(self, tmp_path: Path) -> None:
        with pytest.raises(RenderError, match="--apikey-file"):
            build_spec(GatewayOptions(modes=("apikey",)), 8888)
        with pytest.raises(RenderError, match="--issuer and at least one --audience"):
            build_spec(GatewayOptions(modes=("jwt",)), 8888)
        with pytest.raises(RenderError, match="--jwks-file or --jwks-uri"):
            build_spec(GatewayOptions(modes=("jwt",), issuer="https://i", audiences=("a",)), 8888)
        cert = tmp_path / "c"
        cert.write_text("x")
        with pytest.raises(RenderError, match="--client-id, --client-secret-file, --hmac-file"):
            build_spec(
                GatewayOptions(modes=("oauth2",), issuer="https://i", tls_cert=cert, tls_key=cert),
                8888,
            )

    def test_none_is_alone(self) -> None:
        with pytest.raises(RenderError, match="cannot be combined"):
            build_spec(GatewayOptions(modes=("none", "jwt")), 8888)

    def test_a_tenant_claim_flag_reaches_the_spec(self, tmp_path: Path) -> None:
        jwks = tmp_path / "jwks.json"
        jwks.write_text('{"keys": []}')
        spec = build_spec(
            GatewayOptions(modes=("jwt",), issuer="https://i", audiences=("a",), jwks_file=jwks,
                           tenant_claim="groups"),
            8443,
        )  # fmt: skip
        assert (spec.port, spec.authentication.tenancy.tenant_claim) == (8443, "groups")

    @pytest.mark.parametrize(
        ("host", "loopback"),
        [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
         ("0.0.0.0", False), ("10.1.2.3", False), ("gw.example.com", False)],
    )  # fmt: skip
    def test_loopback(self, host: str, loopback: bool) -> None:
        assert is_loopback(host) is loopback
