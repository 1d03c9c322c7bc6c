"""How the gateway tells a service who is calling: the identity and tags headers.

Envoy writes them (``jwt_authn``'s ``claim_to_headers``, ``api_key_auth``'s
forwarding) after removing any a client sent; the services read them with
:func:`parse_caller`. Both sides use this module, so the format has one home.

- identity header: the caller's name. For an API key it is the key's client name,
  followed by ``;tags=a,b`` when the key is limited to tags (``api_key_auth`` can
  forward one value per key, so the tags travel inside it).
- tags header: the tenant claim of a token, a comma-separated list.
A caller limited twice gets the tags both allow; a caller limited by neither may use
every tag.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

_TAGS_MARK = ";tags="


def encode_client(client: str, tags: list[str] | None) -> str:
    """The value ``api_key_auth`` forwards for one key."""
    if not tags:
        return client
    return client + _TAGS_MARK + ",".join(tags)


def _json_list(text: str) -> list[str] | None:
    """A list claim as ``claim_to_headers`` forwards it: base64 of its JSON (Envoy does
    not flatten arrays), e.g. ``WyJiZXRhIl0=`` for ``["beta"]``."""
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


def _split_tags(text: str) -> frozenset[str]:
    # A list claim arrives base64-encoded JSON; a string claim as it is, which may be a
    # comma-separated list (brackets and quotes are stripped in case an IdP serialised
    # the list into a string itself).
    listed = _json_list(text.strip()) if not text.strip().startswith("[") else None
    if listed is not None:
        return frozenset(t.strip() for t in listed if t.strip())
    cleaned = text.strip().strip("[]")
    return frozenset(t.strip().strip('"') for t in cleaned.split(",") if t.strip().strip('"'))


@dataclass(frozen=True)
class Caller:
    """Who a request comes from, as the gateway established it.

    ``tags`` is None when the caller may use every tag; otherwise the set it may use
    (possibly empty: a token whose tenant claim names no tag may use none).
    """

    name: str | None = None
    tags: frozenset[str] | None = None

    def allows(self, tag: str) -> bool:
        return self.tags is None or tag in self.tags

    @property
    def limited(self) -> bool:
        return self.tags is not None


ANONYMOUS = Caller()


def parse_caller(identity: str | None, tags: str | None) -> Caller:
    name = None
    allowed: frozenset[str] | None = None
    if identity:
        name, mark, key_tags = identity.partition(_TAGS_MARK)
        if mark:
            allowed = _split_tags(key_tags)
    if tags is not None:
        from_claim = _split_tags(tags)
        allowed = from_claim if allowed is None else allowed & from_claim
    return Caller(name=name or None, tags=allowed)
