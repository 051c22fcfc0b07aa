"""Organization › Access › Users and the join page, as each role sees them
(docs/product.md, Pages › Users)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select
from streamlit.testing.v1 import AppTest

from portal_core import db
from portal_core.models.access import Invitation
from portal_core.models.accounts import Organization, OrganizationStatus, Role, User, UserStatus
from portal_core.models.base import utcnow
from portal_core.models.billing import EntryKind
from portal_core.models.payments import ClosingRefund, ClosingRefundStatus
from portal_core.queries.billing import funds_of
from portal_core.services import auth, ledger, members, sessions
from portal_core.services.payments import refunds, top_ups
from portal_core.settings import ROOT
from portal_core.ui import state
from tests.factories import (
    actor_of,
    change_subscription,
    fund,
    log_in,
    make_user,
    organization_of,
    record_usage,
)
from tests.pages.conftest import (
    NOT_YOUR_ROLE,
    Portal,
    RefundsUnanswered,
    add_card,
    make_member,
    plain,
    refused,
)
from tests.services.support import STRONG_PASSWORD, mail_to, token_in

PAGE = "pages/access_users.py"
JOIN = "pages/join.py"
INVITEE = "ines.moreau@example.com"


def _colleague(portal: Portal, of: User, role: Role, **fields: object) -> User:
    with db.write_session(portal.engine) as session:
        return make_user(session, organization=organization_of(session, of), role=role, **fields)  # type: ignore[arg-type]


def _invite_through_the_form(app: AppTest, email: str, role: Role) -> AppTest:
    app.text_input(key="users.invite.email").input(email)
    app.selectbox(key="users.invite.role").set_value(role)
    [send] = [button for button in app.button if button.label == "Send invitation"]
    send.click()
    return app.run()


def _invitations(portal: Portal) -> list[tuple[str, str]]:
    with db.read_session(portal.engine) as session:
        rows = session.exec(
            select(Invitation.email, Invitation.role).where(col(Invitation.cancelled_at).is_(None))
        ).all()
    return [(email, role) for email, role in rows]


@pytest.mark.parametrize("role", [Role.BILLING, Role.DEVELOPER, Role.VIEWER])
def test_the_roles_that_do_not_invite_are_refused(portal: Portal, role: Role) -> None:
    app = portal.open(PAGE, as_user=make_member(portal, role))

    assert refused(app)
    assert NOT_YOUR_ROLE in plain(app)
    assert "Invite a member" not in [expander.label for expander in app.expander]


def test_an_owner_sees_the_members_and_may_invite_any_role(portal: Portal) -> None:
    owner = make_member(portal, Role.OWNER)
    viewer = _colleague(portal, owner, Role.VIEWER, name="Theo Lambert")

    app = portal.open(PAGE, as_user=owner)

    assert not app.exception
    [table] = app.dataframe
    assert set(table.value["email"]) == {owner.email, viewer.email}
    assert set(table.value["role"]) == {"Owner", "Viewer"}
    assert app.selectbox(key="users.invite.role").options == [
        "Owner",
        "Admin",
        "Billing",
        "Developer",
        "Viewer",
    ]
    assert "Select a member to change their role or deactivate them." in plain(app)


def test_an_admin_is_not_offered_the_owner_role(portal: Portal) -> None:
    admin = make_member(portal, Role.ADMIN)

    app = portal.open(PAGE, as_user=admin)

    assert app.selectbox(key="users.invite.role").options == [
        "Admin",
        "Billing",
        "Developer",
        "Viewer",
    ]
    app = _invite_through_the_form(app, INVITEE, Role.ADMIN)
    assert _invitations(portal) == [(INVITEE, "admin")]
    assert "Only an owner changes roles or deactivates a member." in plain(app)


def test_inviting_through_the_form_sends_the_link_and_lists_it_pending(
    portal: Portal, outbox_dir
) -> None:
    owner = make_member(portal, Role.OWNER)
    app = portal.open(PAGE, as_user=owner)

    app = _invite_through_the_form(app, INVITEE, Role.DEVELOPER)

    assert not app.exception
    assert f"Invitation sent to `{INVITEE}` as Developer." in plain(app)
    assert "Pending invitations (1)" in plain(app)
    assert _invitations(portal) == [(INVITEE, "developer")]
    assert len(mail_to(outbox_dir, INVITEE)) == 1


def test_a_bad_address_is_refused_beside_its_field_and_nothing_is_sent(
    portal: Portal, outbox_dir
) -> None:
    owner = make_member(portal, Role.OWNER)
    app = portal.open(PAGE, as_user=owner)

    app = _invite_through_the_form(app, "not an address", Role.VIEWER)

    assert "Enter a valid e-mail address, such as name@company.com." in plain(app)
    assert _invitations(portal) == []
    assert "Pending invitations (0)" in plain(app)


def test_an_address_with_an_account_is_refused_with_the_reason(portal: Portal) -> None:
    owner = make_member(portal, Role.OWNER)
    other = make_member(portal, Role.VIEWER)  # of another organization
    app = portal.open(PAGE, as_user=owner)

    app = _invite_through_the_form(app, other.email, Role.VIEWER)

    assert "already has a SIPSTACK account" in plain(app)
    assert _invitations(portal) == []


def test_resend_and_cancel_act_on_a_pending_invitation(portal: Portal, outbox_dir) -> None:
    owner = make_member(portal, Role.OWNER)
    with db.write_session(portal.engine) as session:
        invitation_id = members.invite(session, actor_of(owner), INVITEE, Role.VIEWER)
    app = portal.open(PAGE, as_user=owner)
    assert "Pending invitations (1)" in plain(app)

    app.button(key=f"users.invitation.{invitation_id}.resend").click()
    app = app.run()

    assert f"A new link went to `{INVITEE}`; the old one no longer works." in plain(app)
    assert len(mail_to(outbox_dir, INVITEE)) == 2
    with db.read_session(portal.engine) as session:
        [live] = session.exec(
            select(Invitation.id).where(col(Invitation.cancelled_at).is_(None))
        ).all()
    app.button(key=f"users.invitation.{live}.cancel").click()
    app = app.run()

    assert f"The invitation to `{INVITEE}` is cancelled." in plain(app)
    assert "Pending invitations (0)" in plain(app)
    assert _invitations(portal) == []


def test_an_owner_deactivates_a_member_after_confirming_and_their_session_ends(
    portal: Portal, outbox_dir
) -> None:
    owner = make_member(portal, Role.OWNER)
    member = _colleague(portal, owner, Role.DEVELOPER, name="Theo Lambert")
    handle = log_in(portal.engine, member)
    app = portal.open(PAGE, as_user=owner, query_params={"member": member.id})
    assert "Theo Lambert" in [str(sub.value) for sub in app.subheader]

    app.button(key=f"users.member.{member.id}.deactivate").click()
    app = app.run()
    assert "is logged out everywhere at once" in plain(app)
    with db.read_session(portal.engine) as session:
        assert session.get(User, member.id).status == UserStatus.ACTIVE  # type: ignore[union-attr]
    app.button(key="users.change.confirm").click()
    app = app.run()

    assert f"Theo Lambert (`{member.email}`) is deactivated; their sessions have ended." in plain(
        app
    )
    with db.read_session(portal.engine) as session:
        assert session.get(User, member.id).status == UserStatus.DEACTIVATED  # type: ignore[union-attr]
        assert sessions.resolve(session, handle) is None
    assert "Reactivate" in [button.label for button in app.button]


def test_an_owner_cannot_deactivate_themselves_from_the_page(portal: Portal) -> None:
    owner = make_member(portal, Role.OWNER)

    app = portal.open(PAGE, as_user=owner, query_params={"member": owner.id})

    assert "You cannot deactivate yourself: another owner can." in plain(app)
    assert "Deactivate" not in [button.label for button in app.button]


def test_a_role_change_to_owner_asks_first_and_other_changes_apply_at_once(
    portal: Portal, outbox_dir
) -> None:
    owner = make_member(portal, Role.OWNER)
    member = _colleague(portal, owner, Role.VIEWER, name="Theo Lambert")
    app = portal.open(PAGE, as_user=owner, query_params={"member": member.id})

    app.selectbox(key=f"users.member.{member.id}.role").set_value(Role.DEVELOPER)
    [change] = [button for button in app.button if button.label == "Change role"]
    change.click()
    app = app.run()
    assert f"Theo Lambert (`{member.email}`) is now Developer." in plain(app)

    app = portal.open(PAGE, as_user=owner, query_params={"member": member.id})
    app.selectbox(key=f"users.member.{member.id}.role").set_value(Role.OWNER)
    [change] = [button for button in app.button if button.label == "Change role"]
    change.click()
    app = app.run()
    assert "becomes **Owner**" in plain(app)
    with db.read_session(portal.engine) as session:
        assert session.get(User, member.id).role == Role.DEVELOPER  # type: ignore[union-attr]
    app.button(key="users.change.confirm").click()
    app = app.run()

    assert f"Theo Lambert (`{member.email}`) is now Owner." in plain(app)
    with db.read_session(portal.engine) as session:
        assert session.get(User, member.id).role == Role.OWNER  # type: ignore[union-attr]


def test_the_last_owner_demoting_themselves_is_told_why_not(portal: Portal) -> None:
    owner = make_member(portal, Role.OWNER)
    app = portal.open(PAGE, as_user=owner, query_params={"member": owner.id})

    app.selectbox(key=f"users.member.{owner.id}.role").set_value(Role.ADMIN)
    [change] = [button for button in app.button if button.label == "Change role"]
    change.click()
    app = app.run()
    app.button(key="users.change.confirm").click()
    app = app.run()

    assert "last active owner" in plain(app)
    with db.read_session(portal.engine) as session:
        assert session.get(User, owner.id).role == Role.OWNER  # type: ignore[union-attr]


def test_an_admin_sees_a_member_but_not_the_owners_controls(portal: Portal) -> None:
    admin = make_member(portal, Role.ADMIN)
    member = _colleague(portal, admin, Role.VIEWER, name="Theo Lambert")

    app = portal.open(PAGE, as_user=admin, query_params={"member": member.id})

    assert "Theo Lambert" in [str(sub.value) for sub in app.subheader]
    labels = [button.label for button in app.button]
    assert "Deactivate" not in labels and "Change role" not in labels


# --- Joining -------------------------------------------------------------------------------


def _invited(portal: Portal, outbox_dir, role: Role = Role.DEVELOPER) -> tuple[User, str]:
    owner = make_member(portal, Role.OWNER)
    with db.write_session(portal.engine) as session:
        members.invite(session, actor_of(owner), INVITEE, role)
    return owner, token_in(mail_to(outbox_dir, INVITEE)[-1])


def _fill_join(
    app: AppTest, *, password: str = STRONG_PASSWORD, repeat: str | None = None
) -> AppTest:
    fields = {field.label: field for field in app.text_input}
    fields["Your name"].input("Ines Moreau")
    fields["Password"].input(password)
    fields["Repeat it"].input(password if repeat is None else repeat)
    app.checkbox[0].check()
    [join] = [button for button in app.button if button.label == "Join"]
    join.click()
    return app.run()


def test_the_join_page_makes_the_member_who_then_logs_in_with_the_role(
    portal: Portal, outbox_dir
) -> None:
    owner, secret = _invited(portal, outbox_dir, Role.BILLING)
    app = portal.open(JOIN, query_params={"token": secret})
    assert f"invites `{INVITEE}` to the SIPSTACK Partner Portal as **Billing**" in plain(app)

    app = _fill_join(app)

    assert not app.exception
    assert "Log in with your e-mail and the password you just chose." in plain(app)
    with db.read_session(portal.engine) as session:
        joined = session.exec(select(User).where(User.email == INVITEE)).one()
    assert (joined.role, joined.status) == (Role.BILLING, UserStatus.ACTIVE)
    assert joined.organization_id == owner.organization_id
    with db.write_session(portal.engine) as session:
        handle = auth.log_in(session, INVITEE, STRONG_PASSWORD, ip_address="203.0.113.9").handle
    for script, opens in (("pages/billing_overview.py", True), (PAGE, False)):
        page = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=30)
        page.session_state[state.SESSION_HANDLE] = handle
        page.switch_page(script)
        page = page.run()
        assert refused(page) is not opens


def test_two_different_passwords_are_refused_and_nothing_is_written(
    portal: Portal, outbox_dir
) -> None:
    _, secret = _invited(portal, outbox_dir)
    app = portal.open(JOIN, query_params={"token": secret})

    app = _fill_join(app, repeat="Something-Else-Entirely-7")

    assert "The two passwords differ." in plain(app)
    with db.read_session(portal.engine) as session:
        assert session.exec(select(User).where(User.email == INVITEE)).first() is None


def test_an_expired_link_shows_why_and_no_form(portal: Portal, outbox_dir) -> None:
    _, secret = _invited(portal, outbox_dir)
    with db.write_session(portal.engine) as session:
        for invitation in session.exec(select(Invitation)).all():
            invitation.expires_at = utcnow() - timedelta(minutes=1)
            session.add(invitation)

    app = portal.open(JOIN, query_params={"token": secret})

    assert "This invitation has expired. Ask whoever invited you to send a new one." in plain(app)
    assert "Join" not in [button.label for button in app.button]


def test_a_used_link_shows_why(portal: Portal, outbox_dir) -> None:
    _, secret = _invited(portal, outbox_dir)
    _fill_join(portal.open(JOIN, query_params={"token": secret}))

    app = portal.open(JOIN, query_params={"token": secret})

    assert "This invitation has already been used." in plain(app)


def test_the_join_page_without_a_link_says_where_to_find_it(portal: Portal) -> None:
    app = portal.open(JOIN)

    assert "Open this page from the link in your invitation e-mail." in plain(app)


# --- Closing the organization --------------------------------------------------------------


def _close_through_the_form(app: AppTest, typed: str) -> AppTest:
    app.text_input(key="users.close.name").input(typed)
    [close] = [button for button in app.button if button.label == "Close the organization"]
    close.click()
    return app.run()


def test_only_an_owner_is_offered_the_danger_zone(portal: Portal) -> None:
    owner = make_member(portal, Role.OWNER)
    admin = _colleague(portal, owner, Role.ADMIN)

    owners = portal.open(PAGE, as_user=owner)
    admins = portal.open(PAGE, as_user=admin)

    assert "Danger zone" in plain(owners)
    assert "Every member, you included, is deactivated and logged out at once." in plain(owners)
    assert "Members" in plain(admins) and "Danger zone" not in plain(admins)


def test_the_closing_dialog_says_the_last_invoice_bills_the_whole_months_fee_and_usage(
    portal: Portal,
) -> None:
    owner = make_member(portal, Role.OWNER)
    month = utcnow().astimezone(ZoneInfo("America/Toronto"))  # the billing time zone's month
    with db.write_session(portal.engine) as session:
        organization = organization_of(session, owner)
        change_subscription(session, organization, plan_code="starter")
        fund(session, organization, 10_000)
        record_usage(session, organization.id, f"{month:%Y-%m}", 500, made_at=utcnow())

    app = portal.open(PAGE, as_user=owner)

    said = plain(app)
    assert f"The last invoice, for {month:%B %Y}," in said
    assert (
        "bills the month's subscription fee in full, $30.00: it is not prorated, so closing "
        "before the month ends does not lower it; the usage to date beyond your allowance, "
        "$1.50 so far; and the taxes on them."
    ) in said
    assert "Close the organization" in [button.label for button in app.button]


def test_the_closing_dialog_says_when_there_is_no_last_invoice(portal: Portal) -> None:
    owner = make_member(portal, Role.OWNER)  # on Free, nothing used

    app = portal.open(PAGE, as_user=owner)

    month = utcnow().astimezone(ZoneInfo("America/Toronto"))
    assert f"**No last invoice:** there is nothing to bill for {month:%B %Y}." in plain(app)


def test_closing_is_refused_on_the_page_while_a_balance_is_owing(portal: Portal) -> None:
    owner = make_member(portal, Role.OWNER)
    with db.write_session(portal.engine) as session:
        ledger.post_entry(
            session,
            organization_id=owner.organization_id,  # type: ignore[arg-type]
            kind=EntryKind.ADJUSTMENT,
            amount_cents=-1_999,
            idempotency_key="owing",
            memo="Owed",
        )

    app = portal.open(PAGE, as_user=owner)

    assert "owes $19.99: pay it before closing the organization." in plain(app)
    assert "Close the organization" not in [button.label for button in app.button]


def test_an_owner_closes_the_organization_by_typing_its_name(portal: Portal) -> None:
    owner = make_member(portal, Role.OWNER)  # on Free: nothing to invoice
    with db.read_session(portal.engine) as session:
        name = session.get_one(Organization, owner.organization_id).name
    app = portal.open(PAGE, as_user=owner)

    app = _close_through_the_form(app, "not the name")
    assert "Type your organization's name exactly as it is shown to confirm." in plain(app)

    app = portal.open(PAGE, as_user=owner)
    app = _close_through_the_form(app, name)

    assert not app.exception
    assert f"{name} is closed:" in plain(app)
    with db.read_session(portal.engine) as session:
        closed = session.get_one(Organization, owner.organization_id)
        assert closed.status == OrganizationStatus.DEACTIVATED
        assert session.get_one(User, owner.id).status == UserStatus.DEACTIVATED


def _owner_who_paid_by_card(portal: Portal, cents: int) -> tuple[User, str]:
    """The owner of an organization on Free (nothing to invoice) that paid ``cents`` by
    card, and the organization's name."""
    owner = make_member(portal, Role.OWNER)
    card = add_card(portal, owner)
    with db.write_session(portal.engine) as session:
        top_ups.add_funds(
            session,
            actor_of(owner),
            payment_method_id=card.id,
            amount_cents=cents,
            idempotency_key="before-closing",
        )
        return owner, session.get_one(Organization, owner.organization_id).name


