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

from dataclasses import dataclass

_TAGS_MARK = ";tags="


def encode_client(client: str, tags: list[str] | None) -> str:
    """The value ``api_key_auth`` forwards for one key."""
    if not tags:
        return client
    return client + _TAGS_MARK + ",".join(tags)


def _split_tags(text: str) -> frozenset[str]:
    # Tokens may carry the claim as a JSON-ish list that Envoy flattened, or as a
    # plain comma-separated string; both come here as "a,b" (brackets and quotes
    # are stripped in case an IdP serialised the list itself).
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
