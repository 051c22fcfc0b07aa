"""API tokens: minting by each role's rules, authenticating (one read, no write), revoking
at once, last-used buffered and flushed, no secret anywhere in the database, and a token's
calls in Logs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, event, select, update
from sqlmodel import SQLModel

from portal_core import db
from portal_core.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from portal_core.models.accounts import Organization, OrganizationStatus, Role, User, UserStatus
from portal_core.models.api_tokens import ApiToken
from portal_core.models.audit import AuditEvent
from portal_core.models.products import ProductEvent
from portal_core.permissions import Capability
from portal_core.rules import api_tokens as rules
from portal_core.rules.api_tokens import Scope
from portal_core.services import api_tokens
from portal_core.services.api_tokens import NewToken
from portal_core.services.jobs import JOBS
from tests.services.products_support import Member, look_up, member
from tests.services.support import count, fetch, mail_to

NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)


def _create(
    engine: Engine,
    who: Member,
    name: str = "Asterisk PBX",
    scopes: tuple[str, ...] = ("lookups",),
    *,
    test: bool = False,
    expires_days: int | None = None,
    now: datetime = NOW,
) -> NewToken:
    with db.write_session(engine) as session:
        return api_tokens.create(
            session,
            who.actor,
            name=name,
            scopes=scopes,
            test=test,
            expires_days=expires_days,
            now=now,
        )


def _authenticate(engine: Engine, key: str, secret: str, *, now: datetime = NOW):
    with engine.connect() as connection:
        return api_tokens.authenticate(connection, key, secret, now=now)


@pytest.fixture(autouse=True)
def _empty_last_used_buffer() -> None:
    api_tokens._last_used.clear()


def test_a_minted_token_authenticates_as_its_organization_with_its_scopes(engine) -> None:
    developer = member(engine, role=Role.DEVELOPER)
    new = _create(engine, developer, scopes=("lookups", "whois:read"))
    assert rules.looks_like_key(new.key) and new.key.startswith("ssk_live_")
    assert rules.looks_like_secret(new.secret)
    assert new.bearer == f"{new.key}.{new.secret}"

    caller = _authenticate(engine, new.key, new.secret)
    assert caller.token_id == new.token.id
    assert caller.token_name == "Asterisk PBX"
    assert caller.organization_id == developer.organization_id
    assert caller.scopes == {Scope.LOOKUPS, Scope.WHOIS_READ}
    assert caller.test is False
    assert caller.actor.api_token_id == new.token.id
    assert caller.actor.user_id == developer.actor.user_id
    assert caller.actor.organization_id == developer.organization_id
    assert caller.actor.can(Capability.LOOKUP) and caller.actor.can(Capability.WHOIS_READ)
    assert not caller.actor.can(Capability.WHOIS_WRITE)
    assert not caller.actor.can(Capability.API_TOKENS)

    sample = _create(engine, developer, "Sandbox PBX", test=True)
    assert rules.looks_like_key(sample.key) and sample.key.startswith("ssk_test_")
    tested = _authenticate(engine, sample.key, sample.secret)
    assert tested.test is True and tested.scopes == {Scope.LOOKUPS}


def test_authenticate_reads_once_and_writes_nothing(engine) -> None:
    owner = member(engine)
    new = _create(engine, owner)
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.strip().upper() not in ("BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with engine.connect() as connection:
            api_tokens.authenticate(connection, new.key, new.secret, now=NOW)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(statements) == 1
    assert statements[0].lstrip().upper().startswith("SELECT")
    assert fetch(engine, ApiToken, new.token.id).last_used_at is None


@pytest.mark.parametrize(
    "scopes",
    [("lookups",), ("whois:read", "whois:write"), ("logs:read", "reports:write")],
)
def test_a_developer_grants_product_scopes(engine, scopes) -> None:
    developer = member(engine, role=Role.DEVELOPER)
    new = _create(engine, developer, scopes=scopes)
    assert rules.parsed(new.token.scopes) == {Scope(scope) for scope in scopes}


def test_a_developer_cannot_grant_billing_read_and_nothing_is_written(engine) -> None:
    developer = member(engine, role=Role.DEVELOPER)
    with pytest.raises(ValidationFailed) as refused:
        _create(engine, developer, scopes=("lookups", "billing:read"))
    assert refused.value.errors == {"scopes": "Your role can't grant billing:read."}
    assert count(engine, ApiToken) == 0
    assert count(engine, AuditEvent) == 0


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_grant_every_scope(engine, role) -> None:
    who = member(engine, role=role)
    new = _create(engine, who, scopes=tuple(scope.value for scope in Scope))
    assert rules.parsed(new.token.scopes) == set(Scope)


@pytest.mark.parametrize("role", [Role.BILLING, Role.VIEWER])
def test_billing_and_viewer_members_cannot_create_tokens(engine, role) -> None:
    who = member(engine, role=role)
    with pytest.raises(PermissionDenied):
        _create(engine, who, scopes=("logs:read",))
    assert count(engine, ApiToken) == 0


@pytest.mark.parametrize(
    ("name", "scopes", "expires_days", "field", "message"),
    [
        ("", ("lookups",), None, "name", "Enter a name."),
        ("   ", ("lookups",), None, "name", "Enter a name."),
        ("x" * 61, ("lookups",), None, "name", "A name must be at most 60 characters."),
        ("PBX", (), None, "scopes", "Choose at least one scope."),
        ("PBX", ("lookups", "admin"), None, "scopes", "Unknown scope admin"),
        ("PBX", ("lookups",), 0, "expires_days", "between 1 and 3650 days"),
        ("PBX", ("lookups",), 3651, "expires_days", "between 1 and 3650 days"),
    ],
)
def test_bad_input_gets_a_clear_message_and_writes_nothing(
    engine, name, scopes, expires_days, field, message
) -> None:
    owner = member(engine)
    with pytest.raises(ValidationFailed) as refused:
        _create(engine, owner, name, scopes, expires_days=expires_days)
    assert message in refused.value.errors[field]
    assert count(engine, ApiToken) == 0
    assert count(engine, AuditEvent) == 0


def test_a_name_is_unique_among_the_organizations_unrevoked_tokens(engine, outbox_dir) -> None:
    owner = member(engine)
    first = _create(engine, owner, "PBX")
    with pytest.raises(ValidationFailed) as taken:
        _create(engine, owner, " PBX ")
    assert "already exists" in taken.value.errors["name"]
    other = member(engine)
    _create(engine, other, "PBX")  # another organization's name is its own
    with db.write_session(engine) as session:
        api_tokens.revoke(session, owner.actor, first.token.id, now=NOW)
    again = _create(engine, owner, "PBX")
    assert again.key != first.key
    assert count(engine, ApiToken) == 3


def test_authenticate_refuses_a_wrong_secret_and_an_unknown_key_alike(engine) -> None:
    owner = member(engine)
    new = _create(engine, owner)
    other = rules.new_secret()
    for key, secret in [
        (new.key, other),
        (new.key, new.secret[:-1] + ("A" if new.secret[-1] != "A" else "B")),
        (rules.new_key(test=False), new.secret),
        ("not-a-key", new.secret),
        (new.key, ""),
    ]:
        with pytest.raises(AuthenticationFailed) as refused:
            _authenticate(engine, key, secret)
        assert refused.value.status == 401
        assert refused.value.message == "Unknown API key or wrong secret."


def test_a_revoked_token_is_refused_from_the_next_call(engine) -> None:
    owner = member(engine)
    new = _create(engine, owner)
    _authenticate(engine, new.key, new.secret)
    with db.write_session(engine) as session:
        api_tokens.revoke(session, owner.actor, new.token.id, now=NOW)
    with pytest.raises(AuthenticationFailed, match="was revoked"):
        _authenticate(engine, new.key, new.secret)
    stored = fetch(engine, ApiToken, new.token.id)
    assert stored.revoked_at == NOW
    assert stored.revoked_by_user_id == owner.actor.user_id
    with db.read_session(engine) as session:
        actions = [row.action for row in session.exec(select(AuditEvent)).scalars()]  # type: ignore[call-overload]
    assert sorted(actions) == ["api_token.created", "api_token.revoked"]


def test_revoking_twice_or_another_organizations_token_is_refused(engine) -> None:
    owner = member(engine)
    new = _create(engine, owner)
    stranger = member(engine)
    with pytest.raises(NotFound), db.write_session(engine) as session:
        api_tokens.revoke(session, stranger.actor, new.token.id, now=NOW)
    viewer = member(engine, role=Role.VIEWER, organization_id=owner.organization_id)
    with pytest.raises(PermissionDenied), db.write_session(engine) as session:
        api_tokens.revoke(session, viewer.actor, new.token.id, now=NOW)
    assert fetch(engine, ApiToken, new.token.id).revoked_at is None
    with db.write_session(engine) as session:
        api_tokens.revoke(session, owner.actor, new.token.id, now=NOW)
    with pytest.raises(Conflict), db.write_session(engine) as session:
        api_tokens.revoke(session, owner.actor, new.token.id, now=NOW + timedelta(hours=1))
    assert fetch(engine, ApiToken, new.token.id).revoked_at == NOW


def test_an_expired_token_is_refused(engine) -> None:
    owner = member(engine)
    new = _create(engine, owner, expires_days=30)
    assert new.token.expires_at == NOW + timedelta(days=30)
    _authenticate(engine, new.key, new.secret, now=NOW + timedelta(days=30) - timedelta(seconds=1))
    with pytest.raises(AuthenticationFailed, match="expired"):
        _authenticate(engine, new.key, new.secret, now=NOW + timedelta(days=30))


def test_a_deactivated_organizations_token_is_refused(engine) -> None:
    owner = member(engine)
    new = _create(engine, owner)
    with db.write_session(engine) as session:
        session.execute(
            update(Organization)
            .where(Organization.id == owner.organization_id)  # type: ignore[arg-type]
            .values(status=OrganizationStatus.DEACTIVATED)
        )
    with pytest.raises(AuthenticationFailed, match="deactivated"):
        _authenticate(engine, new.key, new.secret)


def test_a_deactivated_creator_does_not_break_the_token(engine) -> None:
    developer = member(engine, role=Role.DEVELOPER)
    new = _create(engine, developer)
    with db.write_session(engine) as session:
        session.execute(
            update(User)
            .where(User.id == developer.actor.user_id)  # type: ignore[arg-type]
            .values(status=UserStatus.DEACTIVATED)
        )
    assert _authenticate(engine, new.key, new.secret).organization_id == developer.organization_id


def test_no_secret_is_stored_in_plain_text_anywhere(engine) -> None:
    owner = member(engine)
    minted = [
        _create(engine, owner, "PBX", ("lookups", "whois:read")),
        _create(engine, owner, "CRM", ("lookups",), test=True, expires_days=7),
    ]
    with db.write_session(engine) as session:
        api_tokens.revoke(session, owner.actor, minted[1].token.id, now=NOW)
    dump: list[str] = []
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                dump.extend(str(value) for value in row if value is not None)
    text = "\n".join(dump)
    assert minted[0].key in text  # the dump does hold the tokens
    for new in minted:
        assert new.secret not in text
        assert new.bearer not in text
        assert new.secret[:16] not in text
        assert api_tokens.secret_digest(new.secret) in text


def test_last_used_is_buffered_then_flushed_never_moving_back(engine) -> None:
    owner = member(engine)
    first, second = _create(engine, owner, "A"), _create(engine, owner, "B")
    api_tokens.note_used(first.token.id, NOW + timedelta(minutes=2))
    api_tokens.note_used(first.token.id, NOW + timedelta(minutes=1))  # an earlier call, later
    api_tokens.note_used(second.token.id, NOW + timedelta(minutes=3))
    assert fetch(engine, ApiToken, first.token.id).last_used_at is None
    assert api_tokens.flush_last_used(engine) == 2
    assert fetch(engine, ApiToken, first.token.id).last_used_at == NOW + timedelta(minutes=2)
    assert fetch(engine, ApiToken, second.token.id).last_used_at == NOW + timedelta(minutes=3)
    assert api_tokens.flush_last_used(engine) == 0  # the buffer is empty now
    # Another process flushed a later time already: this one's older time does not win.
    api_tokens.note_used(second.token.id, NOW + timedelta(minutes=1))
    assert api_tokens.flush_last_used(engine) == 0
    assert fetch(engine, ApiToken, second.token.id).last_used_at == NOW + timedelta(minutes=3)


def test_the_owners_are_told_when_a_token_is_created(engine, outbox_dir) -> None:
    owner = member(engine)
    developer = member(engine, role=Role.DEVELOPER, organization_id=owner.organization_id)
    admin = member(engine, role=Role.ADMIN, organization_id=owner.organization_id)
    new = _create(engine, developer, "Billing bot's lookups")
    mails = mail_to(outbox_dir, owner.actor.email)
    assert len(mails) == 1
    body = mails[0].get_content()
    assert "Billing bot's lookups" in body and new.key in body and developer.actor.email in body
    assert new.secret not in body
    assert mail_to(outbox_dir, developer.actor.email) == []
    assert mail_to(outbox_dir, admin.actor.email) == []


def test_a_lookup_through_a_token_is_logged_with_the_token(engine) -> None:
    developer = member(engine, role=Role.DEVELOPER)
    new = _create(engine, developer)
    caller = _authenticate(engine, new.key, new.secret)
    through_api = Member(caller.actor, developer.organization_id)
    result = look_up(engine, through_api, "+14169671111", now=NOW)
    by_hand = look_up(engine, developer, "+14169671112", now=NOW)
    logged = fetch(engine, ProductEvent, result.event_id)
    assert (logged.api_token_id, logged.user_id) == (new.token.id, None)
    typed = fetch(engine, ProductEvent, by_hand.event_id)
    assert (typed.api_token_id, typed.user_id) == (None, developer.actor.user_id)


def test_the_scheduler_flushes_last_used_every_minute(engine) -> None:
    owner = member(engine)
    new = _create(engine, owner)
    _authenticate(engine, new.key, new.secret)
    api_tokens.note_used(new.token.id, NOW + timedelta(seconds=5))
    [job] = [job for job in JOBS if job.name == "api_tokens.flush"]
    report = job.run(engine, NOW + timedelta(minutes=1))
    assert report.summary == "1 API token’s last use written."
    assert fetch(engine, ApiToken, new.token.id).last_used_at == NOW + timedelta(seconds=5)


def test_authenticate_takes_an_orm_session_too(engine) -> None:
    owner = member(engine)
    new = _create(engine, owner, scopes=("billing:read",))
    with db.read_session(engine) as session:
        caller = api_tokens.authenticate(session, new.key, new.secret, now=NOW)
    assert caller.scopes == {Scope.BILLING_READ}
    assert caller.actor.can(Capability.BILLING_READ) and not caller.actor.can(Capability.LOOKUP)


@pytest.mark.parametrize("scopes", [("whois:read",), ("lookups", "logs:read")])
def test_a_test_token_takes_the_lookups_scope_alone_and_nothing_is_written(engine, scopes) -> None:
    # The API answers a test token's calls to Whois, Logs and Billing with a 403: minting one
    # with those scopes would give a partner a token that cannot do what it says.
    owner = member(engine)
    with pytest.raises(ValidationFailed) as refused:
        _create(engine, owner, scopes=scopes, test=True)
    assert refused.value.errors == {
        "scopes": "A test token makes Smart CNAM lookups only: choose lookups alone, "
        "or make a live token."
    }
    assert count(engine, ApiToken) == 0
    assert count(engine, AuditEvent) == 0
