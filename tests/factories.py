"""Factories: valid objects with random defaults, saved through the given session.

They write rows directly (not through services) so a test states only what it is about;
passwords all share one precomputed hash, since bcrypt is slow by design.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, update
from sqlmodel import Session, col

from portal_core import db
from portal_core.models.accounts import BrandDomain, Organization, Role, User, UserStatus
from portal_core.models.base import utcnow
from portal_core.models.billing import (
    SINCE_ALWAYS,
    BillingAccount,
    BillingCycle,
    EntryKind,
    LedgerEntry,
    LookupType,
    Subscription,
    UsageRecord,
)
from portal_core.models.payments import AutoRecharge, GatewayName, PaymentMethod
from portal_core.permissions import Actor
from portal_core.rules.plans import next_boundary
from portal_core.services import auth, in_force, ledger, subscriptions

PASSWORD = "Factory-Lantern-Harbor-77"


@lru_cache(maxsize=1)
def password_hash() -> str:
    from portal_core.services.passwords import hash_password

    return hash_password(PASSWORD)


def random_suffix() -> str:
    return uuid.uuid4().hex[:10]


def make_organization(
    session: Session,
    *,
    name: str | None = None,
    active: bool = True,
    country: str = "CA",
    province: str | None = "ON",
    with_domain: bool = True,
) -> Organization:
    now = utcnow()
    suffix = random_suffix()
    organization = Organization(
        name=name or f"Org {suffix}",
        legal_name=f"Org {suffix} Inc." if active else None,
        country=country if active else None,
        province=province if active else None,
        address_line="1 Main Street" if active else None,
        city="Toronto" if active else None,
        activated_at=now if active else None,
        created_at=now,
        updated_at=now,
    )
    session.add(organization)
    session.flush()
    subscriptions.open_billing(session, organization.id, now=now)
    # Its details held before any period a test bills (tests backdate plans, not details).
    in_force.record_billing_details(session, organization, at=SINCE_ALWAYS)
    if active and with_domain:
        session.add(
            BrandDomain(
                organization_id=organization.id,
                domain=f"{suffix}.example.com",
                created_at=now,
                pending_since=now,
            )
        )
    session.flush()
    return organization


def keep_details(session: Session, organization: Organization) -> None:
    """The organization's details, as a test just set them, held since always (its invoices
    print and tax by the details in force, which the factory recorded when it made it)."""
    session.add(organization)
    session.flush()
    in_force.record_billing_details(session, organization, at=SINCE_ALWAYS)


def make_user(
    session: Session,
    *,
    organization: Organization | None = None,
    role: Role = Role.OWNER,
    status: UserStatus = UserStatus.ACTIVE,
    email: str | None = None,
    name: str | None = None,
) -> User:
    now = utcnow()
    if role is not Role.STAFF and organization is None:
        organization = make_organization(session)
    suffix = random_suffix()
    user = User(
        email=(email or f"{role.value}-{suffix}@example.com").lower(),
        name=name or f"{role.value.title()} {suffix}",
        password_hash=password_hash(),
        role=role,
        organization_id=None if role is Role.STAFF else organization.id,  # type: ignore[union-attr]
        status=status,
        email_verified_at=now if status is not UserStatus.UNVERIFIED else None,
        password_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    session.flush()
    return user


def make_staff(session: Session, **kwargs: object) -> User:
    return make_user(session, role=Role.STAFF, **kwargs)  # type: ignore[arg-type]


def actor_of(user: User) -> Actor:
    return Actor(
        user_id=user.id,
        email=user.email,
        role=Role(user.role),
        organization_id=user.organization_id,
    )


def log_in(engine: Engine, user: User, *, ip_address: str = "203.0.113.7") -> str:
    """Open a real session for ``user`` (as the login form would) and return its handle."""
    with db.write_session(engine) as session:
        return auth.log_in(session, user.email, PASSWORD, ip_address=ip_address).handle


def make_card(
    session: Session,
    organization: Organization,
    *,
    test_card: str = "pm_card_visa",
    default: bool | None = None,
    exp_month: int | None = None,
    exp_year: int | None = None,
    created_at: datetime | None = None,
) -> PaymentMethod:
    """A saved sandbox card of ``organization`` (one of Stripe's test cards, by reference).

    ``default`` None: the default when the organization has none yet, as the service does.
    ``exp_month``/``exp_year`` override the test card's future expiry (an expired card).
    """
    from portal_core.payments.test_cards import card_by_reference
    from portal_core.services.payments.cards import default_card_of

    card = card_by_reference(test_card)
    assert card is not None, f"{test_card} is not a sandbox test card"
    details = card.details()
    now = created_at or utcnow()
    if default is None:
        default = default_card_of(session, organization.id) is None
    method = PaymentMethod(
        organization_id=organization.id,
        gateway=GatewayName.SANDBOX,
        gateway_ref=details.gateway_ref,
        brand=details.brand,
        last4=details.last4,
        exp_month=exp_month or details.exp_month,
        exp_year=exp_year or details.exp_year,
        is_default=default,
        created_at=now,
        updated_at=now,
    )
    session.add(method)
    session.flush()
    return method


def make_auto_recharge(
    session: Session,
    organization: Organization,
    *,
    threshold_cents: int = 2_000,
    amount_cents: int = 5_000,
    enabled: bool = True,
    updated_at: datetime | None = None,
) -> AutoRecharge:
    """Auto-recharge settings saved directly (the service checks the card; tests choose)."""
    settings = AutoRecharge(
        organization_id=organization.id,
        enabled=enabled,
        threshold_cents=threshold_cents,
        amount_cents=amount_cents,
        updated_at=updated_at or utcnow(),
    )
    session.add(settings)
    session.flush()
    return settings


def organization_of(session: Session, member: User | Actor) -> Organization:
    """The organization of a partner user (or actor), as stored."""
    organization = session.get(Organization, member.organization_id)
    assert organization is not None, f"{member.email} belongs to no organization"
    return organization


def change_subscription(
    session: Session, organization: Organization, **changes: object
) -> Subscription:
    """The organization's subscription with ``changes`` made (``plan_code="starter"``,
    ``cycle=…``, ``contract_additional_request_micros=…``), saved, as if it had been so since
    its term began: its history of terms says so too. A scheduled downgrade given without
    its date takes the date the portal would have given it."""
    subscription = session.get(Subscription, organization.id)
    assert subscription is not None, f"{organization.name} has no subscription"
    for name, value in changes.items():
        setattr(subscription, name, value)
    if subscription.next_plan_code is None:
        subscription.next_change_at = None
    elif "next_change_at" not in changes:
        subscription.next_change_at = next_boundary(
            subscription, ZoneInfo("America/Toronto"), subscription.updated_at
        )
    session.add(subscription)
    session.flush()
    in_force.restart_terms(session, subscription, at=subscription.term_started_at)
    return subscription


def put_on_plan(
    session: Session,
    organization: Organization,
    plan_code: str,
    *,
    cycle: BillingCycle = BillingCycle.MONTHLY,
    since: datetime,
    **changes: object,
) -> Subscription:
    """The organization on ``plan_code`` and ``cycle`` since ``since`` (its term's start, and
    when the subscription was made and last changed); ``changes`` are made after, so they win."""
    return change_subscription(
        session,
        organization,
        **{
            "plan_code": plan_code,
            "cycle": cycle,
            "term_started_at": since,
            "created_at": since,
            "updated_at": since,
            **changes,
        },
    )


def fund(
    session: Session,
    organization: Organization,
    cents: int,
    *,
    memo: str = "Top-up",
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """``cents`` paid into the organization's balance: a payment entry of its ledger, as a
    card payment leaves it (the funds watch runs)."""
    return ledger.post_entry(
        session,
        organization_id=organization.id,
        kind=EntryKind.PAYMENT,
        amount_cents=cents,
        idempotency_key=idempotency_key or f"funds-{uuid.uuid4()}",
        memo=memo,
    )


def make_metered_organization(
    session: Session, *, price_micros: int, funds_cents: int = 0
) -> Organization:
    """A Starter organization with no allowance left, whose every request costs
    ``price_micros`` (contract figures), with ``funds_cents`` paid in."""
    organization = make_organization(session)
    change_subscription(
        session,
        organization,
        plan_code="starter",
        contract_included_requests=0,
        contract_additional_request_micros=price_micros,
    )
    if funds_cents:
        fund(session, organization, funds_cents, memo="test funds")
    return organization


def make_starter_organization(session: Session, *, top_up_cents: int = 0) -> Organization:
    """A new Ontario organization on the Starter plan since January 1st, 2026 (Toronto, the
    billing time zone), with ``top_up_cents`` paid in."""
    organization = make_organization(session, province="ON")
    january = datetime(2026, 1, 1, tzinfo=ZoneInfo("America/Toronto"))
    change_subscription(
        session, organization, plan_code="starter", term_started_at=january, updated_at=january
    )
    if top_up_cents:
        fund(session, organization, top_up_cents)
    return organization


def record_usage(
    session: Session,
    organization_id: uuid.UUID,
    period: str,
    requests: int,
    *,
    lookup_type: LookupType = LookupType.CALLER_ID,
    unit_micros: int = 3_000,
    included: bool = False,
    made_at: datetime | None = None,
) -> int:
    """``requests`` Smart CNAM lookups of ``period`` as the meter records them: each costs
    ``unit_micros`` (Starter's $0.0030; nothing when ``included`` in the allowance), added to
    the unbilled usage; made on the 15th unless ``made_at``. Returns their cost in µ$."""
    cost = 0 if included else unit_micros
    made = made_at or datetime.strptime(f"{period}-15", "%Y-%m-%d").replace(tzinfo=UTC)
    if requests:
        session.execute(
            insert(UsageRecord),
            [
                {
                    "id": uuid.uuid4(),
                    "organization_id": organization_id,
                    "product": "smart_cnam",
                    "lookup_type": lookup_type.value,
                    "period": period,
                    "included": included,
                    "cost_micros": cost,
                    "request_key": uuid.uuid4().hex,
                    "created_at": made,
                }
                for _ in range(requests)
            ],
        )
    session.execute(
        update(BillingAccount)
        .where(col(BillingAccount.organization_id) == organization_id)
        .values(unbilled_micros=BillingAccount.unbilled_micros + cost * requests)
    )
    return cost * requests
