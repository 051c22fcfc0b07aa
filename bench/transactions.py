"""Billing › Transactions and Billing › Payments at 1,000,000 ledger entries for one
organization, beside 100 smaller.

Every payment entry has its card payment (and every tenth payment a declined attempt before
it), so the big organization has 275,000 payments. Each page (AppTest: through the shell,
filtered, sorted, page 20 of 20 rows) is timed in the same run as the naive way — the
organization's whole table into pandas, then filter, sort and slice — against the issue's
targets: 0.5 s or less at the median, and at least 20 times faster than the naive way.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Engine, insert, select, update

from bench.harness import Result, measure
from portal_core import db
from portal_core.models.accounts import Organization, Role, User, UserStatus
from portal_core.models.base import utcnow
from portal_core.models.billing import BillingAccount, EntryKind, LedgerEntry
from portal_core.models.payments import (
    GatewayName,
    Payment,
    PaymentSource,
    PaymentStatus,
)
from portal_core.money import MICROS_PER_CENT
from portal_core.services import auth, subscriptions
from portal_core.services.passwords import hash_password
from portal_core.settings import ROOT

BIG, SMALL_ORGANIZATIONS, SMALL = 1_000_000, 100, 1_000
BATCH = 20_000
PASSWORD = "Bench-Ledger-Harbor-2026"
KINDS = [EntryKind.PAYMENT, EntryKind.INVOICE, EntryKind.CREDIT, EntryKind.ADJUSTMENT]


def _organization(engine: Engine, name: str) -> uuid.UUID:
    now = utcnow()
    organization_id = uuid.uuid4()
    with db.write_session(engine) as session:
        session.add(
            Organization(
                id=organization_id,
                name=name,
                legal_name=f"{name} Inc.",
                country="CA",
                province="ON",
                address_line="1 Bench Street",
                city="Toronto",
                activated_at=now,
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()
        subscriptions.open_billing(session, organization_id, now=now)
    return organization_id


def _entries(engine: Engine, organization_id: uuid.UUID, count: int, rng: random.Random) -> None:
    """``count`` entries with their running balances, the way post_entry writes them."""
    start = utcnow() - timedelta(days=720)
    balance = 0
    with engine.begin() as connection:
        for first in range(0, count, BATCH):
            rows = []
            paid: list[dict[str, object]] = []
            for index in range(first, min(first + BATCH, count)):
                kind = KINDS[index % len(KINDS)]
                amount = rng.randint(1_000, 100_000) * (-1 if kind is EntryKind.INVOICE else 1)
                balance += amount
                entry_id = uuid.uuid4()
                at = start + timedelta(seconds=index * 60)
                if kind is EntryKind.PAYMENT:
                    paid.extend(_payments(organization_id, entry_id, amount, at, index))
                rows.append(
                    {
                        "id": entry_id,
                        "organization_id": organization_id,
                        "kind": kind.value,
                        "amount_cents": amount,
                        "balance_after_cents": balance,
                        "idempotency_key": f"bench:{organization_id}:{index}",
                        "memo": f"{kind.value.title()} {index}",
                        "created_at": at,
                    }
                )
            connection.execute(insert(LedgerEntry), rows)
            connection.execute(insert(Payment), paid)
        connection.execute(
            update(BillingAccount)
            .where(BillingAccount.organization_id == organization_id)  # type: ignore[arg-type]
            .values(balance_micros=balance * MICROS_PER_CENT)
        )


def _payments(
    organization_id: uuid.UUID, entry_id: uuid.UUID, amount: int, at: datetime, index: int
) -> list[dict[str, object]]:
    """The card payment behind a payment entry (2.95 % fee), after a decline every tenth time."""
    fee = (amount * 2_950 + 50_000) // 100_000

    def attempt(status: PaymentStatus, suffix: str, when: datetime) -> dict[str, object]:
        return {
            "id": uuid.uuid4(),
            "organization_id": organization_id,
            "reference": f"PAY-{index:08d}{suffix}",
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


def _owner_session(engine: Engine, organization_id: uuid.UUID) -> str:
    email = f"owner-{organization_id.hex[:8]}@ledger.bench.test"
    now = utcnow()
    with db.write_session(engine) as session:
        session.add(
            User(
                email=email,
                name="Ledger Owner",
                password_hash=hash_password(PASSWORD),
                role=Role.OWNER,
                organization_id=organization_id,
                status=UserStatus.ACTIVE,
                email_verified_at=now,
                created_at=now,
                updated_at=now,
            )
        )
    with db.write_session(engine) as session:
        return auth.log_in(session, email, PASSWORD, ip_address="198.51.100.30").handle


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
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=60)
    app.session_state["portal.session_handle"] = handle
    for key, value in state.items():
        app.session_state[key] = value
    app.switch_page(script)
    app.run()
    if app.exception:
        raise RuntimeError(app.exception[0].message)
    shown = " ".join(str(element.value) for element in (*app.caption, *app.markdown))
    if expected not in shown:
        raise RuntimeError(f"{script} did not draw {expected!r}: {shown[:300]}")


def run(engine: Engine) -> list[Result]:
    rng = random.Random(11)
    started = time.perf_counter()
    big = _organization(engine, "Ledger Giant Telecom")
    _entries(engine, big, BIG, rng)
    for index in range(SMALL_ORGANIZATIONS):
        _entries(engine, _organization(engine, f"Ledger Small {index:03d}"), SMALL, rng)
    seeded = time.perf_counter() - started
    handle = _owner_session(engine, big)

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
