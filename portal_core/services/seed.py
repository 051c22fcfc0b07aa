"""The demo that ``make run`` seeds on an empty development database (README.md, Demo logins).

Two organizations, so that every page has something real to show on first start:

- **Demo Telecom** (Toronto, Ontario): one user of each role and a SIPSTACK staff user. It
  signed up ten days before last month began, on the **Starter** plan (the wizard's plan
  step), and with the sandbox gateway (no Stripe keys) its owner saved the sandbox's Visa
  test card and added $250.00 with it. It registered numbers of every line type a profile
  declares, with Canadian and US details of varied completeness: one of them private, one
  verified, two edited later. Its people looked numbers up every day since — every lookup
  type, around a dozen a working day — so Logs, the Dashboard's tiles and charts, and
  Billing's usage have content while most of the month's allowance (Starter: 10,000 lookups)
  is left. Each month that ended was invoiced on the 1st at 00:05, as the scheduler's invoice
  run does, and each number's score was taken every night, as its snapshot job does.
- **Northwind Calling** (Seattle, on Free), whose owner's login is in README.md too: it holds a
  number that Demo Telecom registered later, so an **ownership dispute** is open between them,
  and it reported a few numbers (one of Demo Telecom's, a few nobody registered).

Everything goes through the services, in the order it happened, each step in its own unit of
work with ``now=`` set to its time (a lookup opens its own, so the seed cannot be one
transaction): the meter prices each lookup by the month it fell in and never goes back a
month, and each number's score and history are kept by the services that change their
inputs. The timeline is drawn from a fixed random seed, so every demo tells the same story;
its dates follow the day it is seeded. The demo's numbers are fictional (555-01xx, reserved
for fiction in North America). Never seeded outside development.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from portal_core import db
from portal_core.errors import Conflict
from portal_core.models.accounts import BrandDomain, Organization, Role, User, UserStatus
from portal_core.models.base import utcnow
from portal_core.models.billing import BillingCycle, LookupType
from portal_core.models.payments import GatewayName
from portal_core.models.products import ReportKind, WhoisProfile
from portal_core.payments import gateway_name
from portal_core.permissions import Actor
from portal_core.rules.platform import billing_time_zone
from portal_core.services import (
    audit,
    in_force,
    jobs,
    lookups,
    ownership,
    reports,
    subscriptions,
    whois,
)
from portal_core.services.passwords import hash_password
from portal_core.services.payments import cards, top_ups
from portal_core.services.staff import create_staff
from portal_core.services.whois import ProfileForm
from portal_core.settings import get_settings
from portal_core.terms import current_terms

DEMO_DOMAIN = "demo.sipstack.test"
DEMO_ROLES = (Role.OWNER, Role.ADMIN, Role.BILLING, Role.DEVELOPER, Role.VIEWER)
DEMO_PLAN = "starter"

NORTHWIND = "Northwind Calling"
NORTHWIND_DOMAIN = "northwind.demo.sipstack.test"
NORTHWIND_OWNER_EMAIL = f"owner@{NORTHWIND_DOMAIN}"
NORTHWIND_OWNER_PASSWORD = "Northwind-owner-Harbor-2026"

DEMO_TEST_CARD = "pm_card_visa"
DEMO_FUNDS_CENTS = 250_00


def demo_email(role: Role) -> str:
    return f"{role.value}@{DEMO_DOMAIN}"


def demo_password(role: Role) -> str:
    return f"Demo-{role.value}-Harbor-2026"


def is_empty(session: Session) -> bool:
    return session.exec(select(func.count()).select_from(User)).one() == 0


# --- What the demo holds ----------------------------------------------------------------------

# Demo Telecom's numbers: every line type a profile declares, from complete to bare.
MAIN_LINE = ProfileForm(
    number="+1 416 555 0100",
    caller_name="Demo Telecom",
    business_name="Demo Telecom Inc.",
    line_type="fixed",
    call_purpose="customer_service",
    address_line="100 King Street West",
    city="Toronto",
    province="ON",
    postal_code="M5X 1A9",
    country="CA",
    website="https://demo.sipstack.test",
    email="support@demo.sipstack.test",
    description="Customer service, weekdays 8 a.m. to 8 p.m. Eastern.",
    social_links="https://www.linkedin.com/company/demo-telecom\nhttps://x.com/demotelecom",
    monthly_call_volume="12,000",
)
SALES_MOBILE = ProfileForm(
    number="+1 647 555 0117",
    caller_name="Demo Sales",
    business_name="Demo Telecom Inc.",
    line_type="mobile",
    call_purpose="sales",
    city="Toronto",
    province="ON",
    country="CA",
)
SUPPORT_TOLL_FREE = ProfileForm(
    number="+1 800 555 0199",
    caller_name="Demo Support",
    business_name="Demo Telecom Inc.",
    line_type="toll_free",
    call_purpose="customer_service",
    country="CA",
    website="https://demo.sipstack.test/support",
)
OTTAWA_VOIP = ProfileForm(
    number="+1 613 555 0148",
    caller_name="Demo Ottawa",
    line_type="voip",
    call_purpose="appointments",
    city="Ottawa",
    province="ON",
)
COLLECTIONS_PRIVATE = ProfileForm(
    number="+1 514 555 0163",
    caller_name="Demo Recovery",
    business_name="Demo Telecom Recoveries",
    line_type="other",
    call_purpose="collections",
    address_line="1000 Rue De La Gauchetière Ouest",
    city="Montréal",
    province="QC",
    postal_code="H3B 4W5",
    country="CA",
    private=True,
)
CHICAGO_OFFICE = ProfileForm(
    number="+1 312 555 0186",
    caller_name="Demo Chicago",
    business_name="Demo Telecom USA LLC",
    line_type="fixed",
    call_purpose="sales",
    address_line="233 South Wacker Drive",
    city="Chicago",
    province="IL",
    postal_code="60606",
    country="US",
    website="https://demo.sipstack.test/us",
    email="chicago@demo.sipstack.test",
)
DEMO_NUMBERS = (
    MAIN_LINE,
    SALES_MOBILE,
    SUPPORT_TOLL_FREE,
    OTTAWA_VOIP,
    COLLECTIONS_PRIVATE,
    CHICAGO_OFFICE,
)
VERIFIED = MAIN_LINE
# Filled in later, as a partner does once the number proves itself.
EDITS = (
    replace(
        SUPPORT_TOLL_FREE,
        email="help@demo.sipstack.test",
        description="Technical support for Demo Telecom's business customers, 24/7.",
        monthly_call_volume="4,500",
    ),
    replace(SALES_MOBILE, email="sales@demo.sipstack.test", monthly_call_volume="800"),
)

# Northwind's numbers; Demo Telecom registers the first one too, later: the open dispute.
NORTHWIND_MAIN = ProfileForm(
    number="+1 206 555 0134",
    caller_name="Northwind",
    business_name="Northwind Calling LLC",
    line_type="fixed",
    call_purpose="customer_service",
    address_line="1201 Third Avenue",
    city="Seattle",
    province="WA",
    postal_code="98101",
    country="US",
    website="https://northwind.demo.sipstack.test",
)
NORTHWIND_SALES = ProfileForm(
    number="+1 425 555 0161",
    caller_name="Northwind Sales",
    business_name="Northwind Calling LLC",
    line_type="mobile",
    call_purpose="sales",
    city="Bellevue",
    province="WA",
    country="US",
)
DISPUTED = ProfileForm(
    number=NORTHWIND_MAIN.number,
    caller_name="Demo Seattle",
    business_name="Demo Telecom USA LLC",
    line_type="voip",
    call_purpose="customer_service",
    city="Seattle",
    province="WA",
    country="US",
)


@dataclass(frozen=True)
class DemoReport:
    number: str
    kind: ReportKind
    comment: str
    at_share: float  # when, as a share of the time from the founding to the seeding


# Northwind's reports: one of Demo Telecom's numbers, and numbers nobody registered.
NORTHWIND_REPORTS = (
    DemoReport("+1 416 555 0177", ReportKind.SPAM, "Robocalls about duct cleaning", 0.30),
    DemoReport(OTTAWA_VOIP.number, ReportKind.SPAM, "Called three times after 9 p.m.", 0.62),
    DemoReport("+1 647 555 0190", ReportKind.SPAM, "Pretends to be a bank's fraud team", 0.80),
    DemoReport("+1 604 555 0111", ReportKind.SAFE, "Our pharmacy's refill reminders", 0.93),
)
DISPUTE_AT_SHARE = 0.88
EDIT_AT_SHARES = (0.45, 0.70)

# Who calls Demo Telecom's numbers, and how often (weights): the reported numbers, Northwind's,
# other fictional numbers across Canada and the US, and two that no operator allocated
# (spoofed caller IDs, which score low).
CALLERS: tuple[tuple[str, int], ...] = (
    ("+1 416 555 0177", 6),
    ("+1 647 555 0190", 4),
    ("+1 604 555 0111", 3),
    (NORTHWIND_MAIN.number, 5),
    (NORTHWIND_SALES.number, 3),
    ("+1 416 555 0123", 8),
    ("+1 905 555 0145", 6),
    ("+1 289 555 0172", 4),
    ("+1 519 555 0108", 4),
    ("+1 613 555 0129", 5),
    ("+1 514 555 0186", 4),
    ("+1 438 555 0153", 3),
    ("+1 403 555 0194", 3),
    ("+1 780 555 0137", 2),
    ("+1 902 555 0116", 2),
    ("+1 212 555 0168", 3),
    ("+1 312 555 0175", 2),
    ("+1 415 555 0132", 2),
    ("+1 617 555 0149", 2),
    ("+1 888 555 0157", 2),
    ("+1 555 123 4567", 1),
    ("+1 555 010 9999", 1),
)
# Caller ID answers most call flows; Source/Risk screens calls to the organization's numbers.
LOOKUP_MIX: tuple[tuple[LookupType, int], ...] = (
    (LookupType.CALLER_ID, 40),
    (LookupType.SOURCE_RISK, 25),
    (LookupType.TELCO_CARRIER, 15),
    (LookupType.REGIONAL, 12),
    (LookupType.ONLINE_PROFILES, 8),
)
WEEKDAY_LOOKUPS = (10, 15)  # a working day's lookups, at random within these bounds
WEEKEND_LOOKUPS = (2, 5)
OWN_NUMBER_SHARE = 0.06  # a partner checks how its own numbers answer, now and then
FOUNDED_DAYS_BEFORE_LAST_MONTH = 10
SCHEDULED_JOBS = ("invoices.run", "scores.snapshot")
RANDOM_SEED = 2026


# --- Seeding --------------------------------------------------------------------------------


def seed_demo(engine: Engine, *, now: datetime | None = None) -> bool:
    """Seed the demo on an empty development database; False when there was nothing to do.

    ``now`` is when the demo is seeded (the timeline ends just before it)."""
    if not get_settings().is_development:
        raise Conflict("The demo is seeded only in development (PORTAL_ENV=development).")
    now = now or utcnow()
    with db.read_session(engine) as session:
        if not is_empty(session):
            return False
        time_zone = billing_time_zone(session)
    founded = _founding(now, time_zone)
    with db.write_session(engine) as session:
        if not is_empty(session):
            return False
        cast = _found_organizations(session, founded)
    for moment, _order, step in sorted(_timeline(cast, founded, now, time_zone), key=_when):
        step(engine, moment)
    with db.write_session(engine) as session:
        audit.record(
            session,
            "demo.seeded",
            organization_id=cast.owner.organization_id,
            subject="Demo Telecom",
        )
    return True


@dataclass(frozen=True)
class _Cast:
    """The demo's people, as the services see them."""

    owner: Actor  # Demo Telecom's
    admin: Actor
    developer: Actor
    northwind: Actor  # Northwind's owner


