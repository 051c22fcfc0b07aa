"""The Dashboard's billing queries at 1,000,000 ledger entries and a year of daily usage for one
organization, beside 100 smaller ones.

Timed: each query of ``portal_core.queries.dashboard`` on its own, the whole Dashboard page
(AppTest: Home.py for the big organization's owner, through the shell, both charts drawn),
and, in the same run, the naive way to draw the balance over time — the organization's
ledger into pandas, then the last entry of each day — against which the per-day index look-up
of ``balance_over_time`` is compared. No target is set for it; the page should stay
well under a second, and ``balance_over_time`` should not grow with the ledger.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import timedelta

import pandas as pd
from sqlalchemy import Engine, insert, select

from bench import seeding
from bench.harness import Result, measure, open_page
from portal_core import db
from portal_core.models.base import utcnow
from portal_core.models.billing import (
    LedgerEntry,
    LookupType,
    Product,
    UsageDaily,
)
from portal_core.queries import dashboard
from portal_core.services import platform

ENTRIES, SMALL_ORGANIZATIONS, SMALL_ENTRIES = 1_000_000, 100, 1_000
USAGE_DAYS = 365


def _organization(engine: Engine, name: str, entries: int, rng: random.Random) -> uuid.UUID:
    """A Provider organization of 800 days with ``entries`` ledger entries evenly spread over
    the last 700 days, and a year of daily usage."""
    organization_id = seeding.organization(
        engine, name, active_since=timedelta(days=800), plan_code="provider"
    )
    step = timedelta(days=700) / entries
    seeding.ledger(
        engine, organization_id, entries, rng, first_at=utcnow() - step * entries, spacing=step
    )
    _usage(engine, organization_id, rng)
    return organization_id


def _usage(engine: Engine, organization_id: uuid.UUID, rng: random.Random) -> None:
    """A year of the daily roll-up: every lookup type every day, as the meter leaves it."""
    with db.read_session(engine) as session:
        today = utcnow().astimezone(platform.billing_time_zone(session)).date()
    rows = []
    for back in range(USAGE_DAYS):
        for lookup_type in LookupType:
            requests = rng.randint(1_000, 60_000)
            billable = requests // 2
            rows.append(
                {
                    "organization_id": organization_id,
                    "day": today - timedelta(days=back),
                    "product": Product.SMART_CNAM.value,
                    "lookup_type": lookup_type.value,
                    "requests": requests,
                    "billable_requests": billable,
                    "cost_micros": billable * 2_500,
                }
            )
    with engine.begin() as connection:
        connection.execute(insert(UsageDaily), rows)


def _naive_balance_over_time(engine: Engine, organization_id: uuid.UUID) -> pd.Series:
    """The organization's ledger into pandas, then each day's last balance, carried forward."""
    table = LedgerEntry.__table__  # type: ignore[attr-defined]
    with db.read_session(engine) as session:
        time_zone = platform.billing_time_zone(session)
    with engine.connect() as connection:
        frame = pd.read_sql(
            select(table.c.created_at, table.c.balance_after_cents).where(
                table.c.organization_id == organization_id
            ),
            connection,
        )
    stamps = pd.to_datetime(frame["created_at"], utc=True).dt.tz_convert(time_zone.key)
    frame["day"] = stamps.dt.date
    closing = frame.sort_values("created_at").groupby("day")["balance_after_cents"].last()
    today = utcnow().astimezone(time_zone).date()
    days = pd.Index([today - timedelta(days=back) for back in range(89, -1, -1)])
    return closing.reindex(closing.index.union(days)).ffill().reindex(days).fillna(0)


def run(engine: Engine) -> list[Result]:
    rng = random.Random(13)
    started = time.perf_counter()
    big = _organization(engine, "Dashboard Giant Telecom", ENTRIES, rng)
    for index in range(SMALL_ORGANIZATIONS):
        _organization(engine, f"Dashboard Small {index:03d}", SMALL_ENTRIES, rng)
    seeded = time.perf_counter() - started
    actor, handle = seeding.signed_in_owner(
        engine, big, name="Dashboard Owner", ip_address="198.51.100.40"
    )

    def query(read: object) -> None:
        with db.read_session(engine) as session:
            read(session, actor)  # type: ignore[operator]

    def page() -> None:
        app = open_page(handle)
        if len(app.get("plotly_chart")) != 2:
            raise RuntimeError("the Dashboard did not draw its two charts")

    with db.read_session(engine) as session:
        history = dashboard.balance_over_time(session, actor)
    naive_history = _naive_balance_over_time(engine, big)
    if [point.balance_cents for point in history.days] != [int(v) for v in naive_history]:
        raise RuntimeError("balance_over_time disagrees with the naive way")

    scale_note = f"{ENTRIES:,} entries, {USAGE_DAYS} days × {len(LookupType)} lookup types"
    results = [
        measure(
            f"dashboard page (AppTest), owner, {scale_note}",
            page,
            note=f"seeding took {seeded:.0f} s",
        ),
        measure("dashboard: requests this month", lambda: query(dashboard.requests_this_month)),
        measure("dashboard: month-to-date spend", lambda: query(dashboard.month_to_date_spend)),
        measure("dashboard: spend per month (12)", lambda: query(dashboard.spend_by_month)),
        measure("dashboard: days of funds left", lambda: query(dashboard.funds_runway)),
        measure(
            f"dashboard: balance over 90 days, {ENTRIES:,} entries",
            lambda: query(dashboard.balance_over_time),
        ),
        measure(
            "naive: the organization's ledger into pandas, last balance per day",
            lambda: _naive_balance_over_time(engine, big),
        ),
    ]
    results[-2].note = f"{results[-1].median_s / results[-2].median_s:.0f}× faster than naive"
    return results
