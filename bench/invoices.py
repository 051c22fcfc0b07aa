"""The monthly invoice run over 1,000,000 usage records (the target: under 60 s).

100 organizations of their own (Starter, Competitor and Provider; monthly and yearly; in
Ontario, Quebec, Alberta, British Columbia and the United States; one owner each who asked
for invoice e-mails) get 1,000,000 usage records of last month, written with Core INSERTs in
batches, their cost added to the unbilled usage as the meter would have. Then one
``invoices run`` for last month is timed: the figure the scheduler waits for on the 1st.

It is measured once (repeat=1): a second run finds every invoice made and does nothing, so it
cannot be a repetition of the first; it is reported beside it as what a re-run costs. The run
reads each organization's usage through one GROUP BY, never the records themselves.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
import uuid
from datetime import timedelta

from sqlalchemy import Engine, insert, update
from sqlmodel import col, func, select

from bench.harness import Result
from portal_core import db
from portal_core.models.accounts import Organization, Role, User, UserStatus
from portal_core.models.base import utcnow
from portal_core.models.billing import (
    BillingAccount,
    BillingCycle,
    LookupType,
    Plan,
    Subscription,
    SubscriptionTerm,
    UsageRecord,
)
from portal_core.money import cents_to_micros
from portal_core.services import invoices, ledger, platform
from portal_core.settings import get_settings

ORGANIZATIONS = 100
RECORDS = 1_000_000
BATCH = 10_000
TARGET_SECONDS = 60.0
PLANS = ["starter"] * 6 + ["competitor"] * 3 + ["provider"]
PLACES = [("CA", "ON"), ("CA", "QC"), ("CA", "AB"), ("CA", "BC"), ("US", "NY")]
# A password nobody uses: these owners only receive e-mail.
UNUSABLE_HASH = "!bench-invoices-no-login"


def _seed(engine: Engine, period: invoices.Period, rng: random.Random) -> list[uuid.UUID]:
    """The organizations and their usage records of ``period``; returns their ids."""
    now = utcnow()
    joined = period.starts_at - timedelta(days=400)
    with db.read_session(engine) as session:
        plans = {plan.code: plan for plan in session.exec(select(Plan)).all()}
    organizations, accounts, subscriptions, users = [], [], [], []
    terms: dict[uuid.UUID, tuple[int, int]] = {}  # allowance, price per request beyond it
    for index in range(ORGANIZATIONS):
        organization_id = uuid.uuid4()
        country, province = PLACES[index % len(PLACES)]
        plan = plans[rng.choice(PLANS)]
        yearly = index % 7 == 0
        organizations.append(
            {
                "id": organization_id,
                "name": f"Invoiced {index:03d} Telecom",
                "legal_name": f"Invoiced {index:03d} Telecom Inc.",
                "country": country,
                "province": province,
                "address_line": f"{index} Bay Street",
                "city": "Toronto" if country == "CA" else "New York",
                "postal_code": "M5J 2S1" if country == "CA" else "10001",
                "status": "active",
                "activated_at": joined,
                "created_at": joined,
                "updated_at": joined,
            }
        )
        accounts.append(
            {
                "organization_id": organization_id,
                "balance_micros": 0,
                "unbilled_micros": 0,
                "credit_limit_micros": cents_to_micros(plan.credit_limit_cents or 0),
            }
        )
        subscriptions.append(
            {
                "organization_id": organization_id,
                "plan_code": plan.code,
                "cycle": (BillingCycle.YEARLY if yearly else BillingCycle.MONTHLY).value,
                # Yearly ones start their term in the invoiced month: 12 months on this invoice.
                "term_started_at": period.starts_at if yearly else joined,
                "created_at": joined,
                "updated_at": joined,
            }
        )
        users.append(
            {
                "id": uuid.uuid4(),
                "email": f"owner{index:03d}@invoiced.example.com",
                "name": f"Owner {index:03d}",
                "password_hash": UNUSABLE_HASH,
                "role": Role.OWNER.value,
                "organization_id": organization_id,
                "status": UserStatus.ACTIVE.value,
                "email_verified_at": now,
                "dark_mode": False,
                "notify_low_balance": True,
                "low_balance_threshold_cents": 2_000,
                "notify_invoices": True,
                "notify_disputes": True,
                "notify_product_news": False,
                "created_at": now,
                "updated_at": now,
            }
        )
        terms[organization_id] = (plan.included_requests, plan.additional_request_micros or 0)
    # The history of terms the run bills from: each subscription as it stands, since its term.
    history = [
        {
            "id": uuid.uuid4(),
            "organization_id": row["organization_id"],
            "effective_from": row["term_started_at"],
            "effective_to": None,
            "plan_code": row["plan_code"],
            "cycle": row["cycle"],
            "term_started_at": row["term_started_at"],
            "contract_monthly_cents": None,
        }
        for row in subscriptions
    ]
    with engine.begin() as connection:
        for model, rows in (
            (Organization, organizations),
            (BillingAccount, accounts),
            (Subscription, subscriptions),
            (SubscriptionTerm, history),
            (User, users),
        ):
            connection.execute(insert(model), rows)

    # Skewed like real traffic: a few organizations make most of the requests.
    ids = list(terms)
    weights = [rng.paretovariate(1.2) for _ in ids]
    shares = [int(RECORDS * weight / sum(weights)) for weight in weights]
    shares[0] += RECORDS - sum(shares)
    lookup_types = [lookup_type.value for lookup_type in LookupType]
    span_seconds = int((period.ends_at - period.starts_at).total_seconds()) - 1
    unbilled: dict[uuid.UUID, int] = {}
    batch: list[dict[str, object]] = []
    serial = 0
    for organization_id, share in zip(ids, shares, strict=True):
        allowance, price = terms[organization_id]
        for number in range(1, share + 1):
            included = number <= allowance
            cost = 0 if included else price
            unbilled[organization_id] = unbilled.get(organization_id, 0) + cost
            serial += 1
            batch.append(
                {
                    "id": uuid.uuid4(),
                    "organization_id": organization_id,
                    "product": "smart_cnam",
                    "lookup_type": lookup_types[serial % len(lookup_types)],
                    "period": period.code,
                    "included": included,
                    "cost_micros": cost,
                    "request_key": f"bench-invoice-{serial}",
                    "created_at": period.starts_at
                    + timedelta(seconds=span_seconds * number // (share + 1)),
                }
            )
            if len(batch) == BATCH:
                _insert_records(engine, batch)
                batch = []
    if batch:
        _insert_records(engine, batch)
    with engine.begin() as connection:
        for organization_id, micros in unbilled.items():
            connection.execute(
                update(BillingAccount)
                .where(col(BillingAccount.organization_id) == organization_id)
                .values(unbilled_micros=micros)
            )
    return ids


def _insert_records(engine: Engine, rows: list[dict[str, object]]) -> None:
    with engine.begin() as connection:
        connection.execute(insert(UsageRecord), rows)


def run(engine: Engine) -> list[Result]:
    now = utcnow()
    with db.read_session(engine) as session:
        period = invoices.last_month(platform.billing_time_zone(session), now)
    rng = random.Random(11)
    started = time.perf_counter()
    ids = _seed(engine, period, rng)
    seeded_s = time.perf_counter() - started
    print(f"Seeded {RECORDS:,} usage records of {period.code} in {seeded_s:.1f} s.", flush=True)

    # The run e-mails each owner: into a throw-away outbox, not the developer's.
    previous_outbox = os.environ.get("OUTBOX_DIR")
    with tempfile.TemporaryDirectory(prefix="bench-invoices-outbox-") as outbox:
        os.environ["OUTBOX_DIR"] = outbox
        get_settings.cache_clear()
        try:
            started = time.perf_counter()
            first = invoices.run_invoices(engine, period=period.code)
            first_s = time.perf_counter() - started
            started = time.perf_counter()
            again = invoices.run_invoices(engine, period=period.code)
            again_s = time.perf_counter() - started
        finally:
            if previous_outbox is None:
                os.environ.pop("OUTBOX_DIR", None)
            else:
                os.environ["OUTBOX_DIR"] = previous_outbox
            get_settings.cache_clear()

    _check(engine, ids, first, again)
    verdict = "within" if first_s < TARGET_SECONDS else "OVER"
    return [
        Result(
            name=f"invoices run, {RECORDS:,} usage records, {len(ids)} organizations",
            median_s=first_s,
            runs_s=[first_s],
            note=(
                f"measured once (repeat=1); {first.created} invoices, "
                f"{first.emails_queued} e-mails; {verdict} the {TARGET_SECONDS:.0f} s target; "
                f"seeding took {seeded_s:.0f} s"
            ),
        ),
        Result(
            name="invoices run again, same period (all already invoiced)",
            median_s=again_s,
            runs_s=[again_s],
            note=f"measured once; {again.already_invoiced} already invoiced, 0 created",
        ),
    ]


def _check(
    engine: Engine,
    ids: list[uuid.UUID],
    first: invoices.RunSummary,
    again: invoices.RunSummary,
) -> None:
    """A timing of a wrong run is worthless: every organization invoiced once, usage billed."""
    if first.failures or again.created or first.created < len(ids):
        raise RuntimeError(f"the invoice run went wrong: {first} / {again}")
    with db.read_session(engine) as session:
        left = session.exec(
            select(func.coalesce(func.sum(BillingAccount.unbilled_micros), 0)).where(
                col(BillingAccount.organization_id).in_(ids)
            )
        ).one()
        mismatches = [
            mismatch
            for mismatch in ledger.balance_mismatches(session)
            if mismatch.organization_id in set(ids)
        ]
    if left or mismatches:
        raise RuntimeError(f"unbilled usage left: {left} µ$; mismatches: {mismatches[:3]}")