Step = Callable[[Engine, datetime], None]


def _when(entry: tuple[datetime, int, Step]) -> tuple[datetime, int]:
    return entry[0], entry[1]


def _founding(now: datetime, time_zone: ZoneInfo) -> datetime:
    """When Demo Telecom signed up: ten days before last month began, at 9 a.m., so that
    the month before last and last month have ended (and are invoiced) by now."""
    this_month = now.astimezone(time_zone).date().replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    day = last_month - timedelta(days=FOUNDED_DAYS_BEFORE_LAST_MONTH)
    return datetime.combine(day, time(9), tzinfo=time_zone).astimezone(UTC)


def _found_organizations(session: Session, founded: datetime) -> _Cast:
    """Both organizations with their people, Demo Telecom on Starter and (with the sandbox
    gateway) funded, and the staff user."""
    demo = _organization(
        session,
        Organization(
            name="Demo Telecom",
            legal_name="Demo Telecom Inc.",
            country="CA",
            province="ON",
            address_line="100 King Street West",
            city="Toronto",
            postal_code="M5X 1A9",
            tax_id="123456789RT0001",
            created_at=founded,
        ),
        DEMO_DOMAIN,
    )
    users = {
        role: _user(
            session,
            demo,
            role,
            demo_email(role),
            f"Demo {role.value.title()}",
            demo_password(role),
            founded,
        )
        for role in DEMO_ROLES
    }
    owner = _actor(users[Role.OWNER])
    # The wizard's plan step, then activation: the Starter term starts with the account.
    subscriptions.choose_initial_plan(
        session, owner, plan_code=DEMO_PLAN, cycle=BillingCycle.MONTHLY, now=founded
    )
    _activate(session, demo, founded)
    if gateway_name() == GatewayName.SANDBOX:
        _first_payment(session, owner, founded + timedelta(minutes=10))

    northwind = _organization(
        session,
        Organization(
            name=NORTHWIND,
            legal_name="Northwind Calling LLC",
            country="US",
            province="WA",
            address_line="1201 Third Avenue",
            city="Seattle",
            postal_code="98101",
            tax_id="91-1234567",
            created_at=founded - timedelta(days=120),
        ),
        NORTHWIND_DOMAIN,
    )
    _activate(session, northwind, northwind.created_at)
    northwind_owner = _user(
        session,
        northwind,
        Role.OWNER,
        NORTHWIND_OWNER_EMAIL,
        "Northwind Owner",
        NORTHWIND_OWNER_PASSWORD,
        northwind.created_at,
    )
    create_staff(
        session, demo_email(Role.STAFF), "Demo Staff", demo_password(Role.STAFF), now=founded
    )
    return _Cast(
        owner=owner,
        admin=_actor(users[Role.ADMIN]),
        developer=_actor(users[Role.DEVELOPER]),
        northwind=_actor(northwind_owner),
    )


