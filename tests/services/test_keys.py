"""Keys of their own (docs/architecture.md, Keys and their rotation): API tokens' and codes'
digests under ``TOKEN_KEYS``, authenticator secrets sealed under ``SEALING_KEYS``, each a list,
newest first; rotating the cookie's key breaks neither, and ``reseal_secrets`` moves every
sealed secret to the newest sealing key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, event, update
from sqlmodel import col

from portal_core import db
from portal_core.errors import AuthenticationFailed
from portal_core.models.access import RecoveryCode
from portal_core.models.accounts import Role, User
from portal_core.models.api_tokens import ApiToken
from portal_core.services import api_tokens, two_factor
from portal_core.services.secrets import KeyStanding, token_key_fingerprints, unseal
from portal_core.settings import get_settings
from tests.factories import actor_of, make_user
from tests.services.products_support import member
from tests.services.test_two_factor import (
    T0,
    code_at,
    code_step,
    enable,
    password_step,
    stored,
)

KEY_A = "a-key-of-the-portal-0123456789-abcdefghijklm"
KEY_B = "b-key-of-the-portal-0123456789-nopqrstuvwxyz"
KEY_C = "c-key-of-the-portal-0123456789-zyxwvutsrqpon"
SEALED_FOR = "two-factor-secret"


def use(monkeypatch: pytest.MonkeyPatch, **settings: str) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name.upper(), value)
    get_settings.cache_clear()


def mint(engine: Engine) -> api_tokens.NewToken:
    developer = member(engine, role=Role.DEVELOPER)
    with db.write_session(engine) as session:
        return api_tokens.create(
            session, developer.actor, name="Call flow", scopes=("lookups",), test=False
        )


def authenticates(engine: Engine, new: api_tokens.NewToken) -> bool:
    try:
        with engine.connect() as connection:
            api_tokens.authenticate(connection, new.key, new.secret, now=T0)
    except AuthenticationFailed:
        return False
    return True


@pytest.fixture(autouse=True)
def _nothing_buffered() -> None:
    """What earlier tests' calls left to write belongs to their databases."""
    api_tokens._last_used.clear()
    api_tokens._rekeys.clear()


@pytest.fixture
def developer(engine: Engine) -> User:
    with db.write_session(engine) as session:
        return make_user(session, role=Role.DEVELOPER)


def sealed_secret(engine: Engine, user: User) -> str:
    sealed = stored(engine, user).two_factor_secret
    assert sealed is not None
    return sealed


# --- API tokens ----------------------------------------------------------------------------


def test_a_token_minted_under_an_older_key_still_authenticates_while_that_key_is_listed(
    engine, monkeypatch
):
    use(monkeypatch, token_keys=KEY_A)
    new = mint(engine)
    assert authenticates(engine, new)

    use(monkeypatch, token_keys=f"{KEY_B},{KEY_A}")
    assert authenticates(engine, new)

    use(monkeypatch, token_keys=KEY_B)
    assert not authenticates(engine, new)


def test_a_new_token_is_minted_under_the_newest_key(engine, monkeypatch):
    use(monkeypatch, token_keys=f"{KEY_B},{KEY_A}")
    new = mint(engine)

    use(monkeypatch, token_keys=KEY_B)
    assert authenticates(engine, new)
    use(monkeypatch, token_keys=KEY_A)
    assert not authenticates(engine, new)


def test_a_wrong_secret_is_refused_under_every_key(engine, monkeypatch):
    use(monkeypatch, token_keys=f"{KEY_B},{KEY_A}")
    new = mint(engine)
    wrong = api_tokens.NewToken(token=new.token, secret=new.secret[:-1] + "x")

    assert not authenticates(engine, wrong)


def _digest_key(engine: Engine, new: api_tokens.NewToken) -> str | None:
    with db.read_session(engine) as session:
        return session.get_one(ApiToken, new.token.id).digest_key


