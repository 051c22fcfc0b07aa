"""The meter, on the path of every billable request: meterings a second (the target:
2,000 or more a second on one core, SQLite).

One organization of the seeded thousand gets a Starter subscription and funds paid in through
the ledger, then 20,000 requests are metered one after another on one thread, and again split
across 4 threads (each with its own connection). Every metering is a whole unit of work:
``BEGIN IMMEDIATE``, the plan's terms, the guarded UPDATE, the usage record, the day's
roll-up, ``COMMIT``. Past Starter's 10,000 included requests each one is charged, so the run
measures the priced path, the one most requests take. The rate is in each result's note.
"""

from __future__ import annotations

import itertools
import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, update
from sqlmodel import col, select

from bench.harness import Result, measure
from portal_core import db
from portal_core.models.base import utcnow
from portal_core.models.billing import (
    BillingAccount,
    BillingCycle,
    EntryKind,
    LookupType,
    Product,
    Subscription,
)
from portal_core.money import cents_to_micros
from portal_core.services import ledger
from portal_core.services.meter import meter_request

REQUESTS = 20_000
THREADS = 4
REPEAT = 3
TARGET_PER_SECOND = 2_000
FUNDS_CENTS = 10_000_00  # $10,000: far more than 160,000 requests at $0.0030 cost


def _fund_an_organization(engine: Engine) -> uuid.UUID:
    """The seeded organizations have accounts but no subscription: give one Starter, funds."""
    with db.write_session(engine) as session:
        organization_id = session.exec(
            select(BillingAccount.organization_id).order_by(col(BillingAccount.organization_id))
        ).first()
        if organization_id is None:
            raise RuntimeError("the meter benchmark needs the seeded organizations")
        subscription = session.get(Subscription, organization_id) or Subscription(
            organization_id=organization_id,
            plan_code="starter",
            cycle=BillingCycle.MONTHLY,
            term_started_at=utcnow(),
        )
        subscription.plan_code = "starter"
        session.add(subscription)
        ledger.post_entry(
            session,
            organization_id=organization_id,
            kind=EntryKind.PAYMENT,
            amount_cents=FUNDS_CENTS,
            idempotency_key=f"bench-meter-funds-{organization_id}",
            memo="benchmark funds",
        )
        session.execute(
            update(BillingAccount)
            .where(col(BillingAccount.organization_id) == organization_id)
            .values(credit_limit_micros=cents_to_micros(6_000))
        )
    return organization_id


def run(engine: Engine) -> list[Result]:
    organization_id = _fund_an_organization(engine)
    lookup_types = list(LookupType)
    keys = itertools.count()

    def meter(requests: int) -> None:
        for _ in range(requests):
            number = next(keys)
            with db.write_connection(engine) as connection:
                meter_request(
                    connection,
                    organization_id=organization_id,
                    product=Product.SMART_CNAM,
                    lookup_type=lookup_types[number % len(lookup_types)],
                    request_key=f"bench-{number}",
                )

    def on_threads() -> None:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            for finished in [pool.submit(meter, REQUESTS // THREADS) for _ in range(THREADS)]:
                finished.result()

    one = measure(
        f"meter, {REQUESTS:,} requests on one thread", lambda: meter(REQUESTS), repeat=REPEAT
    )
    many = measure(f"meter, {REQUESTS:,} requests on {THREADS} threads", on_threads, repeat=REPEAT)
    for result in (one, many):
        rate = REQUESTS / result.median_s
        verdict = "meets" if rate >= TARGET_PER_SECOND else "misses"
        result.note = (
            f"median of {REPEAT} runs; {rate:,.0f} meterings/s ({verdict} the "
            f"{TARGET_PER_SECOND:,}/s target; {result.median_s / REQUESTS * 1e6:,.0f} µs each)"
        )
    return [one, many]