def _organization(session: Session, organization: Organization, domain: str) -> Organization:
    """A new organization, with its brand's domain and its billing account on Free, not
    activated yet."""
    created = organization.created_at
    organization.brand_name = organization.name
    organization.updated_at = created
    session.add(organization)
    session.flush()
    session.add(
        BrandDomain(
            organization_id=organization.id,
            domain=domain,
            created_at=created,
            pending_since=created,
        )
    )
    subscriptions.open_billing(session, organization.id, now=created)
    in_force.record_billing_details(session, organization, at=created)
    return organization


def _activate(session: Session, organization: Organization, at: datetime) -> None:
    """What finishing the wizard does: active, and billed from now on."""
    organization.activated_at = at
    session.add(organization)
    subscriptions.start_term(session, organization.id, now=at)
    session.flush()


def _user(
    session: Session,
    organization: Organization,
    role: Role,
    email: str,
    name: str,
    password: str,
    at: datetime,
) -> User:
    user = User(
        email=email,
        name=name,
        password_hash=hash_password(password),
        role=role,
        organization_id=organization.id,
        status=UserStatus.ACTIVE,
        email_verified_at=at,
        tos_version=current_terms().version,
        tos_accepted_at=at,
        password_changed_at=at,
        created_at=at,
        updated_at=at,
    )
    session.add(user)
    session.flush()
    return user