def test_a_token_used_under_an_older_key_moves_under_the_newest(engine, monkeypatch):
    use(monkeypatch, token_keys=KEY_A)
    new = mint(engine)
    use(monkeypatch, token_keys=f"{KEY_B},{KEY_A}")
    newest, older = token_key_fingerprints()
    assert _digest_key(engine, new) == older
    with db.read_session(engine) as session:
        before = api_tokens.key_standing(session, now=T0)
    assert before == api_tokens.KeyStanding(((newest, 0), (older, 1)), unplaced=0, unlisted=0)

    assert authenticates(engine, new)
    api_tokens.flush_last_used(engine)

    assert _digest_key(engine, new) == newest
    with db.read_session(engine) as session:
        after = api_tokens.key_standing(session, now=T0)
    assert after == api_tokens.KeyStanding(((newest, 1), (older, 0)), unplaced=0, unlisted=0)
    use(monkeypatch, token_keys=KEY_B)  # the older key dropped: the token still works
    assert authenticates(engine, new)


def test_a_token_minted_before_its_key_was_kept_is_placed_when_used(engine, monkeypatch):
    use(monkeypatch, token_keys=KEY_A)
    new = mint(engine)
    with db.write_session(engine) as session:
        session.execute(update(ApiToken).values(digest_key=None))
    with db.read_session(engine) as session:
        assert api_tokens.key_standing(session, now=T0).unplaced == 1

    assert authenticates(engine, new)
    api_tokens.flush_last_used(engine)

    assert _digest_key(engine, new) == token_key_fingerprints()[0]


def test_a_revoked_or_expired_token_is_neither_moved_nor_counted(engine, monkeypatch):
    use(monkeypatch, token_keys=KEY_A)
    revoked, expiring = mint(engine), mint(engine)
    with db.write_session(engine) as session:
        session.execute(
            update(ApiToken).where(col(ApiToken.id) == revoked.token.id).values(revoked_at=T0)
        )
        session.execute(
            update(ApiToken)
            .where(col(ApiToken.id) == expiring.token.id)
            .values(expires_at=T0 + timedelta(hours=1))
        )
    use(monkeypatch, token_keys=f"{KEY_B},{KEY_A}")

    assert not authenticates(engine, revoked)
    api_tokens.flush_last_used(engine)

    assert _digest_key(engine, revoked) == token_key_fingerprints()[1]
    with db.read_session(engine) as session:
        now = api_tokens.key_standing(session, now=T0)
        later = api_tokens.key_standing(session, now=T0 + timedelta(hours=2))
    assert now.under_older == 1 and later.under_older == 0


def test_a_token_under_a_key_no_longer_listed_is_counted_apart(engine, monkeypatch):
    use(monkeypatch, token_keys=KEY_A)
    mint(engine)
    use(monkeypatch, token_keys=KEY_B)
    with db.read_session(engine) as session:
        standing = api_tokens.key_standing(session, now=T0)
    assert standing.unlisted == 1 and standing.under_each == ((token_key_fingerprints()[0], 0),)


def test_a_move_meets_a_token_re_keyed_meanwhile_and_leaves_it(engine, monkeypatch):
    """Two API processes flush the same move: the second finds the digest it would replace
    gone, and changes nothing."""
    use(monkeypatch, token_keys=KEY_A)
    new = mint(engine)
    use(monkeypatch, token_keys=f"{KEY_B},{KEY_A}")
    assert authenticates(engine, new)
    api_tokens.flush_last_used(engine)
    moved = _digest_key(engine, new)
    with db.read_session(engine) as session:
        digest = session.get_one(ApiToken, new.token.id).secret_digest

    assert authenticates(engine, new)  # already under the newest: nothing to move
    assert api_tokens._rekeys == {}

    api_tokens._note_rekey(
        new.token.id, api_tokens._Rekey("a-digest-no-longer-there", "other", "other-key")
    )
    api_tokens.flush_last_used(engine)
    with db.read_session(engine) as session:
        token = session.get_one(ApiToken, new.token.id)
    assert (token.digest_key, token.secret_digest) == (moved, digest)


