"""The low-balance alert under real concurrency (file SQLite in WAL, and PostgreSQL): many
requests and debits racing down through several thresholds alert each member exactly once,
because the account row's updates are serialized and each drop covers its own interval."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine
from sqlmodel import select

from portal_core import db
from portal_core.models.accounts import Organization, Role, User
from portal_core.models.billing import EntryKind, LookupType
from portal_core.models.notices import Notice, NoticeKind
from portal_core.services import ledger
from tests.factories import make_metered_organization, make_user
from tests.services.support import meter_one, outbox, race

CENT = 10_000  # µ$


def _organization(engine: Engine, *, funds_cents: int) -> Organization:
    """A Starter organization whose every request costs one cent."""
    with db.write_session(engine) as session:
        return make_metered_organization(session, price_micros=CENT, funds_cents=funds_cents)


def _members(engine: Engine, organization: Organization, thresholds: list[int]) -> list[User]:
    with db.write_session(engine) as session:
        stored = session.get(Organization, organization.id)
        members = []
        for threshold in thresholds:
            user = make_user(session, organization=stored, role=Role.BILLING)
            user.low_balance_threshold_cents = threshold
            session.add(user)
            members.append(user)
    return members


def _metering(engine: Engine, organization: Organization):
    def meter() -> None:
        meter_one(engine, organization.id, lookup_type=LookupType.REGIONAL)

    return meter


def _debiting(engine: Engine, organization: Organization, cents: int):
    def debit() -> None:
        with db.write_session(engine) as session:
            ledger.post_entry(
                session,
                organization_id=organization.id,
                kind=EntryKind.ADJUSTMENT,
                amount_cents=-cents,
                idempotency_key=uuid.uuid4().hex,
                memo="debit",
            )

    return debit


def _alerts_per_member(engine: Engine, members: list[User]) -> list[int]:
    with db.read_session(engine) as session:
        notices = session.exec(
            select(Notice.user_id).where(Notice.kind == NoticeKind.LOW_BALANCE)
        ).all()
    return [notices.count(member.id) for member in members]


def test_racing_requests_and_debits_alert_each_crossed_member_exactly_once(
    concurrent_engine, outbox_dir
):
    # $1.00, then 30 requests of 1¢ and 10 debits of 5¢ at once: $0.20 left at the end,
    # through 90¢, 50¢ and 25¢ on the way; never down to 10¢.
    organization = _organization(concurrent_engine, funds_cents=100)
    members = _members(concurrent_engine, organization, [90, 50, 25, 10])
    jobs = [_metering(concurrent_engine, organization) for _ in range(30)]
    jobs += [_debiting(concurrent_engine, organization, 5) for _ in range(10)]

    race(jobs, threads=16)

    assert _alerts_per_member(concurrent_engine, members) == [1, 1, 1, 0]
    mailed = [message["To"] for message in outbox(outbox_dir)]
    assert sorted(mailed) == sorted(member.email for member in members[:3])