def _actor(user: User) -> Actor:
    return Actor(
        user_id=user.id, email=user.email, role=user.role, organization_id=user.organization_id
    )


def _first_payment(session: Session, owner: Actor, at: datetime) -> None:
    card = cards.start_adding_card(session, owner, test_card=DEMO_TEST_CARD, now=at).card
    if card is None:
        raise Conflict("The sandbox gateway should have saved the demo's test card at once.")
    top_ups.add_funds(
        session,
        owner,
        payment_method_id=card.id,
        amount_cents=DEMO_FUNDS_CENTS,
        idempotency_key="demo-seed-first-payment",
        now=at,
    )


# --- The timeline -----------------------------------------------------------------------------


def _timeline(
    cast: _Cast, founded: datetime, now: datetime, time_zone: ZoneInfo
) -> list[tuple[datetime, int, Step]]:
    """Every step after the founding, each with its time (and its place among steps of the
    same time)."""
    steps: list[tuple[datetime, int, Step]] = []

    def at(moment: datetime, step: Step) -> None:
        steps.append((moment, len(steps), step))

    def share(fraction: float) -> datetime:
        return founded + (now - founded) * fraction

    registered: list[tuple[datetime, str]] = []  # Demo Telecom's active numbers, and since when
    for place, form in enumerate(DEMO_NUMBERS):
        moment = founded + timedelta(hours=1) + timedelta(hours=20) * place
        at(moment, _register(cast.owner, form))
        registered.append((moment, form.number))
    at(founded + timedelta(days=1, hours=2), _verify(cast.owner, VERIFIED.number))
    for fraction, form in zip(EDIT_AT_SHARES, EDITS, strict=True):
        at(share(fraction), _edit(cast.owner, form))

    at(founded + timedelta(minutes=30), _register(cast.northwind, NORTHWIND_MAIN))
    at(founded + timedelta(days=4), _register(cast.northwind, NORTHWIND_SALES))
    at(share(DISPUTE_AT_SHARE), _register(cast.admin, DISPUTED))
    for report in NORTHWIND_REPORTS:
        moment = share(report.at_share)
        # A report is made from a lookup's result.
        at(moment - timedelta(minutes=3), _look_up(cast.northwind, report.number, "", len(steps)))
        at(moment, _report(cast.northwind, report))

    rng = random.Random(RANDOM_SEED)
    people = (cast.developer, cast.developer, cast.developer, cast.admin, cast.owner)
    callers = [number for number, _ in CALLERS]
    caller_weights = [weight for _, weight in CALLERS]
    kinds = [kind for kind, _ in LOOKUP_MIX]
    kind_weights = [weight for _, weight in LOOKUP_MIX]
    for moment in _lookup_times(rng, founded + timedelta(hours=2), now, time_zone):
        kind = rng.choices(kinds, kind_weights)[0]
        ours = [number for since, number in registered if since < moment]
        source = (
            rng.choice(ours)
            if ours and rng.random() < OWN_NUMBER_SHARE
            else rng.choices(callers, caller_weights)[0]
        )
        destination = ""
        if kind == LookupType.SOURCE_RISK:
            callees = [number for number in ours if number != source]
            if not callees:
                kind = LookupType.CALLER_ID
            else:
                destination = rng.choice(callees)
        at(moment, _look_up(rng.choice(people), source, destination, len(steps), kind))

    # The scheduler's jobs that leave a trace, at their due times: each month invoiced on the
    # 1st, each number's score taken every night (a point of its history a day).
    for job in jobs.JOBS:
        if job.name in SCHEDULED_JOBS:
            due = founded
            while (due := jobs.next_due(job.schedule, time_zone, due)) < now:
                at(due, _job(job))
    return steps


