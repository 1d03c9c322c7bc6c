"""Reading a spec's secret files before rendering (the renderer reads nothing).

Only API keys need it: Envoy's ``api_key_auth`` takes its keys inline, whereas
JWKS, TLS and OAuth2 secrets stay files that Envoy reads itself.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from nsight_lab.gateway.render import RenderError
from nsight_lab.gateway.spec import ApiKey, GatewaySpec


def read_secret_file(path: str | Path, what: str) -> str:
    """One secret from a file: its first line, surrounding white space removed."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RenderError(f"cannot read {what} from {path}: {exc.strerror or exc}") from exc
    value = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not value:
        raise RenderError(f"{path} holds no {what}: it is empty")
    return value


def read_api_keys(path: str | Path) -> list[ApiKey]:
    """An API-key file: one key per line, ``KEY`` or ``CLIENT KEY`` or
    ``CLIENT KEY TAG,TAG``; ``#`` starts a comment. Several lines let a key be
    rotated: add the new one, move callers over, remove the old one."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RenderError(f"cannot read API keys from {path}: {exc.strerror or exc}") from exc
    keys: list[ApiKey] = []
    for number, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) > 3:
            raise RenderError(
                f"{path}:{number}: expected 'KEY', 'CLIENT KEY' or 'CLIENT KEY TAG,TAG'"
            )
        client = fields[0] if len(fields) >= 2 else f"key-{len(keys) + 1}"
        key = fields[1] if len(fields) >= 2 else fields[0]
        tags = fields[2].split(",") if len(fields) == 3 else None
        try:
            keys.append(ApiKey(client=client, key=key, tags=tags))
        except ValidationError as exc:
            # Name the line and the problem; never echo the key itself.
            problems = [
                "the key is shorter than 16 characters"
                if tuple(error.get("loc", ())) == ("key",)
                else str(error.get("msg", "invalid")).removeprefix("Value error, ")
                for error in exc.errors(include_input=False)
            ]
            raise RenderError(f"{path}:{number}: {'; '.join(problems)}") from None
    if not keys:
        raise RenderError(f"{path} holds no API key (one per line: CLIENT KEY [TAG,TAG])")
    return keys


def resolve_files(spec: GatewaySpec) -> GatewaySpec:
    """``spec`` with every API key file read into inline keys."""
    apikey = spec.authentication.apikey
    if not apikey.enabled:
        return spec
    keys: list[ApiKey] = []
    for key in apikey.all_keys():
        if key.key_file is not None:
            keys.append(key.model_copy(update={"key": read_secret_file(key.key_file, "API key"),
                                               "key_file": None}))  # fmt: skip
        else:
            keys.append(key)
    resolved = apikey.model_copy(update={"key": None, "key_file": None, "keys": keys})
    auth = spec.authentication.model_copy(update={"apikey": resolved})
    return spec.model_copy(update={"authentication": auth})
