"""The invoice run under real concurrency (threads, one unit of work each), on file SQLite and
on PostgreSQL: overlapping runs both finish, numbers stay gapless, and usage that commits while
a run works is billed exactly once."""

from __future__ import annotations

import threading
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, func, select

from portal_core import db
from portal_core.models.billing import Invoice, InvoiceLine, UsageCarry, UsageRecord
from portal_core.money import MICROS_PER_CENT
from portal_core.services import invoices, ledger
from tests.factories import make_organization, put_on_plan, record_usage
from tests.services.support import race

TORONTO = ZoneInfo("America/Toronto")
JOINED = datetime(2026, 9, 1, tzinfo=TORONTO)
OCTOBER_RUN = datetime(2026, 11, 1, 6, 0, tzinfo=TORONTO)
NOVEMBER_RUN = datetime(2026, 12, 1, 6, 0, tzinfo=TORONTO)


def _organizations(engine, how_many: int) -> list:
    with db.write_session(engine) as session:
        made = []
        for _ in range(how_many):
            organization = make_organization(session, country="US", province="NY")
            put_on_plan(session, organization, "starter", since=JOINED)
            made.append(organization)
    return made


def test_two_runs_at_once_both_finish_and_number_invoices_without_gaps(concurrent_engine):
    organizations = _organizations(concurrent_engine, 12)

    def run() -> invoices.RunSummary:
        return invoices.run_invoices(concurrent_engine, period="2026-10", now=OCTOBER_RUN)

    summaries = race([run, run], threads=2)

    assert [summary.failures for summary in summaries] == [[], []]
    assert sum(summary.created for summary in summaries) == len(organizations)
    assert sum(summary.already_invoiced for summary in summaries) == len(organizations)
    with db.read_session(concurrent_engine) as session:
        numbers = sorted(session.exec(select(Invoice.number)).all())
    assert numbers == list(range(1, len(organizations) + 1))


def test_usage_committed_while_the_run_works_is_billed_exactly_once(concurrent_engine):
    (organization,) = _organizations(concurrent_engine, 1)
    with db.write_session(concurrent_engine) as session:
        record_usage(session, organization.id, "2026-10", 50)
    stop = threading.Event()

    def late_requests() -> int:
        # Requests of 31 October still committing while the 1st's run totals October.
        made = 0
        while not stop.is_set() and made < 200:
            with db.write_session(concurrent_engine) as session:
                record_usage(session, organization.id, "2026-10", 1)
            made += 1
        return made

    def run_then_stop() -> int:
        try:
            invoices.run_invoices(concurrent_engine, period="2026-10", now=OCTOBER_RUN)
        finally:
            stop.set()
        return 0

    race([late_requests, run_then_stop], threads=2)
    invoices.run_invoices(concurrent_engine, period="2026-11", now=NOVEMBER_RUN)

    with db.read_session(concurrent_engine) as session:
        assert ledger.balance_mismatches(session) == []
        unbilled = session.exec(
            select(func.count()).where(col(UsageRecord.invoice_id).is_(None))
        ).one()
        usage_cents = session.exec(
            select(func.coalesce(func.sum(InvoiceLine.amount_cents), 0)).where(
                col(InvoiceLine.lookup_type).is_not(None)
            )
        ).one()
        used = session.exec(select(func.sum(UsageRecord.cost_micros))).one()
        carried = session.exec(
            select(func.coalesce(func.sum(UsageCarry.remainder_micros), 0))
        ).one()
    assert unbilled == 0
    # Every micro-dollar used is billed once: in cents on a line, or carried to the next.
    assert usage_cents * MICROS_PER_CENT + carried == used
