"""Keyed digests and sealed secrets under lists of keys, newest first: made under the first,
checked under any (docs/architecture.md, Keys and their rotation)."""

from __future__ import annotations

import pytest

from portal_core.services import secrets
from portal_core.settings import get_settings

KEY_A = "a-key-of-the-portal-0123456789-abcdefghijklm"
KEY_B = "b-key-of-the-portal-0123456789-nopqrstuvwxyz"


def use(monkeypatch: pytest.MonkeyPatch, name: str, keys: str) -> None:
    monkeypatch.setenv(name, keys)
    get_settings.cache_clear()


def test_a_digest_is_made_under_the_newest_key_and_matches_under_any_listed(monkeypatch):
    use(monkeypatch, "TOKEN_KEYS", KEY_A)
    under_a = secrets.keyed_digest("123456", context="profile")

    use(monkeypatch, "TOKEN_KEYS", f"{KEY_B},{KEY_A}")
    under_b = secrets.keyed_digest("123456", context="profile")

    assert under_a != under_b
    assert secrets.keyed_digests("123456", context="profile") == (under_b, under_a)
    assert secrets.matches_keyed_digest(under_a, "123456", context="profile")
    assert secrets.matches_keyed_digest(under_b, "123456", context="profile")
    assert not secrets.matches_keyed_digest(under_a, "123457", context="profile")
    assert not secrets.matches_keyed_digest(under_a, "123456", context="another profile")
    use(monkeypatch, "TOKEN_KEYS", KEY_B)
    assert not secrets.matches_keyed_digest(under_a, "123456", context="profile")


def test_a_seal_opens_under_any_listed_key_and_only_for_its_purpose(monkeypatch):
    use(monkeypatch, "SEALING_KEYS", KEY_A)
    sealed = secrets.seal("JBSWY3DPEHPK3PXP", purpose="two-factor-secret")

    use(monkeypatch, "SEALING_KEYS", f"{KEY_B},{KEY_A}")
    assert secrets.unseal(sealed, purpose="two-factor-secret") == "JBSWY3DPEHPK3PXP"
    assert secrets.unseal(sealed, purpose="something else") is None
    use(monkeypatch, "SEALING_KEYS", KEY_B)
    assert secrets.unseal(sealed, purpose="two-factor-secret") is None


def test_resealing_moves_a_seal_to_the_newest_key_and_leaves_a_current_one_as_it_is(
    monkeypatch,
):
    use(monkeypatch, "SEALING_KEYS", KEY_A)
    old = secrets.seal("JBSWY3DPEHPK3PXP", purpose="two-factor-secret")
    use(monkeypatch, "SEALING_KEYS", f"{KEY_B},{KEY_A}")

    moved = secrets.reseal(old, purpose="two-factor-secret")

    assert moved is not None and moved != old
    assert secrets.reseal(moved, purpose="two-factor-secret") == moved
    use(monkeypatch, "SEALING_KEYS", KEY_B)
    assert secrets.unseal(moved, purpose="two-factor-secret") == "JBSWY3DPEHPK3PXP"
    assert secrets.reseal(old, purpose="two-factor-secret") is None
