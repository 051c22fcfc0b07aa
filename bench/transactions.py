"""Billing › Transactions and Billing › Payments at 1,000,000 ledger entries for one
organization, beside 100 smaller.

Every payment entry has its card payment (and every tenth payment a declined attempt before
it), so the big organization has 275,000 payments. Each page (AppTest: through the shell,
filtered, sorted, page 20 of 20 rows) is timed in the same run as the naive way — the
organization's whole table into pandas, then filter, sort and slice — against the
targets: 0.5 s or less at the median, and at least 20 times faster than the naive way.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Engine, select

from bench import seeding
from bench.harness import Result, measure, open_page
from bench.seeding import KINDS
from portal_core.models.base import utcnow
from portal_core.models.billing import EntryKind, LedgerEntry
from portal_core.models.payments import (
    GatewayName,
    Payment,
    PaymentSource,
    PaymentStatus,
)

BIG, SMALL_ORGANIZATIONS, SMALL = 1_000_000, 100, 1_000


def _organization(engine: Engine, name: str, entries: int, rng: random.Random) -> uuid.UUID:
    """An organization with ``entries`` ledger entries a minute apart from 720 days ago, every
    payment entry with its card payments."""
    organization_id = seeding.organization(engine, name)
    seeding.ledger(
        engine,
        organization_id,
        entries,
        rng,
        first_at=utcnow() - timedelta(days=720),
        spacing=timedelta(minutes=1),
        payments_of=_payments,
    )
    return organization_id


def _payments(
    organization_id: uuid.UUID, entry_id: uuid.UUID, amount: int, at: datetime, index: int
) -> list[dict[str, object]]:
    """The card payment behind a payment entry (2.95 % fee), after a decline every tenth time."""
    fee = (amount * 2_950 + 50_000) // 100_000

    def attempt(status: PaymentStatus, suffix: str, when: datetime) -> dict[str, object]:
        return {
            "id": uuid.uuid4(),
            "organization_id": organization_id,
            # Unique across organizations, as the column is: the small ones count from 0 too.
            "reference": f"PAY-{organization_id.hex[:6].upper()}{index:07d}{suffix}",
            "source": PaymentSource.PORTAL.value,
            "gateway": GatewayName.SANDBOX.value,
            "card_label": "Visa •••• 4242",
            "card_last4": "4242",
            "amount_cents": amount,
            "fee_millipercent": 2_950,
            "fee_cents": fee,
            "total_cents": amount + fee,
            "status": status.value,
            "failure_message": "Your card was declined." if suffix else None,
            "idempotency_key": f"bench:{organization_id}:{index}{suffix}",
            "ledger_entry_id": None if suffix else entry_id,
            "created_at": when,
            "updated_at": when,
            "settled_at": when,
        }

    settled = [attempt(PaymentStatus.SUCCEEDED, "", at)]
    if index % (10 * len(KINDS)) == 0:
        settled.insert(0, attempt(PaymentStatus.FAILED, "D", at - timedelta(seconds=30)))
    return settled


def _naive(engine: Engine, organization_id: uuid.UUID) -> pd.DataFrame:
    statement = select(LedgerEntry.__table__).where(  # type: ignore[attr-defined]
        LedgerEntry.__table__.c.organization_id == organization_id  # type: ignore[attr-defined]
    )
    with engine.connect() as connection:
        frame = pd.read_sql(statement, connection)
    wanted = frame[frame["kind"] == EntryKind.PAYMENT.value]
    page = wanted.sort_values(["balance_after_cents", "id"], ascending=False).iloc[380:400]
    assert len(page) == 20
    return page


def _naive_payments(engine: Engine, organization_id: uuid.UUID) -> pd.DataFrame:
    table = Payment.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        frame = pd.read_sql(
            select(table).where(table.c.organization_id == organization_id), connection
        )
    wanted = frame[frame["status"] == PaymentStatus.SUCCEEDED.value]
    page = wanted.sort_values(["total_cents", "id"], ascending=False).iloc[380:400]
    assert len(page) == 20
    return page


def _open_page(handle: str, script: str, state: dict[str, object], expected: str) -> None:
    """Run ``script`` through the shell with the table widget's state set; check it drew
    ``expected`` (the widget's "Showing …" line)."""
    app = open_page(handle, script, state)
    shown = " ".join(str(element.value) for element in (*app.caption, *app.markdown))
    if expected not in shown:
        raise RuntimeError(f"{script} did not draw {expected!r}: {shown[:300]}")


def run(engine: Engine) -> list[Result]:
    rng = random.Random(11)
    started = time.perf_counter()
    big = _organization(engine, "Ledger Giant Telecom", BIG, rng)
    for index in range(SMALL_ORGANIZATIONS):
        _organization(engine, f"Ledger Small {index:03d}", SMALL, rng)
    seeded = time.perf_counter() - started
    _actor, handle = seeding.signed_in_owner(
        engine, big, name="Ledger Owner", ip_address="198.51.100.30"
    )

    payments = BIG // len(KINDS)

    def page() -> None:
        # The widget's own state keys: payments only, by new balance, 20 a page, page 20.
        _open_page(
            handle,
            "pages/billing_transactions.py",
            {
                "billing.transactions.filter.type": EntryKind.PAYMENT.value,
                "billing.transactions.sort": "balance_after",
                "billing.transactions.order": "desc",
                "billing.transactions.page_size": 20,
                "billing.transactions.page": 20,
            },
            f"Showing 381–400 of {payments:,}",
        )

    def payments_page() -> None:
        # Succeeded payments only, by total charged, 20 a page, page 20.
        _open_page(
            handle,
            "pages/billing_payments.py",
            {
                "billing.payments.filter.status": PaymentStatus.SUCCEEDED.value,
                "billing.payments.sort": "total",
                "billing.payments.order": "desc",
                "billing.payments.page_size": 20,
                "billing.payments.page": 20,
            },
            f"Showing 381–400 of {payments:,}",
        )

    portal = measure(
        f"transactions page (AppTest), {BIG:,} entries: payments by new balance, page 20",
        page,
        note=f"seeding took {seeded:.0f} s",
    )
    naive = measure(
        "naive: the organization's ledger into pandas, then filter", lambda: _naive(engine, big)
    )
    portal.note += f"; {naive.median_s / portal.median_s:.0f}× faster than the naive way"
    payments_portal = measure(
        f"payments page (AppTest), {payments * 11 // 10:,} payments: succeeded by total, page 20",
        payments_page,
    )
    payments_naive = measure(
        "naive: the organization's payments into pandas, then filter",
        lambda: _naive_payments(engine, big),
    )
    payments_portal.note = (
        f"{payments_naive.median_s / payments_portal.median_s:.0f}× faster than the naive way"
    )
    return [portal, naive, payments_portal, payments_naive]
