"""``python -m portal_core keys reseal``: every sealed secret moved under the newest sealing
key, counted; a second run changes nothing; a secret under no listed key is counted and kept,
with exit status 1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import Engine

from portal_core import db
from portal_core.__main__ import main
from portal_core.models.accounts import Role, User
from portal_core.services import two_factor
from portal_core.services.secrets import unseal
from portal_core.settings import get_settings
from tests.factories import PASSWORD, actor_of, make_user

KEY_A = "a-key-of-the-portal-0123456789-abcdefghijklm"
KEY_B = "b-key-of-the-portal-0123456789-nopqrstuvwxyz"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    assert main(["migrate"]) == 0
    engine = db.create_engine(url)
    yield engine
    engine.dispose()


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