def test_closing_gives_the_balance_back_to_the_card_that_paid_it(portal: Portal) -> None:
    owner, name = _owner_who_paid_by_card(portal, 5_000)
    app = portal.open(PAGE, as_user=owner)

    app = _close_through_the_form(app, name)

    assert "your balance of $50.00 refunded to your cards" in plain(app)
    with db.read_session(portal.engine) as session:
        assert funds_of(session, owner.organization_id).balance_cents == 0  # type: ignore[arg-type]


def test_a_refund_the_card_processor_does_not_answer_is_said_to_be_tried_again(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, name = _owner_who_paid_by_card(portal, 5_000)
    monkeypatch.setattr(refunds, "gateway_for", RefundsUnanswered)
    app = portal.open(PAGE, as_user=owner)

    app = _close_through_the_form(app, name)

    assert not app.exception
    assert (
        "$50.00 goes back to your cards as soon as the card processor answers: it is tried "
        "again every few minutes"
    ) in plain(app)
    with db.read_session(portal.engine) as session:
        assert funds_of(session, owner.organization_id).balance_cents == 5_000  # type: ignore[arg-type]
        task = session.get_one(ClosingRefund, owner.organization_id)
    assert (task.status, task.attempts) == (ClosingRefundStatus.PENDING, 1)
