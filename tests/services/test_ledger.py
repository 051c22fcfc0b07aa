"""The ledger: entries move the cached balance; keys make postings idempotent; a check finds
any cached balance that drifted from the entries (docs/architecture.md, rule 5)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from portal_core import db
from portal_core.errors import Conflict, NotFound, ValidationFailed
from portal_core.models.billing import BillingAccount, EntryKind, LedgerEntry
from portal_core.money import MICROS_PER_CENT
from portal_core.services import ledger
from tests.factories import make_organization
from tests.services.support import count, fetch


@pytest.fixture
def organization(engine):
    with db.write_session(engine) as session:
        return make_organization(session)


def _post(engine, organization, amount_cents, key, kind=EntryKind.PAYMENT):
    with db.write_session(engine) as session:
        return ledger.post_entry(
            session,
            organization_id=organization.id,
            kind=kind,
            amount_cents=amount_cents,
            idempotency_key=key,
            memo=f"{kind.value} of {amount_cents} cents",
        )


def _balance_micros(engine, organization):
    return fetch(engine, BillingAccount, organization.id).balance_micros


def _mismatches(engine):
    with db.read_session(engine) as session:
        return ledger.balance_mismatches(session)


def test_an_entry_moves_the_cached_balance_by_its_amount(engine, organization):
    _post(engine, organization, 2_500, "payment-1")
    assert _balance_micros(engine, organization) == 2_500 * MICROS_PER_CENT

    _post(engine, organization, -4_000, "invoice-1", EntryKind.INVOICE)
    assert _balance_micros(engine, organization) == -1_500 * MICROS_PER_CENT


def test_the_same_key_posts_once(engine, organization):
    first = _post(engine, organization, 1_000, "top-up-7")
    again = _post(engine, organization, 1_000, "top-up-7")

    assert again.id == first.id
    assert count(engine, LedgerEntry) == 1
    assert _balance_micros(engine, organization) == 1_000 * MICROS_PER_CENT


@pytest.mark.parametrize(
    ("amount", "kind"), [(1_001, EntryKind.PAYMENT), (1_000, EntryKind.CREDIT)]
)
def test_reusing_a_key_for_a_different_entry_is_a_conflict(engine, organization, amount, kind):
    _post(engine, organization, 1_000, "top-up-8")

    with pytest.raises(Conflict, match="idempotency key"):
        _post(engine, organization, amount, "top-up-8", kind)

    assert count(engine, LedgerEntry) == 1
    assert _balance_micros(engine, organization) == 1_000 * MICROS_PER_CENT


def test_reusing_a_key_for_another_organization_is_a_conflict(engine, organization):
    with db.write_session(engine) as session:
        other = make_organization(session)
    _post(engine, organization, 1_000, "shared-key")

    with pytest.raises(Conflict):
        _post(engine, other, 1_000, "shared-key")

    assert _balance_micros(engine, other) == 0


def test_an_unknown_organization_is_not_found(engine):
    with pytest.raises(NotFound):
        with db.write_session(engine) as session:
            ledger.post_entry(
                session,
                organization_id=uuid.uuid4(),
                kind=EntryKind.CREDIT,
                amount_cents=100,
                idempotency_key="orphan",
                memo="",
            )
    assert count(engine, LedgerEntry) == 0


@pytest.mark.parametrize("key", ["", "k" * 121])
def test_an_idempotency_key_is_required_and_bounded(engine, organization, key):
    with pytest.raises(ValidationFailed):
        _post(engine, organization, 100, key)


def test_balance_mismatches_is_empty_when_every_cache_matches(engine, organization):
    with db.write_session(engine) as session:
        untouched = make_organization(session)
    _post(engine, organization, 12_345, "a")
    _post(engine, organization, -345, "b", EntryKind.INVOICE)

    assert _mismatches(engine) == []
    assert _balance_micros(engine, untouched) == 0


def test_balance_mismatches_reports_a_tampered_balance(engine, organization):
    with db.write_session(engine) as session:
        honest = make_organization(session)
    _post(engine, organization, 5_000, "c")
    _post(engine, honest, 7_000, "d")
    with db.write_session(engine) as session:
        session.execute(
            update(BillingAccount)
            .where(col(BillingAccount.organization_id) == organization.id)
            .values(balance_micros=BillingAccount.balance_micros + 1)
        )

    assert _mismatches(engine) == [
        ledger.BalanceMismatch(
            organization_id=organization.id,
            cached_micros=5_000 * MICROS_PER_CENT + 1,
            ledger_micros=5_000 * MICROS_PER_CENT,
        )
    ]


def test_balance_mismatches_reports_a_balance_without_entries(engine, organization):
    with db.write_session(engine) as session:
        session.execute(
            update(BillingAccount)
            .where(col(BillingAccount.organization_id) == organization.id)
            .values(balance_micros=99)
        )

    (mismatch,) = _mismatches(engine)
    assert (mismatch.organization_id, mismatch.cached_micros, mismatch.ledger_micros) == (
        organization.id,
        99,
        0,
    )


def test_a_rolled_back_posting_leaves_no_entry_and_no_balance(engine, organization):
    with pytest.raises(RuntimeError):
        with db.write_session(engine) as session:
            ledger.post_entry(
                session,
                organization_id=organization.id,
                kind=EntryKind.PAYMENT,
                amount_cents=5_000,
                idempotency_key="rolled-back",
                memo="",
            )
            raise RuntimeError("the card was declined after all")

    assert count(engine, LedgerEntry) == 0
    assert _balance_micros(engine, organization) == 0
    with db.read_session(engine) as session:
        assert session.exec(select(LedgerEntry)).all() == []


def test_each_entry_records_the_balance_after_it(engine, organization):
    payment = _post(engine, organization, 2_500, "payment-after")
    invoice = _post(engine, organization, -4_000, "invoice-after", EntryKind.INVOICE)
    credit = _post(engine, organization, 300, "credit-after", EntryKind.CREDIT)

    assert [payment.balance_after_cents, invoice.balance_after_cents] == [2_500, -1_500]
    assert credit.balance_after_cents == -1_200


def test_a_replayed_key_returns_the_first_entry_and_its_balance_untouched(engine, organization):
    first = _post(engine, organization, 1_000, "replayed")
    _post(engine, organization, 500, "between")

    again = _post(engine, organization, 1_000, "replayed")

    assert (again.id, again.balance_after_cents) == (first.id, 1_000)
    assert _balance_micros(engine, organization) == 1_500 * MICROS_PER_CENT
