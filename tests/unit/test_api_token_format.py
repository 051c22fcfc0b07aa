"""An API token's key and secret: their shape, the secret's checksum, the Authorization
header's two forms, and what a token's actor may do."""

from __future__ import annotations

import base64
import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal_core.errors import PermissionDenied
from portal_core.models.accounts import Role
from portal_core.permissions import Actor, Capability, require
from portal_core.rules import api_tokens as rules
from portal_core.rules.api_tokens import Scope
from portal_core.services.api_tokens import split_credentials

KEY = re.compile(r"^ssk_(live|test)_[A-Za-z0-9]{16}$")
SECRET = re.compile(r"^[A-Za-z0-9]{38}$")


@given(st.booleans())
def test_a_generated_key_has_its_prefix_and_sixteen_base62_characters(test: bool) -> None:
    key = rules.new_key(test=test)
    assert KEY.match(key)
    assert key.startswith("ssk_test_" if test else "ssk_live_")
    assert rules.looks_like_key(key)


@given(st.integers(min_value=0, max_value=3))
def test_a_generated_secret_is_38_base62_characters_whose_checksum_holds(_: int) -> None:
    secret = rules.new_secret()
    assert SECRET.match(secret)
    assert rules.looks_like_secret(secret)


# Every part drawn by Hypothesis (a random secret inside the test made its draws differ from
# one run of an example to the next, which Hypothesis refuses as a flaky strategy).
@given(
    st.text(alphabet=rules.BASE62, min_size=rules.SECRET_BODY, max_size=rules.SECRET_BODY),
    st.integers(min_value=0, max_value=rules.SECRET_LENGTH - 1),
    st.integers(min_value=1, max_value=len(rules.BASE62) - 1),
)
def test_the_checksum_detects_any_single_character_change(
    body: str, position: int, shift: int
) -> None:
    secret = body + rules.checksum(body)
    assert rules.looks_like_secret(secret)
    other = rules.BASE62[(rules.BASE62.index(secret[position]) + shift) % len(rules.BASE62)]
    changed = secret[:position] + other + secret[position + 1 :]
    assert changed != secret and not rules.looks_like_secret(changed)


def test_the_checksum_is_the_crc32_in_base62_zero_padded() -> None:
    # zlib.crc32(b"") == 0: six zeros; crc32(b"a") == 0xE8B7BE43 == 3904355907.
    assert rules.checksum("") == "000000"
    value, digits = 3904355907, ""
    while value:
        value, digit = divmod(value, 62)
        digits = rules.BASE62[digit] + digits
    assert rules.checksum("a") == digits.rjust(6, "0")


@pytest.mark.parametrize(
    "text",
    ["", "short", "x" * 38, "ssk_live_" + "a" * 29, "A" * 37 + "!", "é" * 38],
)
def test_text_that_is_no_secret_is_not_taken_for_one(text: str) -> None:
    assert not rules.looks_like_secret(text)


def test_bearer_and_basic_split_into_key_and_secret() -> None:
    key, secret = rules.new_key(test=False), rules.new_secret()
    assert split_credentials(f"Bearer {key}.{secret}") == (key, secret)
    assert split_credentials(f"bearer   {key}.{secret} ") == (key, secret)
    basic = base64.b64encode(f"{key}:{secret}".encode()).decode()
    assert split_credentials(f"Basic {basic}") == (key, secret)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer ssk_live_abc",  # no secret
        "Bearer .secret",
        "Bearer ssk_live_abc.",
        "Bearer ssk_live_abc.sec.ret",  # a dot is no token character
        "Bearer ssk_live_abc:secret",
        "Token ssk_live_abc.secret",
        "Basic not-base64!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"key:sec ret").decode(),
        "Basic " + base64.b64encode("clé:secret".encode()).decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:abc").decode(),
        "Bearer " + "a" * 70 + "." + "b" * 10,
    ],
)
def test_a_garbled_authorization_header_gives_no_credentials(header: str | None) -> None:
    assert split_credentials(header) is None


def test_each_scope_maps_to_one_capability_and_roles_grant_what_they_hold() -> None:
    assert set(rules.CAPABILITY) == set(Scope)
    assert rules.grantable(Role.OWNER) == tuple(Scope)
    assert rules.grantable(Role.ADMIN) == tuple(Scope)
    assert Scope.BILLING_READ not in rules.grantable(Role.DEVELOPER)
    assert set(rules.grantable(Role.DEVELOPER)) == set(Scope) - {Scope.BILLING_READ}
    assert rules.grantable(Role.VIEWER) == (Scope.WHOIS_READ, Scope.LOGS_READ)


def test_scopes_are_stored_in_their_listed_order_and_read_back() -> None:
    stored = rules.joined({Scope.REPORTS_WRITE, Scope.LOOKUPS})
    assert stored == "lookups,reports:write"
    assert rules.parsed(stored) == {Scope.LOOKUPS, Scope.REPORTS_WRITE}
    assert rules.parsed("lookups,retired:scope") == {Scope.LOOKUPS}


def test_an_actor_with_grants_may_do_only_what_they_say_whatever_its_role() -> None:
    person = Actor(
        user_id=uuid.uuid4(), email="o@example.com", role=Role.OWNER, organization_id=uuid.uuid4()
    )
    token = Actor(
        user_id=person.user_id,
        email=person.email,
        role=Role.OWNER,
        organization_id=person.organization_id,
        api_token_id=uuid.uuid4(),
        grants=rules.grants(frozenset({Scope.LOOKUPS})),
    )
    assert person.can(Capability.BILLING_READ)
    assert token.can(Capability.LOOKUP)
    assert not token.can(Capability.BILLING_READ)
    assert not token.can(Capability.API_TOKENS)
    assert not token.can(Capability.USE_PORTAL)


def test_a_token_refused_by_its_scopes_is_told_so() -> None:
    token = Actor(
        user_id=uuid.uuid4(),
        email="d@example.com",
        role=Role.DEVELOPER,
        organization_id=uuid.uuid4(),
        api_token_id=uuid.uuid4(),
        grants=rules.grants(frozenset({Scope.WHOIS_READ})),
    )
    with pytest.raises(PermissionDenied, match="This API token's scopes do not allow this."):
        require(token, Capability.LOOKUP)
    require(token, Capability.WHOIS_READ)  # granted: no refusal