def test_with_several_keys_authenticate_still_reads_once(engine, monkeypatch):
    use(monkeypatch, token_keys=KEY_A)
    new = mint(engine)
    use(monkeypatch, token_keys=f"{KEY_C},{KEY_B},{KEY_A}")
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.strip().upper() not in ("BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert authenticates(engine, new)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(statements) == 1
    assert statements[0].lstrip().upper().startswith("SELECT")


def test_rotating_the_cookie_key_keeps_tokens_working(engine, monkeypatch):
    new = mint(engine)

    use(monkeypatch, cookie_key="a-new-cookie-key-after-a-leak-0123456789abcdef")

    assert authenticates(engine, new)


# --- Sealed authenticator secrets ----------------------------------------------------------


def test_a_secret_sealed_under_an_older_key_reads_back_while_that_key_is_listed(
    engine, monkeypatch, developer
):
    use(monkeypatch, sealing_keys=KEY_A)
    secret, _ = enable(engine, developer)
    sealed = sealed_secret(engine, developer)

    use(monkeypatch, sealing_keys=f"{KEY_B},{KEY_A}")
    assert unseal(sealed, purpose=SEALED_FOR) == secret
    use(monkeypatch, sealing_keys=KEY_B)
    assert unseal(sealed, purpose=SEALED_FOR) is None


def test_resealing_moves_every_secret_to_the_newest_key_once(engine, monkeypatch, developer):
    use(monkeypatch, sealing_keys=KEY_A)
    secret, _ = enable(engine, developer)
    with db.write_session(engine) as session:
        other = make_user(session, role=Role.VIEWER)
    other_secret, _ = enable(engine, other)

    use(monkeypatch, sealing_keys=f"{KEY_B},{KEY_A}")
    with db.write_session(engine) as session:
        first = two_factor.reseal_secrets(session)
    with db.write_session(engine) as session:
        again = two_factor.reseal_secrets(session)

    assert first == two_factor.Resealed(resealed=2, current=0, unreadable=0)
    assert again == two_factor.Resealed(resealed=0, current=2, unreadable=0)
    use(monkeypatch, sealing_keys=KEY_B)
    assert unseal(sealed_secret(engine, developer), purpose=SEALED_FOR) == secret
    assert unseal(sealed_secret(engine, other), purpose=SEALED_FOR) == other_secret


def test_resealing_counts_and_keeps_what_no_listed_key_reads(engine, monkeypatch, developer):
    use(monkeypatch, sealing_keys=KEY_A)
    enable(engine, developer)
    before = sealed_secret(engine, developer)

    use(monkeypatch, sealing_keys=f"{KEY_C},{KEY_B}")
    with db.write_session(engine) as session:
        report = two_factor.reseal_secrets(session)

    assert report == two_factor.Resealed(resealed=0, current=0, unreadable=1)
    assert sealed_secret(engine, developer) == before


def test_after_resealing_the_member_signs_in_with_the_old_key_gone(engine, monkeypatch, developer):
    use(monkeypatch, sealing_keys=KEY_A)
    secret, _ = enable(engine, developer)
    use(monkeypatch, sealing_keys=f"{KEY_B},{KEY_A}")
    with db.write_session(engine) as session:
        two_factor.reseal_secrets(session)

    use(monkeypatch, sealing_keys=KEY_B)
    later = T0.replace(hour=10)
    pending = password_step(engine, developer, now=later)
    logged_in = code_step(engine, pending, code_at(secret, later), now=later)

    assert logged_in.view.user_id == developer.id


def test_rotating_the_cookie_key_keeps_authenticator_apps_and_recovery_codes_working(
    engine, monkeypatch, developer
):
    secret, codes = enable(engine, developer)

    use(monkeypatch, cookie_key="a-new-cookie-key-after-a-leak-0123456789abcdef")

    later = T0.replace(hour=10)
    pending = password_step(engine, developer, now=later)
    assert code_step(engine, pending, code_at(secret, later), now=later).view.user_id == (
        developer.id
    )
    pending = password_step(engine, developer, now=later)
    assert code_step(engine, pending, codes[0], now=later).view.user_id == developer.id


def test_recovery_codes_made_under_an_older_token_key_still_work(engine, monkeypatch, developer):
    use(monkeypatch, token_keys=KEY_A)
    _, codes = enable(engine, developer)

    use(monkeypatch, token_keys=f"{KEY_B},{KEY_A}")
    later = T0.replace(hour=10)
    pending = password_step(engine, developer, now=later)
    assert code_step(engine, pending, codes[0], now=later).view.user_id == developer.id

    use(monkeypatch, token_keys=KEY_B)
    with db.write_session(engine) as session:
        user = session.get_one(User, developer.id)
        refused = two_factor.accept_code(session, user, codes[1], now=later)
    assert refused is None
    with db.read_session(engine) as session:
        assert two_factor.status(session, actor_of(developer)).recovery_codes_left == 9


# --- What each token key still protects ----------------------------------------------------


def recovery_standing(engine: Engine) -> KeyStanding:
    with db.read_session(engine) as session:
        return two_factor.recovery_key_standing(session)


def test_recovery_codes_are_counted_under_the_key_they_were_made_under(
    engine, monkeypatch, developer
):
    use(monkeypatch, token_keys=KEY_A)
    secret, _codes = enable(engine, developer)
    use(monkeypatch, token_keys=f"{KEY_B},{KEY_A}")
    newest, older = token_key_fingerprints()

    standing = recovery_standing(engine)
    assert standing.under_each == ((newest, 0), (older, 1))  # members, not codes
    assert (standing.under_older, standing.unplaced, standing.unlisted) == (1, 0, 0)

    later = T0.replace(hour=10)
    with db.write_session(engine) as session:
        two_factor.regenerate_recovery_codes(
            session,
            actor_of(developer),
            code_at(secret, later),
            ip_address=None,
            session_handle=None,
            now=later,
        )
    assert recovery_standing(engine).under_each == ((newest, 1), (older, 0))


def test_recovery_codes_all_used_or_made_before_their_key_was_kept_are_told_apart(
    engine, monkeypatch, developer
):
    use(monkeypatch, token_keys=KEY_A)
    enable(engine, developer)
    spent = member(engine, role=Role.DEVELOPER)
    with db.write_session(engine) as session:
        spent_user = session.get_one(User, spent.actor.user_id)
    enable(engine, spent_user)
    with db.write_session(engine) as session:
        session.execute(
            update(RecoveryCode)
            .where(col(RecoveryCode.user_id) == developer.id)
            .values(digest_key=None)  # made before the portal kept the key
        )
        session.execute(
            update(RecoveryCode)
            .where(col(RecoveryCode.user_id) == spent_user.id)
            .values(used_at=T0)  # every code used: nothing left to protect
        )

    standing = recovery_standing(engine)
    assert standing.under_each == ((token_key_fingerprints()[0], 0),)
    assert (standing.unplaced, standing.unlisted) == (1, 0)
    assert (standing.keeping_older, standing.total) == (1, 1)

    use(monkeypatch, token_keys=KEY_B)
    with db.write_session(engine) as session:
        session.execute(
            update(RecoveryCode)
            .where(col(RecoveryCode.user_id) == spent_user.id)
            .values(used_at=None)
        )
    standing = recovery_standing(engine)
    assert (standing.under_each, standing.unplaced, standing.unlisted) == (
        ((token_key_fingerprints()[0], 0),),
        1,
        1,
    )
