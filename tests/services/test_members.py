"""Organization › Access › Users: invitations, joining, roles and deactivation
(docs/product.md, Pages › Users)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from portal_core import db
from portal_core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    SignInRefused,
    ValidationFailed,
)
from portal_core.models.access import Invitation
from portal_core.models.accounts import Organization, Role, User, UserStatus
from portal_core.models.audit import AuditEvent
from portal_core.permissions import PARTNER_ROLE_ORDER, Actor
from portal_core.queries import members as member_queries
from portal_core.queries.listing import ListQuery, fetch_page
from portal_core.services import members, sessions
from portal_core.services.auth import DEACTIVATED
from tests.factories import PASSWORD, actor_of, make_organization, make_user
from tests.services.support import (
    STRONG_PASSWORD,
    body_of,
    count,
    fetch,
    log_in,
    mail_to,
    outbox,
    race,
    token_in,
    user_by_email,
)

INVITEE = "nadia.haddad@example.com"
NOW = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)


@pytest.fixture
def organization(engine: Engine) -> Organization:
    with db.write_session(engine) as session:
        return make_organization(session)


def _member(engine: Engine, organization: Organization, role: Role = Role.OWNER) -> User:
    with db.write_session(engine) as session:
        return make_user(session, organization=organization, role=role)


@pytest.fixture
def owner(engine: Engine, organization: Organization) -> User:
    return _member(engine, organization, Role.OWNER)


def _invite(
    engine: Engine,
    actor: User,
    email: str = INVITEE,
    role: Role | str = Role.DEVELOPER,
    *,
    now: datetime = NOW,
) -> uuid.UUID:
    with db.write_session(engine) as session:
        return members.invite(session, actor_of(actor), email, role, now=now)


def _link(outbox_dir: Path, email: str = INVITEE) -> str:
    """The secret of the newest invitation e-mailed to ``email``."""
    return token_in(mail_to(outbox_dir, email)[-1])


def _join(
    engine: Engine,
    secret: str,
    *,
    name: str = "Nadia Haddad",
    password: str = STRONG_PASSWORD,
    accepted_terms: bool = True,
    now: datetime = NOW + timedelta(hours=1),
) -> uuid.UUID:
    with db.write_session(engine) as session:
        return members.accept(
            session, secret, members.JoinForm(name, password, accepted_terms), now=now
        )


def _audited(engine: Engine, action: str) -> list[tuple[str | None, str | None]]:
    with db.read_session(engine) as session:
        rows = session.exec(
            select(AuditEvent.subject, AuditEvent.detail)
            .where(AuditEvent.action == action)
            .order_by(col(AuditEvent.created_at))
        ).all()
    return [(subject, detail) for subject, detail in rows]


# --- Inviting ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", PARTNER_ROLE_ORDER)
def test_an_owner_invites_with_any_partner_role(engine, outbox_dir, owner, role):
    invitation_id = _invite(engine, owner, role=role)

    invitation = fetch(engine, Invitation, invitation_id)
    assert (invitation.email, invitation.role) == (INVITEE, role.value)
    assert invitation.expires_at == NOW + timedelta(days=7)
    [message] = mail_to(outbox_dir, INVITEE)
    assert "/join?token=" in body_of(message)
    assert f"as {role.value.title()}" in body_of(message)
    assert _audited(engine, "member.invited") == [(INVITEE, f"as {role.value.title()}")]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.BILLING, Role.DEVELOPER, Role.VIEWER])
def test_an_admin_invites_with_any_role_but_owner(engine, outbox_dir, organization, role):
    admin = _member(engine, organization, Role.ADMIN)

    _invite(engine, admin, role=role)

    assert count(engine, Invitation, col(Invitation.role) == role.value) == 1


def test_an_admin_may_not_invite_an_owner_and_nothing_is_written(engine, outbox_dir, organization):
    admin = _member(engine, organization, Role.ADMIN)

    with pytest.raises(ValidationFailed) as refused:
        _invite(engine, admin, role=Role.OWNER)

    assert refused.value.errors == {"role": "Only an owner can invite someone as an owner."}
    assert count(engine, Invitation) == 0
    assert outbox(outbox_dir) == []


@pytest.mark.parametrize("role", [Role.BILLING, Role.DEVELOPER, Role.VIEWER])
def test_the_other_roles_may_not_invite(engine, outbox_dir, organization, role):
    member = _member(engine, organization, role)

    with pytest.raises(PermissionDenied):
        _invite(engine, member, role=Role.VIEWER)

    assert count(engine, Invitation) == 0


@pytest.mark.parametrize(
    ("email", "role", "field"),
    [("not an address", Role.VIEWER, "email"), (INVITEE, "staff", "role"), (INVITEE, "x", "role")],
)
def test_a_bad_address_or_role_is_refused_by_field(engine, outbox_dir, owner, email, role, field):
    with pytest.raises(ValidationFailed) as refused:
        _invite(engine, owner, email, role)

    assert list(refused.value.errors) == [field]
    assert count(engine, Invitation) == 0


def test_an_address_with_an_account_anywhere_is_refused(engine, outbox_dir, owner):
    with db.write_session(engine) as session:
        elsewhere = make_user(session, email="taken@example.com")

    with pytest.raises(ValidationFailed) as refused:
        _invite(engine, owner, " Taken@Example.com ")

    assert "already has a SIPSTACK account" in refused.value.errors["email"]
    assert "one organization" in refused.value.errors["email"]
    assert count(engine, Invitation) == 0
    assert outbox(outbox_dir) == []
    assert fetch(engine, User, elsewhere.id).organization_id == elsewhere.organization_id


def test_inviting_an_address_again_replaces_its_pending_invitation(engine, outbox_dir, owner):
    first = _invite(engine, owner, role=Role.VIEWER)
    old_link = _link(outbox_dir)
    second = _invite(engine, owner, role=Role.ADMIN, now=NOW + timedelta(minutes=5))
    new_link = _link(outbox_dir)

    assert fetch(engine, Invitation, first).cancelled_at is not None
    with pytest.raises(Conflict, match="cancelled, or replaced"):
        _join(engine, old_link)
    _join(engine, new_link)
    joined = user_by_email(engine, INVITEE)
    assert joined is not None and joined.role == Role.ADMIN
    assert fetch(engine, Invitation, second).accepted_at is not None


# --- Joining -----------------------------------------------------------------------------


def test_joining_makes_a_verified_member_with_the_role_who_can_log_in(
    engine, outbox_dir, owner, organization
):
    _invite(engine, owner, role=Role.BILLING)
    secret = _link(outbox_dir)
    with db.read_session(engine) as session:
        shown = members.invitation_for(session, secret, now=NOW)
    assert (shown.email, shown.role, shown.organization_name) == (
        INVITEE,
        Role.BILLING,
        organization.name,
    )

    user_id = _join(engine, secret, name="  Nadia Haddad ")

    user = fetch(engine, User, user_id)
    assert (user.name, user.email, user.role, user.status) == (
        "Nadia Haddad",
        INVITEE,
        Role.BILLING,
        UserStatus.ACTIVE,
    )
    assert user.organization_id == organization.id
    assert user.email_verified_at is not None and user.tos_version is not None
    signed_in = log_in(engine, INVITEE, STRONG_PASSWORD)
    assert signed_in.view.role is Role.BILLING
    assert signed_in.view.organization_id == organization.id
    assert _audited(engine, "member.joined") == [(INVITEE, "as Billing")]


def test_an_expired_link_is_refused_and_writes_nothing(engine, outbox_dir, owner):
    _invite(engine, owner)
    secret = _link(outbox_dir)
    later = NOW + timedelta(days=7)

    with pytest.raises(Conflict, match="expired"), db.read_session(engine) as session:
        members.invitation_for(session, secret, now=later)
    with pytest.raises(Conflict, match="expired"):
        _join(engine, secret, now=later)

    assert user_by_email(engine, INVITEE) is None
    assert _audited(engine, "member.joined") == []


def test_a_link_used_once_is_refused_the_second_time(engine, outbox_dir, owner):
    _invite(engine, owner)
    secret = _link(outbox_dir)
    _join(engine, secret)

    with pytest.raises(Conflict, match="already been used"):
        _join(engine, secret, name="Someone Else", password="Otter-Lamplight-Fjord-93")

    joined = user_by_email(engine, INVITEE)
    assert count(engine, User, col(User.email) == INVITEE) == 1
    assert joined is not None and joined.name == "Nadia Haddad"


def test_a_cancelled_invitation_is_refused(engine, outbox_dir, owner):
    invitation_id = _invite(engine, owner)
    secret = _link(outbox_dir)
    with db.write_session(engine) as session:
        members.cancel(session, actor_of(owner), invitation_id, now=NOW)

    with pytest.raises(Conflict, match="cancelled"):
        _join(engine, secret)

    assert user_by_email(engine, INVITEE) is None
    assert _audited(engine, "member.invitation_cancelled") == [(INVITEE, "as Developer")]
    with db.read_session(engine) as session:
        assert member_queries.pending_invitations(session, actor_of(owner)) == []


def test_a_resent_invitation_kills_the_old_link_and_the_new_one_works(engine, outbox_dir, owner):
    first = _invite(engine, owner, role=Role.VIEWER)
    old_link = _link(outbox_dir)
    with db.write_session(engine) as session:
        second = members.resend(session, actor_of(owner), first, now=NOW + timedelta(days=8))
    new_link = _link(outbox_dir)

    assert new_link != old_link
    assert fetch(engine, Invitation, second).expires_at == NOW + timedelta(days=15)
    with pytest.raises(Conflict, match="replaced"):
        _join(engine, old_link, now=NOW + timedelta(days=8))
    _join(engine, new_link, now=NOW + timedelta(days=8))
    joined = user_by_email(engine, INVITEE)
    assert joined is not None and joined.role == Role.VIEWER
    assert _audited(engine, "member.invitation_resent") == [(INVITEE, "as Viewer")]


def test_an_unknown_link_is_not_valid(engine):
    with pytest.raises(NotFound, match="not valid"):
        _join(engine, "not-a-link")


def test_an_address_that_got_an_account_meanwhile_cannot_join(engine, outbox_dir, owner):
    _invite(engine, owner)
    secret = _link(outbox_dir)
    with db.write_session(engine) as session:
        make_user(session, email=INVITEE)  # signed up on their own, before following the link

    with pytest.raises(Conflict, match="already has a SIPSTACK account"):
        _join(engine, secret)

    assert count(engine, User, col(User.email) == INVITEE) == 1


def test_a_weak_password_is_refused_and_the_link_still_works(engine, outbox_dir, owner):
    _invite(engine, owner)
    secret = _link(outbox_dir)

    with pytest.raises(ValidationFailed) as refused:
        _join(engine, secret, name="", password="password", accepted_terms=False)

    assert set(refused.value.errors) == {"name", "password", "accepted_terms"}
    assert user_by_email(engine, INVITEE) is None
    _join(engine, secret)
    assert user_by_email(engine, INVITEE) is not None


def test_an_admin_may_not_resend_or_cancel_an_owners_invitation(engine, outbox_dir, organization):
    owner = _member(engine, organization, Role.OWNER)
    admin = _member(engine, organization, Role.ADMIN)
    invitation_id = _invite(engine, owner, role=Role.OWNER)

    for act in (members.resend, members.cancel):
        with pytest.raises(PermissionDenied), db.write_session(engine) as session:
            act(session, actor_of(admin), invitation_id, now=NOW)

    assert fetch(engine, Invitation, invitation_id).cancelled_at is None


def test_another_organizations_invitation_is_not_found(engine, outbox_dir, owner):
    invitation_id = _invite(engine, owner)
    with db.write_session(engine) as session:
        stranger = make_user(session, role=Role.OWNER)

    with pytest.raises(NotFound), db.write_session(engine) as session:
        members.cancel(session, actor_of(stranger), invitation_id, now=NOW)

    assert fetch(engine, Invitation, invitation_id).cancelled_at is None


# --- Roles -------------------------------------------------------------------------------


def test_an_owner_changes_a_role_and_the_member_is_told(engine, outbox_dir, owner, organization):
    member = _member(engine, organization, Role.VIEWER)

    with db.write_session(engine) as session:
        members.change_role(session, actor_of(owner), member.id, Role.ADMIN, now=NOW)

    assert fetch(engine, User, member.id).role == Role.ADMIN
    assert _audited(engine, "member.role_changed") == [(member.email, "Viewer → Admin")]
    [message] = mail_to(outbox_dir, member.email)
    assert "from Viewer to Admin" in body_of(message)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.BILLING, Role.DEVELOPER, Role.VIEWER])
def test_only_owners_change_roles_or_deactivate(engine, organization, role):
    actor = _member(engine, organization, role)
    member = _member(engine, organization, Role.VIEWER)

    with pytest.raises(PermissionDenied), db.write_session(engine) as session:
        members.change_role(session, actor_of(actor), member.id, Role.ADMIN)
    with pytest.raises(PermissionDenied), db.write_session(engine) as session:
        members.set_active(session, actor_of(actor), member.id, False)

    stored = fetch(engine, User, member.id)
    assert (stored.role, stored.status) == (Role.VIEWER, UserStatus.ACTIVE)


def test_the_last_active_owner_cannot_be_demoted(engine, outbox_dir, owner):
    with pytest.raises(Conflict, match="last active owner"), db.write_session(engine) as session:
        members.change_role(session, actor_of(owner), owner.id, Role.ADMIN)

    assert fetch(engine, User, owner.id).role == Role.OWNER
    assert outbox(outbox_dir) == []


def test_an_owner_can_be_demoted_while_another_active_owner_remains(engine, owner, organization):
    second = _member(engine, organization, Role.OWNER)
    with db.write_session(engine) as session:
        members.change_role(session, actor_of(owner), second.id, Role.DEVELOPER)
    assert fetch(engine, User, second.id).role == Role.DEVELOPER

    # A deactivated owner does not count: the one left active stays an owner.
    third = _member(engine, organization, Role.OWNER)
    with db.write_session(engine) as session:
        members.set_active(session, actor_of(owner), third.id, False)
    with pytest.raises(Conflict, match="last active owner"), db.write_session(engine) as session:
        members.change_role(session, actor_of(owner), owner.id, Role.ADMIN)


def test_a_role_of_another_organization_is_not_found(engine, owner):
    with db.write_session(engine) as session:
        stranger = make_user(session, role=Role.VIEWER)

    with pytest.raises(NotFound), db.write_session(engine) as session:
        members.change_role(session, actor_of(owner), stranger.id, Role.ADMIN)

    assert fetch(engine, User, stranger.id).role == Role.VIEWER


# --- Deactivation ------------------------------------------------------------------------


def test_deactivating_ends_the_members_sessions_at_once_and_refuses_their_login(
    engine, outbox_dir, owner, organization
):
    member = _member(engine, organization, Role.DEVELOPER)
    handle = log_in(engine, member.email, PASSWORD).handle

    with db.write_session(engine) as session:
        members.set_active(session, actor_of(owner), member.id, False, now=NOW)

    with db.read_session(engine) as session:
        assert sessions.resolve(session, handle) is None
        assert sessions.live_session_count(session, member.id) == 0
    with pytest.raises(SignInRefused, match=DEACTIVATED):
        log_in(engine, member.email, PASSWORD)
    assert fetch(engine, User, member.id).status == UserStatus.DEACTIVATED
    assert _audited(engine, "member.deactivated") == [(member.email, "Developer")]
    [message] = mail_to(outbox_dir, member.email)
    assert "deactivated your account" in body_of(message)


def test_a_deactivated_member_is_reactivated_and_can_log_in_again(
    engine, outbox_dir, owner, organization
):
    member = _member(engine, organization, Role.VIEWER)
    with db.write_session(engine) as session:
        members.set_active(session, actor_of(owner), member.id, False)

    with db.write_session(engine) as session:
        members.set_active(session, actor_of(owner), member.id, True)

    assert fetch(engine, User, member.id).status == UserStatus.ACTIVE
    assert log_in(engine, member.email, PASSWORD).view.user_id == member.id
    assert _audited(engine, "member.reactivated") == [(member.email, "Viewer")]
    assert "reactivated your account" in body_of(mail_to(outbox_dir, member.email)[-1])


def test_an_owner_cannot_deactivate_themselves(engine, owner, organization):
    _member(engine, organization, Role.OWNER)  # another owner exists: still refused

    with pytest.raises(Conflict, match="Ask another owner"), db.write_session(engine) as session:
        members.set_active(session, actor_of(owner), owner.id, False)

    assert fetch(engine, User, owner.id).status == UserStatus.ACTIVE


def test_another_owner_can_be_deactivated(engine, owner, organization):
    second = _member(engine, organization, Role.OWNER)

    with db.write_session(engine) as session:
        members.set_active(session, actor_of(owner), second.id, False)

    assert fetch(engine, User, second.id).status == UserStatus.DEACTIVATED


def test_the_members_list_shows_each_member_with_their_last_sign_in(engine, owner, organization):
    member = _member(engine, organization, Role.VIEWER)
    log_in(engine, member.email, PASSWORD, now=NOW)
    log_in(engine, member.email, PASSWORD, now=NOW + timedelta(days=1))
    with db.write_session(engine) as session:
        stranger = make_user(session, role=Role.VIEWER)  # another organization's
    listing = member_queries.members_listing(actor_of(owner))
    with db.read_session(engine) as session:
        page = fetch_page(session, listing, ListQuery(sort="created", descending=False))
        viewers = fetch_page(session, listing, ListQuery(filters={"role": "viewer"}))

    assert [row["email"] for row in page.rows] == [owner.email, member.email]
    assert [row["last_sign_in"] for row in page.rows] == [None, NOW + timedelta(days=1)]
    assert [row["email"] for row in viewers.rows] == [member.email]
    assert stranger.email not in [row["email"] for row in page.rows]


def test_the_users_lists_are_refused_to_roles_that_do_not_invite(engine, organization):
    viewer: Actor = actor_of(_member(engine, organization, Role.VIEWER))

    with pytest.raises(PermissionDenied):
        member_queries.members_listing(viewer)
    with pytest.raises(PermissionDenied), db.read_session(engine) as session:
        member_queries.pending_invitations(session, viewer)


def test_two_owners_demoting_each_other_at_once_leave_one_owner(concurrent_engine):
    engine = concurrent_engine
    with db.write_session(engine) as session:
        organization = make_organization(session)
        first = make_user(session, organization=organization, role=Role.OWNER)
        second = make_user(session, organization=organization, role=Role.OWNER)

    def demote(actor: User, member: User) -> str:
        try:
            with db.write_session(engine) as session:
                members.change_role(session, actor_of(actor), member.id, Role.ADMIN)
        except Conflict as refused:
            return refused.message
        return "demoted"

    outcomes = race([lambda: demote(first, second), lambda: demote(second, first)], threads=2)

    assert sorted(outcome == "demoted" for outcome in outcomes) == [False, True]
    with db.read_session(engine) as session:
        roles = session.exec(select(User.role).where(User.organization_id == organization.id)).all()
    assert sorted(roles) == [Role.ADMIN, Role.OWNER]