def _lookup_times(
    rng: random.Random, start: datetime, now: datetime, time_zone: ZoneInfo
) -> list[datetime]:
    """The times of the lookups from ``start`` to just before ``now``: each day's, during
    its working hours (today's, whatever of today has passed)."""
    local_start, local_now = start.astimezone(time_zone), now.astimezone(time_zone)
    times: list[datetime] = []
    day = local_start.date()
    while day <= local_now.date():
        low, high = WEEKDAY_LOOKUPS if day.weekday() < 5 else WEEKEND_LOOKUPS
        opens = max(datetime.combine(day, time(8), tzinfo=time_zone), local_start)
        closes = datetime.combine(day, time(20), tzinfo=time_zone)
        if day == local_now.date():
            closes = min(closes, local_now - timedelta(seconds=30))
            if closes - opens < timedelta(hours=1):  # early in the day: whatever has passed
                opens = max(datetime.combine(day, time(0), tzinfo=time_zone), local_start)
        if closes > opens:
            span = (closes - opens).total_seconds()
            times += [
                (opens + timedelta(seconds=rng.uniform(0, span))).astimezone(UTC)
                for _ in range(rng.randint(low, high))
            ]
        day += timedelta(days=1)
    return sorted(times)


def _in_session(work: Callable[[Session, datetime], object]) -> Step:
    """A step that is one unit of work of its own."""

    def step(engine: Engine, moment: datetime) -> None:
        with db.write_session(engine) as session:
            work(session, moment)

    return step


