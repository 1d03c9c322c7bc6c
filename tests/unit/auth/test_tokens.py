"""The token file: private, tied to one issuer and client, renewed at the right moment."""

from __future__ import annotations

import stat
from pathlib import Path

from nsight_lab.auth.tokens import TokenSet, TokenStore, tokens_path


def tokens(**kw: object) -> TokenSet:
    base: dict = dict(
        issuer="https://idp/", client_id="cli", access_token="a", token_endpoint="https://idp/t"
    )
    return TokenSet(**{**base, **kw})


def test_lives_beside_the_config() -> None:
    assert tokens_path(Path("/h/.nsight-cloud.conf")) == Path("/h/.nsight-cloud.tokens.json")
    assert tokens_path(Path("/h/team.json")) == Path("/h/team.tokens.json")


def test_saved_private_and_damaged_files_mean_log_in_again(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "t.json")
    assert store.load() is None
    store.save(tokens())
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.load() == tokens()
    store.path.write_text("{broken")
    assert store.load() is None
    assert store.delete() and not store.delete()


def test_belongs_to_one_issuer_and_client() -> None:
    assert tokens().belongs_to("https://idp", "cli")
    assert not tokens().belongs_to("https://other", "cli")
    assert not tokens().belongs_to("https://idp", "other")
    assert not tokens().belongs_to(None, "cli")


def test_renewal_time_is_30_s_before_expiry_or_half_a_short_life() -> None:
    hour = tokens(obtained_at=0, expires_at=3600)
    assert not hour.needs_refresh(now=3569) and hour.needs_refresh(now=3571)
    short = tokens(obtained_at=0, expires_at=10)
    assert not short.needs_refresh(now=4) and short.needs_refresh(now=6)
    assert not tokens(expires_at=None).needs_refresh(now=1e12)


def test_a_refresh_without_a_new_refresh_token_keeps_the_old_one() -> None:
    old = tokens(refresh_token="r1", id_token="id1")
    new = TokenSet.from_response(
        {"access_token": "a2", "expires_in": 60}, issuer=old.issuer, client_id="cli",
        token_endpoint=old.token_endpoint, revocation_endpoint=None, previous=old, now=100,
    )  # fmt: skip
    assert (new.refresh_token, new.id_token, new.expires_at) == ("r1", "id1", 160)
