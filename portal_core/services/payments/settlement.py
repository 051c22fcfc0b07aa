"""Settlement: the only module that posts card payments, their refunds and their disputes to
the ledger, and says what became of a payment.

**Payments.** A payment is credited once, under the ledger key ``payment:<id>``, whoever
settles it: the sandbox's charge, Stripe's webhook, reconciliation. The payment's row is
locked while it is settled, refunded or disputed, so two events of one payment take turns and
the second sees the first's. A receipt goes to the member who paid; an auto-recharge's
receipt goes to the owners and billing members.

**Refunds** (``record_refund``). A refund gives back part or all of what the card was charged
(amount + convenience fee). The convenience fee never reached the balance, so a refund takes
from the balance only its share of the amount: refunding X of a payment that credited A for a
total T takes X × A ÷ T, rounded half-up. Shares are computed on the running total refunded
(f(before + X) − f(before), f(c) = c × A ÷ T rounded half-up), so however a payment is
refunded in parts, the parts add up to exactly A when all of T is refunded. Each refund is
posted once, under the ledger key ``refund:<gateway>:<Stripe's re_… id>`` (the portal's own
id for a sandbox refund), even when it takes the balance below zero. The payment becomes
*partially refunded*, then *refunded*.

**Disputes** (``open_dispute``, ``close_dispute``). A chargeback takes the disputed amount's
share of the balance (the same share as a refund) when it opens (ledger key
``dispute:<gateway>:<dp_…>``), even below zero, and gives it back if the dispute is won
(``dispute-won:…``); a lost dispute leaves it taken and the payment *charged back*. An
inquiry (Stripe's ``warning_*`` statuses) takes nothing. Stripe's dispute fee is a matter
between SIPSTACK and Stripe and is never posted to a partner.

Each refund and dispute is told to the organization's members who may read Billing (a notice,
and an e-mail to its owners and billing members) and to SIPSTACK's staff (a staff notice).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlmodel import Session, select

from portal_core import emails
from portal_core.errors import (
    NotFound,
)
from portal_core.mail import send_after_commit
from portal_core.models.accounts import Organization, Role, User, UserStatus
from portal_core.models.base import utcnow
from portal_core.models.billing import EntryKind
from portal_core.models.notices import NoticeKind
from portal_core.models.payments import (
    SETTLED_STATUSES,
    Dispute,
    DisputeStatus,
    GatewayName,
    Payment,
    PaymentSource,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from portal_core.money import format_cents
from portal_core.permissions import Capability
from portal_core.queries.members import members_who_may
from portal_core.rules.payments import balance_share, refund_share
from portal_core.services import ledger, notices

log = logging.getLogger(__name__)


def credit_payment(
    session: Session,
    payment: Payment,
    *,
    payment_intent_ref: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Credit a successful payment's amount to the balance, once (ledger key
    ``payment:<id>``), mark it succeeded, and queue its receipt. ``payment_intent_ref`` is
    the PaymentIntent that charged the card, when the gateway's answer named one (refunds
    and disputes name it). Returns whether this call credited it (``False``: it already
    was)."""
    now = now or utcnow()
    payment = _locked(session, payment.id)
    if payment.status in SETTLED_STATUSES:
        return False
    entry = ledger.post_entry(
        session,
        organization_id=payment.organization_id,
        kind=EntryKind.PAYMENT,
        amount_cents=payment.amount_cents,
        idempotency_key=f"payment:{payment.id}",
        memo=f"Card payment {payment.reference}, {payment.card_label}",
        created_by=payment.created_by,
        now=now,
    )
    payment.status = PaymentStatus.SUCCEEDED
    payment.ledger_entry_id = entry.id
    payment.payment_intent_ref = (
        payment_intent_ref
        or payment.payment_intent_ref
        or (payment.gateway_ref if (payment.gateway_ref or "").startswith("pi_") else None)
    )
    payment.failure_message = None
    payment.settled_at = now
    payment.updated_at = now
    session.add(payment)
    session.flush()
    automatic = payment.source == PaymentSource.AUTO_RECHARGE
    for email, name in _receipt_recipients(session, payment):
        send_after_commit(
            session,
            emails.payment_receipt(
                email,
                name,
                reference=payment.reference,
                card_label=payment.card_label,
                amount_cents=payment.amount_cents,
                fee_cents=payment.fee_cents,
                total_cents=payment.total_cents,
                automatic=automatic,
            ),
        )
    return True