def _register(actor: Actor, form: ProfileForm) -> Step:
    return _in_session(lambda session, moment: whois.register(session, actor, form, now=moment))


def _verify(actor: Actor, number: str) -> Step:
    return _in_session(
        lambda session, moment: ownership.verify_demo_number(
            session, actor, _profile_id(session, actor, number), now=moment
        )
    )


def _edit(actor: Actor, form: ProfileForm) -> Step:
    return _in_session(
        lambda session, moment: whois.update(
            session, actor, _profile_id(session, actor, form.number), form, now=moment
        )
    )


def _profile_id(session: Session, actor: Actor, number: str) -> uuid.UUID:
    e164 = "+" + "".join(char for char in number if char.isdigit())
    return session.exec(
        select(WhoisProfile.id).where(
            col(WhoisProfile.organization_id) == actor.organization_id,
            col(WhoisProfile.number) == e164,
        )
    ).one()


def _report(actor: Actor, report: DemoReport) -> Step:
    return _in_session(
        lambda session, moment: reports.report(
            session,
            actor,
            number=report.number,
            kind=report.kind,
            comment=report.comment,
            now=moment,
        )
    )


def _look_up(
    actor: Actor, source: str, destination: str, key: int, kind: LookupType = LookupType.CALLER_ID
) -> Step:
    def step(engine: Engine, moment: datetime) -> None:
        lookups.look_up(
            engine,
            actor,
            source=source,
            destination=destination,
            lookup_type=kind,
            request_key=f"demo-seed-{key}",
            now=moment,
        )

    return step


def _job(job: jobs.Job) -> Step:
    def step(engine: Engine, moment: datetime) -> None:
        report = job.run(engine, moment)
        if not report.succeeded:
            raise Conflict(f"The demo's job {job.title!r} left work undone: {report.summary}")

    return step
