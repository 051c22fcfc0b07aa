"""``python -m portal_core keys reseal``: every sealed secret moved under the newest sealing
key, counted; a second run changes nothing; a secret under no listed key is counted and kept,
with exit status 1."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import Engine

from portal_core import db
from portal_core.__main__ import main
from portal_core.models.accounts import Role, User
from portal_core.models.base import utcnow
from portal_core.services import api_tokens, two_factor
from portal_core.services.secrets import token_key_fingerprints, unseal
from portal_core.settings import get_settings
from tests.factories import PASSWORD, actor_of, make_user

KEY_A = "a-key-of-the-portal-0123456789-abcdefghijklm"
KEY_B = "b-key-of-the-portal-0123456789-nopqrstuvwxyz"


def sealing_keys(monkeypatch: pytest.MonkeyPatch, keys: str) -> None:
    monkeypatch.setenv("SEALING_KEYS", keys)
    get_settings.cache_clear()


def member_with_two_factor(engine: Engine) -> tuple[User, str]:
    with db.write_session(engine) as session:
        user = make_user(session, role=Role.DEVELOPER)
    with db.write_session(engine) as session:
        setup = two_factor.begin(
            session, actor_of(user), PASSWORD, ip_address=None, session_handle=None
        )
    with db.write_session(engine) as session:
        two_factor.confirm(
            session, actor_of(user), setup, pyotp.TOTP(setup.secret).now(), session_handle=None
        )
    return user, setup.secret


def secret_read_back(engine: Engine, user: User) -> str | None:
    with db.read_session(engine) as session:
        sealed = session.get_one(User, user.id).two_factor_secret
    assert sealed is not None
    return unseal(sealed, purpose="two-factor-secret")


def test_reseal_moves_every_secret_to_the_newest_key_and_says_how_many(
    database, monkeypatch, capsys
):
    sealing_keys(monkeypatch, KEY_A)
    first, first_secret = member_with_two_factor(database)
    second, second_secret = member_with_two_factor(database)
    sealing_keys(monkeypatch, f"{KEY_B},{KEY_A}")

    assert main(["keys", "reseal"]) == 0
    assert capsys.readouterr().out.strip() == (
        "Sealed secrets: 2 re-sealed under the newest key, 0 already under it, 0 under no "
        "listed key."
    )
    assert main(["keys", "reseal"]) == 0
    assert capsys.readouterr().out.strip() == (
        "Sealed secrets: 0 re-sealed under the newest key, 2 already under it, 0 under no "
        "listed key."
    )

    sealing_keys(monkeypatch, KEY_B)
    assert secret_read_back(database, first) == first_secret
    assert secret_read_back(database, second) == second_secret


def test_reseal_exits_1_when_a_secret_is_under_no_listed_key(database, monkeypatch, capsys):
    sealing_keys(monkeypatch, KEY_A)
    user, secret = member_with_two_factor(database)
    sealing_keys(monkeypatch, KEY_B)

    assert main(["keys", "reseal"]) == 1
    printed = capsys.readouterr()
    assert "0 re-sealed under the newest key, 0 already under it, 1 under no listed key" in (
        printed.out
    )
    assert "put it back" in printed.err
    sealing_keys(monkeypatch, KEY_A)
    assert secret_read_back(database, user) == secret


# --- keys status ---------------------------------------------------------------------------


def token_keys(monkeypatch: pytest.MonkeyPatch, keys: str) -> None:
    monkeypatch.setenv("TOKEN_KEYS", keys)
    get_settings.cache_clear()


def minted(engine: Engine) -> api_tokens.NewToken:
    with db.write_session(engine) as session:
        owner = make_user(session, role=Role.OWNER)
    with db.write_session(engine) as session:
        return api_tokens.create(session, actor_of(owner), name="Call flow", scopes=("lookups",))


def test_status_counts_the_live_tokens_under_each_key_until_they_move(
    database, monkeypatch, capsys
):
    token_keys(monkeypatch, KEY_A)
    first, second = minted(database), minted(database)
    token_keys(monkeypatch, f"{KEY_B},{KEY_A}")
    newest, older = token_key_fingerprints()

    assert main(["keys", "status"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "Live API tokens under each of TOKEN_KEYS, newest first:",
        f"  1. key {newest} (the newest): 0",
        f"  2. key {older}: 2",
        "2 token(s) move under the newest key when next used (within a minute of the call). "
        "Tokens that are never used again keep an older key needed: revoke them, or keep that "
        "key listed.",
    ]

    api_tokens._last_used.clear()
    api_tokens._rekeys.clear()
    for token in (first, second):
        with database.connect() as connection:
            api_tokens.authenticate(connection, token.key, token.secret, now=utcnow())
    api_tokens.flush_last_used(database)

    assert main(["keys", "status"]) == 0
    said = capsys.readouterr().out
    assert f"  1. key {newest} (the newest): 2\n  2. key {older}: 0\n" in said
    assert "Nothing needs the older keys any more: they can be dropped from TOKEN_KEYS." in said


def test_status_exits_1_when_a_live_token_is_under_no_listed_key(database, monkeypatch, capsys):
    token_keys(monkeypatch, KEY_A)
    minted(database)
    token_keys(monkeypatch, KEY_B)

    assert main(["keys", "status"]) == 1
    printed = capsys.readouterr()
    assert f"  1. key {token_key_fingerprints()[0]} (the newest): 0" in printed.out
    assert "1 live token(s) are under a key TOKEN_KEYS no longer lists" in printed.err


def test_status_keeps_an_older_key_while_members_have_recovery_codes_under_it(
    database, monkeypatch, capsys
):
    token_keys(monkeypatch, KEY_A)
    user, secret = member_with_two_factor(database)
    token_keys(monkeypatch, f"{KEY_B},{KEY_A}")
    newest, older = token_key_fingerprints()

    assert main(["keys", "status"]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said[-4:] == [
        "Members with recovery codes left under each of TOKEN_KEYS, newest first:",
        f"  1. key {newest} (the newest): 0",
        f"  2. key {older}: 1",
        "1 member(s) have recovery codes under an older key: a code cannot move to a new key, "
        "so they make new ones (My Profile › Advanced) before that key is dropped.",
    ]
    assert not any("can be dropped" in line for line in said)

    later = utcnow() + timedelta(minutes=1)  # past the step of the code that turned it on
    with db.write_session(database) as session:
        two_factor.regenerate_recovery_codes(
            session,
            actor_of(user),
            pyotp.TOTP(secret).at(later),
            ip_address=None,
            session_handle=None,
            now=later,
        )
    assert main(["keys", "status"]) == 0
    said = capsys.readouterr().out
    assert f"  1. key {newest} (the newest): 1\n  2. key {older}: 0\n" in said
    assert "Nothing needs the older keys any more: they can be dropped from TOKEN_KEYS." in said


def test_status_exits_1_when_recovery_codes_are_under_no_listed_key(database, monkeypatch, capsys):
    token_keys(monkeypatch, KEY_A)
    member_with_two_factor(database)
    token_keys(monkeypatch, KEY_B)

    assert main(["keys", "status"]) == 1
    printed = capsys.readouterr()
    assert "Members with recovery codes left under each of TOKEN_KEYS" in printed.out
    assert (
        "1 member(s) have recovery codes under a key TOKEN_KEYS no longer lists, which no "
        "longer work" in printed.err
    )
