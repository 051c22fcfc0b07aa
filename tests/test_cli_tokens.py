"""``python -m portal_core tokens create|revoke``: by the page's rules, the secret printed
once with ``KEY.SECRET`` alone on the last line, bad input refused with exit 2 and nothing
written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from portal_core import db
from portal_core.__main__ import main
from portal_core.errors import AuthenticationFailed
from portal_core.models.accounts import OrganizationStatus, Role, User, UserStatus
from portal_core.models.api_tokens import ApiToken
from portal_core.models.base import utcnow
from portal_core.rules import api_tokens as rules
from portal_core.services import api_tokens
from tests.factories import make_organization, make_user


def _member(engine: Engine, role: Role = Role.DEVELOPER, **changes: object) -> User:
    with db.write_session(engine) as session:
        organization = make_organization(session)
        if "organization_status" in changes:
            organization.status = changes.pop("organization_status")  # type: ignore[assignment]
            session.add(organization)
        return make_user(session, organization=organization, role=role, **changes)  # type: ignore[arg-type]


def _tokens(engine: Engine) -> list[ApiToken]:
    with db.read_session(engine) as session:
        return list(session.exec(select(ApiToken)).all())


def test_create_prints_key_secret_and_bearer_last(database, capsys) -> None:
    member = _member(database)
    code = main(
        [
            "tokens",
            "create",
            member.email.upper(),
            "Asterisk PBX",
            "--scopes",
            "lookups",
            "--test",
            "--expires-days",
            "30",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0
    lines = out.strip().splitlines()
    key, secret, bearer = lines[-3:]
    assert bearer == f"{key}.{secret}"
    assert rules.looks_like_key(key) and key.startswith("ssk_test_")
    assert rules.looks_like_secret(secret)
    assert "shown only now" in err
    [token] = _tokens(database)
    assert token.key == key and token.name == "Asterisk PBX"
    assert token.scopes == "lookups" and token.test
    assert token.created_by_user_id == member.id
    assert token.expires_at is not None
    assert token.expires_at - token.created_at == timedelta(days=30)
    with database.connect() as connection:
        caller = api_tokens.authenticate(connection, key, secret, now=utcnow())
    assert caller.organization_id == member.organization_id


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--scopes", "lookups,billing:read"], "Your role can't grant billing:read."),
        (["--scopes", "lookups,everything"], "Unknown scope everything"),
        (["--scopes", ","], "Choose at least one scope."),
        (["--scopes", "lookups,whois:read", "--test"], "A test token makes Smart CNAM lookups"),
        (["--scopes", "lookups", "--expires-days", "0"], "between 1 and 3650 days"),
    ],
)
def test_bad_input_is_refused_with_exit_2_and_writes_nothing(
    database, capsys, arguments, message
) -> None:
    member = _member(database)
    code = main(["tokens", "create", member.email, "PBX", *arguments])
    out, err = capsys.readouterr()
    assert code == 2
    assert message in err
    assert out == ""
    assert _tokens(database) == []


def test_a_name_too_long_or_taken_is_refused(database, capsys) -> None:
    member = _member(database, Role.OWNER)
    assert main(["tokens", "create", member.email, "x" * 61, "--scopes", "lookups"]) == 2
    assert "at most 60 characters" in capsys.readouterr().err
    assert main(["tokens", "create", member.email, "PBX", "--scopes", "lookups"]) == 0
    capsys.readouterr()
    assert main(["tokens", "create", member.email, "PBX", "--scopes", "lookups"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert len(_tokens(database)) == 1


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("nobody", "No member of an organization has the e-mail"),
        ("viewer", "Your role does not allow this."),
        ("deactivated", "is not an active member"),
        ("deactivated organization", "is deactivated"),
    ],
)
def test_a_member_who_may_not_mint_is_refused(database, capsys, who, message) -> None:
    if who == "nobody":
        email = "nobody@example.com"
    elif who == "viewer":
        email = _member(database, Role.VIEWER).email
    elif who == "deactivated":
        email = _member(database, status=UserStatus.DEACTIVATED).email
    else:
        email = _member(database, organization_status=OrganizationStatus.DEACTIVATED).email
    assert main(["tokens", "create", email, "PBX", "--scopes", "whois:read"]) == 2
    out, err = capsys.readouterr()
    assert message in err and out == ""
    assert _tokens(database) == []


def test_revoke_by_key_refuses_the_token_at_once(database, capsys) -> None:
    member = _member(database)
    assert main(["tokens", "create", member.email, "PBX", "--scopes", "lookups"]) == 0
    key, secret = capsys.readouterr().out.strip().splitlines()[-1].split(".")
    assert main(["tokens", "revoke", key]) == 0
    assert "Revoked the API token 'PBX'" in capsys.readouterr().out
    [token] = _tokens(database)
    assert token.revoked_at is not None
    with database.connect() as connection, pytest.raises(AuthenticationFailed, match="revoked"):
        api_tokens.authenticate(connection, key, secret, now=utcnow())
    assert main(["tokens", "revoke", key]) == 2
    assert "already revoked" in capsys.readouterr().err


def test_revoking_an_unknown_key_is_refused(database, capsys) -> None:
    assert main(["tokens", "revoke", "ssk_live_0000000000000000"]) == 2
    assert "No API token has the key" in capsys.readouterr().err