def fail_payment(
    session: Session,
    payment: Payment,
    message: str,
    *,
    status: PaymentStatus = PaymentStatus.FAILED,
    notify: bool = True,
    now: datetime | None = None,
) -> bool:
    """Record that ``payment`` did not go through (``FAILED``, or ``REQUIRES_ACTION`` when
    the bank asked for the cardholder), with the reason; a settled payment stays settled.
    A portal payment's failure posts a ``PAYMENT_FAILED`` notice for those who read Billing
    (auto-recharge posts its own). Returns whether the status changed."""
    now = now or utcnow()
    payment = _locked(session, payment.id)
    if payment.status in (*SETTLED_STATUSES, status):
        return False
    payment.status = status
    payment.failure_message = message[:300]
    payment.updated_at = now
    session.add(payment)
    session.flush()
    if notify and payment.source == PaymentSource.PORTAL:
        notices.post(
            session,
            organization_id=payment.organization_id,
            kind=NoticeKind.PAYMENT_FAILED,
            title="A card payment was declined",
            body=(
                f"{format_cents(payment.total_cents)} with {payment.card_label} "
                f"({payment.reference}): {message} Nothing was added to the balance."
            ),
            dedupe_key=f"payment-failed:{payment.id}",
            capability=Capability.BILLING_READ,
            link_page_id="billing.payments",
        )
    return True


def _locked(session: Session, payment_id: uuid.UUID) -> Payment:
    """The payment, re-read and locked until commit, so two settlements of one payment (two
    webhook events, a webhook and a sweep) take turns and the second sees the first's."""
    payment = session.exec(
        select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if payment is None:
        raise NotFound("That payment was not found.")
    return payment


def _receipt_recipients(session: Session, payment: Payment) -> list[tuple[str, str]]:
    """(e-mail, name) of the member who paid; for an auto-recharge (nobody paid), of its
    owners and billing members."""
    if payment.source == PaymentSource.PORTAL and payment.created_by is not None:
        user = session.get(User, payment.created_by)
        active = user is not None and user.status == UserStatus.ACTIVE
        return [(user.email, user.name)] if active and user is not None else []
    return [
        (member.email, member.name)
        for member in members_who_may(
            session,
            payment.organization_id,
            Capability.BILLING_READ,
            among=(Role.OWNER, Role.BILLING),
        )
    ]


def mail_failure(session: Session, payment: Payment, reason: str) -> None:
    """E-mail the member who paid that their payment did not go through."""
    user = session.get(User, payment.created_by) if payment.created_by else None
    if user is None or user.status != UserStatus.ACTIVE:
        return
    send_after_commit(
        session,
        emails.payment_failed(
            user.email,
            user.name,
            reference=payment.reference,
            card_label=payment.card_label,
            total_cents=payment.total_cents,
            reason=reason,
        ),
    )


# --- Refunds -----------------------------------------------------------------------------------


def record_refund(
    session: Session,
    payment: Payment,
    *,
    amount_cents: int,
    gateway_ref: str | None,
    reason: str = "",
    refund: Refund | None = None,
    created_by: uuid.UUID | None = None,
    now: datetime | None = None,
) -> Refund | None:
    """Post a refund of ``amount_cents`` (of the total charged) of a settled payment, once.

    ``refund`` is the portal's own row of a refund staff asked for (saved before the gateway
    was called); without it, the refund is the gateway's (Stripe's dashboard, or a staff
    refund whose answer was never recorded), found or made by ``gateway_ref``. A refund
    already posted changes nothing. ``None`` when the payment never reached the balance.
    """
    now = now or utcnow()
    payment = _locked(session, payment.id)
    if refund is None and gateway_ref is not None:
        refund = session.exec(
            select(Refund).where(
                Refund.gateway == payment.gateway, Refund.gateway_ref == gateway_ref
            )
        ).first()
    if refund is not None and refund.ledger_entry_id is not None:
        return refund
    if payment.status not in SETTLED_STATUSES:
        log.error("Refund %s of payment %s, which never settled", gateway_ref, payment.id)
        return None
    refundable = payment.total_cents - payment.refunded_cents
    amount = max(min(amount_cents, refundable), 0)
    share = refund_share(payment.amount_cents, payment.total_cents, payment.refunded_cents, amount)
    if refund is None:
        refund = Refund(
            organization_id=payment.organization_id,
            payment_id=payment.id,
            gateway=payment.gateway,
            amount_cents=amount,
            status=RefundStatus.SUCCEEDED,
            reason=reason[:300],
            created_at=now,
            updated_at=now,
            created_by=created_by,
        )
    refund.gateway_ref = gateway_ref or refund.gateway_ref
    refund.amount_cents = amount
    refund.balance_cents = share
    refund.status = RefundStatus.SUCCEEDED
    refund.updated_at = now
    session.add(refund)
    session.flush()
    entry = ledger.post_entry(
        session,
        organization_id=payment.organization_id,
        kind=EntryKind.REFUND,
        amount_cents=-share,
        idempotency_key=f"refund:{payment.gateway}:{refund.gateway_ref or refund.id}",
        memo=f"Refund to {payment.card_label} of card payment {payment.reference}",
        created_by=created_by,
        now=now,
    )
    refund.ledger_entry_id = entry.id
    payment.refunded_cents += amount
    if payment.status not in (PaymentStatus.DISPUTED, PaymentStatus.CHARGED_BACK):
        payment.status = (
            PaymentStatus.REFUNDED
            if payment.refunded_cents >= payment.total_cents
            else PaymentStatus.PARTIALLY_REFUNDED
        )
    payment.updated_at = now
    session.add_all([refund, payment])
    session.flush()
    _tell(
        session,
        payment,
        kind=NoticeKind.PAYMENT_REFUNDED,
        title=f"{format_cents(amount)} refunded to {payment.card_label}",
        body=(
            f"{format_cents(amount)} of card payment {payment.reference} "
            f"({format_cents(payment.total_cents)} charged) went back to {payment.card_label}; "
            f"{format_cents(share)} left your balance (the convenience fee was never part of "
            "it)."
        ),
        dedupe_key=f"refund:{refund.id}",
        now=now,
    )
    return refund


# --- Disputes ----------------------------------------------------------------------------------

# Stripe's statuses of a dispute that holds nothing back yet, and of one closed in the
# cardholder's favour or the merchant's.
INQUIRY_STATUSES = ("warning_needs_response", "warning_under_review", "warning_closed")
WON_STATUSES = ("won", "warning_closed")


def open_dispute(
    session: Session,
    payment: Payment,
    *,
    gateway_ref: str,
    amount_cents: int,
    status: str,
    reason: str = "",
    now: datetime | None = None,
) -> Dispute:
    """A dispute of ``payment`` was opened: take its share of the balance, once (nothing for
    an inquiry), and mark the payment disputed."""
    now = now or utcnow()
    payment = _locked(session, payment.id)
    dispute = _dispute(session, payment, gateway_ref, amount_cents, reason, now)
    if dispute.debit_entry_id is not None or dispute.status in (
        DisputeStatus.WON,
        DisputeStatus.LOST,
    ):
        return dispute
    if status in INQUIRY_STATUSES:
        dispute.status = DisputeStatus.INQUIRY
        session.add(dispute)
        session.flush()
        return dispute
    _hold_back(session, payment, dispute, now)
    return dispute


def close_dispute(
    session: Session,
    payment: Payment,
    *,
    gateway_ref: str,
    amount_cents: int,
    status: str,
    reason: str = "",
    now: datetime | None = None,
) -> Dispute:
    """A dispute of ``payment`` was decided: a won one gives back what it held, once; a lost
    one keeps it (taking it now if its opening was never heard of)."""
    now = now or utcnow()
    payment = _locked(session, payment.id)
    dispute = _dispute(session, payment, gateway_ref, amount_cents, reason, now)
    if dispute.status in (DisputeStatus.WON, DisputeStatus.LOST):
        return dispute
    won = status in WON_STATUSES
    if not won and dispute.debit_entry_id is None:
        _hold_back(session, payment, dispute, now)
    if won and dispute.debit_entry_id is not None:
        entry = ledger.post_entry(
            session,
            organization_id=payment.organization_id,
            kind=EntryKind.CHARGEBACK_REVERSAL,
            amount_cents=dispute.balance_cents,
            idempotency_key=f"dispute-won:{payment.gateway}:{gateway_ref}",
            memo=f"Dispute of card payment {payment.reference} won: funds returned",
            now=now,
        )
        dispute.credit_entry_id = entry.id
    dispute.status = DisputeStatus.WON if won else DisputeStatus.LOST
    dispute.closed_at = now
    payment.status = _undisputed_status(payment) if won else PaymentStatus.CHARGED_BACK
    payment.updated_at = now
    session.add_all([dispute, payment])
    session.flush()
    _tell(
        session,
        payment,
        kind=NoticeKind.DISPUTE_WON if won else NoticeKind.DISPUTE_LOST,
        title=(
            f"Dispute of {payment.reference} won" if won else f"Dispute of {payment.reference} lost"
        ),
        body=(
            f"The dispute of card payment {payment.reference} was decided in your favour: "
            f"{format_cents(dispute.balance_cents)} is back in your balance."
            if won
            else f"The dispute of card payment {payment.reference} was decided for the "
            f"cardholder: the {format_cents(dispute.balance_cents)} held back stays charged back."
        ),
        dedupe_key=f"dispute-closed:{dispute.id}",
        now=now,
    )
    return dispute


def _dispute(
    session: Session,
    payment: Payment,
    gateway_ref: str,
    amount_cents: int,
    reason: str,
    now: datetime,
) -> Dispute:
    found = session.exec(
        select(Dispute).where(
            Dispute.gateway == payment.gateway, Dispute.gateway_ref == gateway_ref
        )
    ).first()
    if found is not None:
        return found
    dispute = Dispute(
        organization_id=payment.organization_id,
        payment_id=payment.id,
        gateway=GatewayName(payment.gateway),
        gateway_ref=gateway_ref,
        amount_cents=amount_cents,
        balance_cents=balance_share(
            payment.amount_cents, payment.total_cents, min(amount_cents, payment.total_cents)
        ),
        status=DisputeStatus.OPEN,
        reason=reason[:80],
        opened_at=now,
    )
    session.add(dispute)
    session.flush()
    return dispute


def _hold_back(session: Session, payment: Payment, dispute: Dispute, now: datetime) -> None:
    entry = ledger.post_entry(
        session,
        organization_id=payment.organization_id,
        kind=EntryKind.CHARGEBACK,
        amount_cents=-dispute.balance_cents,
        idempotency_key=f"dispute:{payment.gateway}:{dispute.gateway_ref}",
        memo=f"Card payment {payment.reference} disputed by the cardholder's bank",
        now=now,
    )
    dispute.debit_entry_id = entry.id
    dispute.status = DisputeStatus.OPEN
    payment.status = PaymentStatus.DISPUTED
    payment.updated_at = now
    session.add_all([dispute, payment])
    session.flush()
    _tell(
        session,
        payment,
        kind=NoticeKind.PAYMENT_DISPUTED,
        title=f"Card payment {payment.reference} disputed",
        body=(
            f"The bank of {payment.card_label} disputed card payment {payment.reference} "
            f"({format_cents(dispute.amount_cents)}): {format_cents(dispute.balance_cents)} is "
            "held back from your balance until the dispute is decided."
        ),
        dedupe_key=f"dispute-opened:{dispute.id}",
        now=now,
    )


def _undisputed_status(payment: Payment) -> PaymentStatus:
    if payment.refunded_cents >= payment.total_cents:
        return PaymentStatus.REFUNDED
    if payment.refunded_cents > 0:
        return PaymentStatus.PARTIALLY_REFUNDED
    return PaymentStatus.SUCCEEDED


def _tell(
    session: Session,
    payment: Payment,
    *,
    kind: NoticeKind,
    title: str,
    body: str,
    dedupe_key: str,
    now: datetime,
) -> None:
    """The organization's members who may read Billing (a notice; an e-mail to its owners and
    billing members) and SIPSTACK's staff (a staff notice) hear of a refund or a dispute."""
    notices.post(
        session,
        organization_id=payment.organization_id,
        kind=kind,
        title=title,
        body=body,
        dedupe_key=dedupe_key,
        capability=Capability.BILLING_READ,
        link_page_id="billing.payments",
        now=now,
    )
    organization = session.get(Organization, payment.organization_id)
    notices.post_for_staff(
        session,
        kind=kind,
        title=f"{organization.name if organization else 'An organization'}: {title}",
        body=body,
        dedupe_key=f"staff:{dedupe_key}",
        link_page_id="staff.billing",
        now=now,
    )
    for member in members_who_may(
        session,
        payment.organization_id,
        Capability.BILLING_READ,
        among=(Role.OWNER, Role.BILLING),
    ):
        send_after_commit(
            session, emails.payment_changed(member.email, member.name, subject=title, body=body)
        )
